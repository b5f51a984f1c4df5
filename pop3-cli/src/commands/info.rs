//! `pop3 info`: what the server is (mpop's `--serverinfo`). The greeting; the TLS
//! version and cipher suite; the certificate's subject, issuer, names, validity and
//! SHA-256 fingerprint (the one to pin); the capabilities in words; and, with
//! credentials, whether a second concurrent session is accepted.
//!
//! Works without credentials. When the certificate is refused, it still prints what it
//! learned (the certificate above all, so that its fingerprint can be checked and
//! pinned), says why, and exits 4.

use pop3_tokio::AsyncSession as _;
use std::fmt::Write as _;
use std::process::ExitCode;

use pop3_proto::task::Negotiate;
use pop3_proto::{Capabilities, Capability, Expire, Greeting, StatusKind};
use pop3_session::{CertificateInfo, Discard, ErrorKind, TlsError, TlsInfo, TlsMode, UtcTime};

use crate::connect::Target;
use crate::error::CliError;
use crate::output;

/// Where values start: after the longest label (`  implementation`) and two spaces.
const LABEL_WIDTH: usize = 18;

/// Whether a second concurrent session was accepted.
enum SecondSession {
    Accepted,
    Refused(String),
    Unknown(String),
}

/// What CAPA said.
enum Capa {
    /// The session ended before CAPA.
    NotAsked,
    /// The server does not answer CAPA (RFC 1939 only).
    Unsupported,
    /// The answer.
    Listed(Capabilities),
}

/// Everything `info` learned.
struct Report {
    greeting: Option<Greeting>,
    tls: Option<TlsInfo>,
    /// Why the certificate was refused, in words.
    refused: Option<String>,
    capabilities: Capa,
    second: SecondSession,
}

pub(crate) async fn run(target: &Target, json: bool) -> Result<ExitCode, CliError> {
    let mut report = Report {
        greeting: None,
        tls: None,
        refused: None,
        capabilities: Capa::NotAsked,
        second: SecondSession::Unknown("not tried".into()),
    };
    let failure = match probe(target, &mut report).await {
        Ok(()) => None,
        Err(e) => {
            if let Some(TlsError::Certificate { problem, session }) =
                e.session_error().and_then(pop3_session::Error::tls)
            {
                report.tls = Some((**session).clone());
                report.refused = Some(problem.to_string());
            } else if report.greeting.is_none() {
                // Nothing learned worth printing.
                return Err(e);
            }
            Some(e)
        }
    };
    if failure.is_none() {
        report.second = second_session(target).await;
    } else {
        report.second = SecondSession::Unknown("the server could not be trusted".into());
    }
    if json {
        output::json(&as_json(target, &report));
    } else {
        print(target, &report);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Connects (TLS as configured), reads the greeting and asks CAPA (after STLS with
/// `--tls starttls`); fills `report` as it goes.
async fn probe(target: &Target, report: &mut Report) -> Result<(), CliError> {
    let mut client = target.connect().await?;
    let negotiated = client.run(Negotiate::new(), &mut Discard).await;
    report.greeting = client.greeting().cloned();
    report.tls = client.tls_info();
    report.capabilities = match negotiated? {
        Some(capabilities) => Capa::Listed(capabilities),
        None => Capa::Unsupported,
    };
    // Best effort: everything is in hand.
    let _ = client.quit().await;
    Ok(())
}

/// With credentials: logs in, and while that session is open, logs in again.
async fn second_session(target: &Target) -> SecondSession {
    if target.login().is_err() {
        return SecondSession::Unknown("needs credentials (--user and a password)".into());
    }
    let first = match target.session().await {
        Ok(first) => first,
        Err(e) => {
            return SecondSession::Unknown(format!("the first login failed: {}", e.one_line()));
        }
    };
    let second = match target.session().await {
        Ok(second) => {
            let _ = second.quit().await;
            SecondSession::Accepted
        }
        Err(e) => match e.session_error().map(pop3_session::Error::kind) {
            Some(ErrorKind::Temporary | ErrorKind::Refused | ErrorKind::Auth) => {
                SecondSession::Refused(e.one_line())
            }
            _ => SecondSession::Unknown(format!("the second login failed: {}", e.one_line())),
        },
    };
    let _ = first.quit().await;
    second
}

fn mode(target: &Target) -> &'static str {
    match target.options.tls_mode() {
        TlsMode::Implicit => "implicit TLS",
        TlsMode::StartTls => "STLS",
        TlsMode::Plain => "no TLS",
    }
}

/// How the certificate was judged.
fn verification(target: &Target, report: &Report) -> String {
    if let Some(why) = &report.refused {
        return format!("no: {why}");
    }
    if !target.options.pinned().is_empty() {
        "yes (pinned by --tls-fingerprint)".into()
    } else if target.options.accepts_invalid_certificates() {
        "not checked (--insecure)".into()
    } else {
        "yes".into()
    }
}

fn greeting_text(greeting: &Greeting) -> String {
    let status = &greeting.status;
    let mut text = String::from(if status.kind == StatusKind::Ok {
        "+OK"
    } else {
        "-ERR"
    });
    if let Some(code) = &status.code {
        let _ = write!(text, " [{code}]");
    }
    if !status.text.is_empty() {
        text.push(' ');
        text.push_str(&output::clean(&status.text));
    }
    text
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn expires_in(cert: &CertificateInfo) -> String {
    let days = (cert.not_after.unix() - UtcTime::now().unix()).div_euclid(86_400);
    match days {
        d if d < 0 => "expired".to_owned(),
        0 => "expires within a day".to_owned(),
        1 => "expires in 1 day".to_owned(),
        d => format!("expires in {d} days"),
    }
}

fn expire_words(caps: &Capabilities) -> String {
    match caps.expire() {
        None => "not announced".into(),
        Some(Expire::Never) => "never: messages are kept until deleted".into(),
        Some(Expire::Days(0)) => "at QUIT: retrieved messages are deleted".into(),
        Some(Expire::Days(1)) => "1 day after retrieval".into(),
        Some(Expire::Days(days)) => format!("{days} days after retrieval"),
    }
}

fn login_delay_words(caps: &Capabilities) -> String {
    match caps.login_delay() {
        None => "none announced".into(),
        Some(1) => "1 second between logins".into(),
        Some(secs) => format!("{secs} seconds between logins"),
    }
}

/// The human report: one aligned `label  value` line each.
fn print(target: &Target, report: &Report) {
    let mut rows: Vec<(&str, String)> = Vec::new();
    rows.push((
        "server",
        format!("{} ({})", target.options.address(), mode(target)),
    ));
    rows.push((
        "greeting",
        report
            .greeting
            .as_ref()
            .map_or_else(|| "(none received)".into(), greeting_text),
    ));
    if let Some(greeting) = &report.greeting {
        rows.push((
            "  APOP",
            if greeting.timestamp.is_some() {
                "offered (the greeting has a timestamp)".into()
            } else {
                "not offered".into()
            },
        ));
    }
    match &report.tls {
        None => rows.push(("TLS", "none: plaintext".into())),
        Some(tls) => {
            let negotiated = if tls.version.is_empty() {
                "handshake not completed".to_owned()
            } else {
                format!("{}, {}", tls.version, tls.cipher_suite)
            };
            rows.push(("TLS", negotiated));
            match tls.certificate() {
                None => rows.push(("certificate", "(none that can be read)".into())),
                Some(cert) => {
                    rows.push(("certificate", cert.subject.clone()));
                    rows.push(("  issuer", issuer(&cert)));
                    rows.push(("  names", names(&cert)));
                    rows.push(("  valid from", cert.not_before.to_string()));
                    rows.push((
                        "  expires",
                        format!("{} ({})", cert.not_after, expires_in(&cert)),
                    ));
                    rows.push(("  SHA-256", cert.fingerprint.to_string()));
                }
            }
            rows.push(("  verified", verification(target, report)));
        }
    }
    match &report.capabilities {
        Capa::NotAsked => {}
        Capa::Unsupported => rows.push((
            "capabilities",
            "none: the server does not answer CAPA (it predates RFC 2449)".into(),
        )),
        Capa::Listed(caps) => capability_rows(caps, &mut rows),
    }
    rows.push(("second session", second_words(&report.second)));
    // One column for every report, whichever rows it has.
    let width = rows
        .iter()
        .map(|(label, _)| label.len() + 2)
        .max()
        .unwrap_or(0)
        .max(LABEL_WIDTH);
    for (label, value) in rows {
        output::line(&format!("{label:<width$}{value}"));
    }
}

fn issuer(cert: &CertificateInfo) -> String {
    if cert.self_signed {
        format!("{} (self-signed)", cert.issuer)
    } else {
        cert.issuer.clone()
    }
}

fn names(cert: &CertificateInfo) -> String {
    if cert.names.is_empty() {
        "(no subject alternative names)".into()
    } else {
        cert.names.join(", ")
    }
}

fn capability_rows(caps: &Capabilities, rows: &mut Vec<(&str, String)>) {
    let lines: Vec<String> = caps.lines().map(output::clean).collect();
    rows.push(("capabilities", lines.join(", ")));
    let sasl = caps.sasl();
    rows.push((
        "  mechanisms",
        if sasl.is_empty() {
            "none announced (no SASL)".into()
        } else {
            sasl.iter()
                .map(|m| output::clean(m))
                .collect::<Vec<_>>()
                .join(" ")
        },
    ));
    rows.push(("  USER/PASS", yes_no(caps.user()).into()));
    rows.push(("  pipelining", yes_no(caps.pipelining()).into()));
    rows.push(("  login delay", login_delay_words(caps)));
    rows.push(("  expire", expire_words(caps)));
    rows.push(("  UIDL", yes_no(caps.uidl()).into()));
    rows.push(("  TOP", yes_no(caps.top()).into()));
    rows.push(("  STLS", yes_no(caps.stls()).into()));
    rows.push(("  UTF8", yes_no(caps.utf8()).into()));
    rows.push((
        "  RESP-CODES",
        yes_no(caps.contains(&Capability::RespCodes)).into(),
    ));
    rows.push((
        "  implementation",
        caps.implementation()
            .map_or_else(|| "not announced".into(), output::clean),
    ));
}

fn second_words(second: &SecondSession) -> String {
    match second {
        SecondSession::Accepted => "accepted".into(),
        SecondSession::Refused(why) => format!("refused: {why}"),
        SecondSession::Unknown(why) => format!("unknown: {why}"),
    }
}

/// The report as one JSON object.
fn as_json(target: &Target, report: &Report) -> serde_json::Value {
    use serde_json::{Value, json};
    let tls = report.tls.as_ref().map_or(Value::Null, |tls| {
        json!({
            "version": tls.version,
            "cipher": tls.cipher_suite,
            "resumed": tls.resumed,
        })
    });
    let certificate =
        report
            .tls
            .as_ref()
            .and_then(TlsInfo::certificate)
            .map_or(Value::Null, |cert| {
                json!({
                    "subject": cert.subject,
                    "issuer": cert.issuer,
                    "names": cert.names,
                    "not_before": cert.not_before.to_string(),
                    "not_after": cert.not_after.to_string(),
                    "sha256": cert.fingerprint.to_string(),
                    "self_signed": cert.self_signed,
                    "ca": cert.ca,
                    "verified": report.refused.is_none(),
                    "verification": verification(target, report),
                })
            });
    let capabilities = match &report.capabilities {
        Capa::Listed(caps) => json!({
            "lines": caps.lines().map(output::clean).collect::<Vec<_>>(),
            "sasl": caps.sasl().iter().map(|m| output::clean(m)).collect::<Vec<_>>(),
            "user": caps.user(),
            "pipelining": caps.pipelining(),
            "login_delay": caps.login_delay(),
            "expire": match caps.expire() {
                None => Value::Null,
                Some(Expire::Never) => json!("never"),
                Some(Expire::Days(days)) => json!(days),
            },
            "uidl": caps.uidl(),
            "top": caps.top(),
            "stls": caps.stls(),
            "utf8": caps.utf8(),
            "resp_codes": caps.contains(&Capability::RespCodes),
            "implementation": caps.implementation().map(output::clean),
        }),
        _ => Value::Null,
    };
    let (second, detail) = match &report.second {
        SecondSession::Accepted => ("accepted", Value::Null),
        SecondSession::Refused(why) => ("refused", json!(why)),
        SecondSession::Unknown(why) => ("unknown", json!(why)),
    };
    json!({
        "host": target.options.host(),
        "port": target.options.effective_port(),
        "tls_mode": match target.options.tls_mode() {
            TlsMode::Implicit => "implicit",
            TlsMode::StartTls => "starttls",
            TlsMode::Plain => "none",
        },
        "greeting": report.greeting.as_ref().map(greeting_text),
        "apop": report.greeting.as_ref().map(|g| g.timestamp.is_some()),
        "tls": tls,
        "certificate": certificate,
        "capabilities": capabilities,
        "second_session": second,
        "second_session_detail": detail,
    })
}
