//! The server side of the codec: frame and parse client commands, encode responses.
//!
//! Used by the test kit's in-process server and by the fuzzers, so that every encoder in
//! this crate has a parser and every parser an encoder.
//!
//! ```
//! use pop3_proto::server::{LineReader, encode_scan_listings};
//! use pop3_proto::ScanListing;
//! use pop3_proto::Command;
//!
//! let mut reader = LineReader::new(255);
//! reader.push(b"LIST\r\nRE");
//! let line = reader.next_line()?.expect("a whole line");
//! assert_eq!(Command::parse(&line)?, Command::List(None));
//! assert_eq!(reader.next_line()?, None); // "RE" is incomplete
//!
//! let mut out = Vec::new();
//! encode_scan_listings(&[ScanListing { msg: 1, octets: 120 }], &mut out)?;
//! assert_eq!(out, b"+OK 1 messages\r\n1 120\r\n.\r\n");
//! # Ok::<(), pop3_proto::Error>(())
//! ```

pub mod sasl;
pub mod session;

use crate::capability::Capability;
use crate::error::{Error, LineKind};
use crate::response::{ApopTimestamp, Language, ScanListing, Status, UidListing};

pub use crate::dot::DotEncoder;
pub use crate::response::encode_challenge;

/// Frames lines from a client byte stream, refusing lines longer than a limit before
/// they are complete.
#[derive(Clone, Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    limit: usize,
}

impl LineReader {
    /// A reader refusing lines longer than `limit` octets, line end included.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
        }
    }

    /// Changes the line limit (e.g. larger while reading SASL responses).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, without its CRLF or LF.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let window = &self.buf[..self.buf.len().min(self.limit)];
        match memchr::memchr(b'\n', window) {
            Some(end) => {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(line))
            }
            None if self.buf.len() >= self.limit => Err(Error::LineTooLong {
                kind: LineKind::Status,
                limit: self.limit,
            }),
            None => Ok(None),
        }
    }

    /// Bytes received but not yet returned as lines. After answering STLS a server must
    /// discard them (RFC 2595 §4); a test server may keep them to test clients.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Discards buffered bytes.
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// Encodes a greeting: `+OK text <timestamp>`.
pub fn encode_greeting(
    text: &str,
    timestamp: Option<&ApopTimestamp>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let text = match timestamp {
        Some(ts) if text.is_empty() => ts.to_string(),
        Some(ts) => format!("{text} {ts}"),
        None => text.to_owned(),
    };
    Status::ok(text).encode(out)
}

/// Encodes the `+OK` line and the body lines of a listing, dot-stuffed, and the `.` line.
fn encode_listing(status_text: &str, lines: impl IntoIterator<Item = Vec<u8>>, out: &mut Vec<u8>) {
    // The status text is ours and fixed, so it cannot fail validation.
    let _ = Status::ok(status_text).encode(out);
    let mut enc = DotEncoder::new();
    for mut line in lines {
        line.extend_from_slice(b"\r\n");
        enc.encode(&line, out);
    }
    enc.finish(out);
}

/// Encodes the answer to CAPA.
pub fn encode_capabilities(caps: &[Capability], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut lines = Vec::with_capacity(caps.len());
    for cap in caps {
        let mut line = Vec::new();
        cap.encode(&mut line)?;
        lines.push(line);
    }
    encode_listing("Capability list follows", lines, out);
    Ok(())
}

/// Encodes the answer to LIST. Refuses message number 0.
pub fn encode_scan_listings(items: &[ScanListing], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let mut line = Vec::new();
        item.encode(&mut line)?;
        lines.push(line);
    }
    encode_listing(&format!("{} messages", items.len()), lines, out);
    Ok(())
}

/// Encodes the answer to UIDL. Refuses message number 0.
pub fn encode_uid_listings(items: &[UidListing], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let mut line = Vec::new();
        item.encode(&mut line)?;
        lines.push(line);
    }
    encode_listing("", lines, out);
    Ok(())
}

/// Encodes the answer to LANG without argument.
pub fn encode_languages(items: &[Language], out: &mut Vec<u8>) -> Result<(), Error> {
    let mut lines = Vec::with_capacity(items.len());
    for lang in items {
        let valid = !lang.tag.is_empty()
            && lang.tag.bytes().all(|b| b.is_ascii_graphic())
            && !lang.description.bytes().any(|b| b.is_ascii_control());
        if !valid {
            return Err(Error::InvalidArgument {
                field: "language",
                reason: "tag must be printable without spaces; no control characters",
            });
        }
        lines.push(
            format!("{} {}", lang.tag, lang.description)
                .trim_end()
                .as_bytes()
                .to_vec(),
        );
    }
    encode_listing("Language listing follows", lines, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_reader_frames_and_bounds() {
        let mut r = LineReader::new(8);
        r.push(b"NOOP\r\nQUIT\n");
        assert_eq!(r.next_line().unwrap().unwrap(), b"NOOP");
        assert_eq!(r.next_line().unwrap().unwrap(), b"QUIT");
        assert_eq!(r.next_line().unwrap(), None);
        r.push(b"123456789");
        assert!(r.next_line().is_err());
    }

    #[test]
    fn greeting_with_timestamp() {
        let ts = ApopTimestamp::new("<1.2@host>").unwrap();
        let mut out = Vec::new();
        encode_greeting("POP3 ready", Some(&ts), &mut out).unwrap();
        assert_eq!(out, b"+OK POP3 ready <1.2@host>\r\n");
    }
}
