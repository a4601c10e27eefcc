//! Market data handles. Every read goes through the host, which logs it.

use crate::bindings::trading::agent::{market, portfolio};
use crate::order::{OrderBuilder, Side};
use std::cell::RefCell;

/// Index of a feed in [`crate::Context::feeds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FeedId(pub u32);

/// One field of one feed, interned by the host. Reading through a `Series`
/// is the cheapest read there is: one host call with two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Series {
    id: u32,
}

impl Series {
    /// The value at a bar offset: 0 is the feed's current bar, -1 the one
    /// before. `None` before the data exists or when the bar lacks the field.
    #[inline]
    pub fn get(&self, offset: i32) -> Option<f64> {
        let value = market::read(self.id, offset);
        (!value.is_nan()).then_some(value)
    }

    /// The last `n` values, oldest first, ending at the current bar, in one
    /// host call. A short history gives the values that exist; a bar
    /// without the field gives NaN.
    pub fn window(&self, n: u32) -> Vec<f64> {
        market::window(self.id, n)
    }

    /// A text value at a bar offset, such as a headline.
    pub fn text(&self, offset: i32) -> Option<String> {
        market::read_text(self.id, offset)
    }
}

/// One symbol's stream of bars, like a backtrader data feed.
#[derive(Debug)]
pub struct Feed {
    id: FeedId,
    name: String,
    symbol: String,
    fields: Vec<String>,
    text_fields: Vec<String>,
    ohlcv: [Series; 5],
    interned: RefCell<Vec<(String, Series)>>,
}

impl Feed {
    pub(crate) fn new(info: market::FeedInfo) -> Self {
        let intern = |field: &str| Series { id: market::series(info.id, field).expect("the host lists this feed") };
        let ohlcv = ["open", "high", "low", "close", "volume"].map(intern);
        Feed {
            id: FeedId(info.id),
            name: info.name,
            symbol: info.symbol,
            fields: info.fields,
            text_fields: info.text_fields,
            ohlcv,
            interned: RefCell::new(Vec::new()),
        }
    }

    pub fn id(&self) -> FeedId {
        self.id
    }

    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The source: a file stem or a subscription.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Numeric fields: OHLCV, then the dynamic ones.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    pub fn text_fields(&self) -> &[String] {
        &self.text_fields
    }

    /// The series of a field, interned on first use. Intern in `init` and
    /// keep the [`Series`] for the fastest reads.
    pub fn series(&self, field: &str) -> Series {
        let mut interned = self.interned.borrow_mut();
        if let Some((_, series)) = interned.iter().find(|(name, _)| name == field) {
            return *series;
        }
        let series = Series { id: market::series(self.id.0, field).expect("the host lists this feed") };
        interned.push((field.to_owned(), series));
        series
    }

    pub fn open(&self, offset: i32) -> Option<f64> {
        self.ohlcv[0].get(offset)
    }

    pub fn high(&self, offset: i32) -> Option<f64> {
        self.ohlcv[1].get(offset)
    }

    pub fn low(&self, offset: i32) -> Option<f64> {
        self.ohlcv[2].get(offset)
    }

    pub fn close(&self, offset: i32) -> Option<f64> {
        self.ohlcv[3].get(offset)
    }

    pub fn volume(&self, offset: i32) -> Option<f64> {
        self.ohlcv[4].get(offset)
    }

    /// Any numeric field by name, such as `sentiment_score`.
    pub fn field(&self, name: &str, offset: i32) -> Option<f64> {
        self.series(name).get(offset)
    }

    /// A text field by name, such as `latest_news_headline`.
    pub fn text(&self, name: &str, offset: i32) -> Option<String> {
        self.series(name).text(offset)
    }

    /// The last `n` values of a field, oldest first; see [`Series::window`].
    pub fn window(&self, name: &str, n: u32) -> Vec<f64> {
        self.series(name).window(n)
    }

    /// Whether this feed has a new bar at this decision point. A feed
    /// without one keeps its last bar, and offsets count its own bars.
    pub fn is_updated(&self) -> bool {
        market::updated(self.id.0)
    }

    /// Bars delivered so far, the current one included, like `len(data)`.
    pub fn len(&self) -> u64 {
        market::bar_count(self.id.0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The agent's signed position in this symbol.
    pub fn position(&self) -> f64 {
        portfolio::position(&self.symbol)
    }

    /// A buy order for `qty` of this symbol: a market order unless refined.
    pub fn buy(&self, qty: f64) -> OrderBuilder {
        OrderBuilder::new(&self.symbol, Side::Buy, qty)
    }

    /// A sell order for `qty` of this symbol; `qty` is positive.
    pub fn sell(&self, qty: f64) -> OrderBuilder {
        OrderBuilder::new(&self.symbol, Side::Sell, qty)
    }
}
