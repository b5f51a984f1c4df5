//! Server responses: status lines, greeting, listings and SASL challenges.
//!
//! Every parser takes one line *without* its line end (the client frames lines with
//! bounded buffers first) and every type has an encoder for the server side, so each
//! parser can be checked against its encoder.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while, take_while1};
use nom::character::complete::{digit1, space0, space1};
use nom::combinator::{map, map_res, rest};
use nom::sequence::{delimited, terminated};
use nom::{IResult, Parser};

use crate::error::Error;

/// `+OK` or `-ERR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum StatusKind {
    /// `+OK`.
    Ok,
    /// `-ERR`.
    Err,
}

/// An extended response code (RFC 2449 §8, RFC 3206, RFC 6856), the `[...]` after the
/// status indicator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RespCode {
    /// `[IN-USE]`: the maildrop is locked by another session.
    InUse,
    /// `[LOGIN-DELAY]`: logging in again too soon.
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system problem.
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem.
    SysPerm,
    /// `[AUTH]`: the credentials are wrong.
    Auth,
    /// `[UTF8]`: the operation needs UTF-8 mode (RFC 6856).
    Utf8,
    /// Any other code, kept as sent (without brackets), e.g. `SYS/TEMP/QUOTA`.
    Other(String),
}

impl RespCode {
    /// Whether the code says "not now" rather than "no": `[IN-USE]`, `[LOGIN-DELAY]`,
    /// `[SYS/TEMP]`, or a more specific code under one of them (`SYS/TEMP/QUOTA`).
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::InUse | Self::LoginDelay | Self::SysTemp => true,
            Self::Other(code) => ["IN-USE/", "LOGIN-DELAY/", "SYS/TEMP/"]
                .iter()
                .any(|prefix| {
                    code.len() > prefix.len()
                        && code.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
                }),
            _ => false,
        }
    }

    fn from_text(code: &str) -> Self {
        const KNOWN: [(&str, RespCode); 6] = [
            ("IN-USE", RespCode::InUse),
            ("LOGIN-DELAY", RespCode::LoginDelay),
            ("SYS/TEMP", RespCode::SysTemp),
            ("SYS/PERM", RespCode::SysPerm),
            ("AUTH", RespCode::Auth),
            ("UTF8", RespCode::Utf8),
        ];
        KNOWN
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(code))
            .map_or_else(|| Self::Other(code.to_owned()), |(_, known)| known)
    }

    /// The code as sent on the wire, without brackets.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InUse => "IN-USE",
            Self::LoginDelay => "LOGIN-DELAY",
            Self::SysTemp => "SYS/TEMP",
            Self::SysPerm => "SYS/PERM",
            Self::Auth => "AUTH",
            Self::Utf8 => "UTF8",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for RespCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status line: indicator, optional response code, free text.
///
/// ```
/// use pop3_proto::{RespCode, Status};
/// let s = Status::parse(b"-ERR [IN-USE] Mailbox locked")?;
/// assert!(!s.is_ok());
/// assert_eq!(s.code, Some(RespCode::InUse));
/// assert_eq!(s.text, "Mailbox locked");
/// # Ok::<(), pop3_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// `+OK` or `-ERR`.
    pub kind: StatusKind,
    /// The extended response code, if any.
    pub code: Option<RespCode>,
    /// The human-readable text (lossily decoded as UTF-8, surrounding spaces trimmed).
    pub text: String,
}

impl Status {
    /// A `+OK` status with the given text.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            kind: StatusKind::Ok,
            code: None,
            text: text.into(),
        }
    }

    /// An `-ERR` status with the given code and text.
    pub fn err(code: Option<RespCode>, text: impl Into<String>) -> Self {
        Self {
            kind: StatusKind::Err,
            code,
            text: text.into(),
        }
    }

    /// Whether this is `+OK`.
    pub fn is_ok(&self) -> bool {
        self.kind == StatusKind::Ok
    }

    /// Parses a status line (without its line end). Lenient on case (`+ok`), trailing
    /// whitespace and missing text; strict on anything else.
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        match status(line) {
            Ok((_, s)) => Ok(s),
            Err(_) => Err(Error::malformed(
                "status line",
                "expected +OK or -ERR",
                line,
            )),
        }
    }

    /// Encodes the status line with CRLF (server side). Refuses text that contains CR, LF
    /// or NUL, and a response code with characters RFC 2449 does not allow.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        check_text("status text", &self.text)?;
        if let Some(code) = &self.code {
            let valid = !code.as_str().is_empty()
                && code
                    .as_str()
                    .split('/')
                    .all(|l| !l.is_empty() && l.bytes().all(is_rchar));
            if !valid {
                return Err(Error::InvalidArgument {
                    field: "response code",
                    reason: "must be '/'-separated levels of 0x21-0x7F except '/' and ']'",
                });
            }
        }
        out.extend_from_slice(match self.kind {
            StatusKind::Ok => b"+OK",
            StatusKind::Err => b"-ERR",
        });
        if let Some(code) = &self.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.as_str().as_bytes());
            out.push(b']');
        }
        if !self.text.is_empty() {
            out.push(b' ');
            out.extend_from_slice(self.text.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_ok() { "+OK" } else { "-ERR" })?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        if !self.text.is_empty() {
            // The text as sent, but no control character from the server reaches a
            // terminal or a log line unescaped.
            f.write_str(" ")?;
            for c in self.text.chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        Ok(())
    }
}

fn check_text(field: &'static str, text: &str) -> Result<(), Error> {
    if text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(Error::InvalidArgument {
            field,
            reason: "contains CR, LF or NUL",
        })
    } else {
        Ok(())
    }
}

/// RFC 2449 `rchar`: 0x21-0x7F except `/` and `]`.
fn is_rchar(b: u8) -> bool {
    (0x21..=0x7f).contains(&b) && b != b'/' && b != b']'
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &bytes[..end]
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status(line: &[u8]) -> IResult<&[u8], Status> {
    let line = trim_end(line);
    let (i, kind) = alt((
        map(tag_no_case("+OK"), |_| StatusKind::Ok),
        map(tag_no_case("-ERR"), |_| StatusKind::Err),
    ))
    .parse(line)?;
    if i.is_empty() {
        return Ok((
            i,
            Status {
                kind,
                code: None,
                text: String::new(),
            },
        ));
    }
    let (i, _) = take_while1(is_space).parse(i)?;
    let (text, code) = match resp_code(i) {
        Ok((after, code)) => {
            let (after, _) = space0.parse(after)?;
            (after, Some(code))
        }
        Err(_) => (i, None),
    };
    Ok((
        &[][..],
        Status {
            kind,
            code,
            text: lossy(text),
        },
    ))
}

fn resp_code(i: &[u8]) -> IResult<&[u8], RespCode> {
    map_res(
        delimited(
            tag("["),
            take_while1(|b| is_rchar(b) || b == b'/'),
            tag("]"),
        ),
        |code: &[u8]| {
            // Each level must be non-empty: "SYS//TEMP" and "/X" are not codes.
            let text = std::str::from_utf8(code).map_err(|_| ())?;
            if text.split('/').any(str::is_empty) {
                return Err(());
            }
            Ok::<_, ()>(RespCode::from_text(text))
        },
    )
    .parse(i)
}

/// An APOP timestamp from the greeting, syntax-checked: `<local@domain>`, printable ASCII,
/// at most 255 octets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApopTimestamp(String);

impl ApopTimestamp {
    const MAX_LEN: usize = 255;

    /// Validates a timestamp including its angle brackets.
    pub fn new(s: &str) -> Option<Self> {
        let inner = s.strip_prefix('<')?.strip_suffix('>')?;
        let (local, domain) = inner.split_once('@')?;
        let printable = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'<' && b != b'>')
        };
        (s.len() <= Self::MAX_LEN && printable(local) && printable(domain) && !domain.contains('@'))
            .then(|| Self(s.to_owned()))
    }

    /// The timestamp including its angle brackets, as hashed by APOP.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Finds the first `<...>` in a greeting text and validates it.
    fn find(text: &str) -> Option<Self> {
        let start = text.find('<')?;
        let len = text[start..].find('>')?;
        Self::new(&text[start..=start + len])
    }
}

impl fmt::Display for ApopTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The server greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    /// The greeting's status line; `-ERR` means the server refuses the session.
    pub status: Status,
    /// The APOP timestamp, when the greeting carries a syntactically valid one.
    pub timestamp: Option<ApopTimestamp>,
}

impl Greeting {
    /// Parses a greeting line (without its line end).
    ///
    /// ```
    /// use pop3_proto::Greeting;
    /// let g = Greeting::parse(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>")?;
    /// assert_eq!(g.timestamp.unwrap().as_str(), "<1896.697170952@dbc.mtview.ca.us>");
    /// # Ok::<(), pop3_proto::Error>(())
    /// ```
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        let status = Status::parse(line)
            .map_err(|_| Error::malformed("greeting", "expected +OK or -ERR", line))?;
        let timestamp = if status.is_ok() {
            ApopTimestamp::find(&status.text)
        } else {
            None
        };
        Ok(Self { status, timestamp })
    }
}

/// The answer to `STAT`: number of messages and total size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MaildropSize {
    /// Number of messages (not counting those marked deleted).
    pub messages: u32,
    /// Total size in octets.
    pub octets: u64,
}

impl MaildropSize {
    /// Parses the text of a `+OK` to STAT, e.g. `2 320`. Text after the size is ignored
    /// (RFC 1939 allows servers to add it).
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        match number_pair(text) {
            Ok((_, (messages, octets))) => Ok(Self { messages, octets }),
            Err(_) => Err(Error::malformed(
                "STAT reply",
                "expected 'count size'",
                text,
            )),
        }
    }

    /// Encodes the `+OK count size` line (server side).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("+OK {} {}\r\n", self.messages, self.octets).as_bytes());
    }
}

fn nonzero_msg(msg: u32) -> Result<(), Error> {
    if msg == 0 {
        Err(Error::InvalidArgument {
            field: "message number",
            reason: "0 is not a message",
        })
    } else {
        Ok(())
    }
}

fn decimal<T: std::str::FromStr>(i: &[u8]) -> IResult<&[u8], T> {
    map_res(digit1, |d: &[u8]| {
        std::str::from_utf8(d)
            .map_err(|_| ())
            .and_then(|s| s.parse::<T>().map_err(|_| ()))
    })
    .parse(i)
}

/// `number SP number [SP anything]`, with tolerance for repeated spaces and trailing text.
fn number_pair(i: &[u8]) -> IResult<&[u8], (u32, u64)> {
    let (i, (a, b)) = (terminated(decimal::<u32>, space1), decimal::<u64>).parse(trim_end(i))?;
    if !i.is_empty() && !is_space(i[0]) {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Space,
        )));
    }
    Ok((i, (a, b)))
}

/// One line of a scan listing (`LIST`): message number and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ScanListing {
    /// Message number (1-based).
    pub msg: u32,
    /// Size in octets (as the server counts them, with CRLF line ends).
    pub octets: u64,
}

impl ScanListing {
    /// Parses `msg size [more]`.
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        match number_pair(line) {
            Ok((_, (msg, octets))) if msg > 0 => Ok(Self { msg, octets }),
            _ => Err(Error::malformed(
                "scan listing",
                "expected 'msg size'",
                line,
            )),
        }
    }

    /// Encodes `msg size` without line end (server side). Message 0 is refused, as the
    /// parser refuses it.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        nonzero_msg(self.msg)?;
        out.extend_from_slice(format!("{} {}", self.msg, self.octets).as_bytes());
        Ok(())
    }
}

/// A unique-id (UIDL): 1 to 70 characters in the range 0x21 to 0x7E (RFC 1939 §7).
///
/// UIDs, not message numbers, identify a message across sessions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

impl Uid {
    /// The longest UID RFC 1939 allows.
    pub const MAX_LEN: usize = 70;

    /// Validates a unique-id.
    ///
    /// ```
    /// use pop3_proto::Uid;
    /// assert!(Uid::new("QhdPYR:00WBw1Ph7x7").is_ok());
    /// assert!(Uid::new("has space").is_err());
    /// ```
    pub fn new(s: &str) -> Result<Self, Error> {
        Self::from_bytes(s.as_bytes())
    }

    fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        let reason = if b.is_empty() {
            "empty"
        } else if b.len() > Self::MAX_LEN {
            "longer than 70 characters"
        } else if !b.iter().all(|c| (0x21..=0x7e).contains(c)) {
            "contains a character outside 0x21-0x7E"
        } else {
            // All bytes are printable ASCII, so this is valid UTF-8.
            return Ok(Self(String::from_utf8_lossy(b).into_owned()));
        };
        Err(Error::InvalidUid {
            reason,
            excerpt: crate::error::Excerpt::new(b),
        })
    }

    /// The UID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Uid {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(1..=Self::MAX_LEN)?;
        let bytes: Vec<u8> = (0..len)
            .map(|_| u.int_in_range(0x21..=0x7e))
            .collect::<arbitrary::Result<_>>()?;
        Ok(Self(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// One line of a UIDL listing: message number and unique-id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UidListing {
    /// Message number (1-based).
    pub msg: u32,
    /// The message's unique-id.
    pub uid: Uid,
}

impl UidListing {
    /// Parses `msg uid`. Trailing whitespace is tolerated; anything else after the UID
    /// makes it invalid.
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        let parsed: IResult<&[u8], u32> = terminated(decimal::<u32>, space1).parse(trim_end(line));
        match parsed {
            Ok((uid, msg)) if msg > 0 => Ok(Self {
                msg,
                uid: Uid::from_bytes(uid)?,
            }),
            _ => Err(Error::malformed("UIDL listing", "expected 'msg uid'", line)),
        }
    }

    /// Encodes `msg uid` without line end (server side). Message 0 is refused, as the
    /// parser refuses it.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        nonzero_msg(self.msg)?;
        out.extend_from_slice(format!("{} {}", self.msg, self.uid).as_bytes());
        Ok(())
    }
}

/// One line of a `LANG` listing (RFC 6856): a language tag and its description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Language {
    /// The language tag, e.g. `fr`.
    pub tag: String,
    /// The description, e.g. `Français`.
    pub description: String,
}

impl Language {
    /// Parses `tag [description]`.
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        let parsed: IResult<&[u8], (&[u8], &[u8])> =
            (take_while1(|b: u8| !is_space(b)), rest).parse(trim_end(line));
        match parsed {
            Ok((_, (tag, description))) => Ok(Self {
                tag: lossy(tag),
                description: lossy(description.trim_ascii_start()),
            }),
            Err(_) => Err(Error::malformed(
                "LANG listing",
                "expected 'tag description'",
                line,
            )),
        }
    }
}

/// A SASL challenge line, `+ base64` (RFC 5034), decoded.
///
/// ```
/// use pop3_proto::sasl::parse_challenge;
/// assert_eq!(parse_challenge(b"+ VXNlcm5hbWU6")?, b"Username:");
/// assert_eq!(parse_challenge(b"+ ")?, b"");
/// # Ok::<(), pop3_proto::Error>(())
/// ```
pub fn parse_challenge(line: &[u8]) -> Result<Vec<u8>, Error> {
    let parsed: IResult<&[u8], &[u8]> = (tag("+"), take_while(is_space), rest)
        .parse(trim_end(line))
        .map(|(i, (_, _, b))| (i, b));
    let Ok((_, encoded)) = parsed else {
        return Err(Error::malformed(
            "SASL challenge",
            "expected '+ base64'",
            line,
        ));
    };
    BASE64
        .decode(encoded)
        .map_err(|_| Error::malformed("SASL challenge", "not base64", line))
}

/// Whether a line in a SASL exchange is a continuation (`+ ...` or `+`), not `+OK`.
pub(crate) fn is_challenge(line: &[u8]) -> bool {
    match line {
        [b'+'] => true,
        [b'+', next, ..] => is_space(*next),
        _ => false,
    }
}

/// Encodes a SASL challenge line `+ base64` with CRLF (server side).
#[cfg(any(feature = "server", test))]
pub fn encode_challenge(challenge: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"+ ");
    out.extend_from_slice(BASE64.encode(challenge).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_is_shown_as_sent_with_only_control_characters_escaped() {
        let status = Status::parse(b"-ERR Can't open the message file - it's gone!").unwrap();
        assert_eq!(
            status.to_string(),
            "-ERR Can't open the message file - it's gone!"
        );
        let hostile = Status::parse(b"-ERR \x1b[2J\"quoted\" \xc3\xa9t\xc3\xa9").unwrap();
        assert_eq!(
            hostile.to_string(),
            "-ERR \\u{1b}[2J\"quoted\" \u{e9}t\u{e9}"
        );
    }

    #[test]
    fn status_lines_from_real_servers() {
        let s = Status::parse(b"+OK Dovecot (Debian) ready.").unwrap();
        assert!(s.is_ok() && s.code.is_none() && s.text == "Dovecot (Debian) ready.");
        let s = Status::parse(b"-ERR [AUTH] Authentication failed.").unwrap();
        assert_eq!((s.kind, s.code), (StatusKind::Err, Some(RespCode::Auth)));
        assert_eq!(s.text, "Authentication failed.");
        let s = Status::parse(b"+ok").unwrap();
        assert!(s.is_ok() && s.text.is_empty());
        let s = Status::parse(b"+OK   \t ").unwrap();
        assert!(s.is_ok() && s.text.is_empty());
        let s = Status::parse(b"-ERR [SYS/TEMP/QUOTA] full").unwrap();
        assert_eq!(s.code, Some(RespCode::Other("SYS/TEMP/QUOTA".into())));
        let s = Status::parse(b"-ERR [sys/perm]").unwrap();
        assert_eq!(s.code, Some(RespCode::SysPerm));
        // Not a code: kept as text.
        let s = Status::parse(b"-ERR [unterminated").unwrap();
        assert_eq!((s.code, s.text.as_str()), (None, "[unterminated"));
        let s = Status::parse(b"-ERR [A//B] x").unwrap();
        assert_eq!((s.code, s.text.as_str()), (None, "[A//B] x"));
        for bad in [&b"+OKAY"[..], b"OK", b"", b"+", b"-ER", b" +OK"] {
            assert!(Status::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_encoding_round_trips() {
        let s = Status::err(Some(RespCode::InUse), "Mailbox is locked");
        let mut out = Vec::new();
        s.encode(&mut out).unwrap();
        assert_eq!(out, b"-ERR [IN-USE] Mailbox is locked\r\n");
        assert_eq!(Status::parse(&out[..out.len() - 2]).unwrap(), s);
        assert!(Status::ok("a\r\nb").encode(&mut Vec::new()).is_err());
        let mut refused = Vec::new();
        let bad_code = Status::err(Some(RespCode::Other("A]".into())), "");
        assert!(bad_code.encode(&mut refused).is_err());
        assert!(refused.is_empty(), "nothing written on error");
        assert!(
            ScanListing { msg: 0, octets: 1 }
                .encode(&mut refused)
                .is_err()
        );
    }

    #[test]
    fn display_escapes_server_text() {
        let s = Status::parse(b"-ERR \x1b[2Jgotcha").unwrap();
        assert!(!s.to_string().contains('\x1b'));
    }

    #[test]
    fn greeting_timestamp_is_syntax_checked() {
        let g = Greeting::parse(
            b"+OK Dovecot (Debian) ready. <32d8.2.6b04df8c.lsWEICwsRv5aSnlIWjw+gQ==@vm>",
        )
        .unwrap();
        assert_eq!(
            g.timestamp.unwrap().as_str(),
            "<32d8.2.6b04df8c.lsWEICwsRv5aSnlIWjw+gQ==@vm>"
        );
        for text in [
            &b"+OK ready"[..],
            b"+OK <no-at-sign>",
            b"+OK <@domain>",
            b"+OK <local@>",
            b"+OK <sp ace@x>",
            b"+OK <a@b@c>",
            b"+OK <unterminated@x",
            b"-ERR <1@x> go away",
        ] {
            assert_eq!(Greeting::parse(text).unwrap().timestamp, None, "{text:?}");
        }
        let long = format!("+OK <{}@x>", "a".repeat(300));
        assert_eq!(Greeting::parse(long.as_bytes()).unwrap().timestamp, None);
        assert!(Greeting::parse(b"* OK IMAP").is_err());
    }

    #[test]
    fn listings() {
        assert_eq!(
            ScanListing::parse(b"1 120").unwrap(),
            ScanListing {
                msg: 1,
                octets: 120
            }
        );
        assert_eq!(ScanListing::parse(b"2  200 extra").unwrap().octets, 200);
        assert_eq!(ScanListing::parse(b"3 81 ").unwrap().octets, 81);
        for bad in [
            &b"0 12"[..],
            b"1",
            b"x 1",
            b"1 x",
            b"1 2x",
            b"99999999999 1",
            b"",
        ] {
            assert!(ScanListing::parse(bad).is_err(), "{bad:?}");
        }
        let u = UidListing::parse(b"1 000000016b04df8d").unwrap();
        assert_eq!((u.msg, u.uid.as_str()), (1, "000000016b04df8d"));
        assert_eq!(UidListing::parse(b"2 abc \t").unwrap().uid.as_str(), "abc");
        assert!(matches!(
            UidListing::parse(b"1 a b"),
            Err(Error::InvalidUid { .. })
        ));
        let long = format!("1 {}", "x".repeat(71));
        assert!(matches!(
            UidListing::parse(long.as_bytes()),
            Err(Error::InvalidUid { .. })
        ));
        assert!(UidListing::parse(format!("1 {}", "x".repeat(70)).as_bytes()).is_ok());
        assert!(matches!(
            UidListing::parse(b"1 caf\xc3\xa9"),
            Err(Error::InvalidUid { .. })
        ));
        assert!(UidListing::parse(b"1 ").is_err());
        assert_eq!(
            MaildropSize::parse(b"2 320").unwrap(),
            MaildropSize {
                messages: 2,
                octets: 320
            }
        );
        assert!(MaildropSize::parse(b"2").is_err());
    }

    #[test]
    fn challenges() {
        assert_eq!(parse_challenge(b"+").unwrap(), b"");
        assert_eq!(parse_challenge(b"+ UGFzc3dvcmQ6 ").unwrap(), b"Password:");
        assert!(parse_challenge(b"+ not*base64").is_err());
        assert!(is_challenge(b"+ x") && is_challenge(b"+") && !is_challenge(b"+OK"));
        let mut out = Vec::new();
        encode_challenge(b"Username:", &mut out);
        assert_eq!(out, b"+ VXNlcm5hbWU6\r\n");
    }

    #[test]
    fn languages() {
        let l = Language::parse("fr Français".as_bytes()).unwrap();
        assert_eq!((l.tag.as_str(), l.description.as_str()), ("fr", "Français"));
        assert_eq!(Language::parse(b"en").unwrap().description, "");
    }
}
