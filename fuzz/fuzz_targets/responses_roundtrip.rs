//! Structure-aware: an arbitrary typed response → server-side encoder → client-side parser
//! → the same value, wherever the round trip is defined.
//!
//! Each value goes through its own parser and, for the listings, also through a real
//! [`Client`] (CAPA, LIST, UIDL, LANG, STAT), so dot-stuffing and line framing are on the
//! path too.
//!
//! Where the round trip is *not* the identity, by design, and what is checked instead:
//! * encoders refuse some values (status text with CR/LF/NUL, a malformed response code,
//!   capability words with whitespace or controls, ...): then nothing is compared, the
//!   refusal only must leave the output buffer untouched where documented;
//! * `Status` text is trimmed by the parser (leading space/tab, trailing ASCII whitespace):
//!   the expectation is trimmed the same way;
//! * `RespCode::Other("in-use")` and friends come back as the known variant (codes are
//!   case-insensitive): the expectation is normalised;
//! * a status *without* code whose text starts with `[...]` that reads as a code is
//!   ambiguous on the wire (`+OK [X] y` is code `X`, text `y`): then the parsed code must
//!   be that bracketed prefix and the text what follows it;
//! * `Capability::Sasl` mechanism names are upper-cased by the parser;
//!   `Capability::Other` with the name of a known capability may come back typed: then
//!   only parse(encode(parse(...))) is compared (a fixed point);
//! * `ScanListing`/`UidListing` with message number 0 are encoded but refused by the
//!   parser (POP3 numbers messages from 1): an error is expected;
//! * `Language` lines are trimmed at the end by the encoder and the description's
//!   leading whitespace is dropped by the parser.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pop3_fuzz::{drain, greeted_client, logged_in_client};
use pop3_proto::sasl::parse_challenge;
use pop3_proto::server::encode_challenge;
use pop3_proto::server::{
    encode_capabilities, encode_greeting, encode_languages, encode_scan_listings,
    encode_uid_listings,
};
use pop3_proto::{
    ApopTimestamp, Greeting, Language, MaildropSize, RespCode, ScanListing, Status, StatusKind,
    UidListing,
};
use pop3_proto::{Capability, Client, Command, Config, Event, Limits, Reply};

#[derive(Arbitrary, Debug)]
enum Input {
    Status {
        kind: StatusKind,
        code: Option<RespCode>,
        text: String,
    },
    Greeting {
        text: String,
        local: String,
        domain: String,
    },
    Capability(Capability),
    Capabilities(Vec<Capability>),
    Scan(ScanListing),
    Scans(Vec<ScanListing>),
    Uid(UidListing),
    Uids(Vec<UidListing>),
    Size(MaildropSize),
    Languages(Vec<(String, String)>),
    Challenge(Vec<u8>),
}

/// Capability names the parser types (an `Other` with one of them may not come back as
/// `Other`).
const KNOWN_CAPABILITIES: [&str; 13] = [
    "TOP",
    "USER",
    "SASL",
    "RESP-CODES",
    "AUTH-RESP-CODE",
    "PIPELINING",
    "UIDL",
    "STLS",
    "LANG",
    "IMPLEMENTATION",
    "UTF8",
    "LOGIN-DELAY",
    "EXPIRE",
];

/// Response codes the parser recognises, case-insensitively.
const KNOWN_CODES: [(&str, RespCode); 6] = [
    ("IN-USE", RespCode::InUse),
    ("LOGIN-DELAY", RespCode::LoginDelay),
    ("SYS/TEMP", RespCode::SysTemp),
    ("SYS/PERM", RespCode::SysPerm),
    ("AUTH", RespCode::Auth),
    ("UTF8", RespCode::Utf8),
];

fn normalise_code(code: &str) -> RespCode {
    KNOWN_CODES
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(code))
        .map_or_else(|| RespCode::Other(code.to_owned()), |(_, known)| known)
}

fn strip_crlf(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r\n")
        .expect("encoders end lines with CRLF")
}

/// A client with generous listing limits: these round trips are about values, not limits.
fn config() -> Config {
    Config::new().limits(
        Limits::new()
            .listing_line(1 << 20)
            .status_line(1 << 20)
            .capabilities(usize::MAX)
            .listing_bytes(usize::MAX),
    )
}

/// Sends `command`, answers with `wire`, and returns the reply.
fn ask(client: &mut Client, command: Command, wire: &[u8]) -> Result<Reply, String> {
    let id = client.send(command).map_err(|e| e.to_string())?;
    drain(client).map_err(|e| e.to_string())?;
    client.enqueue_input(wire);
    let (events, _) = drain(client).map_err(|e| e.to_string())?;
    match &events[..] {
        [Event::Ok { id: got, reply }] if *got == id => Ok(reply.clone()),
        other => panic!("unexpected events {other:?}"),
    }
}

fn status(kind: StatusKind, code: Option<RespCode>, text: String) {
    let original = Status { kind, code, text };
    let mut out = b"kept".to_vec();
    if original.encode(&mut out).is_err() {
        // Documented refusals only.
        let bad_text = original
            .text
            .bytes()
            .any(|b| matches!(b, b'\r' | b'\n' | 0));
        let bad_code = original.code.as_ref().is_some_and(|c| {
            c.as_str().is_empty()
                || c.as_str().split('/').any(|level| {
                    level.is_empty()
                        || !level
                            .bytes()
                            .all(|b| (0x21..=0x7f).contains(&b) && b != b']')
                })
        });
        assert!(bad_text || bad_code, "refused a valid status {original:?}");
        return;
    }
    let wire = out.strip_prefix(b"kept").expect("encode appends");
    let parsed = Status::parse(strip_crlf(wire)).expect("an encoded status parses");
    let _ = parsed.to_string();
    // The parser trims the text: leading space/tab, trailing ASCII whitespace.
    let trimmed = original
        .text
        .trim_start_matches([' ', '\t'])
        .trim_end_matches(|c: char| c.is_ascii_whitespace());
    let mut expected = Status {
        kind: original.kind,
        code: original.code.as_ref().map(|c| normalise_code(c.as_str())),
        text: trimmed.to_owned(),
    };
    if original.code.is_none() && trimmed.starts_with('[') {
        // Ambiguous on the wire: "[X] y" without a code reads as code X and text y.
        if let Some(code) = &parsed.code {
            let end = trimmed.find(']').expect("a code ends with ']'");
            assert!(
                trimmed[1..end].eq_ignore_ascii_case(code.as_str()),
                "code {code:?} is not the bracketed prefix of {trimmed:?}"
            );
            expected.code = Some(normalise_code(&trimmed[1..end]));
            expected.text = trimmed[end + 1..]
                .trim_start_matches([' ', '\t'])
                .to_owned();
        }
    }
    assert_eq!(parsed, expected, "wire {wire:?}");
}

fn greeting(text: &str, local: &str, domain: &str) {
    let Some(ts) = ApopTimestamp::new(&format!("<{local}@{domain}>")) else {
        return;
    };
    // A '<' in the text would come before the timestamp: the first one is taken.
    if text.contains('<') {
        return;
    }
    let mut out = Vec::new();
    if encode_greeting(text, Some(&ts), &mut out).is_err() {
        assert!(text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)));
        return;
    }
    let parsed = Greeting::parse(strip_crlf(&out)).expect("an encoded greeting parses");
    assert!(parsed.status.is_ok());
    assert_eq!(parsed.timestamp.as_ref(), Some(&ts), "wire {out:?}");
    assert!(parsed.status.text.ends_with(ts.as_str()));
}

/// The capability the parser must return for `cap`, or `None` if only a fixed point is
/// defined.
fn expected_capability(cap: &Capability) -> Option<Capability> {
    match cap {
        Capability::Sasl(mechs) => Some(Capability::Sasl(
            mechs.iter().map(|m| m.to_ascii_uppercase()).collect(),
        )),
        Capability::Other { name, .. }
            if KNOWN_CAPABILITIES
                .iter()
                .any(|known| known.eq_ignore_ascii_case(name)) =>
        {
            None
        }
        other => Some(other.clone()),
    }
}

fn capability(cap: &Capability) {
    let mut out = Vec::new();
    if cap.encode(&mut out).is_err() {
        assert!(out.is_empty(), "a refused capability wrote something");
        return;
    }
    let _ = cap.to_string();
    let parsed = Capability::parse(&out).expect("an encoded capability parses");
    match expected_capability(cap) {
        Some(expected) => assert_eq!(parsed, expected, "wire {out:?}"),
        None => {
            let mut again = Vec::new();
            parsed
                .encode(&mut again)
                .expect("a parsed capability encodes");
            assert_eq!(Capability::parse(&again).ok(), Some(parsed));
        }
    }
}

fn capabilities(caps: &[Capability]) {
    let mut wire = Vec::new();
    if encode_capabilities(caps, &mut wire).is_err() {
        return;
    }
    let mut lines = Vec::new();
    for cap in caps {
        let mut line = Vec::new();
        cap.encode(&mut line)
            .expect("encode_capabilities accepted it");
        lines.push(String::from_utf8(line).expect("capabilities are UTF-8"));
    }
    let mut client = greeted_client(config());
    let reply = ask(&mut client, Command::Capa, &wire).expect("CAPA reply is accepted");
    let Reply::Capabilities(got) = reply else {
        panic!("CAPA answered with {reply:?}")
    };
    let expected: Vec<Capability> = lines
        .iter()
        .map(|l| Capability::parse(l.as_bytes()).expect("parses"))
        .collect();
    assert_eq!(got.iter().cloned().collect::<Vec<_>>(), expected);
    // `Capabilities::lines()`: the lines as sent, without surrounding ASCII whitespace.
    let expected_lines: Vec<&str> = lines.iter().map(|l| l.trim_ascii()).collect();
    assert_eq!(got.lines().collect::<Vec<_>>(), expected_lines);
    assert_eq!(client.capabilities(), Some(&got));
}

fn scan(item: ScanListing) {
    let mut out = Vec::new();
    if item.encode(&mut out).is_err() {
        assert_eq!(item.msg, 0, "refused {item:?}");
        assert!(out.is_empty(), "nothing written on error");
        return;
    }
    assert_eq!(
        ScanListing::parse(&out).expect("encoded listing parses"),
        item
    );
}

fn scans(items: &[ScanListing]) {
    let mut wire = Vec::new();
    if encode_scan_listings(items, &mut wire).is_err() {
        assert!(items.iter().any(|s| s.msg == 0), "refused {items:?}");
        return;
    }
    let mut client = logged_in_client(config());
    match ask(&mut client, Command::List(None), &wire) {
        Ok(Reply::ScanListings(got)) => assert_eq!(got, items),
        Ok(other) => panic!("LIST answered with {other:?}"),
        // The client refuses message 0 and repeated message numbers.
        Err(e) => assert!(
            items.iter().any(|s| s.msg == 0) || has_duplicates(items.iter().map(|s| s.msg)),
            "{e}"
        ),
    }
}

fn uid(item: &UidListing) {
    let mut out = Vec::new();
    if item.encode(&mut out).is_err() {
        assert_eq!(item.msg, 0, "refused {item:?}");
        assert!(out.is_empty(), "nothing written on error");
        return;
    }
    assert_eq!(
        &UidListing::parse(&out).expect("encoded listing parses"),
        item
    );
}

fn uids(items: &[UidListing]) {
    let mut wire = Vec::new();
    if encode_uid_listings(items, &mut wire).is_err() {
        assert!(items.iter().any(|u| u.msg == 0), "refused {items:?}");
        return;
    }
    let mut client = logged_in_client(config());
    match ask(&mut client, Command::Uidl(None), &wire) {
        Ok(Reply::UidListings(got)) => assert_eq!(got, items),
        Ok(other) => panic!("UIDL answered with {other:?}"),
        // The client refuses message 0 and, as RFC 1939 requires them unique, repeated
        // message numbers or UIDs.
        Err(e) => assert!(
            items.iter().any(|u| u.msg == 0)
                || has_duplicates(items.iter().map(|u| u.msg))
                || has_duplicates(items.iter().map(|u| u.uid.as_str())),
            "{e}"
        ),
    }
}

fn has_duplicates<K: Ord>(keys: impl Iterator<Item = K>) -> bool {
    let mut keys: Vec<K> = keys.collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

fn size(size: MaildropSize) {
    let mut wire = Vec::new();
    size.encode(&mut wire);
    let status = Status::parse(strip_crlf(&wire)).expect("an encoded STAT reply parses");
    assert_eq!(MaildropSize::parse(status.text.as_bytes()).ok(), Some(size));
    let mut client = logged_in_client(config());
    match ask(&mut client, Command::Stat, &wire) {
        Ok(Reply::Stat(got)) => assert_eq!(got, size),
        other => panic!("STAT answered with {other:?}"),
    }
}

fn languages(items: &[(String, String)]) {
    let items: Vec<Language> = items
        .iter()
        .map(|(tag, description)| Language {
            tag: tag.clone(),
            description: description.clone(),
        })
        .collect();
    let mut wire = Vec::new();
    if encode_languages(&items, &mut wire).is_err() {
        return;
    }
    let expected: Vec<Language> = items
        .iter()
        .map(|l| Language {
            tag: l.tag.clone(),
            // The encoder trims the line's end; the parser drops leading whitespace.
            description: l
                .description
                .trim_end()
                .trim_start_matches(|c: char| c.is_ascii_whitespace())
                .to_owned(),
        })
        .collect();
    let mut client = greeted_client(config());
    match ask(&mut client, Command::Lang(None), &wire) {
        Ok(Reply::Languages(got)) => assert_eq!(got, expected, "wire {wire:?}"),
        other => panic!("LANG answered with {other:?}"),
    }
}

fn challenge(data: &[u8]) {
    let mut out = Vec::new();
    encode_challenge(data, &mut out);
    assert_eq!(
        parse_challenge(strip_crlf(&out)).ok().as_deref(),
        Some(data)
    );
}

fuzz_target!(|input: Input| {
    match input {
        Input::Status { kind, code, text } => status(kind, code, text),
        Input::Greeting {
            text,
            local,
            domain,
        } => greeting(&text, &local, &domain),
        Input::Capability(cap) => capability(&cap),
        Input::Capabilities(caps) => capabilities(&caps),
        Input::Scan(item) => scan(item),
        Input::Scans(items) => scans(&items),
        Input::Uid(item) => uid(&item),
        Input::Uids(items) => uids(&items),
        Input::Size(s) => size(s),
        Input::Languages(items) => languages(&items),
        Input::Challenge(data) => challenge(&data),
    }
});
