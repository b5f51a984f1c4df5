//! The bytes on the wire, sans I/O: plaintext, or TLS records through rustls.
//!
//! Every adapter moves raw bytes between its socket and a [`Wire`]; the wire turns them
//! into plaintext for the POP3 core and back. TLS therefore behaves the same on every
//! runtime (one handshake path, one close-notify rule, one place that sees the server
//! certificate), and an adapter is only a socket and a timer.
//!
//! The wire also recognises the two classic mix-ups of ports and modes from the first
//! bytes the server sends: plaintext POP3 where a TLS handshake was expected, and a TLS
//! record where a plaintext greeting was expected.

use std::io::{BufRead as _, Write as _};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection};

use super::TlsInfo;
use crate::Error;
use crate::error::{CertificateProblem, TlsError, TlsEvidence};
use crate::tls::Rejection;

/// Plaintext or TLS, with the raw bytes waiting to be sent.
#[derive(Debug)]
pub(crate) struct Wire {
    /// `host:port`, for errors.
    address: String,
    tls: Option<Box<ClientConnection>>,
    /// The TLS session was started after STLS (else: implicit TLS).
    after_stls: bool,
    /// Bytes arrived since the connection (or the TLS session) began.
    seen: bool,
    /// The peer sent `close_notify`; reported once the plaintext before it is delivered.
    closed: bool,
    /// Raw bytes to send, from `sent` on.
    out: Vec<u8>,
    sent: usize,
    /// Where the incoming TLS stream is in its records.
    framing: Framing,
}

/// Follows TLS record boundaries in the raw stream (a 5-byte header with the length,
/// then the body), to tell whether a record is partly received: a server trickling one
/// record a byte at a time is sending something, while a complete record without
/// application data (a session ticket) is not the start of a line.
#[derive(Debug, Default)]
struct Framing {
    header: [u8; 5],
    have: usize,
    body_left: usize,
}

impl Framing {
    fn advance(&mut self, mut raw: &[u8]) {
        while !raw.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(raw.len());
                self.body_left -= n;
                raw = &raw[n..];
                continue;
            }
            let n = (self.header.len() - self.have).min(raw.len());
            self.header[self.have..self.have + n].copy_from_slice(&raw[..n]);
            self.have += n;
            raw = &raw[n..];
            if self.have == self.header.len() {
                self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.have = 0;
            }
        }
    }

    fn mid_record(&self) -> bool {
        self.have > 0 || self.body_left > 0
    }
}

/// What the peer did to the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Bytes were taken in; `plaintext` of them (after decryption) went to the core.
    Data { plaintext: usize },
    /// The peer ended the TLS session with `close_notify`.
    Closed,
}

/// TLS record content types (change cipher spec, alert, handshake, application data,
/// heartbeat): the first byte of anything a TLS peer sends.
const TLS_CONTENT_TYPES: std::ops::RangeInclusive<u8> = 20..=24;

impl Wire {
    /// A plaintext wire to the server at `address` (`host:port`, for errors).
    pub(crate) fn new(address: String) -> Self {
        Self {
            address,
            tls: None,
            after_stls: false,
            seen: false,
            closed: false,
            out: Vec::new(),
            sent: 0,
            framing: Framing::default(),
        }
    }

    /// Starts a TLS client session: the `ClientHello` is queued for sending.
    /// `after_stls`: the server accepted STLS (else the session is implicit TLS).
    pub(crate) fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        after_stls: bool,
    ) -> Result<(), Error> {
        let mut conn =
            ClientConnection::new(config, name).map_err(|e| self.error(TlsError::Failed(e)))?;
        collect(&mut conn, &mut self.out);
        self.tls = Some(Box::new(conn));
        self.after_stls = after_stls;
        self.seen = false;
        self.framing = Framing::default();
        Ok(())
    }

    /// Whether part of a TLS record has arrived and the rest has not (never over
    /// plaintext).
    pub(crate) fn mid_record(&self) -> bool {
        self.tls.is_some() && self.framing.mid_record()
    }

    /// Whether a TLS handshake is under way.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|c| c.is_handshaking())
    }

    /// The TLS session, once started.
    pub(crate) fn tls(&self) -> Option<&ClientConnection> {
        self.tls.as_deref()
    }

    /// The error for a TLS failure of this wire.
    pub(crate) fn error(&self, error: TlsError) -> Error {
        Error::Tls {
            address: self.address.clone(),
            error,
        }
    }

    /// A rustls failure as a [`TlsError`]: a refused certificate keeps what the server
    /// presented and what was negotiated so far.
    fn failure(&self, error: rustls::Error) -> Error {
        let negotiated = || Box::new(self.tls().map(TlsInfo::negotiated).unwrap_or_default());
        let error = match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                match other.0.downcast_ref::<Rejection>() {
                    Some(rejection) => {
                        let mut session = negotiated();
                        session.peer_certificates.clone_from(&rejection.chain);
                        TlsError::Certificate {
                            problem: rejection.problem.clone(),
                            session,
                        }
                    }
                    None => TlsError::Certificate {
                        problem: CertificateProblem::Other("it could not be verified".into()),
                        session: negotiated(),
                    },
                }
            }
            rustls::Error::NoCertificatesPresented => TlsError::Certificate {
                problem: CertificateProblem::NotPresented,
                session: negotiated(),
            },
            other => TlsError::Failed(other),
        };
        self.error(error)
    }

    /// Queues plaintext for the server (encrypted when TLS is on).
    pub(crate) fn send(&mut self, plaintext: &[u8]) -> Result<(), Error> {
        match &mut self.tls {
            None => {
                self.out.extend_from_slice(plaintext);
                Ok(())
            }
            Some(conn) => {
                conn.writer()
                    .write_all(plaintext)
                    .map_err(|e| Error::io("encrypting a command", e))?;
                collect(conn, &mut self.out);
                Ok(())
            }
        }
    }

    /// Raw bytes waiting to be written to the socket.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.out[self.sent..]
    }

    /// Records that the socket took `n` of the pending bytes.
    pub(crate) fn advance(&mut self, n: usize) {
        self.sent += n;
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        } else if self.sent > 64 * 1024 && self.sent > self.out.len() / 2 {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// Checks the first bytes of the connection (or of the TLS session) for a mode the
    /// server does not speak.
    fn check_first_bytes(&mut self, raw: &[u8]) -> Result<(), Error> {
        let Some(&first) = raw.first() else {
            return Ok(());
        };
        if std::mem::replace(&mut self.seen, true) {
            return Ok(());
        }
        let is_tls = TLS_CONTENT_TYPES.contains(&first);
        match (&self.tls, is_tls) {
            // No greeting starts with a control character: this is a TLS server.
            (None, true) => Err(self.error(TlsError::ExpectsImplicitTls {
                evidence: TlsEvidence::TlsRecord,
            })),
            (Some(_), false) => Err(self.error(TlsError::Plaintext {
                excerpt: excerpt(raw),
                pop3: looks_like_pop3(raw),
                after_stls: self.after_stls,
            })),
            _ => Ok(()),
        }
    }

    /// Takes raw bytes read from the socket. Plaintext is handed to `deliver` unless
    /// `hold` is set (during a handshake, decrypted data stays buffered in rustls until
    /// the core is ready for it).
    pub(crate) fn receive(
        &mut self,
        raw: &[u8],
        hold: bool,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<Received, Error> {
        self.check_first_bytes(raw)?;
        let Some(conn) = &mut self.tls else {
            deliver(raw);
            return Ok(Received::Data {
                plaintext: raw.len(),
            });
        };
        self.framing.advance(raw);
        let mut rest = raw;
        let mut plaintext = 0;
        let mut failed = None;
        while !rest.is_empty() {
            let taken = match conn.read_tls(&mut rest) {
                Ok(taken) => taken,
                Err(e) => return Err(Error::io("decrypting", e)),
            };
            let processed = conn.process_new_packets();
            // Alerts and handshake messages rustls wants to send, even on failure.
            collect(conn, &mut self.out);
            if let Err(e) = processed {
                failed = Some(e);
                break;
            }
            if !hold {
                let (n, closed) = drain(conn, deliver)?;
                plaintext += n;
                self.closed |= closed;
            }
            if taken == 0 {
                break;
            }
        }
        if let Some(e) = failed {
            return Err(self.failure(e));
        }
        if plaintext == 0 && self.closed {
            return Ok(Received::Closed);
        }
        Ok(Received::Data { plaintext })
    }

    /// Hands plaintext rustls holds (decrypted earlier) to `deliver`; returns how much,
    /// or `None` once the peer sent `close_notify`.
    pub(crate) fn drain_held(
        &mut self,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<Option<usize>, Error> {
        let Some(conn) = &mut self.tls else {
            return Ok(Some(0));
        };
        let (n, closed) = drain(conn, deliver)?;
        self.closed |= closed;
        Ok(if n == 0 && self.closed { None } else { Some(n) })
    }
}

/// `+OK` or `-ERR` (any case), or as much of either as arrived.
fn looks_like_pop3(raw: &[u8]) -> bool {
    let head = &raw[..raw.len().min(4)];
    [&b"+OK"[..], b"-ERR"].iter().any(|status| {
        let n = head.len().min(status.len());
        head[..n].eq_ignore_ascii_case(&status[..n])
    })
}

/// The start of the first line of `raw`, as text safe for a message.
fn excerpt(raw: &[u8]) -> String {
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut text: String = String::from_utf8_lossy(&line[..line.len().min(60)])
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if line.len() > 60 {
        text.push('…');
    }
    text
}

/// Moves the TLS records rustls wants to send into `out`.
fn collect(conn: &mut ClientConnection, out: &mut Vec<u8>) {
    while conn.wants_write() {
        // Writing into a Vec cannot fail; stop rather than spin if it ever does.
        if conn.write_tls(out).is_err() {
            break;
        }
    }
}

/// Moves decrypted plaintext out of rustls without copying it twice; returns how much,
/// and whether the peer has sent `close_notify`.
fn drain(
    conn: &mut ClientConnection,
    deliver: &mut dyn FnMut(&[u8]),
) -> Result<(usize, bool), Error> {
    let mut total = 0;
    loop {
        let mut reader = conn.reader();
        match reader.fill_buf() {
            Ok([]) => return Ok((total, true)),
            Ok(bytes) => {
                let n = bytes.len();
                deliver(bytes);
                reader.consume(n);
                total += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok((total, false)),
            Err(e) => {
                return Err(Error::io("reading decrypted data", e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{RootCertStore, ServerConfig, ServerConnection};

    use super::*;

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A server for "localhost" and a client configuration trusting it.
    fn pair() -> (ServerConnection, Arc<ClientConfig>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let der = CertificateDer::from(cert.der().to_vec());
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        let mut roots = RootCertStore::empty();
        roots.add(der).expect("root");
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server = ServerConnection::new(Arc::new(server)).expect("server");
        (server, Arc::new(client))
    }

    /// Moves the wire's pending bytes to the server, and the server's to the wire.
    fn exchange(wire: &mut Wire, server: &mut ServerConnection, got: &mut Vec<u8>) -> Received {
        let mut to_server = wire.pending();
        while !to_server.is_empty() {
            server.read_tls(&mut to_server).expect("server read");
        }
        let n = wire.pending().len();
        wire.advance(n);
        server.process_new_packets().expect("server process");
        let mut from_server = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut from_server).expect("server write");
        }
        wire.receive(&from_server, false, &mut |bytes| {
            got.extend_from_slice(bytes);
        })
        .expect("client receive")
    }

    fn handshake() -> (Wire, ServerConnection) {
        let (mut server, config) = pair();
        let mut wire = Wire::new("localhost:995".into());
        let name = ServerName::try_from("localhost").expect("name");
        wire.start_tls(config, name, false).expect("start");
        let mut got = Vec::new();
        for _ in 0..4 {
            exchange(&mut wire, &mut server, &mut got);
        }
        assert!(!wire.is_handshaking() && !server.is_handshaking());
        assert!(got.is_empty());
        (wire, server)
    }

    #[test]
    fn plaintext_passes_through() {
        let mut wire = Wire::new("localhost:110".into());
        wire.send(b"CAPA\r\n").expect("send");
        assert_eq!(wire.pending(), b"CAPA\r\n");
        wire.advance(2);
        assert_eq!(wire.pending(), b"PA\r\n");
        let mut got = Vec::new();
        let received = wire
            .receive(b"+OK\r\n", false, &mut |b| got.extend_from_slice(b))
            .expect("receive");
        assert_eq!(received, Received::Data { plaintext: 5 });
        assert_eq!(got, b"+OK\r\n");
    }

    #[test]
    fn commands_are_encrypted_and_answers_decrypted() {
        let (mut wire, mut server) = handshake();
        wire.send(b"STAT\r\n").expect("send");
        assert!(!wire.pending().windows(4).any(|w| w == b"STAT"));
        server.writer().write_all(b"+OK 1 2\r\n").expect("write");
        let mut got = Vec::new();
        let received = exchange(&mut wire, &mut server, &mut got);
        let mut asked = [0; 6];
        server.reader().read_exact(&mut asked).expect("read");
        assert_eq!(&asked, b"STAT\r\n");
        assert_eq!(received, Received::Data { plaintext: 9 });
        assert_eq!(got, b"+OK 1 2\r\n");
    }

    /// A server that answers QUIT and sends `close_notify` in one flight: the answer is
    /// delivered first, and the close is reported afterwards.
    #[test]
    fn data_before_close_notify_is_delivered_first() {
        let (mut wire, mut server) = handshake();
        server.writer().write_all(b"+OK bye\r\n").expect("write");
        server.send_close_notify();
        let mut got = Vec::new();
        let received = exchange(&mut wire, &mut server, &mut got);
        assert_eq!(received, Received::Data { plaintext: 9 });
        assert_eq!(got, b"+OK bye\r\n");
        assert_eq!(wire.drain_held(&mut |_| {}).expect("drain"), None);
    }

    /// During a handshake, application data stays in rustls until asked for.
    #[test]
    fn held_plaintext_waits_for_the_core() {
        let (mut wire, mut server) = handshake();
        server.writer().write_all(b"+OK ready\r\n").expect("write");
        let mut from_server = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut from_server).expect("server write");
        }
        let mut got = Vec::new();
        let received = wire
            .receive(&from_server, true, &mut |b| got.extend_from_slice(b))
            .expect("receive");
        assert_eq!(received, Received::Data { plaintext: 0 });
        assert!(got.is_empty());
        let held = wire
            .drain_held(&mut |b| got.extend_from_slice(b))
            .expect("drain");
        assert_eq!(held, Some(11));
        assert_eq!(got, b"+OK ready\r\n");
    }

    #[test]
    fn a_tampered_record_is_a_tls_error() {
        let (mut wire, mut server) = handshake();
        server.writer().write_all(b"+OK\r\n").expect("write");
        let mut from_server = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut from_server).expect("server write");
        }
        let last = from_server.len() - 1;
        from_server[last] ^= 1;
        let error = wire.receive(&from_server, false, &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Tls {
                    error: TlsError::Failed(_),
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("tampered"), "{error}");
        // The alert rustls wants to send is queued for the server.
        assert!(!wire.pending().is_empty());
    }

    fn client_config() -> Arc<ClientConfig> {
        pair().1
    }

    /// Implicit TLS against a plaintext POP3 port: said in words, with what it sent.
    #[test]
    fn plaintext_where_tls_was_expected() {
        for (after_stls, raw, pop3) in [
            (false, &b"+OK Dovecot ready.\r\n"[..], true),
            (false, b"-err go away\r\n", true),
            (false, b"+", true),
            (true, b"-ERR Unknown command\r\n", true),
            (false, b"HTTP/1.1 400 Bad Request\r\n", false),
        ] {
            let mut wire = Wire::new("localhost:110".into());
            let name = ServerName::try_from("localhost").expect("name");
            wire.start_tls(client_config(), name, after_stls)
                .expect("start");
            let error = wire.receive(raw, true, &mut |_| {}).unwrap_err();
            let Error::Tls {
                address,
                error:
                    TlsError::Plaintext {
                        excerpt,
                        pop3: looks_pop3,
                        after_stls: stls,
                    },
            } = &error
            else {
                panic!("{error:?}")
            };
            assert_eq!(address, "localhost:110");
            assert_eq!((*looks_pop3, *stls), (pop3, after_stls), "{error}");
            assert!(!excerpt.contains('\r') && raw.starts_with(excerpt.as_bytes()));
        }
    }

    /// A plaintext wire that receives a TLS record first: the server expects TLS.
    #[test]
    fn tls_where_plaintext_was_expected() {
        let mut wire = Wire::new("localhost:995".into());
        // A TLS alert record (protocol version).
        let error = wire
            .receive(b"\x15\x03\x01\x00\x02\x02\x46", false, &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Tls {
                    error: TlsError::ExpectsImplicitTls {
                        evidence: TlsEvidence::TlsRecord
                    },
                    ..
                }
            ),
            "{error}"
        );
        // Only the first bytes are judged.
        let mut wire = Wire::new("localhost:110".into());
        wire.receive(b"+OK\r\n", false, &mut |_| {})
            .expect("greeting");
        wire.receive(b"\x16", false, &mut |_| {})
            .expect("later bytes");
    }

    #[test]
    fn excerpts_are_one_safe_line() {
        assert_eq!(excerpt(b"+OK a\x1bb\r\nmore"), "+OK a?b");
        assert_eq!(excerpt(&[b'x'; 100]).chars().count(), 61);
        assert_eq!(excerpt(b""), "");
    }

    #[test]
    fn framing_follows_records() {
        let mut framing = Framing::default();
        assert!(!framing.mid_record());
        let record = [23, 3, 3, 0, 3, b'a', b'b', b'c'];
        for split in 0..=record.len() {
            let (a, b) = record.split_at(split);
            framing.advance(a);
            assert_eq!(framing.mid_record(), split > 0 && split < record.len());
            framing.advance(b);
            assert!(!framing.mid_record());
        }
        // Two records in one read, the second cut inside its header.
        framing.advance(&[23, 3, 3, 0, 1, b'x', 23, 3]);
        assert!(framing.mid_record());
        framing.advance(&[3, 0, 0]);
        assert!(!framing.mid_record(), "an empty record is complete");
    }
}
