//! The sampler's random stream: ChaCha8 seeded from a `u64`, serialized as its seed and position
//! so that a restored sampler continues the exact same stream.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A ChaCha8 generator that remembers its seed and serializes as `{seed, word_pos}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeededRng {
    seed: u64,
    inner: ChaCha8Rng,
}

/// The serialized form: the seed and how many 32-bit words have been consumed.
#[derive(Serialize, Deserialize)]
struct RngState {
    seed: u64,
    word_pos: u64,
}

impl SeededRng {
    /// A fresh stream from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SeededRng { seed, inner: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// The seed the stream started from.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.inner.try_fill_bytes(dest)
    }
}

impl Serialize for SeededRng {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let word_pos = u64::try_from(self.inner.get_word_pos())
            .map_err(|_| serde::ser::Error::custom("random stream position beyond 2^64 words"))?;
        RngState { seed: self.seed, word_pos }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SeededRng {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let state = RngState::deserialize(deserializer)?;
        let mut rng = SeededRng::new(state.seed);
        rng.inner.set_word_pos(u128::from(state.word_pos));
        Ok(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn restored_stream_continues_where_it_stopped() {
        let mut rng = SeededRng::new(42);
        // Consume an odd number of words so the position falls inside a block.
        let _: u32 = rng.gen();
        let _: f64 = rng.gen();
        let _: u32 = rng.gen();
        let json = serde_json::to_string(&rng).unwrap();
        let mut restored: SeededRng = serde_json::from_str(&json).unwrap();
        assert_eq!(restored.seed(), 42);
        let a: Vec<u64> = (0..100).map(|_| rng.gen()).collect();
        let b: Vec<u64> = (0..100).map(|_| restored.gen()).collect();
        assert_eq!(a, b);
        assert_ne!(SeededRng::new(43).gen::<u64>(), SeededRng::new(42).gen::<u64>());
    }
}
