//! mboxrd `From ` quoting, a block at a time.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use memchr::{memchr, memrchr};

const FROM: &[u8; 5] = b"From ";

/// Finds candidate lines: the pattern is rare in mail, so most blocks need one SIMD pass.
static FROM_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(FROM));

/// Where the quoter stands in the line that is open at the end of the last chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// The line so far is `>*` followed by the first `n` bytes of `From ` (0 ≤ n < 5).
    /// Those `n` bytes are held back: only the next chunk tells whether a `>` goes first.
    Prefix(usize),
    /// The line can no longer match.
    Body,
}

/// mboxrd quoting of LF text: a line matching `^>*From ` gets one more `>`.
///
/// The extra `>` is inserted just before `From`, which gives the same line as inserting
/// it at the start (`>>From ` either way) but lets the leading `>`s go out at once; so at
/// most four bytes (`From` cut short by a chunk boundary) are ever held back.
#[derive(Debug)]
pub(crate) struct FromQuoter {
    line: Line,
}

impl Default for FromQuoter {
    fn default() -> Self {
        Self {
            line: Line::Prefix(0),
        }
    }
}

impl FromQuoter {
    /// Quotes one chunk, appending to `out`: at most `input.len() * 6 / 5 + 5` bytes (one
    /// `>` per `From ` in the chunk, plus the held bytes of the last one).
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = self.resume(input, out);
        if start < input.len() {
            self.whole_lines(&input[start..], out);
        }
    }

    /// Finishes the line left open by the previous chunk. Returns where the next line
    /// starts, or `input.len()` if the open line goes on past this chunk.
    fn resume(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut i = 0;
        if let Line::Prefix(held) = self.line {
            if held == 0 {
                i = input.iter().take_while(|&&b| b == b'>').count();
                out.extend_from_slice(&input[..i]);
            }
            let want = &FROM[held..];
            let avail = &input[i..];
            let same = want.iter().zip(avail).take_while(|(a, b)| a == b).count();
            if same == want.len() {
                out.push(b'>');
                out.extend_from_slice(&FROM[..held]);
            } else if same == avail.len() {
                self.line = Line::Prefix(held + same);
                return input.len();
            } else {
                out.extend_from_slice(&FROM[..held]);
            }
            self.line = Line::Body;
        }
        if let Some(nl) = memchr(b'\n', &input[i..]) {
            out.extend_from_slice(&input[i..=i + nl]);
            self.line = Line::Prefix(0);
            i + nl + 1
        } else {
            out.extend_from_slice(&input[i..]);
            input.len()
        }
    }

    /// Quotes `text`, which starts at a line start.
    fn whole_lines(&mut self, text: &[u8], out: &mut Vec<u8>) {
        let mut emitted = 0;
        for hit in FROM_FINDER.find_iter(text) {
            let line_start = hit - text[..hit].iter().rev().take_while(|&&b| b == b'>').count();
            if line_start == 0 || text[line_start - 1] == b'\n' {
                out.extend_from_slice(&text[emitted..hit]);
                out.push(b'>');
                emitted = hit;
            }
        }
        // The last line may stop inside `>*From `: hold its `From` part for the next chunk.
        let tail = &text[memrchr(b'\n', text).map_or(0, |nl| nl + 1)..];
        let gts = tail.iter().take_while(|&&b| b == b'>').count();
        let rest = &tail[gts..];
        if rest.len() < FROM.len() && FROM.starts_with(rest) {
            out.extend_from_slice(&text[emitted..text.len() - rest.len()]);
            self.line = Line::Prefix(rest.len());
        } else {
            out.extend_from_slice(&text[emitted..]);
            self.line = Line::Body;
        }
    }

    /// Ends the message: held bytes of an unfinished `From` go out unquoted.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if let Line::Prefix(held) = self.line {
            out.extend_from_slice(&FROM[..held]);
        }
        self.line = Line::Prefix(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious line-by-line definition.
    fn reference(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in text.split_inclusive(|&b| b == b'\n') {
            let gts = line.iter().take_while(|&&b| b == b'>').count();
            if line[gts..].starts_with(FROM) {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        out
    }

    fn quote(chunks: &[&[u8]]) -> Vec<u8> {
        let mut q = FromQuoter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            q.push(chunk, &mut out);
        }
        q.finish(&mut out);
        out
    }

    #[test]
    fn quotes_from_lines() {
        let text = b"From x\n>From y\nFrom\nFro\n>>From z\nnot From \n>F";
        let want = b">From x\n>>From y\nFrom\nFro\n>>>From z\nnot From \n>F";
        assert_eq!(quote(&[text]), want);
        for split in 0..=text.len() {
            assert_eq!(
                quote(&[&text[..split], &text[split..]]),
                want,
                "split {split}"
            );
        }
    }

    #[test]
    fn splits_inside_the_pattern() {
        assert_eq!(quote(&[b">>Fr", b"om x\n"]), b">>>From x\n");
        assert_eq!(
            quote(&[b">", b">", b"F", b"r", b"o", b"m", b" "]),
            b">>>From "
        );
        assert_eq!(quote(&[b"Fro", b"g\n"]), b"Frog\n");
        assert_eq!(quote(&[b"Fro", b"\nFrom "]), b"Fro\n>From ");
        assert_eq!(quote(&[b"From"]), b"From");
        assert_eq!(quote(&[b"x\n", b"From a"]), b"x\n>From a");
    }

    fn text_strategy() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(&b"From "[..]),
            Just(&b">"[..]),
            Just(&b"\n"[..]),
            Just(&b"Fro"[..]),
            Just(&b"m "[..]),
            Just(&b"x"[..]),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn any_chunking_matches_the_reference(
            text in text_strategy(),
            cuts in proptest::collection::vec(0usize..400, 0..10),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts {
                chunks.push(&text[last..c]);
                last = c;
            }
            chunks.push(&text[last..]);
            let quoted = quote(&chunks);
            prop_assert_eq!(&quoted, &reference(&text));
            prop_assert!(quoted.len() <= text.len() * 6 / 5 + 5);
        }
    }
}
