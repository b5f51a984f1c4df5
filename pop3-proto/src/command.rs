//! Client commands: validated encoding, and parsing for the server side.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while1};
use nom::character::complete::digit1;
use nom::combinator::{all_consuming, map, map_res, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::error::Error;
use crate::secret::Secret;

/// RFC 2449 §4: a command line is at most 255 octets, including the CRLF.
pub const MAX_COMMAND_LINE: usize = 255;

/// A POP3 client command (RFC 1939, 2449, 2595, 5034, 6856).
///
/// Message numbers are 1-based; `0` is refused when encoding. Every text argument is
/// checked: CR, LF and NUL are refused so that an argument can never smuggle in a
/// second command.
///
/// ```
/// use pop3_proto::Command;
/// assert_eq!(Command::Top { msg: 3, lines: 0 }.to_bytes()?, b"TOP 3 0\r\n");
/// assert!(Command::User("alice\r\nDELE 1".into()).to_bytes().is_err());
/// # Ok::<(), pop3_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Command {
    /// `USER name`.
    User(String),
    /// `PASS secret`. The password may contain spaces (RFC 1939 §7).
    Pass(Secret),
    /// `APOP name digest`.
    Apop {
        /// The mailbox name.
        user: String,
        /// Lower-case hex MD5 digest of timestamp and secret.
        digest: String,
    },
    /// `AUTH mechanism [initial-response]` (RFC 5034). The initial response is given
    /// decoded; it is sent base64-encoded, an empty one as `=`.
    Auth {
        /// SASL mechanism name.
        mechanism: String,
        /// The optional initial client response.
        initial_response: Option<Secret>,
    },
    /// A client response in a SASL exchange (decoded; sent base64-encoded on its own line).
    AuthResponse(Secret),
    /// `*`: cancels a SASL exchange.
    AuthCancel,
    /// `STLS` (RFC 2595).
    Stls,
    /// `CAPA` (RFC 2449).
    Capa,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `TOP msg lines`.
    Top {
        /// Message number.
        msg: u32,
        /// Number of body lines to return after the header.
        lines: u32,
    },
    /// `DELE msg`.
    Dele(u32),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
    /// `UTF8` (RFC 6856).
    Utf8,
    /// `LANG [tag]` (RFC 6856); without a tag the server lists its languages.
    Lang(Option<String>),
}

impl Command {
    /// The command keyword, for errors and logs (`"AUTH-RESPONSE"` for SASL responses).
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::User(_) => "USER",
            Self::Pass(_) => "PASS",
            Self::Apop { .. } => "APOP",
            Self::Auth { .. } => "AUTH",
            Self::AuthResponse(_) => "AUTH-RESPONSE",
            Self::AuthCancel => "AUTH-CANCEL",
            Self::Stls => "STLS",
            Self::Capa => "CAPA",
            Self::Stat => "STAT",
            Self::List(_) => "LIST",
            Self::Uidl(_) => "UIDL",
            Self::Retr(_) => "RETR",
            Self::Top { .. } => "TOP",
            Self::Dele(_) => "DELE",
            Self::Noop => "NOOP",
            Self::Rset => "RSET",
            Self::Quit => "QUIT",
            Self::Utf8 => "UTF8",
            Self::Lang(_) => "LANG",
        }
    }

    /// Encodes the command line, CRLF included, appending to `out`.
    ///
    /// On error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        let result = self.encode_unchecked_len(out).and_then(|()| {
            let len = out.len() - start;
            // SASL responses are not subject to the command-line limit (RFC 5034 §4).
            if len > MAX_COMMAND_LINE && !matches!(self, Self::AuthResponse(_)) {
                Err(Error::CommandTooLong {
                    len,
                    limit: MAX_COMMAND_LINE,
                })
            } else {
                Ok(())
            }
        });
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Encodes the command line into a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(32);
        self.encode(&mut out)?;
        Ok(out)
    }

    /// Whether `AUTH mechanism initial-response` fits in one command line. RFC 5034 §4:
    /// when it does not, the client must omit the initial response and send it after the
    /// server's empty challenge.
    pub fn auth_fits(mechanism: &str, initial_response: &[u8]) -> bool {
        let encoded = if initial_response.is_empty() {
            1
        } else {
            base64::encoded_len(initial_response.len(), true).unwrap_or(usize::MAX)
        };
        "AUTH ".len() + mechanism.len() + 1 + encoded + 2 <= MAX_COMMAND_LINE
    }

    fn encode_unchecked_len(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Self::User(name) => {
                word("user name", name)?;
                line(out, &[b"USER ", name.as_bytes()]);
            }
            Self::Pass(secret) => {
                // RFC 1939 §7: the argument may contain spaces; it must not be empty.
                text("password", secret.expose())?;
                line(out, &[b"PASS ", secret.expose()]);
            }
            Self::Apop { user, digest } => {
                word("user name", user)?;
                if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::InvalidArgument {
                        field: "APOP digest",
                        reason: "must be 32 hexadecimal digits",
                    });
                }
                line(out, &[b"APOP ", user.as_bytes(), b" ", digest.as_bytes()]);
            }
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                mechanism_name(mechanism)?;
                match initial_response {
                    None => line(out, &[b"AUTH ", mechanism.as_bytes()]),
                    Some(ir) if ir.is_empty() => {
                        line(out, &[b"AUTH ", mechanism.as_bytes(), b" ="]);
                    }
                    Some(ir) => {
                        let encoded = BASE64.encode(ir.expose());
                        line(
                            out,
                            &[b"AUTH ", mechanism.as_bytes(), b" ", encoded.as_bytes()],
                        );
                    }
                }
            }
            Self::AuthResponse(secret) => {
                let encoded = BASE64.encode(secret.expose());
                line(out, &[encoded.as_bytes()]);
            }
            Self::AuthCancel => line(out, &[b"*"]),
            Self::Stls => line(out, &[b"STLS"]),
            Self::Capa => line(out, &[b"CAPA"]),
            Self::Stat => line(out, &[b"STAT"]),
            Self::List(None) => line(out, &[b"LIST"]),
            Self::List(Some(n)) => line(out, &[b"LIST ", number(*n)?.as_bytes()]),
            Self::Uidl(None) => line(out, &[b"UIDL"]),
            Self::Uidl(Some(n)) => line(out, &[b"UIDL ", number(*n)?.as_bytes()]),
            Self::Retr(n) => line(out, &[b"RETR ", number(*n)?.as_bytes()]),
            Self::Top { msg, lines } => line(
                out,
                &[
                    b"TOP ",
                    number(*msg)?.as_bytes(),
                    b" ",
                    lines.to_string().as_bytes(),
                ],
            ),
            Self::Dele(n) => line(out, &[b"DELE ", number(*n)?.as_bytes()]),
            Self::Noop => line(out, &[b"NOOP"]),
            Self::Rset => line(out, &[b"RSET"]),
            Self::Quit => line(out, &[b"QUIT"]),
            Self::Utf8 => line(out, &[b"UTF8"]),
            Self::Lang(None) => line(out, &[b"LANG"]),
            Self::Lang(Some(tag)) => {
                word("language tag", tag)?;
                line(out, &[b"LANG ", tag.as_bytes()]);
            }
        }
        Ok(())
    }

    /// Parses one command line as a server would (keyword case-insensitive). `line` may
    /// end in CRLF or LF; it must not contain any other line break.
    ///
    /// SASL continuation lines are not commands; parse them with
    /// [`Command::parse_auth_response`].
    ///
    /// ```
    /// use pop3_proto::Command;
    /// assert_eq!(Command::parse(b"retr 7\r\n")?, Command::Retr(7));
    /// # Ok::<(), pop3_proto::Error>(())
    /// ```
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        let body = strip_line_end(line);
        if body.contains(&b'\n') || body.contains(&b'\r') || body.contains(&0) {
            return Err(Error::malformed("command", "embedded CR, LF or NUL", line));
        }
        if line.len() > MAX_COMMAND_LINE {
            return Err(Error::CommandTooLong {
                len: line.len(),
                limit: MAX_COMMAND_LINE,
            });
        }
        match all_consuming(command).parse(body) {
            Ok((_, cmd)) => cmd,
            Err(_) => Err(Error::malformed(
                "command",
                "unknown command or bad arguments",
                line,
            )),
        }
    }

    /// Parses a line sent by the client during a SASL exchange: `*` cancels, anything else
    /// must be base64 (an empty line is an empty response).
    pub fn parse_auth_response(line: &[u8]) -> Result<Self, Error> {
        let body = strip_line_end(line);
        if body == b"*" {
            return Ok(Self::AuthCancel);
        }
        BASE64
            .decode(body)
            .map(|bytes| Self::AuthResponse(Secret::new(bytes)))
            .map_err(|_| Error::malformed("SASL response", "not base64", line))
    }
}

/// Removes one trailing LF or CRLF.
fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn line(out: &mut Vec<u8>, parts: &[&[u8]]) {
    for part in parts {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\r\n");
}

fn number(n: u32) -> Result<String, Error> {
    if n == 0 {
        Err(Error::InvalidArgument {
            field: "message number",
            reason: "POP3 numbers messages from 1; 0 is not a message",
        })
    } else {
        Ok(n.to_string())
    }
}

/// An argument that may contain spaces but not line breaks or NUL.
fn text(field: &'static str, value: &[u8]) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::InvalidArgument {
            field,
            reason: "must not be empty",
        });
    }
    if value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::InvalidArgument {
            field,
            reason: "contains CR, LF or NUL",
        });
    }
    Ok(())
}

/// A single-word argument: no spaces either, since the server splits on them.
fn word(field: &'static str, value: &str) -> Result<(), Error> {
    text(field, value.as_bytes())?;
    if value.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(Error::InvalidArgument {
            field,
            reason: "contains a space",
        });
    }
    Ok(())
}

fn mechanism_name(name: &str) -> Result<(), Error> {
    // RFC 4422 §3.1: 1 to 20 characters of upper-case letters, digits, '-' and '_'.
    let valid = !name.is_empty()
        && name.len() <= 20
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            field: "SASL mechanism",
            reason: "must be 1-20 letters, digits, '-' or '_'",
        })
    }
}

// ---- server-side parser (nom) ----

type Parsed<'a> = IResult<&'a [u8], Result<Command, Error>>;

fn msg_number(i: &[u8]) -> IResult<&[u8], u32> {
    map_res(digit1, |d: &[u8]| {
        std::str::from_utf8(d)
            .map_err(|_| ())
            .and_then(|s| s.parse::<u32>().map_err(|_| ()))
    })
    .parse(i)
}

fn nonzero(n: u32) -> Result<u32, Error> {
    number(n).map(|_| n)
}

fn arg(i: &[u8]) -> IResult<&[u8], &[u8]> {
    preceded(tag(" "), take_while1(|b: u8| b != b' ')).parse(i)
}

fn utf8(field: &'static str, bytes: &[u8]) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::InvalidArgument {
        field,
        reason: "not valid UTF-8",
    })
}

fn command(i: &[u8]) -> Parsed<'_> {
    alt((
        map(preceded(tag_no_case("USER"), arg), |u| {
            utf8("user name", u).map(Command::User)
        }),
        map(
            preceded(tag_no_case("PASS "), take_while1(|_| true)),
            |p: &[u8]| Ok(Command::Pass(Secret::from(p))),
        ),
        map((preceded(tag_no_case("APOP"), arg), arg), |(u, d)| {
            Ok(Command::Apop {
                user: utf8("user name", u)?,
                digest: utf8("APOP digest", d)?,
            })
        }),
        map((preceded(tag_no_case("AUTH"), arg), opt(arg)), |(m, ir)| {
            auth(m, ir)
        }),
        bare("STLS", Command::Stls),
        bare("CAPA", Command::Capa),
        bare("STAT", Command::Stat),
        map(
            preceded(tag_no_case("LIST"), opt(preceded(tag(" "), msg_number))),
            |n| n.map(nonzero).transpose().map(Command::List),
        ),
        map(
            preceded(tag_no_case("UIDL"), opt(preceded(tag(" "), msg_number))),
            |n| n.map(nonzero).transpose().map(Command::Uidl),
        ),
        map(preceded(tag_no_case("RETR "), msg_number), |n| {
            nonzero(n).map(Command::Retr)
        }),
        map(
            (
                preceded(tag_no_case("TOP "), msg_number),
                preceded(tag(" "), msg_number),
            ),
            |(msg, lines)| nonzero(msg).map(|msg| Command::Top { msg, lines }),
        ),
        map(preceded(tag_no_case("DELE "), msg_number), |n| {
            nonzero(n).map(Command::Dele)
        }),
        bare("NOOP", Command::Noop),
        bare("RSET", Command::Rset),
        bare("QUIT", Command::Quit),
        bare("UTF8", Command::Utf8),
        map(preceded(tag_no_case("LANG"), opt(arg)), |t| {
            t.map(|t| utf8("language tag", t))
                .transpose()
                .map(Command::Lang)
        }),
    ))
    .parse(i)
}

fn bare<'a>(
    keyword: &'static str,
    cmd: Command,
) -> impl Parser<&'a [u8], Output = Result<Command, Error>, Error = nom::error::Error<&'a [u8]>> {
    map(tag_no_case(keyword), move |_| Ok(cmd.clone()))
}

fn auth(mechanism: &[u8], initial: Option<&[u8]>) -> Result<Command, Error> {
    let mechanism = utf8("SASL mechanism", mechanism)?;
    mechanism_name(&mechanism)?;
    let initial_response = match initial {
        None => None,
        Some(b"=") => Some(Secret::default()),
        Some(encoded) => Some(Secret::new(BASE64.decode(encoded).map_err(|_| {
            Error::InvalidArgument {
                field: "initial response",
                reason: "not base64",
            }
        })?)),
    };
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_command() {
        let cases: Vec<(Command, &[u8])> = vec![
            (Command::User("mrose".into()), b"USER mrose\r\n"),
            (
                Command::Pass("secret with spaces".into()),
                b"PASS secret with spaces\r\n",
            ),
            (
                Command::Apop {
                    user: "mrose".into(),
                    digest: "c4c9334bac560ecc979e58001b3e22fb".into(),
                },
                b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
            ),
            (
                Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial_response: Some(Secret::from("\0alice\0secret")),
                },
                b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
            ),
            (
                Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial_response: Some(Secret::default()),
                },
                b"AUTH PLAIN =\r\n",
            ),
            (
                Command::Auth {
                    mechanism: "LOGIN".into(),
                    initial_response: None,
                },
                b"AUTH LOGIN\r\n",
            ),
            (Command::AuthResponse("alice".into()), b"YWxpY2U=\r\n"),
            (Command::AuthResponse(Secret::default()), b"\r\n"),
            (Command::AuthCancel, b"*\r\n"),
            (Command::Stls, b"STLS\r\n"),
            (Command::Capa, b"CAPA\r\n"),
            (Command::Stat, b"STAT\r\n"),
            (Command::List(None), b"LIST\r\n"),
            (Command::List(Some(2)), b"LIST 2\r\n"),
            (Command::Uidl(None), b"UIDL\r\n"),
            (Command::Uidl(Some(1)), b"UIDL 1\r\n"),
            (Command::Retr(1), b"RETR 1\r\n"),
            (Command::Top { msg: 1, lines: 10 }, b"TOP 1 10\r\n"),
            (Command::Dele(3), b"DELE 3\r\n"),
            (Command::Noop, b"NOOP\r\n"),
            (Command::Rset, b"RSET\r\n"),
            (Command::Quit, b"QUIT\r\n"),
            (Command::Utf8, b"UTF8\r\n"),
            (Command::Lang(None), b"LANG\r\n"),
            (Command::Lang(Some("fr".into())), b"LANG fr\r\n"),
        ];
        for (cmd, wire) in cases {
            assert_eq!(cmd.to_bytes().unwrap(), wire, "{cmd:?}");
            let parsed = if matches!(cmd, Command::AuthResponse(_) | Command::AuthCancel) {
                Command::parse_auth_response(wire).unwrap()
            } else {
                Command::parse(wire).unwrap()
            };
            assert_eq!(parsed, cmd);
        }
    }

    #[test]
    fn refuses_injection_and_bad_arguments() {
        for cmd in [
            Command::User("a\r\nDELE 1".into()),
            Command::User("a\nb".into()),
            Command::User("a\0".into()),
            Command::User("a b".into()),
            Command::User(String::new()),
            Command::Pass("pw\r\nDELE 1".into()),
            Command::Pass(Secret::default()),
            Command::Apop {
                user: "u".into(),
                digest: "xyz".into(),
            },
            Command::Auth {
                mechanism: "PLAIN\r\nQUIT".into(),
                initial_response: None,
            },
            Command::Lang(Some("en\r".into())),
            Command::Retr(0),
            Command::Dele(0),
            Command::List(Some(0)),
            Command::Top { msg: 0, lines: 1 },
        ] {
            let mut out = b"kept".to_vec();
            assert!(cmd.encode(&mut out).is_err(), "{cmd:?}");
            assert_eq!(out, b"kept", "nothing appended on error");
        }
    }

    #[test]
    fn enforces_the_255_octet_line_limit() {
        let fits = Command::User("u".repeat(MAX_COMMAND_LINE - "USER \r\n".len()));
        assert_eq!(fits.to_bytes().unwrap().len(), MAX_COMMAND_LINE);
        let long = Command::User("u".repeat(MAX_COMMAND_LINE - "USER \r\n".len() + 1));
        assert!(matches!(
            long.to_bytes(),
            Err(Error::CommandTooLong {
                len: 256,
                limit: 255
            })
        ));
        // SASL responses are exempt (RFC 5034 §4).
        assert!(
            Command::AuthResponse(Secret::new(vec![b'x'; 1000]))
                .to_bytes()
                .is_ok()
        );
    }

    #[test]
    fn auth_fits_matches_encoding() {
        for len in 0..300 {
            let ir = Secret::new(vec![b'x'; len]);
            let cmd = Command::Auth {
                mechanism: "XOAUTH2".into(),
                initial_response: Some(ir),
            };
            assert_eq!(
                Command::auth_fits("XOAUTH2", &vec![b'x'; len]),
                cmd.to_bytes().is_ok()
            );
        }
    }

    #[test]
    fn server_parse_is_lenient_on_case_and_strict_on_syntax() {
        assert_eq!(Command::parse(b"quit").unwrap(), Command::Quit);
        assert_eq!(
            Command::parse(b"Top 2 0\n").unwrap(),
            Command::Top { msg: 2, lines: 0 }
        );
        for bad in [
            &b"RETR 0\r\n"[..],
            b"RETR\r\n",
            b"RETR x\r\n",
            b"RETR 1 2\r\n",
            b"RETR 99999999999\r\n",
            b"STAT now\r\n",
            b"FOO\r\n",
            b"USER a\rb\r\n",
            b"AUTH PLAIN !!!\r\n",
            b"",
        ] {
            assert!(Command::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Command::parse_auth_response(b"not base64!\r\n").is_err());
    }
}
