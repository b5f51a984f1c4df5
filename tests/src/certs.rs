//! Throw-away TLS certificates for tests: a private CA and a server certificate it signs.
//!
//! Everything is generated in memory with `rcgen` (ECDSA P-256) when a server starts, so no
//! key material is ever checked in. Clients trust the CA with [`client_config`]; the
//! server certificate names `localhost`, `127.0.0.1` and `::1`.
//!
//! ```
//! use pop3_testkit::certs::{TestCertificates, client_config};
//!
//! let certs = TestCertificates::generate()?;
//! assert!(certs.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! let _server = certs.server_config()?; // for rustls::ServerConnection
//! let _client = client_config(certs.ca_pem())?; // trusts only this CA
//! # Ok::<(), pop3_testkit::certs::CertError>(())
//! ```

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why certificates or a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// `rcgen` failed to generate a key or certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate, key or configuration.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The PEM text holds no usable certificate.
    #[error("no certificate in the PEM text: {0}")]
    Pem(String),
}

/// A CA certificate (what clients trust) and a server certificate with its key.
#[derive(Clone, Debug)]
pub struct TestCertificates {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCertificates {
    /// A fresh CA and a server certificate for [`SERVER_NAMES`] signed by it.
    pub fn generate() -> Result<Self, CertError> {
        let (ca_pem, issuer) = new_ca("pop3-testkit CA")?;
        Self::with_issuer(ca_pem, &issuer)
    }

    /// A server certificate signed by a CA that is *not* the one exposed by
    /// [`ca_pem`](Self::ca_pem): clients trusting `ca_pem` must refuse it.
    pub fn generate_untrusted() -> Result<Self, CertError> {
        let (ca_pem, _) = new_ca("pop3-testkit CA")?;
        let (_, impostor) = new_ca("pop3-testkit impostor CA")?;
        Self::with_issuer(ca_pem, &impostor)
    }

    fn with_issuer(ca_pem: String, issuer: &Issuer<'static, KeyPair>) -> Result<Self, CertError> {
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
        let cert = params.signed_by(&key, issuer)?;
        Ok(Self {
            ca_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    /// The CA certificate, PEM encoded: what a client should trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate, PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The server's private key, PKCS#8 PEM encoded.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A rustls server configuration (ring provider, safe defaults) serving the certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, CertError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(vec![self.cert_der.clone()], key)?;
        Ok(Arc::new(config))
    }
}

/// A CA: its PEM and an issuer to sign with.
fn new_ca(name: &str) -> Result<(String, Issuer<'static, KeyPair>), CertError> {
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

/// A rustls client configuration (ring provider) trusting only the CA certificates in
/// `ca_pem`.
pub fn client_config(ca_pem: &str) -> Result<Arc<ClientConfig>, CertError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| CertError::Pem(e.to_string()))?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(CertError::Pem("no CERTIFICATE block".into()));
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_config_refuses_garbage_pem() {
        assert!(matches!(client_config("not a pem"), Err(CertError::Pem(_))));
    }

    #[test]
    fn untrusted_uses_another_ca() -> Result<(), CertError> {
        let good = TestCertificates::generate()?;
        let bad = TestCertificates::generate_untrusted()?;
        assert_ne!(good.ca_pem(), bad.ca_pem());
        assert!(bad.key_pem().contains("PRIVATE KEY"));
        assert!(bad.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        Ok(())
    }
}
