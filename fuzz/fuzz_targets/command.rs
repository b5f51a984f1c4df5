//! Arbitrary client bytes into the server side of the command codec.
//!
//! Input layout: 3 header bytes, then the bytes "the client sends".
//! * `h[0]`: the line limit of the [`LineReader`] (`h[0] + 1`, or 255 / 12288 for the
//!   real command and SASL limits);
//! * `h[1..3]`: chunk sizes (see [`pop3_fuzz::chunk_size`]).
//!
//! Checks, besides "no panic":
//! * the whole input (as one line) into `Command::parse` and `Command::parse_auth_response`;
//!   a parsed command that the client encoder also accepts is a fixed point
//!   (parse(encode(parse(x))) == parse(x)); a line with an embedded CR, LF or NUL or longer
//!   than 255 octets is refused;
//! * [`LineReader`] framing over arbitrary chunks: every line it returns is exactly the
//!   next bytes of the stream before `\n` (minus one `\r`), shorter than the limit, and
//!   when it needs input it holds less than the limit; every line is then parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3_fuzz::Chunker;
use pop3_proto::server::LineReader;
use pop3_proto::{Command, MAX_COMMAND_LINE};

fn check_parse(line: &[u8]) {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let parsed = Command::parse(line);
    if let Ok(cmd) = &parsed {
        assert!(
            !body.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "accepted an embedded CR, LF or NUL"
        );
        assert!(line.len() <= MAX_COMMAND_LINE, "accepted an overlong line");
        assert!(
            !matches!(cmd, Command::AuthResponse(_) | Command::AuthCancel),
            "parse() returned a SASL response"
        );
        let _ = format!("{cmd:?}");
        if let Ok(wire) = cmd.to_bytes() {
            let again = Command::parse(&wire).expect("an encoded command parses");
            assert_eq!(&again, cmd, "not a fixed point: {line:?} -> {wire:?}");
        }
    }
    match Command::parse_auth_response(line) {
        Ok(Command::AuthCancel) => assert_eq!(body, b"*"),
        Ok(cmd @ Command::AuthResponse(_)) => {
            let wire = cmd.to_bytes().expect("SASL responses always encode");
            assert_eq!(Command::parse_auth_response(&wire).ok(), Some(cmd));
        }
        Ok(other) => panic!("parse_auth_response returned {other:?}"),
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    check_parse(data);

    let Some((header, stream)) = data.split_first_chunk::<3>() else {
        return;
    };
    let limit = match header[0] {
        0xff => 12288,
        0xfe => MAX_COMMAND_LINE,
        n => usize::from(n) + 1,
    };
    let mut reader = LineReader::new(limit);
    let mut chunks = Chunker::new(&header[1..3], stream);
    // Everything pushed so far that the reader has not returned as a line.
    let mut pending: &[u8] = stream;
    while let Some(chunk) = chunks.next_chunk() {
        reader.push(chunk);
        loop {
            match reader.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() < limit, "line over the limit");
                    assert!(!line.contains(&b'\n'));
                    let nl = pending
                        .iter()
                        .position(|&b| b == b'\n')
                        .expect("a line was returned, so a LF was pushed");
                    let raw = &pending[..nl];
                    assert_eq!(&line[..], raw.strip_suffix(b"\r").unwrap_or(raw));
                    pending = &pending[nl + 1..];
                    check_parse(&line);
                }
                Ok(None) => {
                    assert!(reader.buffered().len() < limit, "buffered over the limit");
                    assert_eq!(reader.buffered(), &pending[..reader.buffered().len()]);
                    break;
                }
                Err(_) => {
                    assert!(reader.buffered().len() >= limit);
                    return;
                }
            }
        }
    }
});
