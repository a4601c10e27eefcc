//! The simulated paper broker, with backtrader's default `BackBroker` semantics.
//!
//! - An order submitted at decision point t is first worked on the next bar
//!   of its symbol: a market order fills at that bar's open.
//! - Limit, stop and stop-limit orders trigger on that bar's OHLC as
//!   backtrader does it (see [`execution_price`]), and stay open until they
//!   fill or are canceled; time in force is ignored.
//! - Commission is `commission_rate × |qty × price|`, on both sides.
//! - Cash is checked twice: at submission, against the last close (the
//!   order's own price for limit and stop orders), counting every order
//!   submitted in the same decision point; and again at the fill price.
//!   An order that fails either check is rejected through `on-order`.
//! - Long-only unless `allow_short`: a sell beyond the position is rejected.
//! - Fills are whole; volume is not considered.

use super::{Broker, BrokerError, Fill, OpenOrder, OrderEvent, OrderId, OrderRequest, OrderStatus, OrderType, Positions, Side};
use crate::decimal::Normal;
use crate::market::{FeedId, FeedSchema, MarketView, Ohlc};
use rust_decimal::Decimal;
use std::sync::Arc;

/// Settings of the simulated broker.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedBrokerConfig {
    /// Starting cash, in the account currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub cash: Decimal,
    /// Commission as a fraction of the traded value: 0.001 is 0.1%.
    #[serde(with = "rust_decimal::serde::str")]
    pub commission_rate: Decimal,
    /// Whether a sell may take a position below zero.
    #[serde(default)]
    pub allow_short: bool,
}

struct WorkingOrder {
    id: OrderId,
    request: OrderRequest,
    /// Decision point of submission: the order is worked from the next one.
    submitted_at: Option<u64>,
    /// A stop-limit order whose stop has been reached works as a limit order.
    triggered: bool,
}

pub struct SimulatedBroker {
    config: SimulatedBrokerConfig,
    cash: Decimal,
    symbols: Vec<Arc<str>>,
    positions: Vec<Decimal>,
    traded: Vec<bool>,
    last_close: Vec<Option<Decimal>>,
    orders: Vec<WorkingOrder>,
    next_id: u64,
    events: Vec<OrderEvent>,
    decision: Option<u64>,
    /// Cash and positions as if every order submitted in this decision point
    /// had filled at its reference price: backtrader's submission check.
    pending_cash: Decimal,
    pending_positions: Vec<Decimal>,
}

impl SimulatedBroker {
    pub fn new(config: SimulatedBrokerConfig, feeds: &[FeedSchema]) -> Self {
        let n = feeds.len();
        Self {
            cash: config.cash,
            pending_cash: config.cash,
            config,
            // Copies, not clones of the feeds' names: every record carries
            // the positions' symbols, and a name shared by every agent's
            // broker would have its count bounce between the agent threads.
            symbols: feeds.iter().map(|f| Arc::from(&*f.symbol)).collect(),
            positions: vec![Decimal::ZERO; n],
            pending_positions: vec![Decimal::ZERO; n],
            traded: vec![false; n],
            last_close: vec![None; n],
            orders: Vec::new(),
            next_id: 1,
            events: Vec::new(),
            decision: None,
        }
    }

    fn commission(&self, qty: Decimal, price: Decimal) -> Decimal {
        (self.config.commission_rate * qty * price).abs()
    }

    fn event(&mut self, order: &WorkingOrder, status: OrderStatus) {
        self.events.push(OrderEvent {
            id: order.id,
            client_order_id: order.request.client_order_id.clone(),
            symbol: order.request.symbol.clone(),
            side: order.request.side,
            status,
        });
    }

    /// Why an order at `price` cannot go through against `cash` and `position`, if it cannot.
    fn refusal(&self, request: &OrderRequest, price: Decimal, cash: Decimal, position: Decimal) -> Option<String> {
        let value = request.qty * price;
        let commission = self.commission(request.qty, price);
        match request.side {
            Side::Buy if value + commission > cash => Some(format!(
                "insufficient cash: {} {} at {} costs {} with commission, cash is {}",
                Normal(request.qty),
                request.symbol,
                Normal(price),
                Normal(value + commission),
                Normal(cash)
            )),
            Side::Sell if !self.config.allow_short && request.qty > position => Some(format!(
                "insufficient position: selling {} {} but holding {} (short selling is off)",
                Normal(request.qty),
                request.symbol,
                Normal(position)
            )),
            _ => None,
        }
    }

    /// Moves cash and position as a fill of `qty` at `price` would.
    fn apply(side: Side, qty: Decimal, price: Decimal, commission: Decimal, cash: &mut Decimal, position: &mut Decimal) {
        match side {
            Side::Buy => {
                *cash -= qty * price + commission;
                *position += qty;
            }
            Side::Sell => {
                *cash += qty * price - commission;
                *position -= qty;
            }
        }
    }
}

/// The price at which an order executes on a bar, if it does: backtrader's
/// `BackBroker` without slippage.
fn execution_price(order: &mut WorkingOrder, bar: &Ohlc) -> Option<Decimal> {
    let &Ohlc { open, high, low, close } = bar;
    let buy = order.request.side == Side::Buy;
    match order.request.order_type {
        OrderType::Market => Some(open),
        OrderType::Limit(limit) => limit_price(buy, limit, bar),
        OrderType::Stop(stop) => match buy {
            true if open >= stop => Some(open),
            true if high >= stop => Some(stop),
            false if open <= stop => Some(open),
            false if low <= stop => Some(stop),
            _ => None,
        },
        OrderType::StopLimit { limit, .. } if order.triggered => limit_price(buy, limit, bar),
        OrderType::StopLimit { stop, limit } => {
            // Stop reached at the open: the rest of the bar works as a limit order.
            if (buy && open >= stop) || (!buy && open <= stop) {
                order.triggered = true;
                return limit_price(buy, limit, bar);
            }
            // Stop reached within the bar: the fill depends on the bar's direction.
            let reached = if buy { high >= stop } else { low <= stop };
            if !reached {
                return None;
            }
            order.triggered = true;
            let toward_stop_first = if buy { open > close } else { open <= close };
            let limit_beyond_stop = if buy { limit >= stop } else { limit <= stop };
            let limit_within_close = if buy { limit >= close } else { limit <= close };
            if limit_beyond_stop {
                Some(stop)
            } else if toward_stop_first && limit_within_close {
                Some(limit)
            } else {
                None
            }
        }
    }
}

fn limit_price(buy: bool, limit: Decimal, bar: &Ohlc) -> Option<Decimal> {
    match buy {
        true if limit >= bar.open => Some(bar.open),
        true if limit >= bar.low => Some(limit),
        false if limit <= bar.open => Some(bar.open),
        false if limit <= bar.high => Some(limit),
        _ => None,
    }
}

impl Broker for SimulatedBroker {
    fn on_market(&mut self, market: MarketView<'_>) {
        self.decision = market.decision();
        let mut orders = std::mem::take(&mut self.orders);
        orders.retain_mut(|order| {
            let feed = order.request.feed;
            let current = market.current(feed);
            let (true, Some(bar)) = (market.updated(feed) && order.submitted_at < self.decision, current) else {
                return true;
            };
            let Some(price) = execution_price(order, &bar.prices) else {
                return true;
            };
            let i = feed.index();
            if let Some(reason) = self.refusal(&order.request, price, self.cash, self.positions[i]) {
                self.event(order, OrderStatus::Rejected(format!("at fill: {reason}")));
                return false;
            }
            let qty = order.request.qty;
            let commission = self.commission(qty, price);
            Self::apply(order.request.side, qty, price, commission, &mut self.cash, &mut self.positions[i]);
            self.traded[i] = true;
            let fill = Fill { price, qty, commission, cumulative_qty: qty, bar_time: bar.time };
            self.event(order, OrderStatus::Filled(fill));
            false
        });
        self.orders = orders;
        for (i, close) in self.last_close.iter_mut().enumerate() {
            if let Some(bar) = market.current(FeedId(i as u32)) {
                *close = Some(bar.prices.close);
            }
        }
        self.pending_cash = self.cash;
        self.pending_positions.clone_from(&self.positions);
    }

    fn submit(&mut self, request: OrderRequest) -> Result<OrderId, BrokerError> {
        let id = OrderId(self.next_id);
        self.next_id += 1;
        let i = request.feed.index();
        let order = WorkingOrder { id, submitted_at: self.decision, triggered: false, request };
        let reference = match order.request.order_type {
            OrderType::Market => self.last_close[i],
            OrderType::Limit(p) | OrderType::Stop(p) | OrderType::StopLimit { stop: p, .. } => Some(p),
        };
        let Some(price) = reference else {
            let reason = format!("no price for {} yet", order.request.symbol);
            self.event(&order, OrderStatus::Rejected(reason));
            return Ok(id);
        };
        if let Some(reason) = self.refusal(&order.request, price, self.pending_cash, self.pending_positions[i]) {
            self.event(&order, OrderStatus::Rejected(reason));
            return Ok(id);
        }
        let commission = self.commission(order.request.qty, price);
        let (side, qty) = (order.request.side, order.request.qty);
        Self::apply(side, qty, price, commission, &mut self.pending_cash, &mut self.pending_positions[i]);
        self.event(&order, OrderStatus::Accepted);
        self.orders.push(order);
        Ok(id)
    }

    fn cancel(&mut self, id: OrderId, reason: &str) -> Result<(), BrokerError> {
        let Some(at) = self.orders.iter().position(|o| o.id == id) else {
            return Err(if id.0 > 0 && id.0 < self.next_id { BrokerError::NotOpen(id) } else { BrokerError::UnknownOrder(id) });
        };
        let order = self.orders.remove(at);
        self.event(&order, OrderStatus::Canceled(reason.to_owned()));
        Ok(())
    }

    fn drain_events(&mut self, out: &mut Vec<OrderEvent>) {
        out.append(&mut self.events);
    }

    fn cash(&self) -> Decimal {
        self.cash
    }

    fn value(&self) -> Decimal {
        // Every record asks; a flat position needs no multiplication.
        let held: Decimal = self
            .positions
            .iter()
            .zip(&self.last_close)
            .filter(|(qty, _)| !qty.is_zero())
            .map(|(qty, close)| close.map_or(Decimal::ZERO, |c| *qty * c))
            .sum();
        self.cash + held
    }

    fn position(&self, symbol: &str) -> Decimal {
        self.symbols.iter().position(|s| &**s == symbol).map_or(Decimal::ZERO, |i| self.positions[i])
    }

    fn positions(&self) -> Positions {
        (0..self.symbols.len()).filter(|&i| self.traded[i]).map(|i| (FeedId(i as u32), self.positions[i])).collect()
    }

    fn open_orders(&self) -> Vec<OpenOrder> {
        self.orders.iter().map(|o| OpenOrder { id: o.id, request: o.request.clone(), filled_qty: Decimal::ZERO }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::TimeInForce;
    use crate::market::{Bar, DataHash, DecisionPoint, FeedId, Market};
    use crate::time::Timestamp;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn point(t: i64, [open, high, low, close]: [&str; 4]) -> DecisionPoint {
        let prices = Ohlc { open: d(open), high: d(high), low: d(low), close: d(close) };
        DecisionPoint {
            time: Timestamp(t),
            bars: vec![Bar {
                feed: FeedId(0),
                time: Timestamp(t),
                numbers: Default::default(),
                texts: vec![],
                prices,
                hash: DataHash::default(),
            }],
        }
    }

    struct Fixture {
        market: Market,
        broker: SimulatedBroker,
        t: i64,
    }

    impl Fixture {
        fn new(cash: &str, rate: &str) -> Self {
            let schemas = vec![FeedSchema::new("X", "X")];
            let config = SimulatedBrokerConfig { cash: d(cash), commission_rate: d(rate), allow_short: false };
            Self { broker: SimulatedBroker::new(config, &schemas), market: Market::new(schemas, 16), t: 0 }
        }

        fn bar(&mut self, ohlc: [&str; 4]) -> Vec<OrderEvent> {
            self.t += 1;
            self.market.advance(point(self.t, ohlc));
            self.broker.on_market(self.market.latest());
            self.events()
        }

        fn events(&mut self) -> Vec<OrderEvent> {
            let mut events = Vec::new();
            self.broker.drain_events(&mut events);
            events
        }

        fn order(&mut self, side: Side, qty: &str, order_type: OrderType) -> OrderId {
            let request = OrderRequest {
                feed: FeedId(0),
                symbol: "X".into(),
                side,
                qty: d(qty),
                order_type,
                time_in_force: TimeInForce::Gtc,
                client_order_id: Some("c1".into()),
            };
            self.broker.submit(request).unwrap()
        }
    }

    fn fill_price(events: &[OrderEvent]) -> Option<Decimal> {
        events.iter().find_map(|e| match &e.status {
            OrderStatus::Filled(f) => Some(f.price),
            _ => None,
        })
    }

    #[test]
    fn market_order_fills_at_next_open_with_commission_on_both_sides() {
        let mut f = Fixture::new("10000", "0.001");
        f.bar(["100", "101", "99", "100.5"]);
        f.order(Side::Buy, "10", OrderType::Market);
        let accepted = f.events();
        assert_eq!(accepted[0].status, OrderStatus::Accepted);
        assert_eq!(accepted[0].client_order_id.as_deref(), Some("c1"));
        let events = f.bar(["100.1733", "102", "100", "101"]);
        let OrderStatus::Filled(fill) = &events[0].status else { panic!("{events:?}") };
        assert_eq!((fill.price, fill.qty, fill.commission), (d("100.1733"), d("10"), d("1.001733")));
        assert_eq!(fill.bar_time, Timestamp(2));
        assert_eq!(f.broker.cash(), d("10000") - d("1001.733") - d("1.001733"));
        assert_eq!(f.broker.value(), f.broker.cash() + d("1010"));
        f.order(Side::Sell, "10", OrderType::Market);
        let events = f.bar(["102", "102", "102", "102"]);
        assert_eq!(fill_price(&events), Some(d("102")));
        assert_eq!(f.broker.cash(), d("10000") - d("1001.733") - d("1.001733") + d("1020") - d("1.02"));
        assert_eq!(f.broker.positions().as_slice(), [(FeedId(0), Decimal::ZERO)]);
    }

    #[test]
    fn limit_orders_fill_at_the_open_when_better_else_at_the_limit() {
        let mut f = Fixture::new("100000", "0");
        f.bar(["100", "100", "100", "100"]);
        f.order(Side::Buy, "1", OrderType::Limit(d("99")));
        assert_eq!(fill_price(&f.bar(["100", "101", "99.5", "100"])), None, "low above the limit");
        assert_eq!(fill_price(&f.bar(["100", "101", "98", "100"])), Some(d("99")));
        f.order(Side::Buy, "1", OrderType::Limit(d("99")));
        assert_eq!(fill_price(&f.bar(["97", "98", "96", "97"])), Some(d("97")), "gap below the limit");
        f.order(Side::Sell, "1", OrderType::Limit(d("105")));
        assert_eq!(fill_price(&f.bar(["100", "106", "99", "100"])), Some(d("105")));
    }

    #[test]
    fn stop_orders_fill_at_the_open_on_a_gap_else_at_the_stop() {
        let mut f = Fixture::new("100000", "0");
        f.bar(["100", "100", "100", "100"]);
        f.order(Side::Buy, "2", OrderType::Stop(d("102")));
        assert_eq!(fill_price(&f.bar(["100", "101", "99", "100"])), None);
        assert_eq!(fill_price(&f.bar(["100", "103", "99", "100"])), Some(d("102")));
        f.order(Side::Sell, "1", OrderType::Stop(d("95")));
        assert_eq!(fill_price(&f.bar(["94", "96", "93", "95"])), Some(d("94")), "gap through the stop");
    }

    #[test]
    fn stop_limit_triggers_then_works_as_a_limit() {
        let mut f = Fixture::new("100000", "0");
        f.bar(["100", "100", "100", "100"]);
        // Stop reached within a rising bar, limit below the stop: no fill, but triggered.
        f.order(Side::Buy, "1", OrderType::StopLimit { stop: d("102"), limit: d("101") });
        assert_eq!(fill_price(&f.bar(["100", "103", "99", "102.5"])), None);
        assert_eq!(fill_price(&f.bar(["101.5", "102", "100.5", "101"])), Some(d("101")));
        // Limit at or beyond the stop fills at the stop.
        f.order(Side::Buy, "1", OrderType::StopLimit { stop: d("102"), limit: d("103") });
        assert_eq!(fill_price(&f.bar(["101", "104", "100", "103"])), Some(d("102")));
    }

    #[test]
    fn cash_is_checked_at_submission_together_and_again_at_the_fill() {
        let mut f = Fixture::new("1000", "0.01");
        f.bar(["100", "100", "100", "100"]);
        f.order(Side::Buy, "5", OrderType::Market); // 505 with commission
        f.order(Side::Buy, "5", OrderType::Market); // another 505: over 1000 together
        let events = f.events();
        assert_eq!(events[0].status, OrderStatus::Accepted);
        let OrderStatus::Rejected(reason) = &events[1].status else { panic!("{events:?}") };
        assert_eq!(reason, "insufficient cash: 5 X at 100 costs 505 with commission, cash is 495");
        // The open gaps up: the accepted order no longer fits at the fill price.
        let events = f.bar(["250", "250", "250", "250"]);
        let OrderStatus::Rejected(reason) = &events[0].status else { panic!("{events:?}") };
        assert!(reason.starts_with("at fill: insufficient cash"), "{reason}");
        assert_eq!(f.broker.cash(), d("1000"));
    }

    #[test]
    fn long_only_refuses_selling_more_than_held_and_cancel_reports() {
        let mut f = Fixture::new("1000", "0");
        f.bar(["10", "10", "10", "10"]);
        f.order(Side::Sell, "1", OrderType::Market);
        let events = f.events();
        assert!(matches!(&events[0].status, OrderStatus::Rejected(r) if r.starts_with("insufficient position")));
        let id = f.order(Side::Buy, "1", OrderType::Limit(d("5")));
        f.events();
        assert_eq!(f.broker.open_orders().len(), 1);
        f.broker.cancel(id, "asked by the agent").unwrap();
        assert_eq!(f.events()[0].status, OrderStatus::Canceled("asked by the agent".into()));
        assert_eq!(f.broker.cancel(id, "again"), Err(BrokerError::NotOpen(id)));
        assert_eq!(f.broker.cancel(OrderId(99), "x"), Err(BrokerError::UnknownOrder(OrderId(99))));
    }

    #[test]
    fn orders_before_any_price_are_rejected() {
        let mut f = Fixture::new("1000", "0");
        f.order(Side::Buy, "1", OrderType::Market);
        assert_eq!(f.events()[0].status, OrderStatus::Rejected("no price for X yet".into()));
    }
}
