//! Helpers for unit tests.

use crate::market::{Bar, DataHash, FeedId, Ohlc};
use crate::time::Timestamp;

/// A bar of feed `feed` at time `t` whose open, high, low and close are `close`.
pub fn bar(feed: u32, t: i64, close: f64) -> Bar {
    Bar {
        feed: FeedId(feed),
        time: Timestamp(t),
        numbers: smallvec::smallvec![close, close, close, close, 1.0],
        texts: vec![],
        prices: Ohlc::default(),
        hash: DataHash::default(),
    }
}

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
