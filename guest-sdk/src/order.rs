//! Orders: builders to submit, and the updates that come back.

use crate::bindings::trading::agent::{orders, types};
use std::fmt;

/// The host's handle of an order, unique within the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub u64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

/// How long an order stays working. The simulated broker keeps every order
/// until it fills or is canceled; live brokers honour this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeInForce {
    #[default]
    Day,
    Gtc,
    Ioc,
    Fok,
    Opg,
    Cls,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Market,
    Limit(f64),
    Stop(f64),
    StopLimit { stop: f64, limit: f64 },
}

/// An order being put together. It is a market order for the day unless
/// refined; nothing happens until [`OrderBuilder::submit`].
#[derive(Clone, Debug, PartialEq)]
#[must_use = "an order is only sent by submit()"]
pub struct OrderBuilder {
    symbol: String,
    side: Side,
    qty: f64,
    kind: Kind,
    time_in_force: TimeInForce,
    client_order_id: Option<String>,
}

impl OrderBuilder {
    pub fn new(symbol: &str, side: Side, qty: f64) -> Self {
        OrderBuilder {
            symbol: symbol.to_owned(),
            side,
            qty,
            kind: Kind::Market,
            time_in_force: TimeInForce::default(),
            client_order_id: None,
        }
    }

    /// Fills at `price` or better.
    pub fn limit(mut self, price: f64) -> Self {
        self.kind = Kind::Limit(price);
        self
    }

    /// Becomes a market order once the price reaches `price`.
    pub fn stop(mut self, price: f64) -> Self {
        self.kind = Kind::Stop(price);
        self
    }

    /// Becomes a limit order at `limit` once the price reaches `stop`.
    pub fn stop_limit(mut self, stop: f64, limit: f64) -> Self {
        self.kind = Kind::StopLimit { stop, limit };
        self
    }

    pub fn time_in_force(mut self, tif: TimeInForce) -> Self {
        self.time_in_force = tif;
        self
    }

    /// Your own id, echoed in every update of this order.
    pub fn client_order_id(mut self, id: impl Into<String>) -> Self {
        self.client_order_id = Some(id.into());
        self
    }

    /// Sends the order. `Ok` means the host passed it to the broker; whether
    /// it is accepted, filled or rejected arrives through `on_order`.
    pub fn submit(self) -> Result<OrderId, OrderError> {
        let request = types::OrderRequest {
            symbol: self.symbol,
            side: match self.side {
                Side::Buy => types::Side::Buy,
                Side::Sell => types::Side::Sell,
            },
            qty: self.qty,
            order_type: match self.kind {
                Kind::Market => types::OrderType::Market,
                Kind::Limit(p) => types::OrderType::Limit(p),
                Kind::Stop(p) => types::OrderType::Stop(p),
                Kind::StopLimit { stop, limit } => types::OrderType::StopLimit(types::StopLimitPrices { stop, limit }),
            },
            time_in_force: match self.time_in_force {
                TimeInForce::Day => types::TimeInForce::Day,
                TimeInForce::Gtc => types::TimeInForce::Gtc,
                TimeInForce::Ioc => types::TimeInForce::Ioc,
                TimeInForce::Fok => types::TimeInForce::Fok,
                TimeInForce::Opg => types::TimeInForce::Opg,
                TimeInForce::Cls => types::TimeInForce::Cls,
            },
            client_order_id: self.client_order_id,
        };
        orders::submit(&request).map(OrderId).map_err(OrderError::from)
    }
}

/// A per-decision bound of the sandbox that refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which bound: `orders-per-decision`, `explain-bytes-per-decision`, ...
    pub bound: String,
    pub limit: u64,
}

impl From<types::LimitExceeded> for LimitExceeded {
    fn from(l: types::LimitExceeded) -> Self {
        LimitExceeded { bound: l.bound, limit: l.limit }
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "limit exceeded: {} is {}", self.bound, self.limit)
    }
}

impl std::error::Error for LimitExceeded {}

/// Why the host refused an order or a cancel.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderError {
    UnknownSymbol(String),
    InvalidQuantity(String),
    InvalidPrice(String),
    UnknownOrder(OrderId),
    NotOpen(OrderId),
    /// A per-decision bound of the sandbox was reached.
    LimitExceeded(LimitExceeded),
    /// The broker cannot take orders now; a later try may work.
    Unavailable(String),
}

impl From<types::OrderError> for OrderError {
    fn from(e: types::OrderError) -> Self {
        match e {
            types::OrderError::UnknownSymbol(m) => OrderError::UnknownSymbol(m),
            types::OrderError::InvalidQuantity(m) => OrderError::InvalidQuantity(m),
            types::OrderError::InvalidPrice(m) => OrderError::InvalidPrice(m),
            types::OrderError::UnknownOrder(id) => OrderError::UnknownOrder(OrderId(id)),
            types::OrderError::NotOpen(id) => OrderError::NotOpen(OrderId(id)),
            types::OrderError::LimitExceeded(l) => OrderError::LimitExceeded(l.into()),
            types::OrderError::Unavailable(m) => OrderError::Unavailable(m),
        }
    }
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::UnknownSymbol(m) => write!(f, "unknown symbol: {m}"),
            OrderError::InvalidQuantity(m) => write!(f, "invalid quantity: {m}"),
            OrderError::InvalidPrice(m) => write!(f, "invalid price: {m}"),
            OrderError::UnknownOrder(id) => write!(f, "no order {id}"),
            OrderError::NotOpen(id) => write!(f, "order {id} is no longer open"),
            OrderError::LimitExceeded(l) => l.fmt(f),
            OrderError::Unavailable(m) => write!(f, "broker unavailable: {m}"),
        }
    }
}

impl std::error::Error for OrderError {}

/// One execution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    pub price: f64,
    pub qty: f64,
    pub commission: f64,
    /// Filled so far over the order's life, this fill included.
    pub cumulative_qty: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OrderStatus {
    Accepted,
    PartiallyFilled(Fill),
    Filled(Fill),
    /// With the reason: asked by the agent, expired, or done by the broker.
    Canceled(String),
    Rejected(String),
}

/// A status change of one of the agent's orders.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderUpdate {
    pub id: OrderId,
    pub client_order_id: Option<String>,
    pub symbol: String,
    pub side: Side,
    pub status: OrderStatus,
}

impl From<types::OrderUpdate> for OrderUpdate {
    fn from(u: types::OrderUpdate) -> Self {
        let fill =
            |f: types::Fill| Fill { price: f.price, qty: f.qty, commission: f.commission, cumulative_qty: f.cumulative_qty };
        OrderUpdate {
            id: OrderId(u.id),
            client_order_id: u.client_order_id,
            symbol: u.symbol,
            side: match u.side {
                types::Side::Buy => Side::Buy,
                types::Side::Sell => Side::Sell,
            },
            status: match u.status {
                types::OrderStatus::Accepted => OrderStatus::Accepted,
                types::OrderStatus::PartiallyFilled(f) => OrderStatus::PartiallyFilled(fill(f)),
                types::OrderStatus::Filled(f) => OrderStatus::Filled(fill(f)),
                types::OrderStatus::Canceled(reason) => OrderStatus::Canceled(reason),
                types::OrderStatus::Rejected(reason) => OrderStatus::Rejected(reason),
            },
        }
    }
}
