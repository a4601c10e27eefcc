//! The JSON form of a [`DecisionRecord`], as `docs/fmel-record.schema.json` describes it.

use super::{Access, AccessKind, Action, ActionKind, DecisionRecord, Detail, Fault, OverLimits, SessionHeader, Stage};
use crate::broker::{OpenOrder, OrderEvent, OrderStatus, OrderType};
use crate::decimal::{Normal, Positions};
use crate::market::{DataHash, FeedId};
use crate::time::Timestamp;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::fmt;

/// Appends the record's JSON (one line, no newline) to `out`.
pub fn encode(record: &DecisionRecord, out: &mut Vec<u8>) {
    let json = RecordJson::new(record);
    // Serializing plain data into a Vec cannot fail.
    serde_json::to_writer(out, &json).expect("FMEL records serialize");
}

#[derive(Serialize)]
struct RecordJson<'a> {
    session_id: &'a str,
    agent_id: &'a str,
    decision_point: u64,
    timestamp: Timestamp,
    bar_time: Option<Timestamp>,
    stage: Stage,
    action: Summary<'a>,
    actions: Vec<ActionJson<'a>>,
    data_accessed: Vec<Group<'a>>,
    portfolio_value: Normal,
    portfolio_cash: Normal,
    positions: Positions<'a>,
    rationale: Option<&'a str>,
    #[serde(skip_serializing_if = "OverLimits::is_zero")]
    over_limits: OverLimits,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a SessionHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<OrderJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_orders: Option<Vec<OpenOrderJson<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Fault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canceled_orders: Option<Vec<OpenOrderJson<'a>>>,
}

impl<'a> RecordJson<'a> {
    fn new(r: &'a DecisionRecord) -> Self {
        let mut json = RecordJson {
            session_id: &r.session.session_id,
            agent_id: &r.session.agent_id,
            decision_point: r.decision_point,
            timestamp: r.wall_time,
            bar_time: r.bar_time,
            stage: r.stage,
            action: Summary(&r.actions),
            actions: r.actions.iter().map(ActionJson::new).collect(),
            data_accessed: groups(r),
            portfolio_value: Normal(r.portfolio.value),
            portfolio_cash: Normal(r.portfolio.cash),
            positions: Positions(&r.portfolio.positions),
            rationale: r.rationale.as_deref(),
            over_limits: r.over_limits,
            session: None,
            order: None,
            open_orders: None,
            error: None,
            canceled_orders: None,
        };
        match &r.detail {
            Detail::None => {}
            Detail::Header(header) => json.session = Some(header),
            Detail::Order(event) => json.order = Some(OrderJson::new(event)),
            Detail::Stop { open_orders } => json.open_orders = Some(open_orders.iter().map(OpenOrderJson::new).collect()),
            Detail::Error { fault, canceled } => {
                json.error = Some(fault);
                json.canceled_orders = Some(canceled.iter().map(OpenOrderJson::new).collect());
            }
        }
        json
    }
}

/// `"HOLD"`, or the actions in order: `"BUY(SYMA) → SELL(SYMB)"`.
struct Summary<'a>(&'a [Action]);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("HOLD");
        }
        for (i, action) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "{}({})", action_name(&action.kind), action.symbol)?;
        }
        Ok(())
    }
}

impl Serialize for Summary<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn action_name(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::Submit { side: crate::broker::Side::Buy, .. } => "BUY",
        ActionKind::Submit { .. } => "SELL",
        ActionKind::Cancel => "CANCEL",
    }
}

#[derive(Serialize)]
struct ActionJson<'a> {
    seq: u32,
    timestamp_ns: i64,
    action: &'static str,
    symbol: &'a str,
    size: Option<Normal>,
    price: Option<Normal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_price: Option<Normal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_in_force: Option<crate::broker::TimeInForce>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_order_id: Option<&'a str>,
    order_id: Option<u64>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl<'a> ActionJson<'a> {
    fn new(a: &'a Action) -> Self {
        let mut json = ActionJson {
            seq: a.seq,
            timestamp_ns: a.wall_time.0,
            action: action_name(&a.kind),
            symbol: &a.symbol,
            size: None,
            price: None,
            stop_price: None,
            order_type: None,
            time_in_force: None,
            client_order_id: None,
            order_id: a.order_id.map(|id| id.0),
            status: if a.error.is_some() { "REFUSED" } else { "SUBMITTED" },
            error: a.error.as_deref(),
        };
        if let ActionKind::Submit { qty, order_type, time_in_force, client_order_id, .. } = &a.kind {
            json.size = Some(Normal(*qty));
            json.price = order_type.price().map(Normal);
            json.stop_price = order_type.stop_price().map(Normal);
            json.order_type = Some(order_type.name());
            json.time_in_force = Some(*time_in_force);
            json.client_order_id = client_order_id.as_deref();
        }
        json
    }
}

#[derive(Serialize)]
struct OrderJson<'a> {
    id: u64,
    client_order_id: Option<&'a str>,
    symbol: &'a str,
    side: crate::broker::Side,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<Normal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qty: Option<Normal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commission: Option<Normal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cumulative_qty: Option<Normal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fill_bar_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl<'a> OrderJson<'a> {
    fn new(e: &'a OrderEvent) -> Self {
        let mut json = OrderJson {
            id: e.id.0,
            client_order_id: e.client_order_id.as_deref(),
            symbol: &e.symbol,
            side: e.side,
            status: e.status.name(),
            price: None,
            qty: None,
            commission: None,
            cumulative_qty: None,
            fill_bar_time: None,
            reason: None,
        };
        match &e.status {
            OrderStatus::Accepted => {}
            OrderStatus::PartiallyFilled(fill) | OrderStatus::Filled(fill) => {
                json.price = Some(Normal(fill.price));
                json.qty = Some(Normal(fill.qty));
                json.commission = Some(Normal(fill.commission));
                json.cumulative_qty = Some(Normal(fill.cumulative_qty));
                json.fill_bar_time = Some(fill.bar_time);
            }
            OrderStatus::Canceled(reason) | OrderStatus::Rejected(reason) => json.reason = Some(reason),
        }
        json
    }
}

#[derive(Serialize)]
struct OpenOrderJson<'a> {
    id: u64,
    symbol: &'a str,
    side: crate::broker::Side,
    qty: Normal,
    filled_qty: Normal,
    order_type: &'static str,
    price: Option<Normal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_price: Option<Normal>,
}

impl<'a> OpenOrderJson<'a> {
    fn new(o: &'a OpenOrder) -> Self {
        let order_type: &OrderType = &o.request.order_type;
        OpenOrderJson {
            id: o.id.0,
            symbol: &o.request.symbol,
            side: o.request.side,
            qty: Normal(o.request.qty),
            filled_qty: Normal(o.filled_qty),
            order_type: order_type.name(),
            price: order_type.price().map(Normal),
            stop_price: order_type.stop_price().map(Normal),
        }
    }
}

/// The reads of one symbol, or of the portfolio.
#[derive(Serialize)]
struct Group<'a> {
    symbol: &'a str,
    data_hash: Option<DataHash>,
    fields_accessed: Vec<&'a str>,
    access_patterns: Patterns<'a>,
    #[serde(skip)]
    feed: Option<FeedId>,
}

struct Patterns<'a>(Vec<(u32, &'a str, Shape)>);

#[derive(Clone, Copy)]
enum Shape {
    None,
    Index(i32),
    /// Consecutive single reads from the first offset to the last, one step at a time.
    Indices(i32, i32),
    /// A window, oldest offset first.
    Range(i64, i64),
}

impl Serialize for Patterns<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for &(n, field, shape) in &self.0 {
            seq.serialize_element(&Pattern { seq: n, field, shape })?;
        }
        seq.end()
    }
}

struct Pattern<'a> {
    seq: u32,
    field: &'a str,
    shape: Shape,
}

impl Serialize for Pattern<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("seq", &self.seq)?;
        map.serialize_entry("field", self.field)?;
        match self.shape {
            Shape::None => {}
            Shape::Index(i) => map.serialize_entry("index", &i)?,
            Shape::Indices(a, b) => map.serialize_entry("indices", &[a, b])?,
            Shape::Range(a, b) => map.serialize_entry("range", &[a, b])?,
        }
        map.end()
    }
}

const PORTFOLIO: &str = "$portfolio";

/// Groups reads by symbol in order of first read, folding runs of single reads.
fn groups(r: &DecisionRecord) -> Vec<Group<'_>> {
    let names = &*r.names;
    let mut groups: Vec<Group> = Vec::new();
    let mut i = 0;
    while i < r.accesses.len() {
        let Access { seq, kind } = r.accesses[i];
        let (feed, field, shape): (Option<FeedId>, &str, Shape) = match kind {
            AccessKind::Number { series, offset } | AccessKind::Text { series, offset } => {
                let (n, step) = run(&r.accesses[i..]);
                let (feed, field) = &names.series[series as usize];
                let shape = match n {
                    1 => Shape::Index(offset),
                    _ => Shape::Indices(offset, (i64::from(offset) + step * (n as i64 - 1)) as i32),
                };
                i += n - 1;
                (Some(*feed), field, shape)
            }
            AccessKind::Window { series, len } => {
                let (feed, field) = &names.series[series as usize];
                (Some(*feed), field, Shape::Range(1 - i64::from(len), 0))
            }
            AccessKind::Cash => (None, "cash", Shape::None),
            AccessKind::Value => (None, "value", Shape::None),
            AccessKind::Position { symbol } => (None, &names.position_fields[symbol as usize], Shape::None),
        };
        i += 1;
        let group = match groups.iter_mut().position(|g| g.feed == feed) {
            Some(at) => &mut groups[at],
            None => {
                let symbol = feed.map_or(PORTFOLIO, |f| &*names.feeds[f.index()]);
                let data_hash = feed.and_then(|f| r.data_hashes.iter().find(|(id, _)| *id == f).and_then(|(_, h)| *h));
                groups.push(Group {
                    symbol,
                    data_hash,
                    fields_accessed: Vec::new(),
                    access_patterns: Patterns(Vec::new()),
                    feed,
                });
                groups.last_mut().expect("just pushed")
            }
        };
        if !group.fields_accessed.contains(&field) {
            group.fields_accessed.push(field);
        }
        group.access_patterns.0.push((seq, field, shape));
    }
    groups
}

/// A run of single numeric reads of one series that folds into one
/// pattern: consecutive in seq, the offset moving by one each time in one
/// direction. Returns its length and the step.
fn run(accesses: &[Access]) -> (usize, i64) {
    let first = accesses[0];
    let AccessKind::Number { series, offset } = first.kind else {
        return (1, 0);
    };
    let follows = |n: usize, step: i64| {
        accesses.get(n).is_some_and(|a| {
            a.seq == first.seq + n as u32
                && matches!(a.kind, AccessKind::Number { series: s, offset: o }
                    if s == series && i64::from(o) == i64::from(offset) + step * n as i64)
        })
    };
    let Some(step) = [1, -1].into_iter().find(|&step| follows(1, step)) else {
        return (1, 0);
    };
    let mut n = 2;
    while follows(n, step) {
        n += 1;
    }
    (n, step)
}
