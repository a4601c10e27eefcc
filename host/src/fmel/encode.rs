//! The JSON form of a [`DecisionRecord`], as `docs/fmel-record.schema.json` describes it.

use super::{Access, AccessKind, AccessNames, Accesses, Action, ActionKind, DecisionRecord, Detail, SessionMeta, Stage};
use crate::broker::{OpenOrder, OrderEvent, OrderStatus, OrderType};
use crate::decimal::Normal;
use crate::market::{DataHash, FeedId};
use crate::text::extend_small;
use crate::time::Timestamp;
use serde::Serialize;
use smallvec::SmallVec;
use std::sync::Arc;

/// About the size of a decision record with a few reads and positions.
const RECORD_BYTES: usize = 1024;

/// Appends the record's JSON (one line, no newline) to `out`.
///
/// The parts every record has, and the actions and order updates a
/// trading agent makes every few decisions, are written by hand: the
/// writer encodes a record for every decision of every agent, and serde's
/// generic path was its largest cost (an order update through serde cost
/// as much as five plain records). The rare parts (the header, a stop's
/// open orders, an error) go through serde.
pub fn encode(session: &SessionMeta, names: &Arc<AccessNames>, cache: &mut RecordCache, r: &DecisionRecord, out: &mut Vec<u8>) {
    // Room for a usual record up front, so that the many small appends
    // below seldom find the buffer full.
    out.reserve(RECORD_BYTES);
    out.extend_from_slice(&session.json_prefix);
    let mut json = Json { out, first: false };
    json.number(r.decision_point);
    json.key("timestamp").time(r.wall_time);
    json.key("bar_time");
    match r.bar_time {
        Some(t) => json.time(t),
        None => json.raw("null"),
    };
    json.key("stage").raw(match r.stage {
        Stage::Init => "\"INIT\"",
        Stage::Next => "\"NEXT\"",
        Stage::Order => "\"ORDER\"",
        Stage::Stop => "\"STOP\"",
        Stage::Error => "\"ERROR\"",
    });
    json.key("action");
    summary(&mut json, &r.actions);
    json.key("actions");
    actions(&mut json, &r.actions);
    json.key("data_accessed");
    cache.accessed.write(names, r, json.out);
    json.key("portfolio_value");
    cache.value.write(r.portfolio.value, json.out);
    json.key("portfolio_cash");
    cache.cash.write(r.portfolio.cash, json.out);
    json.key("positions").open(b'{');
    for (feed, qty) in &r.portfolio.positions {
        json.key_string(&names.feeds[feed.index()]).decimal(*qty);
    }
    json.close('}');
    json.key("rationale");
    match &r.rationale {
        Some(text) => json.string(text),
        None => json.raw("null"),
    };
    if !r.over_limits.is_zero() {
        json.key("over_limits").serde(&r.over_limits);
    }
    match &r.detail {
        Detail::None => {}
        Detail::Header(header) => {
            json.key("session").serde(header);
        }
        Detail::Order(event) => {
            json.key("order");
            order(&mut json, event);
        }
        Detail::Stop { open_orders } => {
            json.key("open_orders").serde(&open_orders.iter().map(OpenOrderJson::new).collect::<Vec<_>>());
        }
        Detail::Error { fault, canceled } => {
            json.key("error").serde(fault);
            json.key("canceled_orders").serde(&canceled.iter().map(OpenOrderJson::new).collect::<Vec<_>>());
        }
    }
    json.close('}');
}

/// The two lowercase hex digits of every byte: a record carries two
/// hashes, and a table lookup per byte is about twice as fast as a digit
/// at a time.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
        i += 1;
    }
    pairs
};

fn hex(hash: &DataHash, digits: &mut [u8]) {
    for (pair, byte) in digits.chunks_exact_mut(2).zip(hash.0) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
}

/// What a session's last records wrote, reused while its records repeat it.
#[derive(Default)]
pub struct RecordCache {
    accessed: AccessedCache,
    value: DecimalText,
    cash: DecimalText,
}

/// A decimal's text, kept while a session's records repeat the decimal:
/// cash changes only with a fill, and the portfolio's value only while a
/// position is held. Writing a decimal's text divides once per trailing zero.
#[derive(Default)]
struct DecimalText {
    decimal: Option<rust_decimal::Decimal>,
    text: Vec<u8>,
}

impl DecimalText {
    /// Appends the decimal, quoted, as `Json::decimal` would.
    fn write(&mut self, d: rust_decimal::Decimal, out: &mut Vec<u8>) {
        // Equal decimals have the same normal text, whatever their scales.
        if self.decimal != Some(d) {
            self.text.clear();
            crate::decimal::write_normal(d, &mut self.text);
            self.decimal = Some(d);
        }
        out.push(b'"');
        out.extend_from_slice(&self.text);
        out.push(b'"');
    }
}

/// A session's last `data_accessed`, reused while its records read the
/// same way: in a replay nearly every record does, and then only the
/// hashes differ. Written afresh, the part is some forty small appends and
/// most of a record's encoding.
#[derive(Default)]
struct AccessedCache {
    names: Option<Arc<AccessNames>>,
    accesses: Accesses,
    /// Each feed of the record's hashes, and whether it had one.
    hashed: SmallVec<[(FeedId, bool); 2]>,
    json: Vec<u8>,
    /// Where each written hash's digits start in `json`, and whose it is.
    slots: SmallVec<[(usize, FeedId); 2]>,
}

impl AccessedCache {
    fn write(&mut self, names: &Arc<AccessNames>, r: &DecisionRecord, out: &mut Vec<u8>) {
        let hashed = r.data_hashes.iter().map(|(feed, hash)| (*feed, hash.is_some()));
        let same = self.names.as_ref().is_some_and(|cached| Arc::ptr_eq(cached, names))
            && self.accesses == r.accesses
            && self.hashed.iter().copied().eq(hashed.clone());
        if !same {
            let start = out.len();
            let mut slots = SmallVec::new();
            data_accessed(names, r, &mut Json { out, first: false }, |at, feed| slots.push((at - start, feed)));
            // Records without reads gain nothing, and would push out the ones with.
            if !r.accesses.is_empty() {
                self.slots = slots;
                self.names = Some(names.clone());
                self.accesses.clone_from(&r.accesses);
                self.hashed = hashed.collect();
                self.json.clear();
                self.json.extend_from_slice(&out[start..]);
            }
            return;
        }
        let start = out.len();
        out.extend_from_slice(&self.json);
        for &(at, feed) in &self.slots {
            let hash = hash_of(r, feed).expect("the cached record had this feed's hash, and so does this one");
            hex(hash, &mut out[start + at..start + at + 64]);
        }
    }
}

fn hash_of(r: &DecisionRecord, feed: FeedId) -> Option<&DataHash> {
    r.data_hashes.iter().find(|(id, _)| *id == feed).and_then(|(_, hash)| hash.as_ref())
}

/// Writes JSON into a buffer, keeping track of commas.
struct Json<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Json<'a> {
    #[inline]
    fn open(&mut self, bracket: u8) {
        self.out.push(bracket);
        self.first = true;
    }

    #[inline]
    fn close(&mut self, bracket: char) {
        self.out.push(bracket as u8);
        self.first = false;
    }

    #[inline]
    fn comma(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(b',');
        }
    }

    /// A key; keys are plain ASCII, so they need no escaping.
    #[inline]
    fn key(&mut self, key: &str) -> &mut Self {
        self.comma();
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self
    }

    /// A key that may need escaping, such as a symbol.
    fn key_string(&mut self, key: &str) -> &mut Self {
        self.comma();
        self.string(key);
        self.out.push(b':');
        self
    }

    #[inline]
    fn raw(&mut self, text: &str) -> &mut Self {
        self.out.extend_from_slice(text.as_bytes());
        self
    }

    fn string(&mut self, text: &str) -> &mut Self {
        self.out.push(b'"');
        self.string_contents(text);
        self.out.push(b'"');
        self
    }

    /// `text` escaped as serde_json escapes it, without the quotes.
    fn string_contents(&mut self, text: &str) {
        // serde_json escapes control characters, quotes and backslashes only.
        if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.out.extend_from_slice(text.as_bytes());
        } else {
            let quoted = serde_json::to_string(text).expect("a string serializes");
            self.out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
        }
    }

    fn optional_string(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.string(text),
            None => self.raw("null"),
        }
    }

    fn optional_decimal(&mut self, d: Option<rust_decimal::Decimal>) -> &mut Self {
        match d {
            Some(d) => self.decimal(d),
            None => self.raw("null"),
        }
    }

    fn number(&mut self, n: impl itoa::Integer) -> &mut Self {
        extend_small(self.out, itoa::Buffer::new().format(n).as_bytes());
        self
    }

    #[inline]
    fn decimal(&mut self, d: rust_decimal::Decimal) -> &mut Self {
        self.out.push(b'"');
        crate::decimal::write_normal(d, self.out);
        self.out.push(b'"');
        self
    }

    #[inline]
    fn time(&mut self, t: Timestamp) -> &mut Self {
        self.out.push(b'"');
        t.write_rfc3339(self.out);
        self.out.push(b'"');
        self
    }

    fn hash(&mut self, hash: &DataHash) -> &mut Self {
        let mut digits = [0u8; 64];
        hex(hash, &mut digits);
        self.out.push(b'"');
        self.out.extend_from_slice(&digits);
        self.out.push(b'"');
        self
    }

    fn serde(&mut self, value: &(impl Serialize + ?Sized)) -> &mut Self {
        // Serializing plain data into a Vec cannot fail.
        serde_json::to_writer(&mut *self.out, value).expect("FMEL records serialize");
        self
    }
}

/// `"HOLD"`, or the actions in order: `"BUY(SYMA) → SELL(SYMB)"`.
fn summary(json: &mut Json, actions: &[Action]) {
    if actions.is_empty() {
        json.raw("\"HOLD\"");
        return;
    }
    json.out.push(b'"');
    for (i, action) in actions.iter().enumerate() {
        if i > 0 {
            json.raw(" → ");
        }
        json.raw(action_name(&action.kind)).raw("(");
        json.string_contents(&action.symbol);
        json.raw(")");
    }
    json.out.push(b'"');
}

fn action_name(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::Submit { side, .. } => side.name(),
        ActionKind::Cancel => "CANCEL",
    }
}

/// The record's actions; a cancel has no size, price or order terms.
fn actions(json: &mut Json, actions: &[Action]) {
    json.open(b'[');
    for a in actions {
        json.comma();
        json.open(b'{');
        json.key("seq").number(a.seq);
        json.key("timestamp_ns").number(a.wall_time.0);
        json.key("action").string(action_name(&a.kind));
        json.key("symbol").string(&a.symbol);
        match &a.kind {
            ActionKind::Submit { qty, order_type, time_in_force, client_order_id, .. } => {
                json.key("size").decimal(*qty);
                json.key("price").optional_decimal(order_type.price());
                if let Some(stop) = order_type.stop_price() {
                    json.key("stop_price").decimal(stop);
                }
                json.key("order_type").string(order_type.name());
                json.key("time_in_force").string(time_in_force.name());
                if let Some(id) = client_order_id {
                    json.key("client_order_id").string(id);
                }
            }
            ActionKind::Cancel => {
                json.key("size").raw("null");
                json.key("price").raw("null");
            }
        }
        json.key("order_id");
        match a.order_id {
            Some(id) => json.number(id.0),
            None => json.raw("null"),
        };
        json.key("status").raw(if a.error.is_some() { "\"REFUSED\"" } else { "\"SUBMITTED\"" });
        if let Some(error) = &a.error {
            json.key("error").string(error);
        }
        json.close('}');
    }
    json.close(']');
}

/// An order update; a fill's terms or a reason when the status has them.
fn order(json: &mut Json, e: &OrderEvent) {
    json.open(b'{');
    json.key("id").number(e.id.0);
    json.key("client_order_id").optional_string(e.client_order_id.as_deref());
    json.key("symbol").string(&e.symbol);
    json.key("side").string(e.side.name());
    json.key("status").string(e.status.name());
    match &e.status {
        OrderStatus::Accepted => {}
        OrderStatus::PartiallyFilled(fill) | OrderStatus::Filled(fill) => {
            json.key("price").decimal(fill.price);
            json.key("qty").decimal(fill.qty);
            json.key("commission").decimal(fill.commission);
            json.key("cumulative_qty").decimal(fill.cumulative_qty);
            json.key("fill_bar_time").time(fill.bar_time);
        }
        OrderStatus::Canceled(reason) | OrderStatus::Rejected(reason) => {
            json.key("reason").string(reason);
        }
    }
    json.close('}');
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

const PORTFOLIO: &str = "$portfolio";

/// Where an access belongs: a feed's entry, or the portfolio's.
fn owner(names: &AccessNames, kind: AccessKind) -> Option<FeedId> {
    match kind {
        AccessKind::Number { series, .. } | AccessKind::Text { series, .. } | AccessKind::Window { series, .. } => {
            Some(names.series[series as usize].0)
        }
        AccessKind::Cash | AccessKind::Value | AccessKind::Position { .. } => None,
    }
}

fn field(names: &AccessNames, kind: AccessKind) -> &str {
    match kind {
        AccessKind::Number { series, .. } | AccessKind::Text { series, .. } | AccessKind::Window { series, .. } => {
            &names.series[series as usize].1
        }
        AccessKind::Cash => "cash",
        AccessKind::Value => "value",
        AccessKind::Position { symbol } => &names.position_fields[symbol as usize],
    }
}

/// Which field an access reads, as ids: a series, or a portfolio field.
fn field_key(kind: AccessKind) -> (u8, u32) {
    match kind {
        AccessKind::Number { series, .. } | AccessKind::Text { series, .. } | AccessKind::Window { series, .. } => (0, series),
        AccessKind::Cash => (1, 0),
        AccessKind::Value => (2, 0),
        AccessKind::Position { symbol } => (3, symbol),
    }
}

/// The reads grouped by symbol, in order of first read, each group with its
/// distinct fields and its patterns, runs of single reads folded.
/// `hashed` hears where each hash's digits start in the output.
fn data_accessed(names: &AccessNames, r: &DecisionRecord, json: &mut Json, mut hashed: impl FnMut(usize, FeedId)) {
    let mut owners: SmallVec<[Option<FeedId>; 4]> = SmallVec::new();
    for access in &r.accesses {
        let owner = owner(names, access.kind);
        if !owners.contains(&owner) {
            owners.push(owner);
        }
    }
    json.open(b'[');
    for owner in owners {
        json.comma();
        json.open(b'{');
        json.key("symbol").string(owner.map_or(PORTFOLIO, |f| &names.feeds[f.index()]));
        json.key("data_hash");
        match owner.and_then(|f| Some((f, hash_of(r, f)?))) {
            Some((feed, hash)) => {
                hashed(json.out.len() + 1, feed);
                json.hash(hash)
            }
            None => json.raw("null"),
        };
        let mine = || r.accesses.iter().filter(move |a| self::owner(names, a.kind) == owner);
        json.key("fields_accessed").open(b'[');
        // By id first: comparing names for every read of a long run costs more.
        let mut seen: SmallVec<[((u8, u32), &str); 8]> = SmallVec::new();
        for access in mine() {
            let (key, name) = (field_key(access.kind), field(names, access.kind));
            if !seen.iter().any(|&(k, n)| k == key || n == name) {
                seen.push((key, name));
                json.comma();
                json.string(name);
            }
        }
        json.close(']');
        json.key("access_patterns").open(b'[');
        let mine: SmallVec<[Access; 32]> = mine().flat_map(|a| a.expand()).collect();
        let mut i = 0;
        while i < mine.len() {
            let Access { seq, kind } = mine[i];
            json.comma();
            json.open(b'{');
            json.key("seq").number(seq);
            json.key("field").string(field(names, kind));
            match kind {
                AccessKind::Number { offset, .. } | AccessKind::Text { offset, .. } => {
                    let (n, step) = run(&mine[i..]);
                    if n > 1 {
                        let last = (i64::from(offset) + step * (n as i64 - 1)) as i32;
                        json.key("indices").open(b'[');
                        json.number(offset).raw(",").number(last).close(']');
                    } else {
                        json.key("index").number(offset);
                    }
                    i += n - 1;
                }
                AccessKind::Window { len, .. } => {
                    json.key("range").open(b'[');
                    json.number(1 - i64::from(len)).raw(",0").close(']');
                }
                AccessKind::Cash | AccessKind::Value | AccessKind::Position { .. } => {}
            }
            json.close('}');
            i += 1;
        }
        json.close(']');
        json.close('}');
    }
    json.close(']');
}

/// A run of single numeric reads of one series that folds into one
/// pattern: consecutive in seq, the offset moving by one each time in one
/// direction. Returns its length and the step.
fn run(accesses: &[Access]) -> (usize, i64) {
    let first = accesses[0];
    let AccessKind::Number { series, offset, .. } = first.kind else {
        return (1, 0);
    };
    let follows = |n: usize, step: i64| {
        accesses.get(n).is_some_and(|a| {
            a.seq == first.seq + n as u32
                && matches!(a.kind, AccessKind::Number { series: s, offset: o, .. }
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fmel::{DataHashes, OverLimits, PortfolioState};

    fn names(symbols: &[&str]) -> Arc<AccessNames> {
        Arc::new(AccessNames {
            feeds: symbols.iter().map(|s| Arc::from(*s)).collect(),
            series: (0..symbols.len() as u32).map(|f| (FeedId(f), Arc::from("close"))).collect(),
            position_fields: symbols.iter().map(|s| Arc::from(format!("position.{s}"))).collect(),
        })
    }

    fn record(point: u64, accesses: &[Access], hashes: &[(u32, Option<u8>)]) -> DecisionRecord {
        DecisionRecord {
            session: 0,
            decision_point: point,
            wall_time: Timestamp(point as i64),
            bar_time: Some(Timestamp(60 * point as i64)),
            stage: Stage::Next,
            actions: Vec::new(),
            accesses: accesses.iter().copied().collect(),
            data_hashes: hashes
                .iter()
                .map(|&(feed, hash)| (FeedId(feed), hash.map(|k| DataHash(std::array::from_fn(|i| k ^ i as u8)))))
                .collect::<DataHashes>(),
            portfolio: PortfolioState::default(),
            rationale: None,
            over_limits: OverLimits::default(),
            detail: Detail::None,
        }
    }

    #[test]
    fn a_record_written_with_the_cache_is_written_as_a_fresh_one_would_be() {
        let meta = SessionMeta::new(0, "a".into(), "s".into());
        let window = |seq, series| Access { seq, kind: AccessKind::Window { series, len: 30 } };
        let both = [window(0, 0), window(1, 1)];
        let with_position = [window(0, 0), Access { seq: 1, kind: AccessKind::Position { symbol: 0 } }, window(2, 1)];
        let (two, renamed) = (names(&["SYMA", "SYMB"]), names(&["SYMC", "SYMD"]));
        // The same reads with new hashes, a hash missing, no reads, other
        // reads, other names: each a case the cache must tell apart.
        let mut steps: Vec<(&Arc<AccessNames>, DecisionRecord)> = vec![
            (&two, record(1, &both, &[(0, Some(1)), (1, Some(2))])),
            (&two, record(2, &both, &[(0, Some(3)), (1, Some(4))])),
            (&two, record(3, &both, &[(0, Some(5)), (1, None)])),
            (&two, record(4, &both, &[(0, Some(6)), (1, None)])),
            (&two, record(5, &both, &[(0, Some(7)), (1, Some(8))])),
            (&two, record(6, &[], &[])),
            (&two, record(7, &both, &[(0, Some(9)), (1, Some(10))])),
            (&two, record(8, &with_position, &[(0, Some(11)), (1, Some(12))])),
            (&two, record(9, &with_position, &[(0, Some(13)), (1, Some(14))])),
            (&renamed, record(10, &with_position, &[(0, Some(13)), (1, Some(14))])),
            (&two, record(11, &both, &[(1, Some(15)), (0, Some(16))])),
        ];
        // Cash and value repeated, at another scale, changed, and zero of either sign.
        let money = ["100000", "100000.00", "99996.30", "99996.3", "79999.42", "0", "-0", "0.000", "-12.5", "-12.50", "1e-3"];
        for (i, (_, record)) in steps.iter_mut().enumerate() {
            let d = |k: usize| crate::decimal::parse(money[k % money.len()]).unwrap();
            (record.portfolio.value, record.portfolio.cash) = (d(i), d(i / 2));
        }
        let mut cache = RecordCache::default();
        for (names, record) in &steps {
            let (mut cached, mut fresh) = (Vec::new(), Vec::new());
            encode(&meta, names, &mut cache, record, &mut cached);
            encode(&meta, names, &mut RecordCache::default(), record, &mut fresh);
            assert_eq!(String::from_utf8(cached).unwrap(), String::from_utf8(fresh).unwrap(), "record {}", record.decision_point);
        }
    }

    #[test]
    fn the_next_record_that_reads_the_same_way_comes_from_the_cache() {
        let meta = SessionMeta::new(0, "a".into(), "s".into());
        let names = names(&["SYMA"]);
        let reads = [Access::number(0, 0, 0)];
        let mut cache = RecordCache::default();
        encode(&meta, &names, &mut cache, &record(1, &reads, &[(0, Some(1))]), &mut Vec::new());
        cache.accessed.json.extend_from_slice(b" cached");
        let mut out = Vec::new();
        encode(&meta, &names, &mut cache, &record(2, &reads, &[(0, Some(2))]), &mut out);
        assert!(String::from_utf8(out).unwrap().contains("] cached,\"portfolio_value\""));
    }

    /// Actions and order updates as serde wrote them before they were
    /// written by hand: the hand-written form must not change a byte.
    mod serde_form {
        use crate::broker::{OrderEvent, OrderStatus, Side};
        use crate::decimal::Normal;
        use crate::fmel::{Action, ActionKind};
        use crate::time::Timestamp;
        use serde::Serialize;

        pub fn summary(actions: &[Action]) -> String {
            let names: Vec<String> = actions
                .iter()
                .map(|a| match &a.kind {
                    ActionKind::Submit { side: Side::Buy, .. } => format!("BUY({})", a.symbol),
                    ActionKind::Submit { .. } => format!("SELL({})", a.symbol),
                    ActionKind::Cancel => format!("CANCEL({})", a.symbol),
                })
                .collect();
            if names.is_empty() { "HOLD".into() } else { names.join(" → ") }
        }

        #[derive(Serialize)]
        pub struct ActionJson<'a> {
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
            time_in_force: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            client_order_id: Option<&'a str>,
            order_id: Option<u64>,
            status: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
        }

        impl<'a> ActionJson<'a> {
            pub fn new(a: &'a Action) -> Self {
                let mut json = ActionJson {
                    seq: a.seq,
                    timestamp_ns: a.wall_time.0,
                    action: "CANCEL",
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
                if let ActionKind::Submit { side, qty, order_type, time_in_force, client_order_id } = &a.kind {
                    json.action = if *side == Side::Buy { "BUY" } else { "SELL" };
                    json.size = Some(Normal(*qty));
                    json.price = order_type.price().map(Normal);
                    json.stop_price = order_type.stop_price().map(Normal);
                    json.order_type = Some(order_type.name());
                    json.time_in_force = Some(format!("{time_in_force:?}").to_lowercase());
                    json.client_order_id = client_order_id.as_deref();
                }
                json
            }
        }

        #[derive(Serialize)]
        pub struct OrderJson<'a> {
            id: u64,
            client_order_id: Option<&'a str>,
            symbol: &'a str,
            side: Side,
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
            pub fn new(e: &'a OrderEvent) -> Self {
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
    }

    fn written(write: impl FnOnce(&mut Json)) -> String {
        let mut out = Vec::new();
        write(&mut Json { out: &mut out, first: true });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn actions_and_order_updates_are_written_as_serde_wrote_them() {
        use crate::broker::{Fill, OrderId, Side, TimeInForce};
        use rust_decimal::Decimal;
        let d = |text: &str| text.parse::<Decimal>().unwrap();
        let submit = |side, qty: &str, order_type, time_in_force, client: Option<&str>| ActionKind::Submit {
            side,
            qty: d(qty),
            order_type,
            time_in_force,
            client_order_id: client.map(String::from),
        };
        let action = |seq, symbol: &str, kind, order_id: Option<u64>, error: Option<&str>| Action {
            seq,
            wall_time: Timestamp(1_795_827_884_296_452_179 + i64::from(seq)),
            kind,
            symbol: Arc::from(symbol),
            order_id: order_id.map(OrderId),
            error: error.map(String::from),
        };
        let all = [
            action(3, "SYM1", submit(Side::Buy, "100", OrderType::Market, TimeInForce::Day, None), Some(1), None),
            action(
                4,
                "S\"Y",
                submit(Side::Sell, "2.50", OrderType::Limit(d("99.9900")), TimeInForce::Gtc, Some("c-1\n")),
                Some(2),
                None,
            ),
            action(
                5,
                "SYM1",
                submit(Side::Buy, "0.001", OrderType::StopLimit { stop: d("10.5"), limit: d("10.75") }, TimeInForce::Ioc, None),
                None,
                Some("more than 2 orders in one decision point (\"orders_per_decision\")"),
            ),
            action(6, "SYM2", submit(Side::Sell, "7", OrderType::Stop(d("-1.0")), TimeInForce::Cls, Some("ü")), Some(4), None),
            action(7, "é\u{1}", ActionKind::Cancel, Some(3), None),
            action(8, "SYM1", ActionKind::Cancel, Some(9), Some("unknown order 9")),
        ];
        for actions in [&all[..], &all[..1], &all[4..], &[]] {
            let expected: Vec<_> = actions.iter().map(serde_form::ActionJson::new).collect();
            assert_eq!(written(|json| super::actions(json, actions)), serde_json::to_string(&expected).unwrap());
            assert_eq!(written(|json| summary(json, actions)), serde_json::to_string(&serde_form::summary(actions)).unwrap());
        }

        let fill = Fill {
            price: d("200.0058"),
            qty: d("100"),
            commission: d("0.20"),
            cumulative_qty: d("100.000"),
            bar_time: Timestamp(60_000_000_000),
        };
        let statuses = [
            OrderStatus::Accepted,
            OrderStatus::PartiallyFilled(Fill { qty: d("40"), cumulative_qty: d("40"), ..fill }),
            OrderStatus::Filled(fill),
            OrderStatus::Canceled("the agent asked".into()),
            OrderStatus::Rejected("insufficient cash: \"5 X\"\tat 100 → 505".into()),
        ];
        for (i, status) in statuses.into_iter().enumerate() {
            let event = OrderEvent {
                id: OrderId(i as u64 + 1),
                client_order_id: (i % 2 == 1).then(|| format!("client \"{i}\"")),
                symbol: Arc::from(if i == 4 { "Ω\\" } else { "SYM1" }),
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                status,
            };
            assert_eq!(written(|json| order(json, &event)), serde_json::to_string(&serde_form::OrderJson::new(&event)).unwrap());
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_escapes_them() {
        let mut texts: Vec<String> = (0..=0x7fu8).map(|b| format!("a{}b", b as char)).collect();
        texts.extend(["", "plain", "→ ü Ω", "\u{7f}\u{80}\u{ffff}", "\"\\\n\r\t\u{8}\u{c}"].map(String::from));
        for text in &texts {
            assert_eq!(
                written(|json| {
                    json.string(text);
                }),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_hash_is_written_as_quoted_lowercase_hex() {
        // Eight hashes hold every byte value once.
        for k in 0..8u8 {
            let hash = DataHash(std::array::from_fn(|i| k * 32 + i as u8));
            let mut out = Vec::new();
            Json { out: &mut out, first: true }.hash(&hash);
            assert_eq!(out, format!("\"{}\"", hex::encode(hash.0)).into_bytes());
        }
    }
}
