//! Typed CAPA capabilities (RFC 2449 §6, RFC 2595, RFC 3206, RFC 6856).

use std::fmt;

use crate::error::Error;

/// How long the server keeps messages (`EXPIRE`, RFC 2449 §6.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Expire {
    /// `NEVER`: messages are kept until deleted.
    Never,
    /// Messages are deleted this many days after they were first retrieved (0: at QUIT).
    Days(u32),
}

/// One capability from a CAPA listing.
///
/// Unknown capabilities are kept, with their arguments, as [`Capability::Other`].
///
/// ```
/// use pop3_proto::{Capability};
/// let c = Capability::parse(b"SASL PLAIN SCRAM-SHA-256")?;
/// assert_eq!(c, Capability::Sasl(vec!["PLAIN".into(), "SCRAM-SHA-256".into()]));
/// assert_eq!(c.to_string(), "SASL PLAIN SCRAM-SHA-256");
/// # Ok::<(), pop3_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Capability {
    /// `TOP`.
    Top,
    /// `USER`: USER/PASS login is available.
    User,
    /// `SASL mech...`: the SASL mechanisms offered (upper-cased).
    Sasl(Vec<String>),
    /// `RESP-CODES`: `-ERR` responses carry extended codes.
    RespCodes,
    /// `AUTH-RESP-CODE` (RFC 3206).
    AuthRespCode,
    /// `LOGIN-DELAY secs [USER]`: minimum seconds between logins.
    LoginDelay {
        /// Seconds.
        seconds: u32,
        /// Whether the value may differ per user (`USER`, before login).
        per_user: bool,
    },
    /// `PIPELINING`: the server accepts several commands in flight.
    Pipelining,
    /// `EXPIRE policy [USER]`.
    Expire {
        /// The retention policy.
        policy: Expire,
        /// Whether the value may differ per user.
        per_user: bool,
    },
    /// `UIDL`.
    Uidl,
    /// `IMPLEMENTATION text`.
    Implementation(String),
    /// `STLS` (RFC 2595).
    Stls,
    /// `UTF8 [USER]` (RFC 6856).
    Utf8 {
        /// Whether `USER` was given (the server accepts UTF-8 user names).
        user: bool,
    },
    /// `LANG` (RFC 6856).
    Lang,
    /// Anything else, kept as sent.
    Other {
        /// Capability name.
        name: String,
        /// Arguments.
        args: Vec<String>,
    },
}

impl Capability {
    /// Parses one CAPA line (without its line end). Names are case-insensitive; a known
    /// name with arguments that do not fit its grammar is kept as [`Capability::Other`].
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        // Lenient: a Latin-1 IMPLEMENTATION line must not end the session.
        let text = String::from_utf8_lossy(line);
        let text = text.as_ref();
        let mut words = text.split_ascii_whitespace();
        let Some(name) = words.next() else {
            return Err(Error::malformed("capability", "no name", line));
        };
        let args: Vec<&str> = words.collect();
        let upper = name.to_ascii_uppercase();
        let user_flag = |rest: &[&str]| match rest {
            [] => Some(false),
            [flag] if flag.eq_ignore_ascii_case("USER") => Some(true),
            _ => None,
        };
        let known = match (upper.as_str(), args.as_slice()) {
            ("TOP", []) => Some(Self::Top),
            ("USER", []) => Some(Self::User),
            ("SASL", mechs) => Some(Self::Sasl(
                mechs.iter().map(|m| m.to_ascii_uppercase()).collect(),
            )),
            ("RESP-CODES", []) => Some(Self::RespCodes),
            ("AUTH-RESP-CODE", []) => Some(Self::AuthRespCode),
            ("PIPELINING", []) => Some(Self::Pipelining),
            ("UIDL", []) => Some(Self::Uidl),
            ("STLS", []) => Some(Self::Stls),
            ("LANG", []) => Some(Self::Lang),
            ("IMPLEMENTATION", [_, ..]) => {
                // Keep the text after the name as sent, internal spacing included.
                let after_name = &text.trim_ascii_start()[name.len()..];
                Some(Self::Implementation(after_name.trim_ascii().to_owned()))
            }
            ("UTF8", rest) => user_flag(rest).map(|user| Self::Utf8 { user }),
            ("LOGIN-DELAY", [secs, rest @ ..]) => secs
                .parse()
                .ok()
                .zip(user_flag(rest))
                .map(|(seconds, per_user)| Self::LoginDelay { seconds, per_user }),
            ("EXPIRE", [policy, rest @ ..]) => {
                let policy = if policy.eq_ignore_ascii_case("NEVER") {
                    Some(Expire::Never)
                } else {
                    policy.parse().ok().map(Expire::Days)
                };
                policy
                    .zip(user_flag(rest))
                    .map(|(policy, per_user)| Self::Expire { policy, per_user })
            }
            _ => None,
        };
        Ok(known.unwrap_or_else(|| Self::Other {
            name: name.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }))
    }

    /// Encodes the capability line without line end (server side). Refuses names or
    /// arguments that are empty or contain whitespace or control characters.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let word_ok = |w: &str| !w.is_empty() && w.bytes().all(|b| b > 0x20 && b != 0x7f);
        let valid = match self {
            Self::Sasl(mechs) => mechs.iter().all(|m| word_ok(m)),
            Self::Implementation(text) => {
                !text.trim().is_empty()
                    && text.trim() == text
                    && !text.bytes().any(|b| b.is_ascii_control())
            }
            Self::Other { name, args } => word_ok(name) && args.iter().all(|a| word_ok(a)),
            _ => true,
        };
        if !valid {
            return Err(Error::InvalidArgument {
                field: "capability",
                reason: "empty, or contains whitespace or control characters",
            });
        }
        let mut raw = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_raw(&mut raw);
        out.extend_from_slice(raw.as_bytes());
        Ok(())
    }
}

impl Capability {
    /// Writes the capability line as it goes on the wire.
    fn write_raw(&self, f: &mut impl fmt::Write) -> fmt::Result {
        let user = |per_user: bool| if per_user { " USER" } else { "" };
        match self {
            Self::Top => f.write_str("TOP"),
            Self::User => f.write_str("USER"),
            Self::Sasl(mechs) => {
                f.write_str("SASL")?;
                mechs.iter().try_for_each(|m| write!(f, " {m}"))
            }
            Self::RespCodes => f.write_str("RESP-CODES"),
            Self::AuthRespCode => f.write_str("AUTH-RESP-CODE"),
            Self::LoginDelay { seconds, per_user } => {
                write!(f, "LOGIN-DELAY {seconds}{}", user(*per_user))
            }
            Self::Pipelining => f.write_str("PIPELINING"),
            Self::Expire {
                policy: Expire::Never,
                per_user,
            } => {
                write!(f, "EXPIRE NEVER{}", user(*per_user))
            }
            Self::Expire {
                policy: Expire::Days(d),
                per_user,
            } => {
                write!(f, "EXPIRE {d}{}", user(*per_user))
            }
            Self::Uidl => f.write_str("UIDL"),
            Self::Implementation(text) => write!(f, "IMPLEMENTATION {text}"),
            Self::Stls => f.write_str("STLS"),
            Self::Utf8 { user: u } => write!(f, "UTF8{}", user(*u)),
            Self::Lang => f.write_str("LANG"),
            Self::Other { name, args } => {
                f.write_str(name)?;
                args.iter().try_for_each(|a| write!(f, " {a}"))
            }
        }
    }
}

/// The wire spelling, with control characters replaced so server text cannot drive a
/// terminal.
impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = String::new();
        self.write_raw(&mut raw)?;
        let safe: String = raw
            .chars()
            .map(|c| {
                if c.is_control() {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect();
        f.write_str(&safe)
    }
}

/// The server's capabilities: the typed entries and the lines as the server sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    entries: Vec<(Capability, String)>,
}

impl Capabilities {
    /// Builds a set from typed capabilities (lines are their canonical spelling).
    pub fn new(caps: impl IntoIterator<Item = Capability>) -> Self {
        Self {
            entries: caps
                .into_iter()
                .map(|c| {
                    let line = c.to_string();
                    (c, line)
                })
                .collect(),
        }
    }

    pub(crate) fn push(&mut self, cap: Capability, line: String) {
        self.entries.push((cap, line));
    }

    /// The typed capabilities, in the server's order.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.entries.iter().map(|(c, _)| c)
    }

    /// The capability lines as the server sent them: lossily decoded as UTF-8, without
    /// the ASCII whitespace around them.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, l)| l.as_str())
    }

    /// Number of capabilities.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the server listed no capability.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a capability of the same name is listed, whatever its arguments:
    /// `contains(&Capability::Sasl(vec![]))` asks whether any SASL line is there, and
    /// `contains(&Capability::Other { name: "X-FOO".into(), args: vec![] })` whether
    /// `X-FOO` is (names compare case-insensitively).
    pub fn contains(&self, cap: &Capability) -> bool {
        self.iter().any(|c| match (c, cap) {
            (Capability::Other { name: a, .. }, Capability::Other { name: b, .. }) => {
                a.eq_ignore_ascii_case(b)
            }
            _ => std::mem::discriminant(c) == std::mem::discriminant(cap),
        })
    }

    /// `PIPELINING` is listed.
    pub fn pipelining(&self) -> bool {
        self.contains(&Capability::Pipelining)
    }

    /// `STLS` is listed.
    pub fn stls(&self) -> bool {
        self.contains(&Capability::Stls)
    }

    /// `USER` is listed.
    pub fn user(&self) -> bool {
        self.contains(&Capability::User)
    }

    /// `TOP` is listed.
    pub fn top(&self) -> bool {
        self.contains(&Capability::Top)
    }

    /// `UIDL` is listed.
    pub fn uidl(&self) -> bool {
        self.contains(&Capability::Uidl)
    }

    /// `UTF8` is listed (RFC 6856), with or without `USER`.
    pub fn utf8(&self) -> bool {
        self.contains(&Capability::Utf8 { user: false })
    }

    /// The SASL mechanisms listed (upper case), empty when there is no SASL capability.
    pub fn sasl(&self) -> Vec<&str> {
        self.iter()
            .filter_map(|c| match c {
                Capability::Sasl(m) => Some(m.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Whether a SASL mechanism is listed (case-insensitive).
    pub fn has_sasl(&self, mechanism: &str) -> bool {
        self.sasl()
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism))
    }

    /// The `LOGIN-DELAY` in seconds, if listed.
    pub fn login_delay(&self) -> Option<u32> {
        self.iter().find_map(|c| match c {
            Capability::LoginDelay { seconds, .. } => Some(*seconds),
            _ => None,
        })
    }

    /// The `EXPIRE` policy, if listed.
    pub fn expire(&self) -> Option<Expire> {
        self.iter().find_map(|c| match c {
            Capability::Expire { policy, .. } => Some(*policy),
            _ => None,
        })
    }

    /// The `IMPLEMENTATION` text, if listed.
    pub fn implementation(&self) -> Option<&str> {
        self.iter().find_map(|c| match c {
            Capability::Implementation(text) => Some(text.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(lines: &[&str]) -> Capabilities {
        let mut c = Capabilities::default();
        for l in lines {
            c.push(Capability::parse(l.as_bytes()).unwrap(), (*l).to_owned());
        }
        c
    }

    #[test]
    fn dovecot_capa() {
        let c = caps(&[
            "TOP",
            "UIDL",
            "RESP-CODES",
            "PIPELINING",
            "AUTH-RESP-CODE",
            "STLS",
            "USER",
            "SASL PLAIN LOGIN CRAM-MD5",
        ]);
        assert!(c.pipelining() && c.stls() && c.user() && c.top() && c.uidl());
        assert_eq!(c.sasl(), ["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert!(c.has_sasl("cram-md5"));
        assert_eq!(c.lines().last(), Some("SASL PLAIN LOGIN CRAM-MD5"));
    }

    #[test]
    fn contains_asks_about_one_unknown_capability_not_any() {
        let c = caps(&["X-FOO bar", "TOP"]);
        let other = |name: &str| Capability::Other {
            name: name.into(),
            args: vec![],
        };
        assert!(c.contains(&other("X-FOO")));
        assert!(c.contains(&other("x-foo")));
        assert!(!c.contains(&other("X-BAR")));
        assert!(c.contains(&Capability::Top));
        assert!(!c.contains(&Capability::Uidl));
    }

    #[test]
    fn arguments_are_typed_and_odd_forms_kept() {
        assert_eq!(
            Capability::parse(b"login-delay 900 user").unwrap(),
            Capability::LoginDelay {
                seconds: 900,
                per_user: true
            }
        );
        assert_eq!(
            Capability::parse(b"EXPIRE NEVER").unwrap(),
            Capability::Expire {
                policy: Expire::Never,
                per_user: false
            }
        );
        assert_eq!(
            Capability::parse(b"EXPIRE 30 USER").unwrap(),
            Capability::Expire {
                policy: Expire::Days(30),
                per_user: true
            }
        );
        assert_eq!(
            Capability::parse(b"IMPLEMENTATION Shlemazle  Plotz-v302").unwrap(),
            Capability::Implementation("Shlemazle  Plotz-v302".into())
        );
        assert_eq!(
            Capability::parse(b"\t IMPLEMENTATION Dovecot v2 ").unwrap(),
            Capability::Implementation("Dovecot v2".into())
        );
        assert_eq!(
            Capability::parse(b"UTF8 USER").unwrap(),
            Capability::Utf8 { user: true }
        );
        assert_eq!(
            Capability::parse(b"LOGIN-DELAY soon").unwrap(),
            Capability::Other {
                name: "LOGIN-DELAY".into(),
                args: vec!["soon".into()]
            }
        );
        assert_eq!(
            Capability::parse(b"X-FOO bar baz").unwrap(),
            Capability::Other {
                name: "X-FOO".into(),
                args: vec!["bar".into(), "baz".into()]
            }
        );
        assert!(Capability::parse(b"   ").is_err());
        assert_eq!(
            Capability::parse(b"IMPLEMENTATION Serveur d\xe9mo").unwrap(),
            Capability::Implementation("Serveur d\u{fffd}mo".into())
        );
    }

    #[test]
    fn a_line_without_a_name_is_malformed_without_quoting_nothing() {
        let empty = Capability::parse(b"").unwrap_err();
        assert!(
            matches!(&empty, Error::Malformed { what: "capability", excerpt, .. } if excerpt.is_empty()),
            "{empty:?}"
        );
        assert_eq!(
            empty.to_string(),
            "malformed capability: no name in an empty line"
        );
        // Blanks are what the server sent: quoted as they are.
        let blank = Capability::parse(b" \t ").unwrap_err();
        assert_eq!(
            blank.to_string(),
            "malformed capability: no name in \" \\t \""
        );
    }

    #[test]
    fn encoding_refuses_unsafe_words() {
        let mut out = Vec::new();
        assert!(
            Capability::Sasl(vec!["A B".into()])
                .encode(&mut out)
                .is_err()
        );
        assert!(
            Capability::Implementation("x\r\n".into())
                .encode(&mut out)
                .is_err()
        );
        assert!(
            Capability::Other {
                name: String::new(),
                args: vec![]
            }
            .encode(&mut out)
            .is_err()
        );
        Capability::Sasl(vec!["PLAIN".into()])
            .encode(&mut out)
            .unwrap();
        assert_eq!(out, b"SASL PLAIN");
    }
}
