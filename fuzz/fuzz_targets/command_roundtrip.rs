//! Structure-aware: an arbitrary [`Command`] → `encode` → (if accepted) the server-side
//! parser → the same command.
//!
//! SASL lines (`AuthResponse`, `AuthCancel`) go through `Command::parse_auth_response`,
//! everything else through `Command::parse`. No expectation is fixed up: every command
//! the encoder accepts must come back identical (`PASS` keeps leading/trailing spaces,
//! `AUTH M =` is an empty initial response, keyword case is the encoder's).
//!
//! Also checked:
//! * on error `encode` appends nothing (documented);
//! * an accepted command is one line: CRLF at the end and no CR, LF or NUL before it,
//!   starting with its keyword, at most 255 octets except SASL responses;
//! * `Command::auth_fits` agrees with whether `AUTH` with that initial response encodes;
//! * the refusals are the documented ones (message number 0, empty or line-breaking
//!   arguments, spaces in single-word arguments, bad APOP digest or mechanism name,
//!   overlong line).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3_proto::{Command, Error, MAX_COMMAND_LINE};

fn breaks_line(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

fn bad_word(word: &str) -> bool {
    word.is_empty() || breaks_line(word.as_bytes()) || word.contains([' ', '\t'])
}

fn bad_mechanism(name: &str) -> bool {
    name.is_empty()
        || name.len() > 20
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether the encoder may refuse `cmd` for a reason other than the line length.
fn documented_refusal(cmd: &Command) -> bool {
    match cmd {
        Command::User(name) => bad_word(name),
        Command::Pass(secret) => secret.is_empty() || breaks_line(secret.expose()),
        Command::Apop { user, digest } => {
            bad_word(user) || digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit())
        }
        Command::Auth { mechanism, .. } => bad_mechanism(mechanism),
        Command::List(Some(n)) | Command::Uidl(Some(n)) | Command::Retr(n) | Command::Dele(n) => {
            *n == 0
        }
        Command::Top { msg, .. } => *msg == 0,
        Command::Lang(Some(tag)) => bad_word(tag),
        _ => false,
    }
}

fuzz_target!(|cmd: Command| {
    let keyword = cmd.keyword();
    let mut out = b"prefix".to_vec();
    let result = cmd.encode(&mut out);
    if let Command::Auth {
        mechanism,
        initial_response: Some(ir),
    } = &cmd
    {
        if !bad_mechanism(mechanism) {
            assert_eq!(
                Command::auth_fits(mechanism, ir.expose()),
                result.is_ok(),
                "auth_fits disagrees with encode"
            );
        }
    }
    if let Err(e) = result {
        assert_eq!(out, b"prefix", "encode appended on error");
        match e {
            Error::CommandTooLong { len, limit } => {
                assert!(len > limit && limit == MAX_COMMAND_LINE);
                assert!(!matches!(cmd, Command::AuthResponse(_)));
            }
            _ => assert!(documented_refusal(&cmd), "refused {cmd:?}: {e}"),
        }
        return;
    }
    assert!(!documented_refusal(&cmd), "accepted {cmd:?}");
    let wire = out.strip_prefix(b"prefix").expect("encode appends");
    let body = wire
        .strip_suffix(b"\r\n")
        .expect("a command line ends with CRLF");
    assert!(!breaks_line(body), "CR, LF or NUL inside {wire:?}");

    let parsed = match cmd {
        Command::AuthResponse(_) | Command::AuthCancel => Command::parse_auth_response(wire),
        _ => {
            assert!(wire.len() <= MAX_COMMAND_LINE);
            assert!(
                body.starts_with(keyword.as_bytes()),
                "{wire:?} for {keyword}"
            );
            Command::parse(wire)
        }
    };
    match parsed {
        Ok(parsed) => assert_eq!(parsed, cmd, "wire {wire:?}"),
        Err(e) => panic!("the server cannot parse {wire:?} ({cmd:?}): {e}"),
    }
});
