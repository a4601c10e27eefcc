//! Brokers: where an agent's orders go, and its account.
//!
//! A broker never blocks the agent. `submit` hands the order over and returns
//! an id; what becomes of the order (accepted, filled, canceled, rejected)
//! arrives later as [`OrderEvent`]s, which the session passes to the agent's
//! `on-order`.

pub mod simulated;

use crate::market::{FeedId, MarketView};
use crate::time::Timestamp;
use rust_decimal::Decimal;
use std::sync::Arc;

/// Holdings by feed; inline for a couple of feeds, since every record
/// carries them across threads. Feed ids rather than symbols: a shared
/// symbol's reference count, raised by the agent thread and dropped by the
/// writer's for every record, kept one cache line bouncing between the two
/// and was most of the cost of a record's portfolio.
pub type Positions = smallvec::SmallVec<[(FeedId, Decimal); 2]>;

/// Host-assigned order handle, unique within a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// As the log and the summary write it.
    pub fn name(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl serde::Serialize for Side {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    Day,
    Gtc,
    Ioc,
    Fok,
    Opg,
    Cls,
}

impl TimeInForce {
    /// As the log writes it, and as the WIT names it.
    pub fn name(self) -> &'static str {
        match self {
            TimeInForce::Day => "day",
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::Opg => "opg",
            TimeInForce::Cls => "cls",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderType {
    Market,
    Limit(Decimal),
    Stop(Decimal),
    StopLimit { stop: Decimal, limit: Decimal },
}

impl OrderType {
    pub fn name(&self) -> &'static str {
        match self {
            OrderType::Market => "MARKET",
            OrderType::Limit(_) => "LIMIT",
            OrderType::Stop(_) => "STOP",
            OrderType::StopLimit { .. } => "STOP_LIMIT",
        }
    }

    /// The limit price, or the stop price for a stop order.
    pub fn price(&self) -> Option<Decimal> {
        match *self {
            OrderType::Market => None,
            OrderType::Limit(p) | OrderType::Stop(p) => Some(p),
            OrderType::StopLimit { limit, .. } => Some(limit),
        }
    }

    pub fn stop_price(&self) -> Option<Decimal> {
        match *self {
            OrderType::Stop(p) | OrderType::StopLimit { stop: p, .. } => Some(p),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderRequest {
    pub feed: FeedId,
    pub symbol: Arc<str>,
    pub side: Side,
    /// Positive; `side` carries the direction.
    pub qty: Decimal,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub client_order_id: Option<String>,
}

/// One execution of an order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    /// Filled so far over the order's life, this fill included.
    pub cumulative_qty: Decimal,
    /// The bar whose prices the fill used.
    pub bar_time: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OrderStatus {
    Accepted,
    PartiallyFilled(Fill),
    Filled(Fill),
    Canceled(String),
    Rejected(String),
}

impl OrderStatus {
    pub fn name(&self) -> &'static str {
        match self {
            OrderStatus::Accepted => "ACCEPTED",
            OrderStatus::PartiallyFilled(_) => "PARTIALLY_FILLED",
            OrderStatus::Filled(_) => "FILLED",
            OrderStatus::Canceled(_) => "CANCELED",
            OrderStatus::Rejected(_) => "REJECTED",
        }
    }
}

/// A status change of one order.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderEvent {
    pub id: OrderId,
    pub client_order_id: Option<String>,
    pub symbol: Arc<str>,
    pub side: Side,
    pub status: OrderStatus,
}

/// An order still working.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenOrder {
    pub id: OrderId,
    pub request: OrderRequest,
    pub filled_qty: Decimal,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BrokerError {
    #[error("no order {0:?}")]
    UnknownOrder(OrderId),
    #[error("order {0:?} is no longer open")]
    NotOpen(OrderId),
    /// The broker cannot be reached now; the same request may work later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

impl BrokerError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, BrokerError::Unavailable(_))
    }
}

/// One agent's account with one broker.
pub trait Broker: Send {
    /// Works open orders against the bars of the current decision point.
    /// Called once per decision point, before the agent sees the bars.
    fn on_market(&mut self, market: MarketView<'_>);

    /// Takes an order. Its fate arrives through [`Broker::drain_events`].
    fn submit(&mut self, order: OrderRequest) -> Result<OrderId, BrokerError>;

    /// Asks to cancel an open order; the outcome arrives as an event.
    fn cancel(&mut self, id: OrderId, reason: &str) -> Result<(), BrokerError>;

    /// Moves the events since the last call into `out`, oldest first.
    fn drain_events(&mut self, out: &mut Vec<OrderEvent>);

    fn cash(&self) -> Decimal;

    /// Cash plus positions valued at their last close.
    fn value(&self) -> Decimal;

    /// Signed position; zero when flat or unknown.
    fn position(&self, symbol: &str) -> Decimal;

    /// Every feed ever traded, zero positions included, in a stable order.
    fn positions(&self) -> Positions;

    fn open_orders(&self) -> Vec<OpenOrder>;
}
