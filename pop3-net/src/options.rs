//! Connection options, the same for every adapter.

use std::sync::Arc;
use std::time::Duration;

use pop3_proto::Pipelining;
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::Error;
use crate::tls;

/// How the connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (POP3S, port 995). The default.
    #[default]
    Implicit,
    /// Plaintext, then a required STLS upgrade before any credential (port 110). Never
    /// opportunistic: a server that cannot upgrade fails the login.
    StartTls,
    /// No TLS at all (port 110). Credentials are refused unless the login explicitly
    /// allows plaintext authentication.
    Plain,
}

impl TlsMode {
    /// The standard port: 995 for implicit TLS, 110 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Implicit => 995,
            Self::StartTls | Self::Plain => 110,
        }
    }
}

/// Time limits. Each applies to one step: the TCP connect, the TLS handshake, and every
/// single read or write (an idle timeout, not a limit on a whole transfer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP connection.
    pub connect: Duration,
    /// The TLS handshake.
    pub handshake: Duration,
    /// Any read or write.
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            connect: minute,
            handshake: minute,
            io: minute,
        }
    }
}

/// Where and how to connect.
///
/// Secure by default: implicit TLS, certificates verified against the webpki roots
/// (plus any anchors you add), and the only way to skip verification is the explicitly
/// named [`ConnectOptions::dangerous_accept_invalid_certificates`].
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    host: String,
    port: Option<u16>,
    tls: TlsMode,
    extra_roots: Vec<CertificateDer<'static>>,
    webpki_roots: bool,
    accept_invalid_certificates: bool,
    timeouts: Timeouts,
    proto: pop3_proto::Config,
}

impl ConnectOptions {
    /// Options for `host` (a DNS name or an IP address), implicit TLS on port 995.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: None,
            tls: TlsMode::Implicit,
            extra_roots: Vec::new(),
            webpki_roots: true,
            accept_invalid_certificates: false,
            timeouts: Timeouts::default(),
            proto: pop3_proto::Config::default(),
        }
    }

    /// The TCP port (default: [`TlsMode::default_port`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The TLS mode (default [`TlsMode::Implicit`]).
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls = mode;
        self
    }

    /// Trusts the certificates in a PEM document (one or more) in addition to the webpki
    /// roots.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Config(format!("invalid PEM certificate: {e}")))?;
            self.extra_roots.push(cert);
            found += 1;
        }
        if found == 0 {
            return Err(Error::Config("no certificate found in the PEM data".into()));
        }
        Ok(self)
    }

    /// Trusts only the anchors added with [`ConnectOptions::add_root_pem`], not the
    /// webpki roots.
    pub fn without_webpki_roots(mut self) -> Self {
        self.webpki_roots = false;
        self
    }

    /// Skips certificate verification entirely: anyone on the path can read and change the
    /// session, passwords included. For lab servers only.
    pub fn dangerous_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.accept_invalid_certificates = accept;
        self
    }

    /// Sets every timeout to `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeouts = Timeouts {
            connect: timeout,
            handshake: timeout,
            io: timeout,
        };
        self
    }

    /// Sets the timeouts one by one.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The pipelining policy (default [`Pipelining::Auto`]).
    pub fn pipelining(mut self, pipelining: Pipelining) -> Self {
        self.proto.pipelining = pipelining;
        self
    }

    /// The core's configuration: limits, window, pipelining. Its `implicit_tls` field is
    /// set from the TLS mode.
    pub fn protocol(mut self, config: pop3_proto::Config) -> Self {
        self.proto = config;
        self
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port that will be used.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }

    /// The TLS mode.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// The timeouts.
    pub fn timeout_settings(&self) -> Timeouts {
        self.timeouts
    }

    /// The configuration for the core client of a new connection.
    pub fn client_config(&self) -> pop3_proto::Config {
        pop3_proto::Config {
            implicit_tls: self.tls == TlsMode::Implicit,
            ..self.proto
        }
    }

    /// The name the server certificate must carry.
    pub fn server_name(&self) -> Result<ServerName<'static>, Error> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_owned())
            .map_err(|_| Error::Config(format!("invalid server name {:?}", self.host)))
    }

    /// The rustls configuration these options describe.
    pub fn rustls_config(&self) -> Result<Arc<ClientConfig>, Error> {
        tls::client_config(
            &self.extra_roots,
            self.webpki_roots,
            self.accept_invalid_certificates,
        )
    }

    /// Whether verification is disabled (the CLI warns about it).
    pub fn accepts_invalid_certificates(&self) -> bool {
        self.accept_invalid_certificates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_secure() {
        let o = ConnectOptions::new("pop.example.com");
        assert_eq!((o.tls_mode(), o.effective_port()), (TlsMode::Implicit, 995));
        assert!(!o.accepts_invalid_certificates());
        assert!(o.client_config().implicit_tls);
        let o = o.tls(TlsMode::Plain);
        assert_eq!(o.effective_port(), 110);
        assert!(!o.client_config().implicit_tls);
    }

    #[test]
    fn server_names() {
        assert!(ConnectOptions::new("127.0.0.1").server_name().is_ok());
        assert!(ConnectOptions::new("[::1]").server_name().is_ok());
        assert!(ConnectOptions::new("bad name").server_name().is_err());
    }

    #[test]
    fn pem_roots() {
        assert!(ConnectOptions::new("h").add_root_pem(b"not pem").is_err());
    }
}
