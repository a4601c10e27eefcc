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

/// One feed's bar at one time. It fills whole cache lines: bars cross
/// cores, and a line shared by two bars, or a copy ending mid-line, makes a
/// thread wait for a line the other core holds.
#[derive(Clone, Debug)]
#[repr(align(64))]
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

impl DecisionPoint {
    /// Asks the CPU to start loading this point's bars. The feed's thread
    /// wrote them on the other core, and `Market::advance` spent most of
    /// its time waiting for their first loads.
    #[inline]
    pub fn prefetch(&self) {
        crate::prefetch::for_read(self.bars.as_ptr(), self.bars.len());
    }
}

/// A read reached further back than the history the market keeps.
#[derive(Debug, thiserror::Error)]
#[error("bar offset {offset} is beyond the {kept} bars of history kept (raise --history-bars)")]
pub struct BeyondHistory {
    pub offset: i64,
    pub kept: usize,
}

/// Decision points a reader may trail the newest one by. Agents take the
/// points a block at a time, each agent through the whole block before the
/// next one runs: its instance and memory then stay in cache for a block of
/// points rather than one, which matters once there are hundreds of agents.
pub const BLOCK_POINTS: usize = 64;

/// A feed's bar at a decision point, as the broker and the log need it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentBar {
    pub time: Timestamp,
    pub prices: Ohlc,
    pub hash: DataHash,
}

/// A recent bar and the decision point that delivered it.
#[derive(Clone, Copy, Default)]
struct Stamp {
    decision: u64,
    bar: CurrentBar,
}

/// The size of a [`Stamp`] and where its decision point's index is, for
/// [`MarketView::raw_feed`]'s readers: the feed's newest bar is the stamp at
/// `(count - 1) % BLOCK_POINTS`.
pub const RAW_STAMP: (usize, usize) = (size_of::<Stamp>(), std::mem::offset_of!(Stamp, decision));

pub struct FeedState {
    pub schema: FeedSchema,
    /// Bars delivered by each of the last [`BLOCK_POINTS`] decision points,
    /// by index. Kept here rather than per point, because a read needs the
    /// count and the columns of one feed: one fewer pointer to chase.
    counts: [u64; BLOCK_POINTS],
    numbers: Vec<Box<[f64]>>,
    texts: Vec<Box<[Option<Arc<str>>]>>,
    /// The last [`BLOCK_POINTS`] bars, by bar count.
    stamps: Box<[Stamp]>,
}

/// Every feed's bars so far. Read it through a [`MarketView`], which shows
/// the market as it was at one of the last [`BLOCK_POINTS`] decision points.
pub struct Market {
    feeds: Vec<FeedState>,
    /// Bars of history a read may reach back: a power of two, at least the
    /// history asked for. The same at every point, so a run's reads do not
    /// depend on how far its agents trail.
    kept: usize,
    /// Size of the field rings: the history plus the points a reader may trail.
    ring: usize,
    /// The times of the last [`BLOCK_POINTS`] decision points, by index.
    times: [Timestamp; BLOCK_POINTS],
    newest: Option<u64>,
}

impl Market {
    /// A market with no bars yet that keeps at least `history_bars` bars per feed.
    pub fn new(schemas: Vec<FeedSchema>, history_bars: usize) -> Self {
        let kept = history_bars.max(1).next_power_of_two();
        let ring = (kept + BLOCK_POINTS).next_power_of_two();
        let feeds = schemas
            .into_iter()
            .map(|schema| FeedState {
                numbers: (0..schema.fields.len()).map(|_| vec![f64::NAN; ring].into()).collect(),
                texts: (0..schema.text_fields.len()).map(|_| vec![None; ring].into()).collect(),
                stamps: vec![Stamp::default(); BLOCK_POINTS].into(),
                counts: [0; BLOCK_POINTS],
                schema,
            })
            .collect();
        Self { feeds, kept, ring, times: [Timestamp::default(); BLOCK_POINTS], newest: None }
    }

    /// Moves to the next decision point and records its bars. Returns the
    /// point's bar buffer, empty, for the feed to fill again.
    pub fn advance(&mut self, mut point: DecisionPoint) -> Vec<Bar> {
        let decision = self.newest.map_or(0, |d| d + 1);
        let (previous, this) = (point_slot(decision.wrapping_sub(1)), point_slot(decision));
        for feed in &mut self.feeds {
            feed.counts[this] = if decision == 0 { 0 } else { feed.counts[previous] };
        }
        self.newest = Some(decision);
        self.times[this] = point.time;
        let mask = self.ring - 1;
        // By reference: moving a bar out would copy all of it.
        for bar in &mut point.bars {
            let feed = &mut self.feeds[bar.feed.index()];
            let count = &mut feed.counts[this];
            let slot = *count as usize & mask;
            for (i, column) in feed.numbers.iter_mut().enumerate() {
                column[slot] = bar.numbers.get(i).copied().unwrap_or(f64::NAN);
            }
            let mut texts = std::mem::take(&mut bar.texts).into_iter();
            for column in feed.texts.iter_mut() {
                column[slot] = texts.next().flatten();
            }
            let bar = CurrentBar { time: bar.time, prices: bar.prices, hash: bar.hash };
            feed.stamps[point_slot(*count)] = Stamp { decision, bar };
            *count += 1;
        }
        point.bars.clear();
        point.bars
    }

    /// Bars delivered so far, over every feed.
    pub fn bars(&self) -> u64 {
        self.newest.map_or(0, |d| self.feeds.iter().map(|f| f.counts[point_slot(d)]).sum())
    }

    /// The index of the newest decision point; None before the first.
    pub fn newest(&self) -> Option<u64> {
        self.newest
    }

    /// The market as it was at decision point `at`, one of the last
    /// [`BLOCK_POINTS`]; `None` shows it before the first bar.
    pub fn view(&self, at: Option<u64>) -> MarketView<'_> {
        debug_assert!(
            at.is_none_or(|at| self.newest.is_some_and(|newest| at <= newest && newest - at < BLOCK_POINTS as u64)),
            "a view within the last {BLOCK_POINTS} points"
        );
        MarketView { market: self, at }
    }

    /// The market at its newest decision point.
    pub fn latest(&self) -> MarketView<'_> {
        self.view(self.newest)
    }
}

fn point_slot(index: u64) -> usize {
    index as usize & (BLOCK_POINTS - 1)
}

/// The market as it was at one decision point: what an agent deciding at
/// that point may read.
#[derive(Clone, Copy)]
pub struct MarketView<'a> {
    market: &'a Market,
    at: Option<u64>,
}

impl<'a> MarketView<'a> {
    pub fn feeds(&self) -> &'a [FeedState] {
        &self.market.feeds
    }

    pub fn feed(&self, id: FeedId) -> &'a FeedState {
        &self.market.feeds[id.index()]
    }

    pub fn feed_by_symbol(&self, symbol: &str) -> Option<FeedId> {
        self.market.feeds.iter().position(|f| &*f.schema.symbol == symbol).map(|i| FeedId(i as u32))
    }

    /// The index of this decision point; None before the first.
    pub fn decision(&self) -> Option<u64> {
        self.at
    }

    /// The time of this decision point.
    pub fn time(&self) -> Timestamp {
        self.at.map_or_else(Timestamp::default, |at| self.market.times[point_slot(at)])
    }

    /// Bars the feed has delivered by this point, this point's included.
    #[inline]
    pub fn count(&self, id: FeedId) -> u64 {
        self.count_of(self.feed(id))
    }

    /// This decision point's index into per-point arrays such as the bar
    /// counts of [`Self::raw_column`]; none before the first point.
    pub fn point_slot(&self) -> Option<usize> {
        self.at.map(point_slot)
    }

    /// Bars of history a read may reach back, and the size of the field rings.
    pub fn history(&self) -> (usize, usize) {
        (self.market.kept, self.market.ring)
    }

    /// The addresses of a numeric field's ring and of its feed's bar counts
    /// by point, for the agents' builtin read path (`runtime::fast_read`).
    /// They hold while the market is read-locked.
    pub fn raw_column(&self, id: FeedId, field: usize) -> (u64, u64) {
        let feed = self.feed(id);
        (feed.numbers[field].as_ptr() as u64, feed.counts.as_ptr() as u64)
    }

    /// The addresses of a feed's bar counts by point and of its recent
    /// bars' stamps (laid out as [`RAW_STAMP`] says), for the same path.
    pub fn raw_feed(&self, id: FeedId) -> (u64, u64) {
        let feed = self.feed(id);
        (feed.counts.as_ptr() as u64, feed.stamps.as_ptr() as u64)
    }

    #[inline]
    fn count_of(&self, feed: &FeedState) -> u64 {
        self.at.map_or(0, |at| feed.counts[point_slot(at)])
    }

    fn last_stamp(&self, id: FeedId) -> Option<&'a Stamp> {
        let feed = self.feed(id);
        let count = self.count_of(feed);
        (count > 0).then(|| &feed.stamps[point_slot(count - 1)])
    }

    /// The feed's bar at this point: its newest so far.
    pub fn current(&self, id: FeedId) -> Option<CurrentBar> {
        self.last_stamp(id).map(|stamp| stamp.bar)
    }

    /// Whether the feed's newest bar belongs to this decision point.
    pub fn updated(&self, id: FeedId) -> bool {
        self.last_stamp(id).is_some_and(|stamp| Some(stamp.decision) == self.at)
    }

    /// The ring slot of the bar at `offset`, None when that bar does not exist.
    #[inline]
    fn slot(&self, feed: &FeedState, offset: i32) -> Result<Option<usize>, BeyondHistory> {
        if offset > 0 {
            return Ok(None);
        }
        let back = offset.unsigned_abs() as u64;
        let kept = self.market.kept;
        if back >= kept as u64 {
            return Err(BeyondHistory { offset: offset.into(), kept });
        }
        let count = self.count_of(feed);
        if back >= count {
            return Ok(None);
        }
        Ok(Some((count - 1 - back) as usize & (self.market.ring - 1)))
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
        let (kept, ring) = (self.market.kept, self.market.ring);
        if len as usize > kept {
            return Err(BeyondHistory { offset: 1 - i64::from(len), kept });
        }
        let feed = self.feed(id);
        let count = self.count_of(feed);
        let available = count.min(u64::from(len)) as usize;
        let column = &feed.numbers[field];
        let end = count as usize & (ring - 1);
        let start = end.wrapping_sub(available) & (ring - 1);
        if start + available <= ring {
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
    use crate::testing::bar;

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
        let m = m.latest();
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
        let m = m.latest();
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
        m.latest().window(FeedId(0), 3, 5, &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0]);
    }

    #[test]
    fn a_view_shows_the_market_as_it_was_at_its_point() {
        // Feed B gets a bar every other point; history is short, so the
        // rings wrap many times over while the views trail by a block.
        let mut m = Market::new(vec![FeedSchema::new("A", "A"), FeedSchema::new("B", "B")], 4);
        let total = 3 * BLOCK_POINTS as u64;
        for t in 0..total {
            let mut bars = vec![bar(0, t as i64, t as f64)];
            if t % 2 == 0 {
                bars.push(bar(1, t as i64, 1000.0 + t as f64));
            }
            m.advance(DecisionPoint { time: Timestamp(t as i64), bars });
        }
        for at in total - BLOCK_POINTS as u64..total {
            let v = m.view(Some(at));
            assert_eq!((v.decision(), v.time()), (Some(at), Timestamp(at as i64)));
            assert_eq!(v.count(FeedId(0)), at + 1);
            assert_eq!(v.number(FeedId(0), 3, 0).unwrap(), at as f64);
            assert_eq!(v.number(FeedId(0), 3, -3).unwrap(), (at - 3) as f64);
            assert!(v.number(FeedId(0), 3, -4).is_err(), "history is the same at every point");
            let mut out = Vec::new();
            v.window(FeedId(0), 3, 4, &mut out).unwrap();
            assert_eq!(out, [(at - 3) as f64, (at - 2) as f64, (at - 1) as f64, at as f64]);
            let b_latest = at - at % 2;
            assert_eq!(v.updated(FeedId(1)), at % 2 == 0);
            assert_eq!(v.number(FeedId(1), 3, 0).unwrap(), 1000.0 + b_latest as f64);
            assert_eq!(v.current(FeedId(1)).map(|b| b.time), Some(Timestamp(b_latest as i64)));
            assert!(v.updated(FeedId(0)));
        }
        let before = m.view(None);
        assert_eq!((before.count(FeedId(0)), before.current(FeedId(0)).is_none()), (0, true));
        assert!(before.number(FeedId(0), 3, 0).unwrap().is_nan());
    }
}
