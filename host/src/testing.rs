//! Helpers for unit tests.

/// A deterministic stream of pseudo-random numbers (xorshift64), for tests
/// that compare a fast path with a reference over many inputs.
pub struct XorShift(pub u64);

impl Iterator for XorShift {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Some(self.0)
    }
}
