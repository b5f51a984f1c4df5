//! Streaming line-end conversion and mboxrd `From ` quoting, with state across chunks.

/// Converts CRLF to LF; a CR not followed by LF is kept.
#[derive(Debug, Default)]
pub(crate) struct CrlfToLf {
    pending_cr: bool,
}

impl CrlfToLf {
    /// Converts one chunk, appending to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Flushes a trailing lone CR.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

/// mboxrd quoting: a line matching `^>*From ` gets one more `>`. Works on LF text.
#[derive(Debug)]
pub(crate) struct FromQuoter {
    at_line_start: bool,
    /// Within a line prefix that may still become `>*From `: the '>' count and how much of
    /// "From " matched.
    prefix: Option<(usize, usize)>,
}

impl Default for FromQuoter {
    fn default() -> Self {
        Self {
            at_line_start: true,
            prefix: None,
        }
    }
}

const FROM: &[u8] = b"From ";

impl FromQuoter {
    /// Quotes one chunk, appending to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.at_line_start {
                self.at_line_start = false;
                self.prefix = Some((0, 0));
            }
            match self.prefix {
                Some((gts, 0)) if b == b'>' => self.prefix = Some((gts + 1, 0)),
                Some((gts, matched)) if b == FROM[matched] => {
                    if matched + 1 == FROM.len() {
                        out.extend(std::iter::repeat_n(b'>', gts + 1));
                        out.extend_from_slice(FROM);
                        self.prefix = None;
                    } else {
                        self.prefix = Some((gts, matched + 1));
                    }
                }
                Some((gts, matched)) => {
                    self.flush_prefix(gts, matched, out);
                    out.push(b);
                }
                None => out.push(b),
            }
            if b == b'\n' {
                self.at_line_start = true;
                self.prefix = None;
            }
        }
    }

    fn flush_prefix(&mut self, gts: usize, matched: usize, out: &mut Vec<u8>) {
        out.extend(std::iter::repeat_n(b'>', gts));
        out.extend_from_slice(&FROM[..matched]);
        self.prefix = None;
    }

    /// Emits a prefix held back at the end of the message.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some((gts, matched)) = self.prefix {
            self.flush_prefix(gts, matched, out);
        }
        self.at_line_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], split: usize) -> (Vec<u8>, Vec<u8>) {
        let (mut lf, mut quoted) = (Vec::new(), Vec::new());
        let mut c = CrlfToLf::default();
        let mut q = FromQuoter::default();
        for chunk in input.chunks(split.max(1)) {
            let mut part = Vec::new();
            c.push(chunk, &mut part);
            lf.extend_from_slice(&part);
            q.push(&part, &mut quoted);
        }
        let mut part = Vec::new();
        c.finish(&mut part);
        lf.extend_from_slice(&part);
        q.push(&part, &mut quoted);
        q.finish(&mut quoted);
        (lf, quoted)
    }

    #[test]
    fn converts_and_quotes_across_any_split() {
        let input = b"From x\r\n>From y\r\nFrom\r\nFro\r\nbare\rcr\r\n>>From z\r\nnot From \r\n>F";
        for split in 1..input.len() {
            let (lf, quoted) = all(input, split);
            assert_eq!(
                lf,
                b"From x\n>From y\nFrom\nFro\nbare\rcr\n>>From z\nnot From \n>F"
            );
            assert_eq!(
                quoted, b">From x\n>>From y\nFrom\nFro\nbare\rcr\n>>>From z\nnot From \n>F",
                "split {split}"
            );
        }
    }
}
