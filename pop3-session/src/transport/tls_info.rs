//! What a TLS session established, for reports (`pop3 info`) and tests.

use rustls::ClientConnection;
use rustls::pki_types::CertificateDer;

use crate::CertificateInfo;

/// The negotiated TLS session (or, in a [`TlsError::Certificate`](crate::TlsError), as
/// far as it got before the certificate was refused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1.3` (empty if not negotiated yet).
    pub version: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384` (empty if not negotiated yet).
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
        let mut info = Self::negotiated(conn);
        info.resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        info.peer_certificates = conn
            .peer_certificates()
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        Some(info)
    }

    /// The version and cipher suite agreed so far (both are known once the server's
    /// hello is in, before its certificate is checked).
    pub(crate) fn negotiated(conn: &ClientConnection) -> Self {
        Self {
            version: conn
                .protocol_version()
                .map(|v| match v {
                    rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                    rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                    other => other.as_str().unwrap_or("unknown").replace('_', "."),
                })
                .unwrap_or_default(),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| s.suite().as_str().unwrap_or("unknown").to_owned())
                .unwrap_or_default(),
            resumed: false,
            peer_certificates: Vec::new(),
        }
    }

    /// What the server's own certificate (the end entity) says, if it presented one
    /// that can be read.
    pub fn certificate(&self) -> Option<CertificateInfo> {
        CertificateInfo::parse(self.peer_certificates.first()?)
    }
}
