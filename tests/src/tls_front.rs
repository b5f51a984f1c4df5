//! Certificates as people have them, in front of any server: [`TlsFront`] terminates
//! implicit TLS with a certificate you choose and relays the plaintext to a server
//! behind it (a [`TestServer`](crate::TestServer)'s plaintext port, a Dovecot's), and
//! [`openssl_req_x509`] makes a certificate the way the usual how-to does, by running
//! `openssl req -x509` (which marks it `CA:TRUE`).
//!
//! ```no_run
//! use pop3_testkit::TestServer;
//! use pop3_testkit::tls_front::{TlsFront, openssl_req_x509, server_config};
//!
//! let server = TestServer::start();
//! // `None` (after a printed notice) when openssl is missing outside CI.
//! if let Some(cert) = openssl_req_x509()? {
//!     let front = TlsFront::start(server.addr(), server_config(&cert.cert_pem, &cert.key_pem)?)?;
//!     // Point the client at front.addr() (implicit TLS), trusting cert.cert_pem.
//! #   let _ = front;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::certs::CertError;

/// A rustls server configuration (ring provider, safe defaults) serving the certificate
/// chain and private key given in PEM (PKCS#8, PKCS#1 or SEC1 keys).
pub fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, CertError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(CertError::Pem("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| CertError::Pem(format!("private key: {e}")))?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// A certificate and its key, in PEM.
#[derive(Clone, Debug)]
pub struct PemCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

/// Why `openssl` could not make a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpensslError {
    /// `openssl` is missing or failed, and `CI` is set: CI must not skip these tests.
    #[error("openssl is required in CI: {0}")]
    Required(String),
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, made by running
///
/// ```text
/// openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
///     -addext subjectAltName=DNS:localhost,IP:127.0.0.1
/// ```
///
/// exactly as the usual how-to says, so it carries what OpenSSL puts in by default
/// (`basicConstraints=CA:TRUE` among it). Where `openssl` cannot run, this prints a
/// `SKIPPED` notice past the test harness's capture (see [`skip`](crate::skip)) and
/// returns `Ok(None)`, unless the environment variable `CI` is set: then it is an error.
pub fn openssl_req_x509() -> Result<Option<PemCertificate>, OpensslError> {
    policy(run_openssl(true), crate::skip::in_ci(), crate::skip::notice)
}

/// [`openssl_req_x509`] without `-addext`: the server is named only by the subject's
/// common name (`CN=localhost`), as older how-tos (and OpenSSL before 1.1.1) make them.
pub fn openssl_req_x509_common_name_only() -> Result<Option<PemCertificate>, OpensslError> {
    policy(
        run_openssl(false),
        crate::skip::in_ci(),
        crate::skip::notice,
    )
}

/// What to do with what `openssl` made: use it, skip the test (giving `notice` the
/// reason), or fail in CI.
fn policy(
    made: Result<PemCertificate, String>,
    ci: bool,
    notice: impl FnOnce(&str),
) -> Result<Option<PemCertificate>, OpensslError> {
    crate::skip::decide(
        made,
        "cannot run openssl",
        OpensslError::Required,
        ci,
        notice,
    )
}

/// Runs `openssl req -x509`, with the subject alternative names when `alternative_names`.
fn run_openssl(alternative_names: bool) -> Result<PemCertificate, String> {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pop3-testkit-openssl-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut command = Command::new("openssl");
    command
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=localhost"]);
    if alternative_names {
        command.args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]);
    }
    let output = command
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let result = match output {
        Err(e) => Err(format!("openssl: {e}")),
        Ok(out) if !out.status.success() => Err(format!(
            "openssl req failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => match (
            std::fs::read_to_string(&cert),
            std::fs::read_to_string(&key),
        ) {
            (Ok(cert_pem), Ok(key_pem)) => Ok(PemCertificate { cert_pem, key_pem }),
            (Err(e), _) | (_, Err(e)) => Err(format!("reading what openssl wrote: {e}")),
        },
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A loopback TLS endpoint in front of a plaintext server: each connection is
/// handshaken with the configured certificate, then relayed both ways to `backend`.
/// Stops, and ends every relayed connection, when dropped.
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Listens on `127.0.0.1` (any free port) and relays to `backend`.
    pub fn start(backend: SocketAddr, config: Arc<ServerConfig>) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (shutdown, live) = (Arc::clone(&shutdown), Arc::clone(&live));
            std::thread::Builder::new()
                .name("tls-front".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if shutdown.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(client) = stream else { continue };
                        let config = Arc::clone(&config);
                        let live = Arc::clone(&live);
                        let _ = std::thread::Builder::new()
                            .name("tls-front-conn".into())
                            .spawn(move || {
                                let _ = relay(client, backend, config, &live);
                            });
                    }
                })?
        };
        Ok(Self {
            addr,
            shutdown,
            live,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect (implicit TLS).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
        for socket in lock(&self.live).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Handshakes with the client, connects to the backend, and relays until either side
/// closes.
fn relay(
    mut client: TcpStream,
    backend: SocketAddr,
    config: Arc<ServerConfig>,
    live: &Mutex<Vec<TcpStream>>,
) -> io::Result<()> {
    let server = TcpStream::connect(backend)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    {
        let mut live = lock(live);
        live.push(client.try_clone()?);
        live.push(server.try_clone()?);
    }
    let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
    while tls.is_handshaking() {
        if let Err(e) = tls.complete_io(&mut client) {
            // Whatever rustls wants to say (an alert), then close.
            let _ = tls.write_tls(&mut client);
            let _ = server.shutdown(Shutdown::Both);
            return Err(e);
        }
    }
    let tls = Arc::new(Mutex::new(tls));
    // Backend to client: encrypt what the server says.
    let down = {
        let (tls, mut server, mut client) =
            (Arc::clone(&tls), server.try_clone()?, client.try_clone()?);
        std::thread::Builder::new()
            .name("tls-front-down".into())
            .spawn(move || {
                let mut buf = vec![0; 16 * 1024];
                loop {
                    let n = server.read(&mut buf).unwrap_or(0);
                    let mut tls = lock(&tls);
                    if n == 0 {
                        tls.send_close_notify();
                    } else if tls.writer().write_all(&buf[..n]).is_err() {
                        break;
                    }
                    while tls.wants_write() {
                        if tls.write_tls(&mut client).is_err() {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
            })?
    };
    // Client to backend: decrypt what the client says.
    let mut server = server;
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = client.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        let mut tls = lock(&tls);
        let mut raw = &buf[..n];
        let mut plaintext = Vec::new();
        let mut failed = false;
        while !raw.is_empty() {
            if tls.read_tls(&mut raw).is_err() || tls.process_new_packets().is_err() {
                failed = true;
                break;
            }
            let _ = tls.reader().read_to_end(&mut plaintext);
        }
        while tls.wants_write() {
            if tls.write_tls(&mut client).is_err() {
                break;
            }
        }
        drop(tls);
        if failed || server.write_all(&plaintext).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = down.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_config_refuses_garbage() {
        assert!(matches!(
            server_config("not pem", "not pem"),
            Err(CertError::Pem(_))
        ));
    }

    #[test]
    fn missing_openssl_skips_outside_ci_and_fails_in_ci() {
        let missing = || Err("openssl: No such file or directory".to_owned());
        let mut said = None;
        let skipped = policy(missing(), false, |reason| said = Some(reason.to_owned()));
        assert!(matches!(skipped, Ok(None)), "{skipped:?}");
        let said = said.expect("a skip notice");
        assert!(said.contains("cannot run openssl"), "{said}");
        let in_ci = |_: &str| panic!("a skip notice in CI");
        match policy(missing(), true, in_ci) {
            Err(e @ OpensslError::Required(_)) => {
                let message = e.to_string();
                assert!(message.contains("required in CI"), "{message}");
                assert!(message.contains("No such file"), "{message}");
            }
            other => panic!("expected Required, got {other:?}"),
        }
        let made = || {
            Ok(PemCertificate {
                cert_pem: "cert".into(),
                key_pem: "key".into(),
            })
        };
        assert!(matches!(policy(made(), true, in_ci), Ok(Some(_))));
    }
}
