//! One line of the state file (format 2).
//!
//! ```text
//! pop3-uidl 2                                       header
//! + ACCOUNT UID [NAME]                              recorded (NAME: its .eml file)
//! - ACCOUNT UID                                     forgotten
//! I SEQ ACCOUNT UID M NAME                          intent: Maildir tmp/NAME -> new/NAME
//! I SEQ ACCOUNT UID E TMP NAME                      intent: .eml DIR/TMP -> DIR/NAME
//! I SEQ ACCOUNT UID B OFFSET LEN FROMLEN FROMHASH HASH   intent: mbox bytes [OFFSET, +LEN)
//! D SEQ                                             intent done: its UID is recorded
//! X SEQ                                             intent abandoned
//! ```
//!
//! Every token is printable ASCII without spaces: UIDs are by RFC 1939, accounts are
//! percent-encoded ([`crate::Account`]), file names are checked. Lines are only appended;
//! a line that does not parse (a torn write, a future extension) is skipped.

use std::fmt::Write as _;

use crate::names::check_uid;

/// The first line of a format-2 state file.
pub(crate) const HEADER: &str = "pop3-uidl 2";

/// What a message's intent says will be made durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Maildir: `tmp/NAME` renamed to `new/NAME`.
    Maildir {
        /// The file name (the same in tmp/ and new/).
        name: String,
    },
    /// `.eml` directory: `DIR/TMP` renamed to `DIR/NAME`.
    Eml {
        /// The temporary file's name.
        tmp: String,
        /// The final file's name.
        name: String,
    },
    /// mbox: a record appended at `offset`.
    Mbox(MboxSpan),
}

/// Where an mbox record goes, and how to recognise it afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MboxSpan {
    /// Where the record starts.
    pub(crate) offset: u64,
    /// The record's length (`From ` line, body, blank line).
    pub(crate) len: u64,
    /// The `From ` line's length, newline included.
    pub(crate) from_len: u64,
    /// [`crate::hash::ContentHash`] of the `From ` line.
    pub(crate) from_hash: u64,
    /// [`crate::hash::record_hash`] of the whole record.
    pub(crate) hash: u64,
}

/// A promise, made durable before the message is, naming where the message will be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Intent {
    /// Unique within the file; `D`/`X` lines refer to it.
    pub(crate) seq: u64,
    /// The account key.
    pub(crate) account: String,
    /// The UID.
    pub(crate) uid: String,
    /// Where the message goes.
    pub(crate) target: Target,
}

/// A parsed state-file line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// `+`: recorded.
    Seen {
        /// The account key.
        account: String,
        /// The UID.
        uid: String,
        /// The `.eml` file holding it, if known.
        name: Option<String>,
    },
    /// `-`: no longer recorded.
    Forget {
        /// The account key.
        account: String,
        /// The UID.
        uid: String,
    },
    /// `I`.
    Intent(Intent),
    /// `D`.
    Done(u64),
    /// `X`.
    Abandoned(u64),
}

/// A file name we are willing to act on: one plain component, never `.`/`..` or a path.
pub(crate) fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b'/')
}

fn account(token: &str) -> Option<String> {
    // Validated by round-tripping: a key we could not have written is not trusted.
    crate::Account::from_key(token)
        .filter(|a| a.key() == token)
        .map(|_| token.to_owned())
}

fn uid(token: &str) -> Option<String> {
    check_uid(token).ok().map(|()| token.to_owned())
}

fn name(token: &str) -> Option<String> {
    is_safe_name(token).then(|| token.to_owned())
}

fn hex(token: &str) -> Option<u64> {
    (token.len() == 16).then(|| u64::from_str_radix(token, 16).ok())?
}

impl Line {
    /// Parses one line (without its newline).
    pub(crate) fn parse(line: &str) -> Option<Self> {
        let mut t = line.split(' ');
        let kind = t.next()?;
        let parsed = match kind {
            "+" => Self::Seen {
                account: account(t.next()?)?,
                uid: uid(t.next()?)?,
                name: match t.next() {
                    Some(n) => Some(name(n)?),
                    None => None,
                },
            },
            "-" => Self::Forget {
                account: account(t.next()?)?,
                uid: uid(t.next()?)?,
            },
            "D" | "X" => {
                let seq = t.next()?.parse().ok()?;
                if kind == "D" {
                    Self::Done(seq)
                } else {
                    Self::Abandoned(seq)
                }
            }
            "I" => {
                let seq = t.next()?.parse().ok()?;
                let account = account(t.next()?)?;
                let uid = uid(t.next()?)?;
                let target = match t.next()? {
                    "M" => Target::Maildir {
                        name: name(t.next()?)?,
                    },
                    "E" => Target::Eml {
                        tmp: name(t.next()?)?,
                        name: name(t.next()?)?,
                    },
                    "B" => Target::Mbox(MboxSpan {
                        offset: t.next()?.parse().ok()?,
                        len: t.next()?.parse().ok()?,
                        from_len: t.next()?.parse().ok()?,
                        from_hash: hex(t.next()?)?,
                        hash: hex(t.next()?)?,
                    }),
                    _ => return None,
                };
                Self::Intent(Intent {
                    seq,
                    account,
                    uid,
                    target,
                })
            }
            _ => return None,
        };
        // Trailing tokens mean a format we do not know: skip rather than misread.
        t.next().is_none().then_some(parsed)
    }

    /// Appends the line and its newline to `out`.
    pub(crate) fn write_to(&self, out: &mut String) {
        let _ = match self {
            Self::Seen {
                account,
                uid,
                name: Some(name),
            } => writeln!(out, "+ {account} {uid} {name}"),
            Self::Seen { account, uid, .. } => writeln!(out, "+ {account} {uid}"),
            Self::Forget { account, uid } => writeln!(out, "- {account} {uid}"),
            Self::Done(seq) => writeln!(out, "D {seq}"),
            Self::Abandoned(seq) => writeln!(out, "X {seq}"),
            Self::Intent(Intent {
                seq,
                account,
                uid,
                target,
            }) => match target {
                Target::Maildir { name } => writeln!(out, "I {seq} {account} {uid} M {name}"),
                Target::Eml { tmp, name } => {
                    writeln!(out, "I {seq} {account} {uid} E {tmp} {name}")
                }
                Target::Mbox(s) => writeln!(
                    out,
                    "I {seq} {account} {uid} B {} {} {} {:016x} {:016x}",
                    s.offset, s.len, s.from_len, s.from_hash, s.hash
                ),
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(line: &Line) {
        let mut text = String::new();
        line.write_to(&mut text);
        assert!(text.ends_with('\n'));
        assert_eq!(
            Line::parse(text.trim_end_matches('\n')).as_ref(),
            Some(line),
            "{text}"
        );
    }

    #[test]
    fn lines_round_trip() {
        let account = crate::Account::new("a b", "h", 110).key();
        round_trip(&Line::Seen {
            account: account.clone(),
            uid: "u1".into(),
            name: None,
        });
        round_trip(&Line::Seen {
            account: account.clone(),
            uid: "u/1".into(),
            name: Some("u%2F1~2.eml".into()),
        });
        round_trip(&Line::Forget {
            account: account.clone(),
            uid: "x".into(),
        });
        round_trip(&Line::Done(7));
        round_trip(&Line::Abandoned(8));
        for target in [
            Target::Maildir {
                name: "1.M2P3Q4_pop3.host".into(),
            },
            Target::Eml {
                tmp: ".u.pop3-1-2.tmp".into(),
                name: "u.eml".into(),
            },
            Target::Mbox(MboxSpan {
                offset: 10,
                len: 20,
                from_len: 5,
                from_hash: 1,
                hash: u64::MAX,
            }),
        ] {
            round_trip(&Line::Intent(Intent {
                seq: 3,
                account: account.clone(),
                uid: "u".into(),
                target,
            }));
        }
    }

    #[test]
    fn rejects_what_it_could_not_have_written() {
        for bad in [
            "",
            "+ a@h:1",
            "+ a@h:1 u extra tokens",
            "+ a@h:99999 u",
            "+ a b@h:1 u",
            "+ a@h:1 u ../../etc/passwd",
            "+ a@h:1 u ..",
            "I 1 a@h:1 u M",
            "I 1 a@h:1 u Q x",
            "I 1 a@h:1 u B 1 2 3 zz 00",
            "D x",
            "? 1",
            "pop3-uidl 2",
        ] {
            assert_eq!(Line::parse(bad), None, "{bad:?}");
        }
    }
}
