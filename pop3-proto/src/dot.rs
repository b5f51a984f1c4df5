//! Streaming dot-stuffing (RFC 1939 §3) for multi-line bodies.
//!
//! [`DotDecoder`] removes the stuffed dots and finds the terminating `.` line in a byte
//! stream cut into arbitrary chunks, handing out borrowed runs of the input (no copy).
//! [`DotEncoder`] does the reverse for the server side.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A line end followed by a dot: the only place unstuffing or termination can happen.
static LINE_THEN_DOT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n."));

/// One step of [`DotDecoder::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// How many input bytes this step used. The caller drops them and presents the rest
    /// again, with more data appended if `consumed` was 0.
    pub consumed: usize,
    /// Unstuffed body bytes: always the last `data.len()` bytes of `input[..consumed]`,
    /// so a caller holding the input as `Bytes` can split it out without copying.
    pub data: &'a [u8],
    /// The terminating `.` line was consumed: the body is complete.
    pub finished: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// At the first byte of a line.
    LineStart,
    /// A line started with `.`, which has been consumed.
    AfterDot,
    /// Inside a line.
    InLine,
}

/// Incremental dot-unstuffing and terminator detection.
///
/// Line ends are passed through unchanged (CRLF, or bare LF from sloppy servers), so the
/// output is byte-exact. A line `.` (ending in CRLF or LF) terminates the body; a leading
/// `.` on any other line is removed. Runs without a line starting with `.` are found with
/// a SIMD substring search and returned whole.
///
/// ```
/// use pop3_proto::DotDecoder;
/// let mut dec = DotDecoder::new();
/// let mut input: &[u8] = b"Hi\r\n..dot\r\n.\r\n+OK next";
/// let mut body = Vec::new();
/// loop {
///     let step = dec.decode(input);
///     body.extend_from_slice(step.data);
///     input = &input[step.consumed..];
///     if step.finished { break }
/// }
/// assert_eq!(body, b"Hi\r\n.dot\r\n");
/// assert_eq!(input, b"+OK next"); // the bytes after the body are left alone
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DotDecoder {
    position: Position,
    finished: bool,
}

impl Default for DotDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DotDecoder {
    /// A decoder positioned at the start of a body.
    pub fn new() -> Self {
        Self {
            position: Position::LineStart,
            finished: false,
        }
    }

    /// Whether the terminating line has been seen.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decodes the next run of `input`. Returns `consumed == 0` only when more input is
    /// needed (empty input, or a final `.\r` whose next byte decides) or when finished.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Decoded<'a> {
        let nothing = |consumed, finished| Decoded {
            consumed,
            data: &[],
            finished,
        };
        if self.finished {
            return nothing(0, true);
        }
        let mut pos = 0;
        if self.position == Position::LineStart {
            match input.first() {
                None => return nothing(0, false),
                Some(b'.') => {
                    pos = 1;
                    self.position = Position::AfterDot;
                }
                Some(_) => self.position = Position::InLine,
            }
        }
        if self.position == Position::AfterDot {
            match input.get(pos..) {
                None | Some([] | [b'\r']) => return nothing(pos, false),
                Some([b'\n', ..]) => return self.finish(pos + 1),
                Some([b'\r', b'\n', ..]) => return self.finish(pos + 2),
                // Any other line starting with '.' loses that dot; the data run starts here.
                Some(_) => self.position = Position::InLine,
            }
        }
        let rest = &input[pos..];
        let end = if let Some(i) = LINE_THEN_DOT.find(rest) {
            self.position = Position::LineStart;
            pos + i + 1
        } else {
            if rest.last() == Some(&b'\n') {
                self.position = Position::LineStart;
            }
            input.len()
        };
        Decoded {
            consumed: end,
            data: &input[pos..end],
            finished: false,
        }
    }

    fn finish<'a>(&mut self, consumed: usize) -> Decoded<'a> {
        self.finished = true;
        Decoded {
            consumed,
            data: &[],
            finished: true,
        }
    }
}

/// Streaming dot-stuffing for the server side: prefixes `.` to every line that starts
/// with `.`, and ends the body with the terminating line.
///
/// ```
/// use pop3_proto::DotEncoder;
/// let mut enc = DotEncoder::new();
/// let mut out = Vec::new();
/// enc.encode(b"a\r\n.b", &mut out);
/// enc.encode(b"\r\n", &mut out);
/// enc.finish(&mut out);
/// assert_eq!(out, b"a\r\n..b\r\n.\r\n");
/// ```
#[derive(Clone, Debug)]
pub struct DotEncoder {
    at_line_start: bool,
    line_end: &'static [u8],
}

impl Default for DotEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DotEncoder {
    /// An encoder whose terminator and added line ends are CRLF.
    pub fn new() -> Self {
        Self {
            at_line_start: true,
            line_end: b"\r\n",
        }
    }

    /// An encoder for sloppy LF-only servers: terminator `.\n`.
    pub fn lf_only() -> Self {
        Self {
            at_line_start: true,
            line_end: b"\n",
        }
    }

    /// Stuffs one chunk of the body into `out`.
    pub fn encode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.at_line_start && input[0] == b'.' {
                out.push(b'.');
            }
            let line_len = memchr::memchr(b'\n', input).map_or(input.len(), |i| i + 1);
            out.extend_from_slice(&input[..line_len]);
            self.at_line_start = input[line_len - 1] == b'\n';
            input = &input[line_len..];
        }
    }

    /// Ends the body: completes an unterminated last line, then writes the `.` line.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(self.line_end);
        }
        out.push(b'.');
        out.extend_from_slice(self.line_end);
    }

    /// Stuffs a whole body and its terminator.
    pub fn encode_all(body: &[u8], out: &mut Vec<u8>) {
        let mut enc = Self::new();
        enc.encode(body, out);
        enc.finish(out);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obviously-correct reference: split into lines, stop at ".", drop one leading dot.
    /// Returns the body and how many input bytes it used (None if unterminated).
    /// (Also models streaming: an unterminated last line is output as far as decidable.)
    pub(crate) fn naive_decode(input: &[u8]) -> (Vec<u8>, Option<usize>) {
        let mut out = Vec::new();
        let mut used = 0;
        for line in input.split_inclusive(|&b| b == b'\n') {
            if line.last() != Some(&b'\n') {
                // An incomplete last line is streamed, except "." or ".\r", which
                // may still become the terminator.
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

    /// Feeds `input` in the given chunk sizes, keeping unconsumed bytes like a real buffer.
    pub(crate) fn chunked_decode(input: &[u8], sizes: &[usize]) -> (Vec<u8>, Option<usize>) {
        let mut dec = DotDecoder::new();
        let mut out = Vec::new();
        let (mut buf, mut fed, mut used) = (Vec::new(), 0usize, 0usize);
        let mut sizes = sizes.iter().copied().cycle();
        loop {
            let step = dec.decode(&buf);
            out.extend_from_slice(step.data);
            let (consumed, finished) = (step.consumed, step.finished);
            buf.drain(..consumed);
            used += consumed;
            if finished {
                return (out, Some(used));
            }
            if consumed == 0 {
                if fed == input.len() {
                    return (out, None);
                }
                let n = sizes.next().unwrap_or(1).clamp(1, input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
        }
    }

    #[test]
    fn unstuffs_and_terminates() {
        let wire = b"From: a\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n.\r\nNEXT";
        let (body, used) = chunked_decode(wire, &[usize::MAX]);
        assert_eq!(
            body,
            b"From: a\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
        );
        assert_eq!(used, Some(wire.len() - 4));
    }

    #[test]
    fn empty_body_and_lf_only() {
        assert_eq!(chunked_decode(b".\r\n", &[1]), (vec![], Some(3)));
        assert_eq!(
            chunked_decode(b"a\n..b\n.\n", &[2]),
            (b"a\n.b\n".to_vec(), Some(8))
        );
    }

    #[test]
    fn dot_cr_not_followed_by_lf_is_data() {
        assert_eq!(
            chunked_decode(b".\rx\r\n.\r\n", &[1]),
            (b"\rx\r\n".to_vec(), Some(8))
        );
    }

    #[test]
    fn terminator_split_across_chunks() {
        let wire = b"line\r\n.\r\n";
        for split in 0..=wire.len() {
            let (a, b) = wire.split_at(split);
            assert_eq!(
                chunked_decode(&[a, b].concat(), &[split.max(1), wire.len()]),
                (b"line\r\n".to_vec(), Some(wire.len()))
            );
        }
    }

    #[test]
    fn encoder_round_trip_and_unterminated_line() {
        let mut out = Vec::new();
        DotEncoder::encode_all(b".a\r\nb", &mut out);
        assert_eq!(out, b"..a\r\nb\r\n.\r\n");
        let mut out = Vec::new();
        let mut enc = DotEncoder::lf_only();
        enc.encode(b".x\n", &mut out);
        enc.finish(&mut out);
        assert_eq!(out, b"..x\n.\n");
    }

    proptest! {
        #[test]
        fn agrees_with_naive_on_any_bytes_and_chunking(
            input in proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), any::<u8>()], 0..400),
            sizes in proptest::collection::vec(1usize..9, 1..8),
        ) {
            prop_assert_eq!(chunked_decode(&input, &sizes), naive_decode(&input));
        }

        #[test]
        fn encode_then_decode_is_identity(
            body in proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), any::<u8>()], 0..400),
            sizes in proptest::collection::vec(1usize..17, 1..8),
        ) {
            let mut wire = Vec::new();
            let mut enc = DotEncoder::new();
            for chunk in body.chunks(7) {
                enc.encode(chunk, &mut wire);
            }
            enc.finish(&mut wire);
            let (decoded, used) = chunked_decode(&wire, &sizes);
            prop_assert_eq!(used, Some(wire.len()));
            // The encoder completes an unterminated last line with CRLF.
            let mut expected = body.clone();
            if !expected.is_empty() && expected.last() != Some(&b'\n') {
                expected.extend_from_slice(b"\r\n");
            }
            prop_assert_eq!(decoded, expected);
        }
    }
}
