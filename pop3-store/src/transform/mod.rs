//! What each format does to a message's bytes on the way to disk, with state across
//! chunk boundaries, and the output bound that keeps a writer's buffer within its cap.

mod crlf;
mod mboxrd;

pub(crate) use crlf::CrlfToLf;
pub(crate) use mboxrd::FromQuoter;

/// A message's byte transformation.
#[derive(Debug)]
pub(crate) enum Transform {
    /// `.eml`: bytes exactly as received.
    Exact,
    /// Maildir: CRLF → LF.
    Lf(CrlfToLf),
    /// mbox: CRLF → LF, then mboxrd `From ` quoting. `scratch` holds the LF text of one
    /// piece between the two steps (never more than one piece).
    Mboxrd {
        /// The line-end step.
        lf: CrlfToLf,
        /// The quoting step.
        quote: FromQuoter,
        /// LF text of the current piece.
        scratch: Vec<u8>,
    },
}

impl Transform {
    /// The transformation for a writer whose buffer holds `cap` bytes.
    pub(crate) fn mboxrd(cap: usize) -> Self {
        Self::Mboxrd {
            lf: CrlfToLf::default(),
            quote: FromQuoter::default(),
            scratch: Vec::with_capacity(cap),
        }
    }

    /// The most input whose output is sure to fit in `room` bytes (see each step's bound).
    pub(crate) fn input_fitting(&self, room: usize) -> usize {
        match self {
            Self::Exact => room,
            // A held CR may come out in front of the piece.
            Self::Lf(_) => room.saturating_sub(1),
            // LF output ≤ n + 1, quoted output ≤ that × 6/5 + 5.
            Self::Mboxrd { .. } => room.saturating_sub(8) * 5 / 6,
        }
    }

    /// Transforms `input`, appending to `out`.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::Exact => out.extend_from_slice(input),
            Self::Lf(lf) => lf.push(input, out),
            Self::Mboxrd { lf, quote, scratch } => {
                scratch.clear();
                lf.push(input, scratch);
                quote.push(scratch, out);
            }
        }
    }

    /// Ends the message, appending held bytes (at most 5) to `out`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Self::Exact => {}
            Self::Lf(lf) => lf.finish(out),
            Self::Mboxrd { lf, quote, scratch } => {
                scratch.clear();
                lf.finish(scratch);
                quote.push(scratch, out);
                quote.finish(out);
            }
        }
    }

    /// Bytes held in the transformation's own buffers (for the memory bound).
    pub(crate) fn scratch_capacity(&self) -> usize {
        match self {
            Self::Mboxrd { scratch, .. } => scratch.capacity(),
            _ => 0,
        }
    }
}
