//! The explainability log (FMEL): one record per decision point and per
//! callback, with every read the agent made.
//!
//! Sessions build compact [`DecisionRecord`]s (interned ids, no strings) and
//! hand them to the [`writer`], which turns them into JSON on its own thread
//! and passes batches to a [`DecisionSink`]. The JSON shape is documented by
//! `docs/fmel-record.schema.json`.

mod encode;
pub mod jsonl;
pub mod writer;

use crate::broker::{OpenOrder, OrderEvent, OrderId, OrderType, Positions, Side, TimeInForce};
use crate::feed::SourceInfo;
use crate::market::{DataHash, FeedId};
use crate::time::Timestamp;
use rust_decimal::Decimal;
use std::sync::Arc;

pub use encode::{RecordCache, encode};

/// Version of the record layout, stated in every session header.
pub const FMEL_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Stage {
    Init,
    Next,
    Order,
    Stop,
    Error,
}

/// Who a record belongs to.
#[derive(Debug)]
pub struct SessionMeta {
    /// Position of the session in the sink, fixed for the run.
    pub index: u32,
    pub agent_id: String,
    pub session_id: String,
    /// `{"session_id":…,"agent_id":…,"decision_point":`, the same in every
    /// record of the session, encoded once.
    pub(crate) json_prefix: Box<[u8]>,
}

impl SessionMeta {
    pub fn new(index: u32, agent_id: String, session_id: String) -> Self {
        let mut prefix = b"{\"session_id\":".to_vec();
        // Strings always serialize.
        serde_json::to_writer(&mut prefix, &session_id).expect("a string serializes");
        prefix.extend_from_slice(b",\"agent_id\":");
        serde_json::to_writer(&mut prefix, &agent_id).expect("a string serializes");
        prefix.extend_from_slice(b",\"decision_point\":");
        SessionMeta { index, agent_id, session_id, json_prefix: prefix.into() }
    }
}

/// One read made by the agent, or consecutive reads of one series folded
/// into one entry, in 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Order within the decision point, shared with actions; a folded
    /// entry's reads have the sequence numbers from this one on.
    pub seq: u32,
    pub kind: AccessKind,
}

const _: () = assert!(std::mem::size_of::<Access>() == 16);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// `reads` reads in a row, the first at `offset` and each `step` bars
    /// from the one before: `close[0]` … `close[-29]` is one entry, and so
    /// is the same value read again and again. An agent reading a history
    /// value by value then logs a few entries per decision, not hundreds.
    Number {
        series: u32,
        offset: i32,
        reads: u16,
        step: i8,
    },
    Window {
        series: u32,
        len: u32,
    },
    Text {
        series: u32,
        offset: i32,
    },
    Cash,
    Value,
    /// Index into [`AccessNames::position_fields`].
    Position {
        symbol: u32,
    },
}

impl AccessKind {
    /// A single read of a number.
    pub fn number(series: u32, offset: i32) -> Self {
        AccessKind::Number { series, offset, reads: 1, step: 0 }
    }
}

impl Access {
    /// A single read of a number.
    pub fn number(seq: u32, series: u32, offset: i32) -> Self {
        Self { seq, kind: AccessKind::number(series, offset) }
    }

    /// Appends the read to `log`, folded into the last entry when it
    /// continues it.
    #[inline]
    pub fn log_into(self, log: &mut Vec<Access>) {
        if !log.last_mut().is_some_and(|last| last.fold(self)) {
            log.push(self);
        }
    }

    /// How many reads the entry stands for.
    pub fn reads(&self) -> u32 {
        match self.kind {
            AccessKind::Number { reads, .. } => u32::from(reads),
            _ => 1,
        }
    }

    /// Folds the read `next` into this entry when it continues it: the
    /// next sequence number, the same series and, for the third read on,
    /// the same step. Returns whether it did.
    #[inline]
    pub fn fold(&mut self, next: Access) -> bool {
        let (AccessKind::Number { series, offset, reads, step }, AccessKind::Number { series: s, offset: o, .. }) =
            (&mut self.kind, next.kind)
        else {
            return false;
        };
        if *series != s || self.seq.wrapping_add(u32::from(*reads)) != next.seq || *reads == u16::MAX {
            return false;
        }
        let gap = i64::from(o) - i64::from(*offset);
        if *reads == 1 && (-1..=1).contains(&gap) {
            *step = gap as i8;
        } else if gap != i64::from(*step) * i64::from(*reads) {
            return false;
        }
        *reads += 1;
        true
    }

    /// The single reads behind the entry, in order.
    pub fn expand(self) -> impl Iterator<Item = Access> {
        (0..self.reads()).map(move |i| match self.kind {
            AccessKind::Number { series, offset, step, .. } => {
                Access::number(self.seq + i, series, (i64::from(offset) + i64::from(step) * i64::from(i)) as i32)
            }
            _ => self,
        })
    }
}

/// Names behind the ids in [`Access`]; grows when the agent interns more.
#[derive(Clone, Debug, Default)]
pub struct AccessNames {
    /// Symbol of each feed, by `FeedId`.
    pub feeds: Vec<Arc<str>>,
    /// Feed and field name of each series id.
    pub series: Vec<(FeedId, Arc<str>)>,
    /// `position.SYMBOL` for each symbol named in a position read.
    pub position_fields: Vec<Arc<str>>,
}

/// An order request or cancel the agent made.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub seq: u32,
    pub wall_time: Timestamp,
    pub kind: ActionKind,
    pub symbol: Arc<str>,
    pub order_id: Option<OrderId>,
    /// Why the host refused it, if it did.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionKind {
    Submit { side: Side, qty: Decimal, order_type: OrderType, time_in_force: TimeInForce, client_order_id: Option<String> },
    Cancel,
}

/// What the per-decision bounds of the sandbox refused or dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OverLimits {
    /// Order requests and cancels refused with `limit-exceeded`.
    pub orders: u64,
    /// Bytes of `explain` text dropped.
    pub explain_bytes: u64,
    /// Bytes of stdout and stderr dropped.
    pub output_bytes: u64,
}

impl OverLimits {
    pub fn is_zero(&self) -> bool {
        *self == OverLimits::default()
    }

    pub fn add(&mut self, other: OverLimits) {
        self.orders += other.orders;
        self.explain_bytes += other.explain_bytes;
        self.output_bytes += other.output_bytes;
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortfolioState {
    pub value: Decimal,
    pub cash: Decimal,
    pub positions: Positions,
}

/// What ended an agent.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Fault {
    /// `trap`, `panic` or `init-failed`.
    pub kind: String,
    pub message: String,
}

/// Provenance written once, first in every session.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionHeader {
    pub fmel_version: u32,
    pub agent_path: String,
    pub agent_sha256: DataHash,
    pub wit_version: &'static str,
    pub host_version: &'static str,
    pub params: Vec<(String, String)>,
    pub seed: u64,
    pub data: Vec<SourceInfo>,
}

/// Stage-specific content of a record.
#[derive(Clone, Debug)]
pub enum Detail {
    None,
    // The rare details are boxed: every record crosses a channel by value,
    // and the largest variant sets the size of all of them.
    Header(Box<SessionHeader>),
    Order(Box<OrderEvent>),
    Stop {
        open_orders: Vec<OpenOrder>,
    },
    /// The fault, and the orders canceled because of it.
    Error {
        fault: Box<Fault>,
        canceled: Vec<OpenOrder>,
    },
}

/// A record's reads. Inline up to a typical decision's few: a record is
/// built on the agent's thread and dropped on the writer's, and memory freed
/// on another thread costs more than a larger copy.
pub type Accesses = smallvec::SmallVec<[Access; 8]>;

/// The current bar's hash of each feed read, inline for two feeds.
pub type DataHashes = smallvec::SmallVec<[(FeedId, Option<DataHash>); 2]>;

/// A record's own content. Who wrote it and what its ids name travel
/// separately, once per session and once per change (see
/// [`writer::RecordSender`]): a shared reference per record would have two
/// threads contend for its count.
#[derive(Clone, Debug)]
pub struct DecisionRecord {
    /// `SessionMeta::index` of the session.
    pub session: u32,
    pub decision_point: u64,
    pub wall_time: Timestamp,
    pub bar_time: Option<Timestamp>,
    pub stage: Stage,
    pub actions: Vec<Action>,
    pub accesses: Accesses,
    /// The current bar's hash of every feed the agent read.
    pub data_hashes: DataHashes,
    pub portfolio: PortfolioState,
    pub rationale: Option<String>,
    /// What the sandbox's bounds refused during this record's call.
    pub over_limits: OverLimits,
    pub detail: Detail,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{0}")]
    Refused(String),
}

/// Encoded records handed to a sink: one JSON object per line, each line
/// ending in a newline, gathered into runs of one session's consecutive
/// records so that a sink writes a run at once rather than line by line.
#[derive(Default)]
pub struct Batch {
    data: Vec<u8>,
    runs: Vec<(u32, std::ops::Range<usize>)>,
    len: usize,
}

impl Batch {
    pub fn push(&mut self, session: u32, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.data.len();
        encode(&mut self.data);
        self.data.push(b'\n');
        let end = self.data.len();
        match self.runs.last_mut() {
            Some((last, run)) if *last == session => run.end = end,
            _ => self.runs.push((session, start..end)),
        }
        self.len += 1;
    }

    /// (session index, lines) pairs in the order they were written.
    pub fn runs(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.runs.iter().map(|(s, r)| (*s, &self.data[r.clone()]))
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.runs.clear();
        self.len = 0;
    }
}

/// Where FMEL records end up.
pub trait DecisionSink: Send {
    /// Stores a batch. Records of one session arrive in order.
    fn write_batch(&mut self, batch: &Batch) -> Result<(), SinkError>;

    /// Called once, after the last batch.
    fn close(&mut self) -> Result<(), SinkError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logs `reads` the way the host does.
    fn log(reads: &[Access]) -> Vec<Access> {
        let mut entries = Vec::new();
        reads.iter().for_each(|read| read.log_into(&mut entries));
        entries
    }

    fn expand(entries: &[Access]) -> Vec<Access> {
        entries.iter().flat_map(|a| a.expand()).collect()
    }

    #[test]
    fn a_history_read_value_by_value_is_one_entry() {
        let reads: Vec<Access> = (0..30).map(|i| Access::number(i, 7, -(i as i32))).collect();
        let entries = log(&reads);
        assert_eq!(entries, [Access { seq: 0, kind: AccessKind::Number { series: 7, offset: 0, reads: 30, step: -1 } }]);
        assert_eq!(entries[0].reads(), 30);
        assert_eq!(expand(&entries), reads);
    }

    #[test]
    fn folding_stops_at_a_gap_another_series_a_new_step_or_the_count_limit() {
        let reads = [
            Access::number(0, 1, 0),
            Access::number(1, 1, 0),
            Access::number(2, 1, -1), // the step was 0
            Access::number(4, 1, -2), // seq 3 was an order
            Access::number(5, 2, -3), // another series
            Access { seq: 6, kind: AccessKind::Cash },
            Access::number(7, 2, -4), // not after the cash read
        ];
        let entries = log(&reads);
        assert_eq!(entries.iter().map(Access::reads).collect::<Vec<_>>(), [2, 1, 1, 1, 1, 1]);
        assert_eq!(expand(&entries), reads);

        let same: Vec<Access> = (0..=u32::from(u16::MAX)).map(|i| Access::number(i, 0, 0)).collect();
        let entries = log(&same);
        assert_eq!(entries.iter().map(Access::reads).collect::<Vec<_>>(), [u32::from(u16::MAX), 1]);
        assert_eq!(expand(&entries), same);
    }

    #[test]
    fn any_reads_expand_back_to_exactly_themselves() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..2_000 {
            let mut reads = Vec::new();
            let mut seq = 0u32;
            let mut offset = 0i32;
            for _ in 0..next(60) {
                seq += 1 + u32::from(next(8) == 0);
                offset += next(5) as i32 - 2;
                reads.push(match next(10) {
                    0 => Access { seq, kind: AccessKind::Window { series: next(2) as u32, len: 30 } },
                    1 => Access { seq, kind: AccessKind::Text { series: next(2) as u32, offset } },
                    _ => Access::number(seq, next(2) as u32, offset),
                });
            }
            let entries = log(&reads);
            assert!(entries.len() <= reads.len());
            assert_eq!(expand(&entries), reads);
        }
    }
}
