//! The rustls client configuration and the certificate verifier.
//!
//! One verifier decides for every connection, in this order:
//! 1. Pinned fingerprints, when any are set: the server certificate must be one of them
//!    (its SHA-256 over the DER encoding); chain, name and dates are not checked, the
//!    pin names exactly one certificate (as mpop's `--tls-fingerprint`).
//! 2. `dangerous_accept_invalid_certificates`: anything.
//! 3. A certificate that is exactly one of the anchors the caller added (a self-signed
//!    server certificate given as a trust anchor, as `openssl req -x509` makes them,
//!    with `CA:TRUE`, which webpki refuses as an end entity): trusted if it names the
//!    server and is within its validity period. Such a certificate made without
//!    `-addext subjectAltName=...` names the server only in its subject's common name:
//!    then, and only for a certificate the caller named, the common name is matched (the
//!    legacy rule of RFC 6125 §6.4.4, which webpki no longer applies to anyone).
//! 4. Everything else: webpki path validation against the roots (webpki roots, added
//!    anchors).
//!
//! Handshake signatures are always verified with the presented certificate's key
//! (rustls' `verify_tls12_signature`/`verify_tls13_signature`), so a pinned or anchored
//! certificate proves that the server holds its private key.
//!
//! A refusal carries the presented chain to the caller (inside the rustls error, taken
//! out again by the wire), so that a refused certificate can be shown and pinned.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

use crate::Error;
use crate::certificate::{CertificateInfo, Fingerprint, UtcTime, common_names};
use crate::error::CertificateProblem;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the configuration trusts.
pub(crate) struct Trust<'a> {
    pub(crate) extra_roots: &'a [CertificateDer<'static>],
    pub(crate) webpki_roots: bool,
    pub(crate) pins: &'a [Fingerprint],
    pub(crate) accept_invalid_certificates: bool,
}

pub(crate) fn client_config(trust: &Trust<'_>) -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    if trust.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for cert in trust.extra_roots {
        roots
            .add(cert.clone())
            .map_err(|_| Error::Config("a trust anchor is not a usable certificate".into()))?;
    }
    let chains_needed = trust.pins.is_empty() && !trust.accept_invalid_certificates;
    if roots.is_empty() && chains_needed {
        return Err(Error::Config("no trust anchors".into()));
    }
    let webpki = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| Error::Config(format!("certificate verifier: {e}")))?,
        )
    };
    let verifier = Verifier {
        webpki,
        anchors: trust.extra_roots.to_vec(),
        pins: trust.pins.to_vec(),
        accept_any: trust.accept_invalid_certificates,
        provider: Arc::clone(&provider),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The verifier; see the module documentation.
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    anchors: Vec<CertificateDer<'static>>,
    pins: Vec<Fingerprint>,
    accept_any: bool,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("webpki", &self.webpki.is_some())
            .field("anchors", &self.anchors.len())
            .field("pins", &self.pins)
            .field("accept_any", &self.accept_any)
            .finish_non_exhaustive()
    }
}

/// A refused certificate: why, and what the server presented. Travels inside
/// `CertificateError::Other` to the wire, which turns it into [`crate::TlsError`].
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) problem: CertificateProblem,
    pub(crate) chain: Vec<CertificateDer<'static>>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "certificate refused: {}", self.problem)
    }
}

impl std::error::Error for Rejection {}

impl Verifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<(), CertificateProblem> {
        if !self.pins.is_empty() {
            return if self.pins.contains(&Fingerprint::of(end_entity)) {
                Ok(())
            } else {
                Err(CertificateProblem::NotPinned)
            };
        }
        if self.accept_any {
            return Ok(());
        }
        if self
            .anchors
            .iter()
            .any(|a| a.as_ref() == end_entity.as_ref())
        {
            return exact_anchor(end_entity, server_name, now);
        }
        let Some(webpki) = &self.webpki else {
            return Err(CertificateProblem::UnknownIssuer);
        };
        webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(drop)
            .map_err(|e| classify(&e, end_entity, server_name))
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.check(end_entity, intermediates, server_name, ocsp, now) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(problem) => {
                let chain = std::iter::once(end_entity)
                    .chain(intermediates)
                    .map(|c| c.clone().into_owned())
                    .collect();
                let rejection = Rejection { problem, chain };
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(rejection)),
                )))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A server certificate that is exactly one of the caller's anchors: webpki refuses a
/// `CA:TRUE` certificate as an end entity, but the caller named this very certificate.
/// It must still name the server and be within its validity period.
fn exact_anchor(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), CertificateProblem> {
    let info = CertificateInfo::parse(end_entity).ok_or(CertificateProblem::Malformed)?;
    let now = UtcTime::from_unix(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    if now < info.not_before {
        return Err(CertificateProblem::NotYetValid {
            not_before: Some(info.not_before),
        });
    }
    if now > info.not_after {
        return Err(CertificateProblem::Expired {
            not_after: Some(info.not_after),
        });
    }
    let parsed =
        ParsedCertificate::try_from(end_entity).map_err(|_| CertificateProblem::Malformed)?;
    if rustls::client::verify_server_name(&parsed, server_name).is_ok() {
        return Ok(());
    }
    let expected = server_name.to_str();
    if info.names.is_empty() {
        let common = common_names(end_entity);
        if common.iter().any(|cn| cn.eq_ignore_ascii_case(&expected)) {
            return Ok(());
        }
        return Err(CertificateProblem::WrongName {
            expected: expected.into_owned(),
            names: common,
        });
    }
    Err(CertificateProblem::WrongName {
        expected: expected.into_owned(),
        names: info.names,
    })
}

/// webpki's verdict in words, with what the certificate itself says.
fn classify(
    error: &rustls::Error,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
) -> CertificateProblem {
    use CertificateError as C;
    let info = CertificateInfo::parse(end_entity);
    let self_signed = info.as_ref().is_some_and(|i| i.self_signed);
    let rustls::Error::InvalidCertificate(error) = error else {
        return CertificateProblem::Other("it could not be verified".into());
    };
    match error {
        C::Expired | C::ExpiredContext { .. } => CertificateProblem::Expired {
            not_after: info.map(|i| i.not_after),
        },
        C::NotValidYet | C::NotValidYetContext { .. } => CertificateProblem::NotYetValid {
            not_before: info.map(|i| i.not_before),
        },
        C::NotValidForName | C::NotValidForNameContext { .. } => CertificateProblem::WrongName {
            expected: server_name.to_str().into_owned(),
            names: info.map(|i| i.names).unwrap_or_default(),
        },
        // A self-signed certificate that is not an anchor, whatever webpki tripped on
        // first: no issuer found, a `CA:TRUE` one used as an end entity, or a trusted
        // certificate with the same name whose key did not sign it (a regenerated one).
        _ if self_signed => CertificateProblem::SelfSigned,
        C::UnknownIssuer => CertificateProblem::UnknownIssuer,
        C::Revoked => CertificateProblem::Revoked,
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => CertificateProblem::NotForServers,
        #[allow(deprecated)]
        C::BadSignature => CertificateProblem::BadSignature,
        #[allow(deprecated)]
        C::UnsupportedSignatureAlgorithm
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            CertificateProblem::UnsupportedAlgorithm
        }
        C::BadEncoding => CertificateProblem::Malformed,
        C::UnhandledCriticalExtension => CertificateProblem::Other(
            "it has a critical extension this client does not understand".into(),
        ),
        C::UnknownRevocationStatus
        | C::ExpiredRevocationList
        | C::ExpiredRevocationListContext { .. } => {
            CertificateProblem::Other("its revocation status is unknown".into())
        }
        _ => CertificateProblem::Other("it could not be verified".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(ca: bool, names: &[&str]) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|&n| n.to_owned()).collect::<Vec<_>>())
                .expect("params");
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        params.self_signed(&key).expect("cert").der().clone()
    }

    fn verifier(anchors: Vec<CertificateDer<'static>>, pins: Vec<Fingerprint>) -> Verifier {
        let mut roots = RootCertStore::empty();
        for a in &anchors {
            roots.add(a.clone()).expect("root");
        }
        Verifier {
            webpki: (!roots.is_empty()).then(|| {
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .expect("verifier")
            }),
            anchors,
            pins,
            accept_any: false,
            provider: provider(),
        }
    }

    fn name(host: &str) -> ServerName<'static> {
        ServerName::try_from(host.to_owned()).expect("name")
    }

    fn check(
        v: &Verifier,
        cert: &CertificateDer<'_>,
        host: &str,
    ) -> Result<(), CertificateProblem> {
        v.check(cert, &[], &name(host), &[], UnixTime::now())
    }

    #[test]
    fn a_ca_certificate_given_as_anchor_is_trusted_as_itself() {
        let cert = self_signed(true, &["localhost", "127.0.0.1"]);
        let v = verifier(vec![cert.clone()], vec![]);
        assert_eq!(check(&v, &cert, "localhost"), Ok(()));
        assert_eq!(check(&v, &cert, "127.0.0.1"), Ok(()));
        // The name is still checked.
        assert_eq!(
            check(&v, &cert, "pop.example.com"),
            Err(CertificateProblem::WrongName {
                expected: "pop.example.com".into(),
                names: vec!["localhost".into(), "127.0.0.1".into()],
            })
        );
        // So are the dates.
        let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(
                CertificateInfo::parse(&cert)
                    .expect("info")
                    .not_after
                    .unix(),
            )
            .expect("positive")
                + 1,
        ));
        assert!(matches!(
            v.check(&cert, &[], &name("localhost"), &[], later),
            Err(CertificateProblem::Expired { not_after: Some(_) })
        ));
        // Another CA:TRUE self-signed certificate is not trusted by it.
        let other = self_signed(true, &["localhost"]);
        assert_eq!(
            check(&v, &other, "localhost"),
            Err(CertificateProblem::SelfSigned)
        );
    }

    /// `openssl req -x509 -subj /CN=localhost` without `-addext`: no subject alternative
    /// names, the server named only by the common name.
    fn common_name_only(ca: bool, common_name: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        params.self_signed(&key).expect("cert").der().clone()
    }

    #[test]
    fn an_anchor_without_alternative_names_is_matched_by_its_common_name() {
        let cert = common_name_only(true, "LocalHost");
        assert!(
            CertificateInfo::parse(&cert)
                .expect("info")
                .names
                .is_empty()
        );
        let v = verifier(vec![cert.clone()], vec![]);
        assert_eq!(check(&v, &cert, "localhost"), Ok(()));
        assert_eq!(
            check(&v, &cert, "pop.example.com"),
            Err(CertificateProblem::WrongName {
                expected: "pop.example.com".into(),
                names: vec!["LocalHost".into()],
            })
        );
        // A certificate that has alternative names is judged by them alone.
        let named = self_signed(true, &["pop.example.com"]);
        let mut with_cn =
            rcgen::CertificateParams::new(vec!["pop.example.com".to_owned()]).expect("params");
        with_cn
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let key = rcgen::KeyPair::generate().expect("key");
        let both = with_cn.self_signed(&key).expect("cert").der().clone();
        let v = verifier(vec![named, both.clone()], vec![]);
        assert!(matches!(
            check(&v, &both, "localhost"),
            Err(CertificateProblem::WrongName { .. })
        ));
        // And the common name counts only for a certificate the caller named: through
        // webpki (here, signed by a CA the caller trusts) it does not.
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf = leaf.signed_by(&leaf_key, &ca).expect("leaf").der().clone();
        let v = verifier(vec![ca.as_ref().der().clone()], vec![]);
        assert!(matches!(
            check(&v, &leaf, "localhost"),
            Err(CertificateProblem::WrongName { .. })
        ));
    }

    #[test]
    fn pins_name_exactly_one_certificate() {
        let cert = self_signed(false, &["localhost"]);
        let other = self_signed(false, &["localhost"]);
        let v = verifier(vec![], vec![Fingerprint::of(&cert)]);
        // Any name: the pin replaces the chain, the name and the dates.
        assert_eq!(check(&v, &cert, "elsewhere.example"), Ok(()));
        assert_eq!(
            check(&v, &other, "localhost"),
            Err(CertificateProblem::NotPinned)
        );
    }

    #[test]
    fn refusals_carry_the_presented_chain() {
        let cert = self_signed(false, &["localhost"]);
        let v = verifier(vec![self_signed(false, &["localhost"])], vec![]);
        let error = v
            .verify_server_cert(&cert, &[], &name("localhost"), &[], UnixTime::now())
            .unwrap_err();
        let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = error else {
            panic!("{error:?}")
        };
        let rejection = other.0.downcast_ref::<Rejection>().expect("a rejection");
        assert_eq!(rejection.problem, CertificateProblem::SelfSigned);
        assert_eq!(rejection.chain, [cert]);
    }

    #[test]
    fn configurations() {
        let none = Trust {
            extra_roots: &[],
            webpki_roots: false,
            pins: &[],
            accept_invalid_certificates: false,
        };
        assert!(matches!(client_config(&none), Err(Error::Config(_))));
        let pins = [Fingerprint::of(b"x")];
        let pinned = Trust {
            pins: &pins,
            ..none
        };
        assert!(client_config(&pinned).is_ok());
    }
}
