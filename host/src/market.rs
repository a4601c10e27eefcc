//! The market as agents see it: every feed's bars so far, kept as columns in
//! ring buffers so that a read by offset is an index, and memory stays flat
//! however long the replay.

use crate::time::Timestamp;
use rust_decimal::Decimal;
use std::fmt;
use std::sync::Arc;

/// The five fields every feed carries, first and in this order.
pub const OHLCV: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Index of a feed in the market, in the order the feed source declared them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedId(pub u32);

impl FeedId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// SHA-256 of the data a bar came from: the raw line of a file, or the data of a message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataHash(pub [u8; 32]);

impl DataHash {
    pub fn of(bytes: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(bytes);
        hasher.finish()
    }
}

/// SHA-256 of bytes that arrive in pieces. `ring` uses the CPU's SHA
/// instructions where it has them, and AVX2 otherwise.
pub struct Sha256(ring::digest::Context);

impl Sha256 {
    pub fn new() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> DataHash {
        DataHash(self.0.finish().as_ref().try_into().expect("SHA-256 digests are 32 bytes"))
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DataHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for DataHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for DataHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Prices exactly as the source wrote them, for the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ohlc {
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
}

/// What one feed carries.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedSchema {
    /// Where the bars come from: a file stem or a subscription.
    pub name: Arc<str>,
    pub symbol: Arc<str>,
    /// Numeric fields: [`OHLCV`] first, then the dynamic ones.
    pub fields: Vec<Arc<str>>,
    pub text_fields: Vec<Arc<str>>,
}

impl FeedSchema {
    pub fn new(name: &str, symbol: &str) -> Self {
        Self {
            name: name.into(),
            symbol: symbol.into(),
            fields: OHLCV.iter().map(|f| Arc::from(*f)).collect(),
            text_fields: Vec::new(),
        }
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| &**f == name)
    }

    pub fn text_field_index(&self, name: &str) -> Option<usize> {
        self.text_fields.iter().position(|f| &**f == name)
    }
}

/// One feed's bar at one time.
#[derive(Clone, Debug)]
pub struct Bar {
    pub feed: FeedId,
    pub time: Timestamp,
    /// By field index of the feed's schema; NaN where the bar lacks the field.
    /// Inline for OHLCV and a few more: a bar crosses threads, and an
    /// allocation freed on another thread costs more than a copy.
    pub numbers: Numbers,
    /// By text field index.
    pub texts: Vec<Option<Arc<str>>>,
    pub prices: Ohlc,
    pub hash: DataHash,
}

/// A bar's numeric fields.
pub type Numbers = smallvec::SmallVec<[f64; 8]>;

/// The bars of one distinct timestamp, at most one per feed, sorted by feed.
#[derive(Clone, Debug, Default)]
pub struct DecisionPoint {
    pub time: Timestamp,
    pub bars: Vec<Bar>,
}

/// A read reached further back than the history the market keeps.
#[derive(Debug, thiserror::Error)]
#[error("bar offset {offset} is beyond the {kept} bars of history kept (raise --history-bars)")]
pub struct BeyondHistory {
    pub offset: i64,
    pub kept: usize,
}

/// The latest bar of a feed, as the broker and the log need it.
#[derive(Clone, Copy, Debug)]
pub struct CurrentBar {
    pub time: Timestamp,
    pub prices: Ohlc,
    pub hash: DataHash,
}

pub struct FeedState {
    pub schema: FeedSchema,
    /// Bars delivered so far.
    pub count: u64,
    /// The decision point of the latest bar.
    last_decision: Option<u64>,
    pub current: Option<CurrentBar>,
    numbers: Vec<Box<[f64]>>,
    texts: Vec<Box<[Option<Arc<str>>]>>,
}

pub struct Market {
    feeds: Vec<FeedState>,
    /// Ring capacity: a power of two, at least the history asked for.
    capacity: usize,
    decision: Option<u64>,
    time: Timestamp,
}

impl Market {
    /// A market with no bars yet that keeps at least `history_bars` bars per feed.
    pub fn new(schemas: Vec<FeedSchema>, history_bars: usize) -> Self {
        let capacity = history_bars.max(1).next_power_of_two();
        let feeds = schemas
            .into_iter()
            .map(|schema| FeedState {
                numbers: (0..schema.fields.len()).map(|_| vec![f64::NAN; capacity].into()).collect(),
                texts: (0..schema.text_fields.len()).map(|_| vec![None; capacity].into()).collect(),
                schema,
                count: 0,
                last_decision: None,
                current: None,
            })
            .collect();
        Self { feeds, capacity, decision: None, time: Timestamp::default() }
    }

    /// Moves to the next decision point and records its bars.
    pub fn advance(&mut self, point: DecisionPoint) {
        let decision = self.decision.map_or(0, |d| d + 1);
        self.decision = Some(decision);
        self.time = point.time;
        let mask = self.capacity - 1;
        for bar in point.bars {
            let feed = &mut self.feeds[bar.feed.index()];
            let slot = feed.count as usize & mask;
            for (i, column) in feed.numbers.iter_mut().enumerate() {
                column[slot] = bar.numbers.get(i).copied().unwrap_or(f64::NAN);
            }
            let mut texts = bar.texts.into_iter();
            for column in feed.texts.iter_mut() {
                column[slot] = texts.next().flatten();
            }
            feed.count += 1;
            feed.last_decision = Some(decision);
            feed.current = Some(CurrentBar { time: bar.time, prices: bar.prices, hash: bar.hash });
        }
    }

    pub fn feeds(&self) -> &[FeedState] {
        &self.feeds
    }

    pub fn feed(&self, id: FeedId) -> &FeedState {
        &self.feeds[id.index()]
    }

    pub fn feed_by_symbol(&self, symbol: &str) -> Option<FeedId> {
        self.feeds.iter().position(|f| &*f.schema.symbol == symbol).map(|i| FeedId(i as u32))
    }

    /// The index of the current decision point; None before the first.
    pub fn decision(&self) -> Option<u64> {
        self.decision
    }

    pub fn time(&self) -> Timestamp {
        self.time
    }

    pub fn history_kept(&self) -> usize {
        self.capacity
    }

    /// Whether the feed's latest bar belongs to the current decision point.
    pub fn updated(&self, id: FeedId) -> bool {
        let feed = self.feed(id);
        feed.last_decision.is_some() && feed.last_decision == self.decision
    }

    /// The ring slot of the bar at `offset`, None when that bar does not exist.
    #[inline]
    fn slot(&self, feed: &FeedState, offset: i32) -> Result<Option<usize>, BeyondHistory> {
        if offset > 0 {
            return Ok(None);
        }
        let back = offset.unsigned_abs() as u64;
        if back >= self.capacity as u64 {
            return Err(BeyondHistory { offset: offset.into(), kept: self.capacity });
        }
        if back >= feed.count {
            return Ok(None);
        }
        Ok(Some((feed.count - 1 - back) as usize & (self.capacity - 1)))
    }

    #[inline]
    pub fn number(&self, id: FeedId, field: usize, offset: i32) -> Result<f64, BeyondHistory> {
        let feed = self.feed(id);
        Ok(match self.slot(feed, offset)? {
            Some(slot) => feed.numbers[field][slot],
            None => f64::NAN,
        })
    }

    pub fn text(&self, id: FeedId, field: usize, offset: i32) -> Result<Option<Arc<str>>, BeyondHistory> {
        let feed = self.feed(id);
        Ok(self.slot(feed, offset)?.and_then(|slot| feed.texts[field][slot].clone()))
    }

    /// Appends the last `len` values of a field to `out`, oldest first.
    pub fn window(&self, id: FeedId, field: usize, len: u32, out: &mut Vec<f64>) -> Result<(), BeyondHistory> {
        if len as usize > self.capacity {
            return Err(BeyondHistory { offset: 1 - i64::from(len), kept: self.capacity });
        }
        let feed = self.feed(id);
        let available = feed.count.min(u64::from(len)) as usize;
        let column = &feed.numbers[field];
        let end = feed.count as usize & (self.capacity - 1);
        let start = end.wrapping_sub(available) & (self.capacity - 1);
        if start + available <= self.capacity {
            out.extend_from_slice(&column[start..start + available]);
        } else {
            out.extend_from_slice(&column[start..]);
            out.extend_from_slice(&column[..end]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(feed: u32, t: i64, close: f64) -> Bar {
        Bar {
            feed: FeedId(feed),
            time: Timestamp(t),
            numbers: smallvec::smallvec![close, close, close, close, 1.0],
            texts: vec![],
            prices: Ohlc::default(),
            hash: DataHash::default(),
        }
    }

    fn market_with(closes: &[f64], history: usize) -> Market {
        let mut m = Market::new(vec![FeedSchema::new("A", "A"), FeedSchema::new("B", "B")], history);
        for (t, c) in closes.iter().enumerate() {
            m.advance(DecisionPoint { time: Timestamp(t as i64), bars: vec![bar(0, t as i64, *c)] });
        }
        m
    }

    #[test]
    fn reads_by_offset_and_missing_before_data() {
        let m = market_with(&[1.0, 2.0, 3.0], 8);
        assert_eq!(m.number(FeedId(0), 3, 0).unwrap(), 3.0);
        assert_eq!(m.number(FeedId(0), 3, -2).unwrap(), 1.0);
        assert!(m.number(FeedId(0), 3, -3).unwrap().is_nan());
        assert!(m.number(FeedId(0), 3, 1).unwrap().is_nan());
        assert!(m.number(FeedId(1), 3, 0).unwrap().is_nan(), "feed B has no bar");
        assert!(m.updated(FeedId(0)) && !m.updated(FeedId(1)));
    }

    #[test]
    fn windows_wrap_around_the_ring_and_stop_at_history() {
        let closes: Vec<f64> = (1..=13).map(f64::from).collect();
        let m = market_with(&closes, 8);
        let mut out = Vec::new();
        m.window(FeedId(0), 3, 5, &mut out).unwrap();
        assert_eq!(out, [9.0, 10.0, 11.0, 12.0, 13.0]);
        out.clear();
        m.window(FeedId(0), 3, 8, &mut out).unwrap();
        assert_eq!(out, [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0]);
        assert!(m.window(FeedId(0), 3, 9, &mut out).is_err());
        assert!(m.number(FeedId(0), 3, -8).is_err());
    }

    #[test]
    fn short_history_windows_return_what_exists() {
        let m = market_with(&[1.0, 2.0], 8);
        let mut out = Vec::new();
        m.window(FeedId(0), 3, 5, &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0]);
    }
}
