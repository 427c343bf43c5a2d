//! Epoch-shuffled minibatches of the training set: each epoch is a fresh seeded permutation cut
//! into consecutive minibatches, the last one filled up from the start of the permutation, so
//! every example is seen once per epoch before any is seen twice (padding aside).

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Hands out minibatches of training indices.
pub(crate) struct EpochSampler {
    n: usize,
    size: usize,
    order: Vec<usize>,
    next: usize,
    rng: ChaCha8Rng,
}

impl EpochSampler {
    /// Minibatches of `size` (at most `n`) out of `n` examples.
    pub(crate) fn new(n: usize, size: usize, rng: ChaCha8Rng) -> Self {
        EpochSampler { n, size: size.min(n).max(1), order: Vec::new(), next: 0, rng }
    }

    fn new_epoch(&mut self) {
        let mut order: Vec<usize> = (0..self.n).collect();
        order.shuffle(&mut self.rng);
        let short = (self.size - order.len() % self.size) % self.size;
        let pad: Vec<usize> = order.iter().take(short).copied().collect();
        order.extend(pad);
        self.order = order;
        self.next = 0;
    }

    /// The next minibatch.
    pub(crate) fn next_batch(&mut self) -> Vec<usize> {
        if self.n == 0 {
            return Vec::new();
        }
        if self.next + self.size > self.order.len() {
            self.new_epoch();
        }
        let batch = self.order[self.next..self.next + self.size].to_vec();
        self.next += self.size;
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    fn sampler(n: usize, size: usize) -> EpochSampler {
        EpochSampler::new(n, size, ChaCha8Rng::seed_from_u64(9))
    }

    #[test]
    fn an_epoch_covers_every_example_before_repeating() {
        let mut s = sampler(7, 3);
        let epoch: Vec<Vec<usize>> = (0..3).map(|_| s.next_batch()).collect();
        assert!(epoch.iter().all(|b| b.len() == 3 && b.iter().collect::<BTreeSet<_>>().len() == 3));
        let seen: BTreeSet<usize> = epoch.iter().flatten().copied().collect();
        assert_eq!(seen, (0..7).collect(), "all seven in the first epoch: {epoch:?}");
        let next: Vec<Vec<usize>> = (0..3).map(|_| s.next_batch()).collect();
        assert_ne!(epoch, next, "a new permutation per epoch");
        assert_eq!(next.iter().flatten().copied().collect::<BTreeSet<_>>(), (0..7).collect());
    }

    #[test]
    fn minibatches_are_cut_to_the_training_set_and_reproducible() {
        assert_eq!(sampler(2, 3).next_batch().len(), 2);
        let a: Vec<Vec<usize>> = {
            let mut s = sampler(10, 3);
            (0..8).map(|_| s.next_batch()).collect()
        };
        let b: Vec<Vec<usize>> = {
            let mut s = sampler(10, 3);
            (0..8).map(|_| s.next_batch()).collect()
        };
        assert_eq!(a, b);
        assert!(sampler(0, 3).next_batch().is_empty());
    }
}
