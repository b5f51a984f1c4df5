//! Arbitrary bytes into every response parser (client side). The input is one line
//! without its line end, as the client hands it to the parsers.
//!
//! Besides "no panic", every successful parse is checked for what the parser promises:
//! * `Status`: the text has no leading space/tab and no trailing whitespace (it is
//!   trimmed); a code is non-empty `/`-separated levels of RFC 2449 `rchar`s; and the
//!   parse is a fixed point: encode(parse(x)) parses back to the same value.
//! * `Greeting`: a timestamp only on `+OK`, syntactically valid (`<local@domain>`,
//!   printable ASCII, at most 255 octets) and part of the text.
//! * `ScanListing` / `UidListing`: message number > 0; a `Uid` is 1-70 chars of
//!   0x21-0x7E; encode → parse gives the same value.
//! * `MaildropSize`: encode → parse gives the same value.
//! * `Capability`: encode (when it accepts) → parse is the same value; `IMPLEMENTATION`
//!   text is what follows the name on the line.
//! * `Language`: tag non-empty without spaces; description without leading spaces.
//! * `parse_challenge`: `encode_challenge` of the result parses to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3_proto::Capability;
use pop3_proto::sasl::parse_challenge;
use pop3_proto::server::encode_challenge;
use pop3_proto::{Greeting, Language, MaildropSize, ScanListing, Status, UidListing};

/// The line an encoder produced, without its CRLF.
fn strip_crlf(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r\n")
        .expect("encoders end lines with CRLF")
}

fn check_status(line: &[u8]) {
    let Ok(status) = Status::parse(line) else {
        return;
    };
    assert!(
        !status.text.starts_with([' ', '\t']),
        "status text not trimmed at the start: {:?}",
        status.text
    );
    assert_eq!(
        status
            .text
            .trim_end_matches(|c: char| c.is_ascii_whitespace()),
        status.text,
        "status text not trimmed at the end"
    );
    if let Some(code) = &status.code {
        let code = code.as_str();
        assert!(
            !code.is_empty()
                && code.split('/').all(|level| {
                    !level.is_empty()
                        && level
                            .bytes()
                            .all(|b| (0x21..=0x7f).contains(&b) && b != b']')
                }),
            "invalid response code {code:?}"
        );
    }
    let mut out = Vec::new();
    if status.encode(&mut out).is_ok() {
        let again = Status::parse(strip_crlf(&out)).expect("an encoded status parses");
        assert_eq!(again, status, "status parse is not a fixed point: {out:?}");
    }
}

fn check_greeting(line: &[u8]) {
    let Ok(greeting) = Greeting::parse(line) else {
        assert!(
            Status::parse(line).is_err(),
            "greeting refused a status line"
        );
        return;
    };
    assert_eq!(Status::parse(line).ok().as_ref(), Some(&greeting.status));
    if let Some(ts) = &greeting.timestamp {
        let ts = ts.as_str();
        assert!(greeting.status.is_ok(), "timestamp in an -ERR greeting");
        assert!(ts.len() <= 255 && ts.starts_with('<') && ts.ends_with('>'));
        assert!(ts.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        let inner = &ts[1..ts.len() - 1];
        let (local, domain) = inner.split_once('@').expect("timestamp has an '@'");
        assert!(!local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        assert!(!inner.contains(['<', '>']));
        assert!(greeting.status.text.contains(ts));
    }
}

fn check_listings(line: &[u8]) {
    if let Ok(scan) = ScanListing::parse(line) {
        assert!(scan.msg > 0);
        let mut out = Vec::new();
        scan.encode(&mut out).expect("a parsed listing encodes");
        assert_eq!(ScanListing::parse(&out).ok(), Some(scan));
    }
    if let Ok(uid) = UidListing::parse(line) {
        assert!(uid.msg > 0);
        let text = uid.uid.as_str();
        assert!(
            (1..=70).contains(&text.len()) && text.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "invalid uid {text:?}"
        );
        let mut out = Vec::new();
        uid.encode(&mut out).expect("a parsed listing encodes");
        assert_eq!(UidListing::parse(&out).ok(), Some(uid));
    }
    if let Ok(size) = MaildropSize::parse(line) {
        let mut out = Vec::new();
        size.encode(&mut out);
        let status = Status::parse(strip_crlf(&out)).expect("encoded STAT reply parses");
        assert!(status.is_ok());
        assert_eq!(MaildropSize::parse(status.text.as_bytes()).ok(), Some(size));
    }
    if let Ok(lang) = Language::parse(line) {
        assert!(!lang.tag.is_empty() && !lang.tag.contains([' ', '\t']));
        assert!(
            !lang
                .description
                .starts_with(|c: char| c.is_ascii_whitespace())
        );
    }
}

fn check_capability(line: &[u8]) {
    let Ok(cap) = Capability::parse(line) else {
        return;
    };
    if let Capability::Implementation(text) = &cap {
        // The text is "the text after the name on the line, internal spacing included".
        // Capability lines are decoded leniently (U+FFFD for invalid UTF-8).
        let line = String::from_utf8_lossy(line);
        let after_name = line
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .split_once(|c: char| c.is_ascii_whitespace())
            .map_or("", |(_, rest)| rest);
        assert_eq!(
            text.as_str(),
            after_name.trim_ascii(),
            "IMPLEMENTATION text is not what follows the name in {line:?}"
        );
    }
    let mut out = Vec::new();
    if cap.encode(&mut out).is_ok() {
        let again = Capability::parse(&out).expect("an encoded capability parses");
        assert_eq!(again, cap, "capability parse is not a fixed point: {out:?}");
    }
}

fn check_challenge(line: &[u8]) {
    let Ok(decoded) = parse_challenge(line) else {
        return;
    };
    let mut out = Vec::new();
    encode_challenge(&decoded, &mut out);
    assert_eq!(parse_challenge(strip_crlf(&out)).ok(), Some(decoded));
}

fuzz_target!(|line: &[u8]| {
    check_status(line);
    check_greeting(line);
    check_listings(line);
    check_capability(line);
    check_challenge(line);
});
