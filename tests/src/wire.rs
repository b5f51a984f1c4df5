//! What tests compare with the wire: a message as a POP3 server serves it, and a peer
//! that lies about STLS.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};

/// CRLF-normalises a message the way a POP3 server serves it: every bare LF becomes
/// CRLF.
///
/// ```
/// assert_eq!(pop3_testkit::wire::crlf(b"a\nb\r\n"), b"a\r\nb\r\n");
/// ```
pub fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 40);
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// A loopback server for one connection that offers STLS, answers `+OK` to it, then
/// answers the client's TLS handshake in plaintext (a stripping attacker, or a broken
/// server). Returns where it listens.
///
/// # Panics
///
/// If it cannot listen on 127.0.0.1.
pub fn stls_liar() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let addr = listener.local_addr().expect("the listener's address");
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let _ = writer.write_all(b"+OK ready\r\n");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let answer: &[u8] = match line.trim_end() {
                "CAPA" => b"+OK\r\nSTLS\r\nUSER\r\n.\r\n",
                "STLS" => {
                    let _ = writer.write_all(b"+OK begin TLS\r\n");
                    // The ClientHello arrives; answer it in plaintext.
                    let mut hello = [0; 5];
                    let _ = reader.get_mut().read(&mut hello);
                    b"-ERR unknown command\r\n"
                }
                _ => b"-ERR\r\n",
            };
            if writer.write_all(answer).is_err() {
                return;
            }
            line.clear();
        }
    });
    addr
}
