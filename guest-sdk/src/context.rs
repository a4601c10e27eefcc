//! What an agent sees of the world besides its own state.

use crate::bindings::trading::agent::{decision, market, orders, portfolio};
use crate::feed::Feed;
use crate::order::{LimitExceeded, OrderBuilder, OrderError, OrderId, Side};
use std::time::SystemTime;

/// The feeds, the portfolio and the order desk, passed to every callback.
#[derive(Debug)]
pub struct Context {
    feeds: Vec<Feed>,
}

impl Context {
    pub(crate) fn load() -> Self {
        Context { feeds: market::feeds().into_iter().map(Feed::new).collect() }
    }

    /// Every feed, in the host's fixed order; like backtrader's `self.datas`.
    pub fn feeds(&self) -> &[Feed] {
        &self.feeds
    }

    /// The feed of a symbol.
    pub fn feed(&self, symbol: &str) -> Option<&Feed> {
        self.feeds.iter().find(|f| f.symbol() == symbol)
    }

    /// Cash in the account.
    pub fn cash(&self) -> f64 {
        portfolio::cash()
    }

    /// Cash plus positions at their last close.
    pub fn value(&self) -> f64 {
        portfolio::value()
    }

    /// The signed position in a symbol; 0 when flat.
    pub fn position(&self, symbol: &str) -> f64 {
        portfolio::position(symbol)
    }

    /// Attaches a short rationale to the current decision in the log. Text
    /// beyond the sandbox's per-decision bound is dropped; use
    /// [`Context::try_explain`] to know.
    pub fn explain(&self, text: impl AsRef<str>) {
        let _ = self.try_explain(text);
    }

    /// Like [`Context::explain`], telling when the bound dropped the text.
    pub fn try_explain(&self, text: impl AsRef<str>) -> Result<(), LimitExceeded> {
        decision::explain(text.as_ref()).map_err(LimitExceeded::from)
    }

    /// The current bar's time; the agent has no other clock.
    pub fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    pub fn buy(&self, symbol: &str, qty: f64) -> OrderBuilder {
        OrderBuilder::new(symbol, Side::Buy, qty)
    }

    pub fn sell(&self, symbol: &str, qty: f64) -> OrderBuilder {
        OrderBuilder::new(symbol, Side::Sell, qty)
    }

    /// Asks to cancel an open order; the outcome arrives through `on_order`.
    pub fn cancel(&self, id: OrderId) -> Result<(), OrderError> {
        orders::cancel(id.0).map_err(OrderError::from)
    }
}
