//! TLS for the server: a certificate generated at start (signed by a fresh private CA)
//! or the caller's certificate and key.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// The names a generated server certificate is valid for.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A throw-away private CA and a server certificate it signed, generated in memory
/// (ECDSA P-256), so that no key material is ever checked in.
///
/// Clients trust [`ca_pem`](Self::ca_pem); the server certificate names
/// [`SERVER_NAMES`]. A [`Server`](crate::Server) with TLS generates one at start; to serve
/// these elsewhere, pass [`cert_pem`](Self::cert_pem) and [`key_pem`](Self::key_pem) to
/// [`ServerBuilder::certificate_pem`](crate::ServerBuilder::certificate_pem).
///
/// ```
/// let certs = pop3_server::Certificates::generate()?;
/// assert!(certs.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(certs.key_pem().contains("PRIVATE KEY"));
/// # Ok::<(), pop3_server::Error>(())
/// ```
#[derive(Clone)]
pub struct Certificates {
    ca: String,
    cert: String,
    key: String,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("ca_pem", &self.ca)
            .field("cert_pem", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// A fresh CA and a server certificate for [`SERVER_NAMES`] signed by it.
    pub fn generate() -> Result<Self, Error> {
        Self::make().map_err(|e| Error::Certificate(Box::new(e)))
    }

    fn make() -> Result<Self, rcgen::Error> {
        let (ca, issuer) = new_ca("pop3-server CA")?;
        let mut params = CertificateParams::new(
            SERVER_NAMES
                .iter()
                .map(|&s| s.to_owned())
                .collect::<Vec<_>>(),
        )?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.use_authority_key_identifier_extension = true;
        params.key_usages.push(KeyUsagePurpose::DigitalSignature);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Self {
            ca,
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// The CA certificate, PEM encoded: what a client should trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca
    }

    /// The server certificate, PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert
    }

    /// The server's private key, PKCS#8 PEM encoded.
    pub fn key_pem(&self) -> &str {
        &self.key
    }
}

/// A CA: its PEM and an issuer to sign with.
fn new_ca(name: &str) -> Result<(String, Issuer<'static, KeyPair>), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// A rustls server configuration (ring provider, safe defaults) serving the certificate
/// chain and key given as PEM text.
pub(crate) fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, Error> {
    let invalid = |e: String| Error::Tls(e.into());
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(
            "no CERTIFICATE block in the certificate PEM".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| invalid(format!("private key PEM: {e}")))?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(Box::new(e)))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| Error::Tls(Box::new(e)))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_make_a_server_config() -> Result<(), Error> {
        let certs = Certificates::generate()?;
        assert!(certs.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(certs.ca_pem(), certs.cert_pem());
        server_config(certs.cert_pem(), certs.key_pem())?;
        assert!(!format!("{certs:?}").contains("PRIVATE"));
        Ok(())
    }

    #[test]
    fn bad_pem_is_an_error_not_a_panic() -> Result<(), Error> {
        let certs = Certificates::generate()?;
        assert!(matches!(
            server_config("garbage", certs.key_pem()),
            Err(Error::Tls(_))
        ));
        assert!(matches!(
            server_config(certs.cert_pem(), "garbage"),
            Err(Error::Tls(_))
        ));
        let other = Certificates::generate()?;
        // A key that does not match the certificate.
        assert!(server_config(certs.cert_pem(), other.key_pem()).is_err());
        Ok(())
    }
}
