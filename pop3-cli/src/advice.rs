//! What to do about a TLS failure, in the command's own words: the library says what
//! happened (with the host), this adds which flag fixes it (`--ca-file`,
//! `--tls-fingerprint`, `--tls starttls`, `--port`).

use pop3_session::{CertificateProblem, Error, TlsError, TlsEvidence};

/// The fix for `error`, when it is a TLS failure: one sentence, no line break.
pub(crate) fn tls(error: &Error) -> Option<String> {
    let advice = match error.tls()? {
        TlsError::Certificate { problem, session } => {
            let pin = session
                .certificate()
                .map(|cert| format!("--tls-fingerprint {}", cert.fingerprint));
            certificate(problem, pin.as_deref())
        }
        TlsError::Plaintext {
            after_stls: true, ..
        } => "the connection cannot be trusted (a broken server, or an attacker removing \
              TLS) and nothing was sent; try --tls implicit on port 995 if the server offers it"
            .to_owned(),
        TlsError::Plaintext { pop3: true, .. } => {
            "use --tls starttls here (STLS), or port 995 with --tls implicit".to_owned()
        }
        TlsError::Plaintext { .. } => {
            "check --host and --port: this is not a POP3-over-TLS port".to_owned()
        }
        TlsError::ExpectsImplicitTls { evidence } => match evidence {
            TlsEvidence::TlsRecord => {
                "use --tls implicit on this port, or --port 110 with --tls starttls".to_owned()
            }
            _ => "use --tls implicit (the default) on port 995, or --port 110 with --tls \
                  starttls"
                .to_owned(),
        },
        // Refused handshakes, corrupt records, no common cipher...
        _ => "check --port and --tls: port 995 is implicit TLS (--tls implicit), port 110 \
              is --tls starttls"
            .to_owned(),
    };
    Some(advice)
}

/// What to do about a refused certificate; `pin` is the `--tls-fingerprint` flag that
/// would trust the presented one.
fn certificate(problem: &CertificateProblem, pin: Option<&str>) -> String {
    // The fingerprint comes from a server that failed verification: pin it only once
    // checked.
    let or_pin = |before: &str| match pin {
        Some(pin) => format!("{before}, or pin it with {pin} (check it first: pop3 info shows it)"),
        None => before.to_owned(),
    };
    match problem {
        CertificateProblem::SelfSigned => {
            or_pin("if it is the server's own, trust it with --ca-file CERT.pem")
        }
        CertificateProblem::UnknownIssuer => {
            or_pin("trust the certificate authority that issued it with --ca-file CA.pem")
        }
        CertificateProblem::WrongName { .. } => {
            or_pin("connect with --host set to a name the certificate carries")
        }
        CertificateProblem::Expired { .. } | CertificateProblem::NotYetValid { .. } => {
            or_pin("the server must renew its certificate (or the clock here is wrong)")
        }
        CertificateProblem::NotPinned => match pin {
            Some(pin) => format!(
                "if it changed on purpose (check it with pop3 info), pin the new one with {pin}"
            ),
            None => "the server presents another certificate than the one pinned".to_owned(),
        },
        CertificateProblem::NotPresented => {
            "the server presented no certificate: it cannot be authenticated".to_owned()
        }
        _ => or_pin("the certificate cannot be used as it is"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(error: TlsError) -> Error {
        Error::Tls {
            address: "127.0.0.1:995".into(),
            error,
        }
    }

    #[test]
    fn advice_names_the_flags() {
        let plaintext = tls(TlsError::Plaintext {
            excerpt: "+OK".into(),
            pop3: true,
            after_stls: false,
        });
        assert!(super::tls(&plaintext).unwrap().contains("--tls starttls"));
        let silent = tls(TlsError::ExpectsImplicitTls {
            evidence: TlsEvidence::Silence(std::time::Duration::from_secs(5)),
        });
        let advice = super::tls(&silent).unwrap();
        assert!(
            advice.contains("port 995") && advice.contains("--tls implicit"),
            "{advice}"
        );
        let unknown = certificate(
            &CertificateProblem::UnknownIssuer,
            Some("--tls-fingerprint AB"),
        );
        assert!(unknown.contains("--ca-file") && unknown.contains("--tls-fingerprint AB"));
        let not_tls = Error::Config("x".into());
        assert_eq!(super::tls(&not_tls), None);
    }
}
