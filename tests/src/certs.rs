//! Throw-away TLS certificates for tests: a private CA and a server certificate it signs.
//!
//! Generation is `pop3_server`'s ([`pop3_server::Certificates`]): in memory, ECDSA P-256,
//! so no key material is ever checked in. This module adds what only tests need: a
//! certificate signed by the *wrong* CA ([`TestCertificates::generate_untrusted`]) and
//! rustls configurations for both ends. The server certificate names `localhost`,
//! `127.0.0.1` and `::1`.
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

use pop3_server::Certificates;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 3] = pop3_server::SERVER_NAMES;

/// Why certificates or a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The certificates could not be generated.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] pop3_server::Error),
    /// rustls refused the certificate, key or configuration.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The PEM text holds no usable certificate or key.
    #[error("no certificate in the PEM text: {0}")]
    Pem(String),
}

/// A CA certificate (what clients trust) and a server certificate with its key.
#[derive(Clone, Debug)]
pub struct TestCertificates {
    ca: String,
    cert: String,
    key: String,
}

impl TestCertificates {
    /// A fresh CA and a server certificate for [`SERVER_NAMES`] signed by it.
    pub fn generate() -> Result<Self, CertError> {
        let certs = Certificates::generate()?;
        Ok(Self {
            ca: certs.ca_pem().to_owned(),
            cert: certs.cert_pem().to_owned(),
            key: certs.key_pem().to_owned(),
        })
    }

    /// A server certificate signed by a CA that is *not* the one exposed by
    /// [`ca_pem`](Self::ca_pem): clients trusting `ca_pem` must refuse it.
    pub fn generate_untrusted() -> Result<Self, CertError> {
        let trusted = Certificates::generate()?;
        let impostor = Certificates::generate()?;
        Ok(Self {
            ca: trusted.ca_pem().to_owned(),
            cert: impostor.cert_pem().to_owned(),
            key: impostor.key_pem().to_owned(),
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

    /// A rustls server configuration (ring provider, safe defaults) serving the certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, CertError> {
        let cert = CertificateDer::from_pem_slice(self.cert.as_bytes())
            .map_err(|e| CertError::Pem(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes())
            .map_err(|e| CertError::Pem(e.to_string()))?;
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)?;
        Ok(Arc::new(config))
    }
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
        bad.server_config()?;
        Ok(())
    }
}
