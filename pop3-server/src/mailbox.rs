//! Message sets for tests and benchmarks.
//!
//! * [`hostile_mailbox`] / [`hostile_messages`]: realistic but nasty messages, each aimed at
//!   one way a POP3 client (or server) can corrupt mail.
//! * [`generate`]: deterministic, realistic messages of a chosen size, for benchmarks and
//!   demos.
//!
//! Every message is a valid RFC 5322 message (header fields with `From`, `To`, `Date`,
//! `Subject` and a unique `Message-ID`, a blank line, a body) with CRLF line ends only
//! and a final CRLF, so that what a client retrieves can be compared byte for byte with
//! what was stored. No message contains NUL (servers such as Dovecot may rewrite it).
//!
//! ```
//! use pop3_server::mailbox::{generate, hostile_mailbox};
//!
//! let hostile = hostile_mailbox();
//! assert!(hostile.iter().any(|m| m.windows(5).any(|w| w == b"\r\n.\r\n")));
//! let bench = generate(100, 4096, 42);
//! assert_eq!(bench, generate(100, 4096, 42)); // deterministic
//! ```

use std::fmt::Write as _;

/// One message of the hostile set and what it exercises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostileMessage {
    /// A short identifier, also the local part of its `Message-ID`.
    pub name: &'static str,
    /// What the message tests.
    pub exercises: &'static str,
    /// The message, CRLF line ends.
    pub data: Vec<u8>,
}

/// The size of the large message of the hostile set (3 MiB, give or take a line).
pub const LARGE_MESSAGE_SIZE: usize = 3 * 1024 * 1024;
/// The length of the long line of the hostile set, line end excluded.
pub const LONG_LINE: usize = 20_000;

/// The hostile messages, in the order of [`hostile_mailbox`]:
///
/// | name | exercises |
/// |---|---|
/// | `dot-lines` | dot-stuffing: lines starting with `.`, a line that is exactly `.`, a line `..`, and a last line `.` right before the terminator |
/// | `latin1` | 8-bit ISO-8859-1 bytes that are not UTF-8: clients must not assume text |
/// | `utf8` | UTF-8 in the body and raw UTF-8 in a header (RFC 6532) |
/// | `rfc2047-subject` | a folded Subject with RFC 2047 encoded words (B and Q encodings) |
/// | `long-line` | a single body line of 20 000 bytes: no line-length limit on bodies |
/// | `control-chars` | control characters 0x01–0x08, 0x0B, 0x0C, 0x0E–0x1F, 0x1B, 0x7F (no NUL, no bare CR) |
/// | `large` | a 3 MiB message whose lines start with `.` every few lines, so dot-stuffing crosses every chunk boundary |
/// | `empty-body` | header fields, the blank line, and nothing else |
/// | `trailing-blank-lines` | a body ending with empty lines: nothing may be trimmed before the terminator |
/// | `whitespace` | trailing spaces and tabs, a line of spaces only: nothing may be trimmed |
/// | `long-header` | a 60-line folded `References` field and a 2 000-byte header line: `TOP n 0` returns all of it |
/// | `mime-multipart` | MIME boundaries (`--...`) and a base64 attachment |
/// | `terminator-lookalikes` | `. `, ` .`, `.\t`, `x.`, `.x`, `..x`: only a lone `.` line ends a response |
pub fn hostile_messages() -> Vec<HostileMessage> {
    vec![
        hostile(
            "dot-lines",
            "dot-stuffing and the terminator",
            "dots at line starts",
            &[],
            b".leading dot\r\n..two leading dots\r\n.\r\n..\r\n...\r\nmiddle\r\n.\r\n",
        ),
        hostile(
            "latin1",
            "8-bit bytes that are not UTF-8",
            "Latin-1 body",
            &[
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: 8bit",
            ],
            b"Caf\xe9 cr\xe8me br\xfbl\xe9e \xe0 la fran\xe7aise, na\xefve \xc6sop \xa9 \xbd \xff\r\n",
        ),
        hostile_with_from(
            "utf8",
            "UTF-8 body and header",
            "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=",
            "From: \"J\u{fc}rgen M\u{fc}ller\" <juergen@example.org>",
            &[
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: 8bit",
            ],
            "Gr\u{fc}\u{df}e \u{2014} \u{65e5}\u{672c}\u{8a9e}\u{306e}\u{30c6}\u{30ad}\u{30b9}\u{30c8} \u{2014} \u{1f4ec} \u{2709}\u{fe0f} \u{2014} \u{5e2}\u{5d1}\u{5e8}\u{5d9}\u{5ea} \u{2014} e\u{301}\r\n"
                .as_bytes(),
        ),
        hostile(
            "rfc2047-subject",
            "encoded words in a folded Subject",
            "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4pyJIOKAkyDDvGJlciA5MDAwIFplaWNoZW4/?=\r\n =?ISO-8859-1?Q?Caf=E9_cr=E8me?= =?UTF-8?B?5pel5pys6Kqe44Gu5Lu25ZCN?=",
            &[],
            b"The subject is encoded.\r\n",
        ),
        hostile(
            "long-line",
            "a 20 000-byte line",
            "one very long line",
            &[],
            &long_line(),
        ),
        hostile(
            "control-chars",
            "control characters",
            "control characters",
            &[],
            &control_chars(),
        ),
        hostile(
            "large",
            "a multi-megabyte message",
            "3 MiB with dots",
            &[],
            &large_body(),
        ),
        hostile("empty-body", "an empty body", "nothing follows", &[], b""),
        hostile(
            "trailing-blank-lines",
            "empty lines before the terminator",
            "blank lines at the end",
            &[],
            b"text\r\n\r\n\r\n\r\n",
        ),
        hostile(
            "whitespace",
            "whitespace that must not be trimmed",
            "trailing whitespace",
            &[],
            b"trailing spaces   \r\ntrailing tab\t\r\n    \r\n\t\r\n  leading spaces\r\n",
        ),
        hostile(
            "long-header",
            "a long folded header",
            "long header fields",
            &[&long_references(), &format!("X-Long: {}", "h".repeat(2000))],
            b"short body\r\n",
        ),
        hostile(
            "mime-multipart",
            "MIME structure and base64",
            "multipart with attachment",
            &["Content-Type: multipart/mixed; boundary=\"=-=boundary=-=\""],
            b"This is a multi-part message in MIME format.\r\n\r\n--=-=boundary=-=\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n.\r\n\r\n--=-=boundary=-=\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"blob.bin\"\r\n\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\nOTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ubw==\r\n\r\n--=-=boundary=-=--\r\n",
        ),
        hostile(
            "terminator-lookalikes",
            "lines that look like the terminator",
            "almost terminators",
            &[],
            b". \r\n .\r\n.\t\r\nx.\r\n.x\r\n..x\r\n. .\r\nend\r\n",
        ),
    ]
}

/// The hostile messages alone (see [`hostile_messages`] for what each exercises).
pub fn hostile_mailbox() -> Vec<Vec<u8>> {
    hostile_messages().into_iter().map(|m| m.data).collect()
}

fn hostile(
    name: &'static str,
    exercises: &'static str,
    subject: &str,
    extra: &[&str],
    body: &[u8],
) -> HostileMessage {
    hostile_with_from(
        name,
        exercises,
        subject,
        "From: Hostile Sender <hostile@example.org>",
        extra,
        body,
    )
}

fn hostile_with_from(
    name: &'static str,
    exercises: &'static str,
    subject: &str,
    from: &str,
    extra: &[&str],
    body: &[u8],
) -> HostileMessage {
    let mut data = Vec::with_capacity(body.len() + 512);
    for field in [
        from,
        "To: Alice <alice@example.com>",
        "Date: Mon, 25 Nov 2024 09:00:00 +0000",
        &format!("Subject: {subject}"),
        &format!("Message-ID: <{name}@hostile.pop3-testkit.invalid>"),
        "MIME-Version: 1.0",
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        data.extend_from_slice(field.as_bytes());
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(body);
    HostileMessage {
        name,
        exercises,
        data,
    }
}

fn long_line() -> Vec<u8> {
    let mut line: Vec<u8> = b"0123456789abcdefghijklmnopqrstuvwxyz"
        .iter()
        .copied()
        .cycle()
        .take(LONG_LINE)
        .collect();
    line.extend_from_slice(b"\r\n");
    line
}

fn control_chars() -> Vec<u8> {
    let mut body = b"controls:".to_vec();
    body.extend(
        (0x01..=0x08u8)
            .chain([0x0b, 0x0c])
            .chain(0x0e..=0x1f)
            .chain([0x7f]),
    );
    body.extend_from_slice(
        b"\r\nan escape sequence: \x1b[31mred\x1b[0m\r\nbell\x07 and form feed\x0c\r\n",
    );
    body
}

fn large_body() -> Vec<u8> {
    let mut rng = SplitMix64(0x6c61_7267_6500_0001);
    let mut body = Vec::with_capacity(LARGE_MESSAGE_SIZE + 128);
    let mut n = 0u64;
    while body.len() < LARGE_MESSAGE_SIZE {
        n += 1;
        // Every 7th line starts with a dot, every 97th is a lone dot.
        if n.is_multiple_of(97) {
            body.push(b'.');
        } else {
            if n.is_multiple_of(7) {
                body.push(b'.');
            }
            for _ in 0..76 {
                body.push(BASE64[(rng.next() % 64) as usize]);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body
}

fn long_references() -> String {
    let mut field = String::from("References:");
    for i in 0..60 {
        let _ = write!(
            field,
            " <thread-{i:03}.reference@hostile.pop3-testkit.invalid>"
        );
        if i < 59 {
            field.push_str("\r\n");
        }
    }
    field
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A small deterministic generator (SplitMix64): good enough for test data, no
/// dependency.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIRST_NAMES: [&str; 12] = [
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Oscar",
];
const LAST_NAMES: [&str; 8] = [
    "Smith",
    "Jones",
    "Martin",
    "Dubois",
    "M\u{fc}ller",
    "Rossi",
    "Tanaka",
    "Nowak",
];
const DOMAINS: [&str; 5] = [
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "corp.example",
];
const WORDS: [&str; 48] = [
    "the",
    "a",
    "meeting",
    "report",
    "quarterly",
    "budget",
    "please",
    "review",
    "attached",
    "thanks",
    "regards",
    "project",
    "deadline",
    "tomorrow",
    "schedule",
    "update",
    "server",
    "mailbox",
    "invoice",
    "payment",
    "shipping",
    "order",
    "team",
    "lunch",
    "friday",
    "agenda",
    "minutes",
    "draft",
    "final",
    "version",
    "comments",
    "question",
    "answer",
    "soon",
    "later",
    "today",
    "and",
    "of",
    "to",
    "in",
    "for",
    "with",
    "on",
    "at",
    "we",
    "you",
    "it",
    "is",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `count` realistic messages of about `approx_size` bytes each (never less than their
/// header), deterministic for a given `seed`: `From`, `To`, `Date`, `Subject`,
/// `Message-ID` and a plain-text body wrapped at 72 columns. A few lines start with a dot,
/// as in real mail.
///
/// ```
/// use pop3_server::mailbox::generate;
///
/// let messages = generate(3, 10_000, 7);
/// assert_eq!(messages.len(), 3);
/// assert!(messages.iter().all(|m| m.len() >= 10_000 && m.len() < 10_200));
/// assert_ne!(messages[0], messages[1]);
/// ```
pub fn generate(count: usize, approx_size: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = SplitMix64(seed);
    (0..count)
        .map(|i| generate_one(&mut rng, i, approx_size, seed))
        .collect()
}

fn generate_one(rng: &mut SplitMix64, index: usize, size: usize, seed: u64) -> Vec<u8> {
    let person = |rng: &mut SplitMix64| {
        let first = rng.pick(&FIRST_NAMES);
        let last = rng.pick(&LAST_NAMES);
        let domain = rng.pick(&DOMAINS);
        format!("{first} {last} <{}@{domain}>", first.to_ascii_lowercase())
    };
    let from = person(rng);
    let to = person(rng);
    // 2024-01-01T00:00:00Z plus up to a year, one message an hour apart on average.
    let timestamp = 1_704_067_200 + index as u64 * 3600 + rng.next() % 3600;
    let subject_words = 2 + rng.below(6);
    let subject: Vec<&str> = (0..subject_words).map(|_| rng.pick(&WORDS)).collect();
    let mut message = format!(
        "From: {from}\r\nTo: {to}\r\nDate: {}\r\nSubject: {}\r\nMessage-ID: <{seed:016x}.{index}@generated.pop3-testkit.invalid>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        rfc5322_date(timestamp),
        subject.join(" "),
    )
    .into_bytes();
    let mut line = String::new();
    while message.len() + line.len() + 2 < size {
        let word = rng.pick(&WORDS);
        if line.len() + word.len() + 1 > 72 {
            message.extend_from_slice(line.as_bytes());
            message.extend_from_slice(b"\r\n");
            line.clear();
            if rng.below(40) == 0 {
                line.push('.');
            }
        }
        if !line.is_empty() && !line.ends_with('.') {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        message.extend_from_slice(line.as_bytes());
        message.extend_from_slice(b"\r\n");
    }
    message
}

/// Formats a Unix timestamp as an RFC 5322 date in UTC.
fn rfc5322_date(timestamp: u64) -> String {
    let days = timestamp / 86_400;
    let secs = timestamp % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (no dates before it).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(message: &[u8]) -> impl Iterator<Item = &[u8]> {
        message
            .split_inclusive(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r\n").unwrap_or(l))
    }

    fn body(message: &[u8]) -> &[u8] {
        let end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header/body separator");
        &message[end + 4..]
    }

    /// CRLF-only, final CRLF, header fields, separator, no NUL.
    fn assert_well_formed(message: &[u8], what: &str) {
        for (i, &b) in message.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && message[i - 1] == b'\r', "{what}: bare LF at {i}");
            }
            if b == b'\r' {
                assert_eq!(message.get(i + 1), Some(&b'\n'), "{what}: bare CR at {i}");
            }
        }
        assert!(message.ends_with(b"\r\n"), "{what}: no final CRLF");
        assert!(!message.contains(&0), "{what}: NUL");
        let _ = body(message);
        for field in ["From: ", "To: ", "Date: ", "Subject: ", "Message-ID: <"] {
            assert!(
                lines(message).any(|l| l.starts_with(field.as_bytes())),
                "{what}: no {field}"
            );
        }
    }

    fn message_id(message: &[u8]) -> Vec<u8> {
        lines(message)
            .find(|l| l.starts_with(b"Message-ID: "))
            .expect("Message-ID")
            .to_vec()
    }

    #[test]
    fn hostile_messages_are_well_formed_and_unique() {
        let messages = hostile_messages();
        for m in &messages {
            assert_well_formed(&m.data, m.name);
        }
        let mut ids: Vec<Vec<u8>> = messages.iter().map(|m| message_id(&m.data)).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), messages.len());
        assert_eq!(hostile_mailbox().len(), messages.len());
    }

    #[test]
    fn hostile_set_contains_every_case() {
        let all = hostile_mailbox();
        let any_line = |pred: &dyn Fn(&[u8]) -> bool| all.iter().any(|m| lines(body(m)).any(pred));
        assert!(any_line(&|l| l == b"."), "a line that is exactly '.'");
        assert!(any_line(&|l| l == b".."), "a line '..'");
        assert!(
            any_line(&|l| l.starts_with(b".") && l.len() > 2 && l[1] != b'.'),
            "a leading dot"
        );
        assert!(
            all.iter().any(|m| body(m).ends_with(b"\r\n.\r\n")),
            "a last line '.'"
        );
        assert!(
            all.iter()
                .any(|m| std::str::from_utf8(m).is_err() && m.contains(&0xe9)),
            "Latin-1 bytes"
        );
        assert!(
            all.iter()
                .any(|m| std::str::from_utf8(m).is_ok_and(|s| s.contains('\u{65e5}'))),
            "UTF-8 text"
        );
        assert!(
            all.iter()
                .any(|m| lines(m).any(|l| l.starts_with(b"Subject: =?UTF-8?B?"))),
            "an RFC 2047 Subject"
        );
        assert!(any_line(&|l| l.len() >= LONG_LINE), "a 20 000-byte line");
        for control in (0x01..=0x08u8).chain([0x0b, 0x0c, 0x1b]) {
            assert!(
                all.iter().any(|m| m.contains(&control)),
                "control {control:#04x}"
            );
        }
        assert!(
            all.iter().any(|m| m.len() >= LARGE_MESSAGE_SIZE),
            "a 3 MiB message"
        );
        assert!(all.iter().any(|m| body(m).is_empty()), "an empty body");
    }

    #[test]
    fn generated_messages_are_realistic_and_deterministic() {
        let messages = generate(20, 2000, 1);
        assert_eq!(messages, generate(20, 2000, 1));
        assert_ne!(messages, generate(20, 2000, 2));
        for (i, m) in messages.iter().enumerate() {
            assert_well_formed(m, &format!("generated {i}"));
            assert!(m.len() >= 2000 && m.len() < 2100, "size {}", m.len());
            assert!(lines(m).all(|l| l.len() <= 200));
        }
        let mut ids: Vec<Vec<u8>> = messages.iter().map(|m| message_id(m)).collect();
        ids.dedup();
        assert_eq!(ids.len(), 20);
        // Tiny sizes still give a whole message.
        assert_well_formed(&generate(1, 0, 3)[0], "tiny");
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_704_067_200),
            "Mon, 1 Jan 2024 00:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(1_709_210_096),
            "Thu, 29 Feb 2024 12:34:56 +0000"
        );
    }
}
