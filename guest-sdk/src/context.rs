//! What an agent sees of the world besides its own state.

use crate::bindings::trading::agent::{decision, market, orders, portfolio};
use crate::feed::Feed;
use crate::order::{OrderBuilder, OrderError, OrderId, Side};
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

    /// Attaches a short rationale to the current decision in the log.
    pub fn explain(&self, text: impl AsRef<str>) {
        decision::explain(text.as_ref());
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
