//! What a TLS session established, for reports (`pop3 info`) and tests.

use rustls::ClientConnection;
use rustls::pki_types::CertificateDer;

/// The negotiated TLS session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// Whether the handshake resumed an earlier session (no full handshake).
    pub resumed: bool,
    /// The server's certificate chain, end entity first.
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

impl TlsInfo {
    pub(crate) fn of(conn: &ClientConnection) -> Option<Self> {
        if conn.is_handshaking() {
            return None;
        }
        Some(Self {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            peer_certificates: conn
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
        })
    }
}
