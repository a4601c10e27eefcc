//! The host side of the imports: every market and portfolio read an agent
//! makes passes through here and is logged.

use super::bindings::trading::agent::{decision, market, orders, portfolio, types};
use super::fast_read::{Column, ReadTable};
use crate::broker::{self, Broker, BrokerError, OrderId, OrderRequest, OrderType};
use crate::decimal;
use crate::fmel::{Access, AccessKind, AccessNames, Accesses, Action, ActionKind, DataHashes, OverLimits};
use crate::limits::AgentLimits;
use crate::market::{FeedId, Market, MarketView};
use crate::time::Timestamp;
use parking_lot::RawRwLock;
use parking_lot::lock_api::ArcRwLockReadGuard;
use rust_decimal::Decimal;
use std::sync::Arc;

/// What a series id points at.
#[derive(Clone, Copy)]
enum Series {
    Number {
        feed: FeedId,
        field: usize,
    },
    Text {
        feed: FeedId,
        field: usize,
    },
    /// A field the feed does not carry: always missing.
    Absent {
        feed: FeedId,
    },
}

impl Series {
    fn feed(self) -> FeedId {
        match self {
            Series::Number { feed, .. } | Series::Text { feed, .. } | Series::Absent { feed } => feed,
        }
    }
}

/// A call the sandbox's bounds do not allow: it traps, and ends the agent.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HostFault {
    /// `out-of-range`, or `limit` for per-decision bounds.
    pub kind: &'static str,
    pub message: String,
}

fn fault(kind: &'static str, message: String) -> wasmtime::Error {
    wasmtime::Error::new(HostFault { kind, message })
}

/// What the agent did during one call: its reads, its orders, its rationale.
// `repr(C)` and the table first: the fast read builtin finds the table at
// the start of the store data (see `AgentState`).
#[repr(C)]
pub struct CallLog {
    /// The fast read path's state, the sequence number among it.
    table: ReadTable,
    pub accesses: Vec<Access>,
    pub actions: Vec<Action>,
    pub rationale: Option<String>,
    over: OverLimits,
}

// Where the builtin finds the table: the store data (`AgentState`) starts
// with the host state, which starts with the log, which starts with it.
const _: () = assert!(std::mem::offset_of!(HostState, log) == 0 && std::mem::offset_of!(CallLog, table) == 0);

impl CallLog {
    fn new(reads_limit: u32) -> Self {
        Self {
            table: ReadTable::new(reads_limit),
            accesses: Vec::new(),
            actions: Vec::new(),
            rationale: None,
            over: OverLimits::default(),
        }
    }

    /// Logs the runs of reads the builtin answered since the host's last
    /// visit: before the host logs anything itself, and after every call.
    pub fn drain_pending(&mut self) {
        self.accesses.extend(self.table.take_pending());
    }

    /// Takes what the bounds refused since the last take.
    pub fn take_over_limits(&mut self) -> OverLimits {
        std::mem::take(&mut self.over)
    }

    /// Takes what the last call did, keeping the sequence running: its
    /// reads into `accesses` (a record's, filled in place rather than moved
    /// there), its actions and its rationale. The access buffer keeps its
    /// capacity, so that logging a read does not allocate in the steady state.
    pub fn take_into(&mut self, accesses: &mut Accesses) -> (Vec<Action>, Option<String>) {
        self.drain_pending();
        accesses.extend_from_slice(&self.accesses);
        self.accesses.clear();
        (std::mem::take(&mut self.actions), self.rationale.take())
    }

    fn next_seq(&mut self) -> u32 {
        self.drain_pending();
        self.table.next_seq()
    }

    /// Logs a read the host answers.
    #[inline]
    fn access(&mut self, kind: AccessKind) {
        self.drain_pending();
        let seq = self.table.count_read();
        if self.table.logging() {
            Access { seq, kind }.log_into(&mut self.accesses);
        }
    }
}

/// How much of each per-decision bound is used; reads are counted in the
/// fast read table.
#[derive(Default)]
struct Used {
    orders: u32,
    explain_bytes: u32,
}

/// The agent's view of the host, kept in its store.
// `repr(C)` and the log first: see `CallLog`.
#[repr(C)]
pub struct HostState {
    pub log: CallLog,
    /// The market, read-locked while the session runs the agent.
    market: Option<ArcRwLockReadGuard<RawRwLock, Market>>,
    /// The decision point the agent is at, kept between locks; none before the first.
    at: Option<u64>,
    series: Vec<Series>,
    names: Arc<AccessNames>,
    pub broker: Box<dyn Broker>,
    limits: AgentLimits,
    used: Used,
}

fn out_of_range(message: String) -> wasmtime::Error {
    fault("out-of-range", message)
}

impl HostState {
    pub fn new(market: MarketView<'_>, broker: Box<dyn Broker>, limits: AgentLimits) -> Self {
        let names = AccessNames { feeds: market.feeds().iter().map(|f| f.schema.symbol.clone()).collect(), ..Default::default() };
        Self {
            market: None,
            at: None,
            series: Vec::new(),
            names: Arc::new(names),
            log: CallLog::new(limits.reads_per_decision),
            broker,
            limits,
            used: Used::default(),
        }
    }

    /// Turns access logging off or on. Only `bench/` turns it off, to
    /// measure what logging costs; a run always logs.
    #[doc(hidden)]
    pub fn set_logging(&mut self, on: bool) {
        self.log.table.set_logging(on);
    }

    /// Sequence numbers and per-decision bounds start over at each decision point.
    pub fn new_decision(&mut self) {
        self.log.table.new_decision();
        self.used = Used::default();
    }

    /// Logs a read, or traps when the decision has had too many.
    #[inline]
    fn access(&mut self, kind: AccessKind) -> wasmtime::Result<()> {
        if !self.log.table.may_read() {
            return Err(self.too_many_reads());
        }
        self.log.access(kind);
        Ok(())
    }

    // Out of line, so that the fast path of every read stays small enough to inline.
    #[cold]
    fn too_many_reads(&self) -> wasmtime::Error {
        let limit = self.limits.reads_per_decision;
        fault("limit", format!("more than {limit} reads in one decision point (reads_per_decision)"))
    }

    /// Counts an order request or cancel against its bound.
    fn order_allowed(&mut self) -> Result<(), types::LimitExceeded> {
        if self.used.orders >= self.limits.orders_per_decision {
            self.log.over.orders += 1;
            let limit = u64::from(self.limits.orders_per_decision);
            return Err(types::LimitExceeded { bound: "orders_per_decision".into(), limit });
        }
        self.used.orders += 1;
        Ok(())
    }

    /// Refuses names longer than the bound, before the host keeps any.
    fn name_allowed(&self, what: &str, name: &str) -> wasmtime::Result<()> {
        let limit = self.limits.name_bytes as usize;
        if name.len() > limit {
            return Err(out_of_range(format!("a {what} of {} bytes is over the limit of {limit} (name_bytes)", name.len())));
        }
        Ok(())
    }

    fn intern_allowed(&self, interned: usize) -> wasmtime::Result<()> {
        if interned >= self.limits.series as usize {
            let limit = self.limits.series;
            return Err(fault("limit", format!("more than {limit} series and position symbols interned (series)")));
        }
        Ok(())
    }

    /// Lets the agent read the market, as it was at the agent's decision point.
    pub fn lock_market(&mut self, guard: ArcRwLockReadGuard<RawRwLock, Market>) {
        self.market = Some(guard);
        self.set_fast_columns();
    }

    /// Moves the agent to a later decision point of the market.
    pub fn move_to(&mut self, at: u64) {
        self.at = Some(at);
    }

    pub fn unlock_market(&mut self) {
        self.log.table.arm(None);
        self.market = None;
    }

    /// The market at the agent's decision point; the session holds it
    /// locked around every call into the agent.
    pub fn market(&self) -> MarketView<'_> {
        self.market.as_deref().expect("the session locks the market around calls into the agent").view(self.at)
    }

    /// Points the fast read path at the locked market's rings: when the
    /// lock is taken, once per block of points, and when a series is interned.
    fn set_fast_columns(&mut self) {
        let Some(market) = self.market.as_deref().map(Market::latest) else {
            return;
        };
        let columns = self.series.iter().map(|series| match series {
            Series::Number { feed, field } => {
                let (values, counts) = market.raw_column(*feed, *field);
                Column { values, counts }
            }
            _ => Column::default(),
        });
        self.log.table.set_columns(market, columns);
    }

    /// Turns the fast read path on at the agent's decision point, or off
    /// while no market is locked; before every call into the agent.
    pub fn arm_fast_reads(&mut self) {
        let view = self.market.as_deref().map(|market| market.view(self.at));
        self.log.table.arm(view.and_then(|view| Some((view.decision()?, view.point_slot()?))));
    }

    /// Lets the broker work open orders against the current decision point.
    pub fn work_orders(&mut self) {
        let market = self.market.as_deref().expect("the session locks the market around calls into the agent");
        self.broker.on_market(market.view(self.at));
    }

    pub fn names(&self) -> &Arc<AccessNames> {
        &self.names
    }

    /// The current bar hash of every feed the logged reads touched, in order of first read.
    pub fn data_hashes(&self) -> DataHashes {
        let market = self.market();
        let mut hashes = DataHashes::new();
        for access in &self.log.accesses {
            let series = match access.kind {
                AccessKind::Number { series, .. } | AccessKind::Window { series, .. } | AccessKind::Text { series, .. } => series,
                _ => continue,
            };
            let feed = self.series[series as usize].feed();
            if !hashes.iter().any(|(f, _)| *f == feed) {
                hashes.push((feed, market.current(feed).map(|bar| bar.hash)));
            }
        }
        hashes
    }

    fn feed_id(&self, feed: u32) -> wasmtime::Result<FeedId> {
        if (feed as usize) < self.market().feeds().len() {
            Ok(FeedId(feed))
        } else {
            Err(out_of_range(format!("unknown feed id {feed}")))
        }
    }

    fn resolve(&self, id: u32) -> wasmtime::Result<Series> {
        self.series
            .get(id as usize)
            .copied()
            .ok_or_else(|| out_of_range(format!("unknown series id {id}; intern it with market.series first")))
    }

    fn record(&mut self, kind: ActionKind, symbol: Arc<str>, result: &Result<OrderId, types::OrderError>) {
        let seq = self.log.next_seq();
        let (order_id, error) = match result {
            Ok(id) => (Some(*id), None),
            Err(e) => (None, Some(order_error_text(e))),
        };
        self.log.actions.push(Action { seq, wall_time: Timestamp::now(), kind, symbol, order_id, error });
    }
}

fn side_from(side: types::Side) -> broker::Side {
    match side {
        types::Side::Buy => broker::Side::Buy,
        types::Side::Sell => broker::Side::Sell,
    }
}

/// The order type with its prices as decimals, and the first price that is
/// not a positive finite number, if any. Bad prices become zero, for the log.
fn order_type_from(t: &types::OrderType) -> (OrderType, Option<f64>) {
    let mut bad = None;
    let mut price = |p: f64| match decimal::from_f64(p).filter(|d| *d > Decimal::ZERO) {
        Some(d) => d,
        None => {
            bad.get_or_insert(p);
            Decimal::ZERO
        }
    };
    let order_type = match *t {
        types::OrderType::Market => OrderType::Market,
        types::OrderType::Limit(p) => OrderType::Limit(price(p)),
        types::OrderType::Stop(p) => OrderType::Stop(price(p)),
        types::OrderType::StopLimit(p) => OrderType::StopLimit { stop: price(p.stop), limit: price(p.limit) },
    };
    (order_type, bad)
}

fn time_in_force_from(tif: types::TimeInForce) -> broker::TimeInForce {
    match tif {
        types::TimeInForce::Day => broker::TimeInForce::Day,
        types::TimeInForce::Gtc => broker::TimeInForce::Gtc,
        types::TimeInForce::Ioc => broker::TimeInForce::Ioc,
        types::TimeInForce::Fok => broker::TimeInForce::Fok,
        types::TimeInForce::Opg => broker::TimeInForce::Opg,
        types::TimeInForce::Cls => broker::TimeInForce::Cls,
    }
}

fn broker_error(e: BrokerError) -> types::OrderError {
    match e {
        BrokerError::UnknownOrder(id) => types::OrderError::UnknownOrder(id.0),
        BrokerError::NotOpen(id) => types::OrderError::NotOpen(id.0),
        BrokerError::Unavailable(reason) => types::OrderError::Unavailable(reason),
    }
}

fn order_error_text(e: &types::OrderError) -> String {
    match e {
        types::OrderError::UnknownSymbol(m) => format!("unknown-symbol: {m}"),
        types::OrderError::InvalidQuantity(m) => format!("invalid-quantity: {m}"),
        types::OrderError::InvalidPrice(m) => format!("invalid-price: {m}"),
        types::OrderError::UnknownOrder(id) => format!("unknown-order: {id}"),
        types::OrderError::NotOpen(id) => format!("not-open: {id}"),
        types::OrderError::LimitExceeded(l) => format!("limit-exceeded: {} is {}", l.bound, l.limit),
        types::OrderError::Unavailable(m) => format!("unavailable: {m}"),
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn floor_char_boundary(text: &str, max: usize) -> usize {
    if max >= text.len() {
        return text.len();
    }
    (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

impl types::Host for HostState {}

impl market::Host for HostState {
    fn feeds(&mut self) -> wasmtime::Result<Vec<types::FeedInfo>> {
        let strings = |v: &[Arc<str>]| v.iter().map(|s| s.to_string()).collect();
        Ok(self
            .market()
            .feeds()
            .iter()
            .enumerate()
            .map(|(i, f)| types::FeedInfo {
                id: i as u32,
                name: f.schema.name.to_string(),
                symbol: f.schema.symbol.to_string(),
                fields: strings(&f.schema.fields),
                text_fields: strings(&f.schema.text_fields),
            })
            .collect())
    }

    fn series(&mut self, feed: u32, field: String) -> wasmtime::Result<Option<u32>> {
        self.name_allowed("field name", &field)?;
        let Ok(feed) = self.feed_id(feed) else {
            return Ok(None);
        };
        if let Some(id) = self.names.series.iter().position(|(f, name)| *f == feed && **name == *field) {
            return Ok(Some(id as u32));
        }
        self.intern_allowed(self.series.len() + self.names.position_fields.len())?;
        let schema = &self.market().feed(feed).schema;
        let series = match (schema.field_index(&field), schema.text_field_index(&field)) {
            (Some(field), _) => Series::Number { feed, field },
            (None, Some(field)) => Series::Text { feed, field },
            (None, None) => Series::Absent { feed },
        };
        self.series.push(series);
        Arc::make_mut(&mut self.names).series.push((feed, field.into()));
        self.set_fast_columns();
        self.arm_fast_reads();
        Ok(Some(self.series.len() as u32 - 1))
    }

    #[inline]
    fn read(&mut self, series: u32, offset: i32) -> wasmtime::Result<f64> {
        let target = self.resolve(series)?;
        self.access(AccessKind::number(series, offset))?;
        match target {
            Series::Number { feed, field } => self.market().number(feed, field, offset).map_err(|e| out_of_range(e.to_string())),
            Series::Text { .. } | Series::Absent { .. } => Ok(f64::NAN),
        }
    }

    fn window(&mut self, series: u32, len: u32) -> wasmtime::Result<Vec<f64>> {
        let target = self.resolve(series)?;
        if len > self.limits.window_len {
            let limit = self.limits.window_len;
            return Err(out_of_range(format!("a window of {len} values is over the limit of {limit} (window_len)")));
        }
        self.access(AccessKind::Window { series, len })?;
        let mut out = Vec::with_capacity(len as usize);
        if let Series::Number { feed, field } = target {
            self.market().window(feed, field, len, &mut out).map_err(|e| out_of_range(e.to_string()))?;
        }
        Ok(out)
    }

    fn read_text(&mut self, series: u32, offset: i32) -> wasmtime::Result<Option<String>> {
        let target = self.resolve(series)?;
        self.access(AccessKind::Text { series, offset })?;
        let Series::Text { feed, field } = target else {
            return Ok(None);
        };
        let text = self.market().text(feed, field, offset).map_err(|e| out_of_range(e.to_string()))?;
        let limit = self.limits.text_bytes as usize;
        match text {
            Some(text) if text.len() > limit => {
                Err(out_of_range(format!("a text of {} bytes is over the limit of {limit} (text_bytes)", text.len())))
            }
            text => Ok(text.map(|t| t.to_string())),
        }
    }

    fn bar_count(&mut self, feed: u32) -> wasmtime::Result<u64> {
        let feed = self.feed_id(feed)?;
        Ok(self.market().count(feed))
    }

    fn updated(&mut self, feed: u32) -> wasmtime::Result<bool> {
        let feed = self.feed_id(feed)?;
        Ok(self.market().updated(feed))
    }
}

impl portfolio::Host for HostState {
    fn cash(&mut self) -> wasmtime::Result<f64> {
        self.access(AccessKind::Cash)?;
        Ok(decimal::to_f64(self.broker.cash()))
    }

    fn value(&mut self) -> wasmtime::Result<f64> {
        self.access(AccessKind::Value)?;
        Ok(decimal::to_f64(self.broker.value()))
    }

    fn position(&mut self, symbol: String) -> wasmtime::Result<f64> {
        self.name_allowed("symbol", &symbol)?;
        let field = format!("position.{symbol}");
        let index = match self.names.position_fields.iter().position(|f| **f == *field) {
            Some(i) => i,
            None => {
                self.intern_allowed(self.series.len() + self.names.position_fields.len())?;
                Arc::make_mut(&mut self.names).position_fields.push(field.into());
                self.names.position_fields.len() - 1
            }
        };
        self.access(AccessKind::Position { symbol: index as u32 })?;
        Ok(decimal::to_f64(self.broker.position(&symbol)))
    }
}

impl orders::Host for HostState {
    fn submit(&mut self, request: types::OrderRequest) -> wasmtime::Result<Result<u64, types::OrderError>> {
        // Requests over the bound are counted, not logged one by one.
        if let Err(limit) = self.order_allowed() {
            return Ok(Err(types::OrderError::LimitExceeded(limit)));
        }
        self.name_allowed("symbol", &request.symbol)?;
        if let Some(id) = &request.client_order_id {
            self.name_allowed("client order id", id)?;
        }
        let (order_type, bad_price) = order_type_from(&request.order_type);
        let qty = decimal::from_f64(request.qty);
        let (side, time_in_force) = (side_from(request.side), time_in_force_from(request.time_in_force));
        let client_order_id = request.client_order_id;
        let market = self.market();
        let feed = market.feed_by_symbol(&request.symbol);
        let symbol: Arc<str> = feed.map_or_else(|| request.symbol.as_str().into(), |f| market.feed(f).schema.symbol.clone());
        let result = match (feed, qty.filter(|q| *q > Decimal::ZERO), bad_price) {
            (None, ..) => Err(types::OrderError::UnknownSymbol(format!("no feed carries {}", request.symbol))),
            (_, None, _) => Err(types::OrderError::InvalidQuantity(format!(
                "quantity must be a positive finite number, got {}; the side gives the direction",
                request.qty
            ))),
            (_, _, Some(p)) => Err(types::OrderError::InvalidPrice(format!("price must be a positive finite number, got {p}"))),
            (Some(feed), Some(qty), None) => self
                .broker
                .submit(OrderRequest {
                    feed,
                    symbol: symbol.clone(),
                    side,
                    qty,
                    order_type,
                    time_in_force,
                    client_order_id: client_order_id.clone(),
                })
                .map_err(broker_error),
        };
        let action = ActionKind::Submit { side, qty: qty.unwrap_or_default(), order_type, time_in_force, client_order_id };
        self.record(action, symbol, &result);
        Ok(result.map(|id| id.0))
    }

    fn cancel(&mut self, id: u64) -> wasmtime::Result<Result<(), types::OrderError>> {
        if let Err(limit) = self.order_allowed() {
            return Ok(Err(types::OrderError::LimitExceeded(limit)));
        }
        let symbol = self.broker.open_orders().into_iter().find(|o| o.id.0 == id).map(|o| o.request.symbol);
        let result = self.broker.cancel(OrderId(id), "canceled by the agent").map_err(broker_error);
        let logged = result.clone().map(|()| OrderId(id));
        self.record(ActionKind::Cancel, symbol.unwrap_or_else(|| "".into()), &logged);
        Ok(result)
    }
}

impl decision::Host for HostState {
    fn explain(&mut self, text: String) -> wasmtime::Result<Result<(), types::LimitExceeded>> {
        let limit = self.limits.explain_bytes_per_decision as usize;
        let room = limit.saturating_sub(self.used.explain_bytes as usize);
        let separator = if self.log.rationale.is_some() { "; " } else { "" };
        let kept = floor_char_boundary(&text, room.saturating_sub(separator.len()));
        let dropped = text.len() - kept;
        if kept > 0 {
            let rationale = self.log.rationale.get_or_insert_with(String::new);
            rationale.push_str(separator);
            rationale.push_str(&text[..kept]);
            self.used.explain_bytes += (separator.len() + kept) as u32;
        }
        if dropped == 0 {
            return Ok(Ok(()));
        }
        self.log.over.explain_bytes += dropped as u64;
        Ok(Err(types::LimitExceeded { bound: "explain_bytes_per_decision".into(), limit: limit as u64 }))
    }
}
