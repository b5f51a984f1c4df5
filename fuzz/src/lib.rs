//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Nothing here is fuzzed itself: chunking of byte streams driven by the fuzz input, the
//! obviously-correct dot-unstuffing reference, and small drivers for a [`Client`].

use pop3_proto::{Client, Command, Config, DotDecoder, Error, Event, Interrupt, Io};

/// Maps one byte of fuzz input to a chunk size: `0x00..=0x7f` gives 1 to 128 bytes (small
/// chunks that split every token), `0x80..=0xff` gives 64 to 8192 bytes (large reads).
pub fn chunk_size(b: u8) -> usize {
    if b < 0x80 {
        usize::from(b) + 1
    } else {
        (usize::from(b) - 0x7f) * 64
    }
}

/// Cuts `data` into chunks whose sizes cycle through a list taken from the fuzz input.
#[derive(Clone, Debug)]
pub struct Chunker<'a> {
    data: &'a [u8],
    pos: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl<'a> Chunker<'a> {
    /// `size_bytes` are mapped with [`chunk_size`]; none means one chunk of everything.
    pub fn new(size_bytes: &[u8], data: &'a [u8]) -> Self {
        let mut sizes: Vec<usize> = size_bytes.iter().copied().map(chunk_size).collect();
        if sizes.is_empty() {
            sizes.push(usize::MAX);
        }
        Self {
            data,
            pos: 0,
            sizes,
            next: 0,
        }
    }

    /// The next chunk (never empty), or `None` once everything was handed out.
    pub fn next_chunk(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.data.len() {
            return None;
        }
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let end = self.pos.saturating_add(size).min(self.data.len());
        let chunk = &self.data[self.pos..end];
        self.pos = end;
        Some(chunk)
    }

    /// How many bytes were handed out so far.
    pub fn fed(&self) -> usize {
        self.pos
    }

    /// Whether everything was handed out.
    pub fn is_exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// The obviously-correct dot-unstuffing reference (the `naive_decode` model of
/// `pop3-proto/src/dot.rs`): split into lines, stop at a line that is `.` (after removing
/// one trailing CR), drop one leading dot from every other line. An incomplete last line is
/// output as far as decidable: all of it, except `.` or `.\r`, which may still become the
/// terminator.
///
/// Returns the body and how many input bytes it used (`None` if unterminated).
pub fn naive_decode(input: &[u8]) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::new();
    let mut used = 0;
    for line in input.split_inclusive(|&b| b == b'\n') {
        if line.last() != Some(&b'\n') {
            if line != b"." && line != b".\r" {
                out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
            }
            break;
        }
        let content = &line[..line.len() - 1];
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        used += line.len();
        if content == b"." {
            return (out, Some(used));
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    (out, None)
}

/// Runs a [`DotDecoder`] over `chunker`'s stream the way a reader with a buffer would:
/// unconsumed bytes are presented again, with the next chunk appended when the decoder
/// consumed nothing (or, if `eager` says so for that step, earlier as well). Checks the
/// decoder's documented contract at every step.
///
/// Returns the body and how many stream bytes it used (`None` if unterminated).
pub fn chunked_decode(
    chunker: &mut Chunker<'_>,
    mut eager: impl FnMut() -> bool,
) -> (Vec<u8>, Option<usize>) {
    let mut dec = DotDecoder::new();
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut used = 0usize;
    loop {
        let step = dec.decode(&buf);
        assert!(step.consumed <= buf.len(), "consumed more than the input");
        // `data` is always the last `data.len()` bytes of `input[..consumed]`, borrowed.
        assert!(
            step.data.len() <= step.consumed,
            "data longer than consumed"
        );
        let tail = &buf[step.consumed - step.data.len()..step.consumed];
        assert_eq!(
            tail, step.data,
            "data is not the tail of the consumed input"
        );
        if !step.data.is_empty() {
            // Borrowed from the input, not copied (empty slices may point anywhere).
            assert!(
                std::ptr::eq(tail.as_ptr(), step.data.as_ptr()),
                "data is a copy"
            );
        }
        assert_eq!(step.finished, dec.is_finished());
        let data_len = step.data.len();
        out.extend_from_slice(step.data);
        let (consumed, finished) = (step.consumed, step.finished);
        buf.drain(..consumed);
        used += consumed;
        if finished {
            // `Client` drops the data of the finishing step, so there must be none.
            assert_eq!(data_len, 0, "data on the finishing step");
            let again = dec.decode(b"more");
            assert!(again.consumed == 0 && again.finished && again.data.is_empty());
            return (out, Some(used));
        }
        if consumed == 0 {
            // Documented: nothing consumed only on empty input or a final ".\r" (the dot
            // itself was already consumed) whose next byte decides.
            assert!(
                buf.is_empty() || buf == b"\r",
                "consumed nothing from {buf:?}"
            );
        }
        if consumed == 0 || (!chunker.is_exhausted() && eager()) {
            match chunker.next_chunk() {
                Some(chunk) => buf.extend_from_slice(chunk),
                None if consumed == 0 => return (out, None),
                None => {}
            }
        }
    }
}

/// Drives `client` until it needs input: the events it produced and the bytes it wrote.
pub fn drain(client: &mut Client) -> Result<(Vec<Event>, Vec<u8>), Error> {
    let (mut events, mut out) = (Vec::new(), Vec::new());
    loop {
        match client.progress() {
            Ok(event) => events.push(event),
            Err(Interrupt::Io(Io::Output(bytes))) => out.extend(bytes),
            Err(Interrupt::Io(Io::NeedMoreInput)) => return Ok((events, out)),
            Err(Interrupt::Error(e)) => return Err(e),
        }
    }
}

/// A client that has read a greeting (state: authorization).
pub fn greeted_client(config: Config) -> Client {
    let mut client = Client::new(config);
    client.enqueue_input(b"+OK ready\r\n");
    let (events, _) = drain(&mut client).expect("a plain greeting is accepted");
    assert!(matches!(events[..], [Event::Greeting(_)]));
    client
}

/// A client logged in with USER/PASS (state: transaction), nothing in flight.
pub fn logged_in_client(config: Config) -> Client {
    let mut client = greeted_client(config);
    for command in [Command::User("u".into()), Command::Pass("p".into())] {
        client.send(command).expect("USER/PASS are allowed");
        drain(&mut client).expect("the command is written");
        client.enqueue_input(b"+OK\r\n");
        let (events, _) = drain(&mut client).expect("+OK is accepted");
        assert!(matches!(events[..], [Event::Ok { .. }]));
    }
    assert_eq!(client.state(), pop3_proto::State::Transaction);
    client
}

/// Whether `POP3_FUZZ_DEBUG` is set: targets then print what they did (for reading a
/// crash or checking that a seed goes where it should). Read once.
pub fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("POP3_FUZZ_DEBUG").is_some())
}
