//! Differential fuzzing of dot-unstuffing.
//!
//! Input layout: 6 header bytes, then the stream.
//! * `h[0] % 4` selects the mode (below);
//! * `h[1..5]` chunk sizes (see [`pop3_fuzz::chunk_size`]);
//! * `h[5]` bits: whether to append the next chunk before the decoder asked for it.
//!
//! Modes:
//! 0. [`DotDecoder`] over arbitrary chunking (unconsumed bytes presented again, as its
//!    contract says) against the naive line-by-line reference [`naive_decode`]: same
//!    body, same number of bytes used, same terminated/unterminated verdict; plus the
//!    decoder's per-step contract (see [`pop3_fuzz::chunked_decode`]).
//! 1. [`DotEncoder`] (CRLF) fed the stream as a body in arbitrary chunks, then decoded
//!    with arbitrary chunking: the body comes back (with CRLF added to an unterminated last
//!    line), and the terminator is the last thing on the wire.
//! 2. The same with [`DotEncoder::lf_only`] (LF added).
//! 3. A logged-in [`Client`] answering `RETR 1` with `+OK\r\n` and the stream, fed in
//!    arbitrary chunks: the concatenated `Event::Body` chunks equal the reference, and
//!    `Event::BodyEnd` comes exactly when the reference finds the terminator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3_fuzz::{Chunker, chunked_decode, logged_in_client, naive_decode};
use pop3_proto::{Client, Command, Config, DotDecoder, DotEncoder, Event, Interrupt, Io};

/// An endless sequence of bits from one byte.
fn bits(byte: u8) -> impl FnMut() -> bool {
    let mut i = 0u32;
    move || {
        i = i.wrapping_add(1);
        byte & (1 << (i % 8)) != 0
    }
}

fn differential(sizes: &[u8], eager: u8, stream: &[u8]) {
    let mut chunks = Chunker::new(sizes, stream);
    let got = chunked_decode(&mut chunks, bits(eager));
    let expected = naive_decode(stream);
    assert_eq!(got, expected, "stream {stream:?}");
    // One call over everything agrees too.
    let mut whole = Chunker::new(&[], stream);
    assert_eq!(chunked_decode(&mut whole, || false), expected);
}

fn encode_decode(sizes: &[u8], eager: u8, body: &[u8], lf_only: bool) {
    let mut encoder = if lf_only {
        DotEncoder::lf_only()
    } else {
        DotEncoder::new()
    };
    let mut wire = Vec::new();
    let mut pieces = Chunker::new(sizes, body);
    while let Some(piece) = pieces.next_chunk() {
        encoder.encode(piece, &mut wire);
    }
    encoder.finish(&mut wire);
    let line_end: &[u8] = if lf_only { b"\n" } else { b"\r\n" };
    let mut expected = body.to_vec();
    if !expected.is_empty() && expected.last() != Some(&b'\n') {
        expected.extend_from_slice(line_end);
    }
    // The terminator is the last line on the wire.
    assert!(wire.ends_with(&[b".", line_end].concat()));
    if !lf_only {
        let mut all_at_once = Vec::new();
        DotEncoder::encode_all(body, &mut all_at_once);
        assert_eq!(all_at_once, wire, "chunking changed the encoding");
    }
    let mut chunks = Chunker::new(sizes, &wire);
    let (decoded, used) = chunked_decode(&mut chunks, bits(eager));
    assert_eq!(
        used,
        Some(wire.len()),
        "terminator not found at the end of {wire:?}"
    );
    assert_eq!(decoded, expected, "wire {wire:?}");
}

fn through_client(sizes: &[u8], stream: &[u8]) {
    let (expected, terminated) = naive_decode(stream);
    let mut client: Client = logged_in_client(Config::default());
    let id = client.send(Command::Retr(1)).expect("RETR is allowed");
    let wire = [b"+OK\r\n".as_slice(), stream].concat();
    let mut chunks = Chunker::new(sizes, &wire);
    let mut body = Vec::new();
    let mut started = false;
    let mut ended = false;
    loop {
        match client.progress() {
            Ok(Event::Ok { id: got, .. }) => {
                assert_eq!(got, id);
                assert!(!started, "two +OK");
                started = true;
            }
            Ok(Event::Body { id: got, chunk }) => {
                assert!(started && !ended && got == id);
                assert!(!chunk.is_empty(), "empty body chunk");
                body.extend_from_slice(&chunk);
            }
            Ok(Event::BodyEnd { id: got }) => {
                assert!(started && got == id);
                ended = true;
                break;
            }
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(Interrupt::Io(Io::Output(_))) => {}
            Err(Interrupt::Io(Io::NeedMoreInput)) => match chunks.next_chunk() {
                Some(chunk) => client.enqueue_input(chunk),
                None => break,
            },
            Err(Interrupt::Error(e)) => panic!("client error: {e}"),
        }
    }
    assert!(started);
    assert_eq!(ended, terminated.is_some(), "stream {stream:?}");
    assert_eq!(body, expected, "stream {stream:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((header, stream)) = data.split_first_chunk::<6>() else {
        // Short inputs still exercise the decoder.
        let mut dec = DotDecoder::new();
        let _ = dec.decode(data);
        return;
    };
    let sizes = &header[1..5];
    match header[0] % 4 {
        0 => differential(sizes, header[5], stream),
        1 => encode_decode(sizes, header[5], stream, false),
        2 => encode_decode(sizes, header[5], stream, true),
        _ => through_client(sizes, stream),
    }
});
