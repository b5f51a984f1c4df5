//! CRLF → LF, a block at a time.

use memchr::memchr;

/// Converts CRLF to LF; a CR not followed by LF is kept. A CR at the end of one chunk is
/// held until the next chunk shows whether an LF follows.
///
/// Whole runs between CRs are copied at once (found with `memchr`), so the cost follows
/// the number of lines, never the number of bytes.
#[derive(Debug, Default)]
pub(crate) struct CrlfToLf {
    pending_cr: bool,
}

impl CrlfToLf {
    /// Converts one chunk, appending to `out` (at most `input.len() + 1` bytes).
    pub(crate) fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.pending_cr {
            match input.first() {
                None => return,
                Some(b'\n') => {
                    out.push(b'\n');
                    input = &input[1..];
                }
                Some(_) => out.push(b'\r'),
            }
            self.pending_cr = false;
        }
        loop {
            let Some(cr) = memchr(b'\r', input) else {
                out.extend_from_slice(input);
                return;
            };
            out.extend_from_slice(&input[..cr]);
            match input.get(cr + 1) {
                None => {
                    self.pending_cr = true;
                    return;
                }
                Some(b'\n') => {
                    out.push(b'\n');
                    input = &input[cr + 2..];
                }
                Some(_) => {
                    out.push(b'\r');
                    input = &input[cr + 1..];
                }
            }
        }
    }

    /// Ends the message: a held lone CR is emitted.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn convert(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = CrlfToLf::default();
        let mut out = Vec::new();
        for chunk in chunks {
            c.push(chunk, &mut out);
        }
        c.finish(&mut out);
        out
    }

    #[test]
    fn cr_lf_split_across_chunks() {
        assert_eq!(convert(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(convert(&[b"a\r", b"", b"\nb"]), b"a\nb");
        assert_eq!(convert(&[b"a\r", b"b"]), b"a\rb");
        assert_eq!(convert(&[b"a\r"]), b"a\r");
        assert_eq!(convert(&[b"\r\r\n\n"]), b"\r\n\n");
    }

    proptest! {
        #[test]
        fn any_chunking_matches_the_reference(
            input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x')], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut reference = Vec::new();
            let mut i = 0;
            while i < input.len() {
                if input[i] == b'\r' && input.get(i + 1) == Some(&b'\n') {
                    reference.push(b'\n');
                    i += 2;
                } else {
                    reference.push(input[i]);
                    i += 1;
                }
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts {
                chunks.push(&input[last..c]);
                last = c;
            }
            chunks.push(&input[last..]);
            prop_assert_eq!(convert(&chunks), reference);
        }
    }
}
