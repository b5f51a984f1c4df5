//! Connection options, the same for every adapter.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pop3_proto::{Config, Pipelining, TlsMode};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::tls::{self, Trust};
use crate::{Error, Fingerprint};

/// Time limits. Each applies to one step: the TCP connect, the TLS handshake, every
/// single read or write (an idle timeout, not a limit on a whole transfer), and every
/// line the server sends outside a message body. Zero means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP connection.
    pub connect: Duration,
    /// The TLS handshake, as a whole.
    pub handshake: Duration,
    /// Any read or write: the longest the connection may stay silent while we wait.
    /// Message bodies are bounded by this alone: they may be long, but must not stall.
    pub io: Duration,
    /// A line deadline: a greeting, status, listing or SASL challenge line must
    /// complete within this time of its first byte. A server that trickles a line, a
    /// byte now and then, is never idle; this bounds it.
    pub line: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            connect: minute,
            handshake: minute,
            io: minute,
            line: minute,
        }
    }
}

/// The rustls configuration, built once and shared by every clone of the options, so
/// that N sessions share one root store and one TLS session cache (resumption).
#[derive(Clone, Default)]
struct TlsCache(Arc<OnceLock<Arc<ClientConfig>>>);

impl fmt::Debug for TlsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "built"
        } else {
            "not built"
        })
    }
}

/// Where and how to connect.
///
/// Secure by default: implicit TLS, certificates verified against the webpki roots
/// (plus any anchors you add), and the only way to skip verification is the explicitly
/// named [`ConnectOptions::dangerous_accept_invalid_certificates`]. For a server with a
/// self-signed certificate, add that certificate as an anchor
/// ([`ConnectOptions::add_root_pem`]) or pin its fingerprint
/// ([`ConnectOptions::pin_certificate`]).
///
/// ```
/// use pop3_session::{ConnectOptions, TlsMode};
/// use std::time::Duration;
///
/// let options = ConnectOptions::new("pop.example.com")
///     .tls(TlsMode::StartTls)
///     .timeout(Duration::from_secs(30));
/// assert_eq!(options.effective_port(), 110);
/// assert_eq!(options.address(), "pop.example.com:110");
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    host: String,
    port: Option<u16>,
    tls: TlsMode,
    extra_roots: Vec<CertificateDer<'static>>,
    webpki_roots: bool,
    pins: Vec<Fingerprint>,
    accept_invalid_certificates: bool,
    timeouts: Timeouts,
    protocol: Config,
    /// Set with [`ConnectOptions::pipelining`]: wins over the protocol configuration's,
    /// whichever was set last.
    pipelining: Option<Pipelining>,
    tls_cache: TlsCache,
}

impl ConnectOptions {
    /// Options for `host` (a DNS name, an IPv4 address, or an IPv6 address with or
    /// without brackets), implicit TLS on port 995.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: None,
            tls: TlsMode::Implicit,
            extra_roots: Vec::new(),
            webpki_roots: true,
            pins: Vec::new(),
            accept_invalid_certificates: false,
            timeouts: Timeouts::default(),
            protocol: Config::default(),
            pipelining: None,
            tls_cache: TlsCache::default(),
        }
    }

    /// The TCP port (default: [`TlsMode::default_port`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The TLS mode (default [`TlsMode::Implicit`]). With [`TlsMode::StartTls`] every
    /// login upgrades with STLS first, and fails if the server cannot.
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls = mode;
        self
    }

    /// Trusts the certificates in a PEM document (one or more) in addition to the webpki
    /// roots.
    ///
    /// Each is a trust anchor for chains, and is also trusted as itself: a server that
    /// presents exactly one of these certificates is accepted if the certificate names
    /// the server and is within its validity period, even when it is marked as a
    /// certificate authority (`CA:TRUE`, as `openssl req -x509` makes self-signed
    /// certificates), which path validation refuses for a server certificate.
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
        self.tls_cache = TlsCache::default();
        Ok(self)
    }

    /// Trusts only the anchors added with [`ConnectOptions::add_root_pem`], not the
    /// webpki roots.
    pub fn without_webpki_roots(mut self) -> Self {
        self.webpki_roots = false;
        self.tls_cache = TlsCache::default();
        self
    }

    /// Trusts exactly the server certificate with this SHA-256 fingerprint, instead of a
    /// chain (as mpop's `--tls-fingerprint` and fetchmail's `sslfingerprint`). Repeat for
    /// several (a certificate and its planned successor, say).
    ///
    /// While any fingerprint is pinned, only pinned certificates are accepted: anchors,
    /// webpki roots and [`ConnectOptions::dangerous_accept_invalid_certificates`] no
    /// longer matter, and neither the name nor the dates of the certificate are
    /// checked (the pin names one certificate, whatever it contains). The handshake must
    /// still be signed with the pinned certificate's key.
    ///
    /// ```
    /// use pop3_session::{ConnectOptions, Fingerprint};
    ///
    /// let pin: Fingerprint = "5E:88:48:98:DA:28:04:71:51:D0:E5:6F:8D:C6:29:27:\
    ///                         73:60:3D:0D:6A:AB:BD:D6:2A:11:EF:72:1D:15:42:D8".parse()?;
    /// let options = ConnectOptions::new("pop.example.com").pin_certificate(pin);
    /// assert_eq!(options.pinned(), [pin]);
    /// # Ok::<(), pop3_session::InvalidFingerprint>(())
    /// ```
    pub fn pin_certificate(mut self, fingerprint: Fingerprint) -> Self {
        if !self.pins.contains(&fingerprint) {
            self.pins.push(fingerprint);
        }
        self.tls_cache = TlsCache::default();
        self
    }

    /// The pinned fingerprints.
    pub fn pinned(&self) -> &[Fingerprint] {
        &self.pins
    }

    /// Skips certificate verification entirely: anyone on the path can read and change the
    /// session, passwords included. For lab servers only. (Pinned fingerprints still
    /// apply: see [`ConnectOptions::pin_certificate`].)
    pub fn dangerous_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.accept_invalid_certificates = accept;
        self.tls_cache = TlsCache::default();
        self
    }

    /// Sets every timeout (connect, handshake, idle I/O, line) to `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeouts = Timeouts {
            connect: timeout,
            handshake: timeout,
            io: timeout,
            line: timeout,
        };
        self
    }

    /// Sets the line deadline alone: how long a greeting, status, listing or SASL
    /// challenge line may take from its first byte to its end.
    pub fn line_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.line = timeout;
        self
    }

    /// Sets the timeout of the TCP connect alone.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = timeout;
        self
    }

    /// Sets the timeout of the TLS handshake alone.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.handshake = timeout;
        self
    }

    /// Sets the idle timeout of reads and writes alone.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.io = timeout;
        self
    }

    /// The pipelining policy (default [`Pipelining::Auto`]). It wins over the one in a
    /// [`ConnectOptions::protocol`] configuration, in whichever order both are set.
    pub fn pipelining(mut self, pipelining: Pipelining) -> Self {
        self.pipelining = Some(pipelining);
        self
    }

    /// The protocol core's configuration: limits, window, pipelining. Its TLS mode is
    /// always the one set with [`ConnectOptions::tls`], and its pipelining policy the one
    /// set with [`ConnectOptions::pipelining`] if that was called.
    pub fn protocol(mut self, config: Config) -> Self {
        self.protocol = config;
        self
    }

    /// The host as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host to resolve or parse: an IPv6 literal without its brackets.
    pub fn dial_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port that will be used.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }

    /// `host:port` for messages, with an IPv6 literal in brackets.
    pub fn address(&self) -> String {
        let host = self.dial_host();
        if host.contains(':') {
            format!("[{host}]:{}", self.effective_port())
        } else {
            format!("{host}:{}", self.effective_port())
        }
    }

    /// The TLS mode.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// The timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The configuration for the protocol core of a new connection.
    pub fn protocol_config(&self) -> Config {
        let config = self.protocol.tls(self.tls);
        match self.pipelining {
            Some(pipelining) => config.pipelining(pipelining),
            None => config,
        }
    }

    /// The name the server certificate must carry.
    pub fn server_name(&self) -> Result<ServerName<'static>, Error> {
        ServerName::try_from(self.dial_host().to_owned())
            .map_err(|_| Error::Config(format!("invalid server name {:?}", self.host)))
    }

    /// The rustls configuration these options describe. Built on first use and shared
    /// by every clone of these options, so sessions opened from them share one root
    /// store and one TLS session cache: later handshakes resume earlier sessions.
    pub fn tls_config(&self) -> Result<Arc<ClientConfig>, Error> {
        if let Some(config) = self.tls_cache.0.get() {
            return Ok(Arc::clone(config));
        }
        let config = tls::client_config(&Trust {
            extra_roots: &self.extra_roots,
            webpki_roots: self.webpki_roots,
            pins: &self.pins,
            accept_invalid_certificates: self.accept_invalid_certificates,
        })?;
        // Two threads may race to build it; either result is the same configuration.
        Ok(Arc::clone(self.tls_cache.0.get_or_init(|| config)))
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
        assert_eq!(o.protocol_config(), Config::new().tls(TlsMode::Implicit));
        let o = o.tls(TlsMode::Plain);
        assert_eq!(o.effective_port(), 110);
        assert_eq!(o.protocol_config(), Config::new().tls(TlsMode::Plain));
    }

    #[test]
    fn one_knob_per_decision_whatever_the_order() {
        let core = Config::new().pipelining(Pipelining::Always);
        for o in [
            ConnectOptions::new("h")
                .pipelining(Pipelining::Never)
                .protocol(core),
            ConnectOptions::new("h")
                .protocol(core)
                .pipelining(Pipelining::Never),
        ] {
            assert_eq!(
                o.protocol_config(),
                Config::new()
                    .pipelining(Pipelining::Never)
                    .tls(TlsMode::Implicit)
            );
        }
        // Without the setter, the configuration's own policy stands.
        let o = ConnectOptions::new("h").protocol(core).tls(TlsMode::Plain);
        assert_eq!(
            o.protocol_config(),
            Config::new()
                .pipelining(Pipelining::Always)
                .tls(TlsMode::Plain)
        );
    }

    #[test]
    fn server_names_and_addresses() {
        assert!(ConnectOptions::new("127.0.0.1").server_name().is_ok());
        assert!(ConnectOptions::new("[::1]").server_name().is_ok());
        assert!(ConnectOptions::new("bad name").server_name().is_err());
        assert_eq!(ConnectOptions::new("[::1]").dial_host(), "::1");
        assert_eq!(ConnectOptions::new("::1").address(), "[::1]:995");
        assert_eq!(ConnectOptions::new("[::1]").port(1).address(), "[::1]:1");
    }

    #[test]
    fn pem_roots() {
        assert!(ConnectOptions::new("h").add_root_pem(b"not pem").is_err());
    }

    #[test]
    fn tls_config_is_built_once_and_shared_by_clones() {
        let options = ConnectOptions::new("h");
        let first = options.tls_config().expect("config");
        let clone = options.clone();
        assert!(Arc::ptr_eq(&first, &clone.tls_config().expect("config")));
        // Changing what the configuration depends on builds a new one.
        let insecure = clone.dangerous_accept_invalid_certificates(true);
        assert!(!Arc::ptr_eq(
            &first,
            &insecure.tls_config().expect("config")
        ));
        let pinned = options.pin_certificate(Fingerprint::of(b"cert"));
        assert!(!Arc::ptr_eq(&first, &pinned.tls_config().expect("config")));
        // Pinning needs no anchors.
        let alone = ConnectOptions::new("h")
            .without_webpki_roots()
            .pin_certificate(Fingerprint::of(b"cert"));
        assert!(alone.tls_config().is_ok());
        assert!(
            ConnectOptions::new("h")
                .without_webpki_roots()
                .tls_config()
                .is_err()
        );
    }

    #[test]
    fn timeouts_one_by_one() {
        let o = ConnectOptions::new("h")
            .timeout(Duration::from_secs(5))
            .io_timeout(Duration::from_secs(9))
            .line_timeout(Duration::from_secs(2));
        assert_eq!(
            o.timeouts(),
            Timeouts {
                connect: Duration::from_secs(5),
                handshake: Duration::from_secs(5),
                io: Duration::from_secs(9),
                line: Duration::from_secs(2),
            }
        );
    }
}
