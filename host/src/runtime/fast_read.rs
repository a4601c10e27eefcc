//! The fast path of `market.read`, the call agents make most.
//!
//! A component import costs wasmtime ~40 ns however little the host does,
//! more than everything else a logged read needs. So every agent is
//! compiled composed with a small builtin component of ours
//! (`fast_read.wat`) that stands in for its `trading:agent/market` import:
//! `read` is answered inside wasm, by native loads from the [`ReadTable`] at
//! the start of the agent's store data, and logged there as runs folded the
//! way the host folds them. `updated` and `bar-count`, which agents call per
//! feed per bar and which log nothing, are answered the same way; the other
//! functions are the host's own, passed through. Anything the fast path
//! does not cover (a read past the history, a text or unknown series or
//! feed, the read bound, a full run buffer, no market locked) calls the
//! host's own function, which for a read takes the pending runs first, so
//! the log keeps its order.
//!
//! The agent cannot reach the native loads: wasmtime gives its unsafe
//! intrinsics to the composed component's import only, and an agent that
//! imports them itself is refused before composing (see `Runtime::compile`).
//! Every address the builtin loads from is checked against a bound in the
//! table. The host points the table at the market's rings when it locks the
//! market, arms it with the decision point before each call, and disarms it
//! when it unlocks, so no address is used outside its lock.

use crate::fmel::{Access, AccessKind};
use crate::market::{BLOCK_POINTS, FeedId, MarketView, RAW_STAMP};
use std::borrow::Cow;
use std::mem::{offset_of, size_of};

/// The import the builtin stands in for.
pub const MARKET_IMPORT: &str = "trading:agent/market@0.1.0";
/// The import wasmtime answers with its unsafe intrinsics.
pub const INTRINSICS_IMPORT: &str = "unsafe-intrinsics";

/// Runs of reads logged by the builtin between two visits of the host.
const PENDING: usize = 64;
/// The most reads one logged entry holds (its count is a `u16`).
const RUN_MAX: u32 = u16::MAX as u32;
/// The builtin answers series ids below this.
const SERIES_MAX: u32 = u32::MAX;
/// No open run to continue: the key of series id `SERIES_MAX`, which no read has.
const NO_OPEN_RUN: u64 = u64::MAX;

/// Reads the builtin made and the host has not yet logged, folded as
/// [`Access::fold`] folds them: from `seq` on, up to the next run's `seq`
/// (or the table's), of one series, the first at `offset` and each `step`
/// bars from the one before.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PendingRun {
    seq: u32,
    series: u32,
    offset: i32,
    step: i32,
}

/// Where a number series' values are: the addresses of its field's ring and
/// of its feed's bar counts by decision point. `values` is 0 for a series
/// the fast path does not answer.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Column {
    pub values: u64,
    pub counts: u64,
}

/// Where a feed's bar counts by decision point and its recent bars' stamps are.
#[repr(C)]
#[derive(Clone, Copy)]
struct FeedAddresses {
    counts: u64,
    stamps: u64,
}

/// What the builtin reads and writes, at the start of the agent's store
/// data (see `AgentState`). Addresses are `u64` as the intrinsics take them;
/// fields the builtin reads together are paired into one 8-byte load.
#[repr(C)]
pub struct ReadTable {
    /// Address of `columns[0]`.
    columns_address: u64,
    /// Reads in this decision point, by both paths.
    reads: u32,
    /// The builtin hands a read to the host once `reads` reaches this: the
    /// read bound, or sooner when the open run is full.
    stop: u32,
    /// Series ids below this are answered by the builtin; 0 while no market is locked.
    readable: u32,
    /// Bars of history a read may reach back.
    kept: u32,
    /// The decision point's index into the feeds' bar counts.
    point_slot: u32,
    /// The size of the field rings, less one (a power of two).
    ring_mask: u32,
    /// The read that continues the last pending run: its series id in the
    /// high half, the offset in the low; [`NO_OPEN_RUN`] when there is none
    /// or its step is not known yet (one read).
    open: u64,
    /// The decision point's index, which stamps the bars it delivered.
    at: u64,
    /// Address of `feeds[0]`.
    feeds_address: u64,
    /// Feed ids below this are answered by the builtin; 0 while no market is locked.
    answered_feeds: u32,
    reads_limit: u32,
    /// The sequence number less `reads`: both paths count reads, so only
    /// the host, which logs what is not a read, moves it.
    seq_base: u32,
    /// 0 while the host keeps no log (only `bench/` turns it off).
    logging: u32,
    /// The open run's step, loaded with `logging`: the next key follows
    /// from the read and this, not from the key before, so that reads in a
    /// row do not wait on each other's store.
    open_step: i32,
    pending_len: u32,
    pending: Box<[PendingRun; PENDING]>,
    columns: Vec<Column>,
    feeds: Vec<FeedAddresses>,
}

impl ReadTable {
    pub fn new(reads_limit: u32) -> Self {
        Self {
            columns_address: 0,
            reads: 0,
            stop: reads_limit,
            readable: 0,
            kept: 0,
            point_slot: 0,
            ring_mask: 0,
            open: NO_OPEN_RUN,
            at: 0,
            feeds_address: 0,
            answered_feeds: 0,
            reads_limit,
            seq_base: 0,
            logging: 1,
            open_step: 0,
            pending_len: 0,
            pending: Box::new([PendingRun::default(); PENDING]),
            columns: Vec::new(),
            feeds: Vec::new(),
        }
    }

    /// Points the table at the market's rings, one column per series id,
    /// and at its feeds; the fast path stays off until [`Self::arm`].
    pub fn set_columns(&mut self, market: MarketView<'_>, columns: impl Iterator<Item = Column>) {
        self.columns.clear();
        self.columns.extend(columns);
        self.columns_address = self.columns.as_ptr() as u64;
        self.feeds.clear();
        self.feeds.extend((0..market.feeds().len()).map(|i| {
            let (counts, stamps) = market.raw_feed(FeedId(i as u32));
            FeedAddresses { counts, stamps }
        }));
        self.feeds_address = self.feeds.as_ptr() as u64;
        let (kept, ring) = market.history();
        // Below 2^31, so that the builtin's one unsigned comparison also
        // sends positive offsets to the host.
        self.kept = kept.min(i32::MAX as usize) as u32;
        self.ring_mask = (ring - 1) as u32;
        (self.readable, self.answered_feeds) = (0, 0);
    }

    /// Turns the fast path on at a decision point (its index and its slot
    /// in per-point arrays), or off without one.
    pub fn arm(&mut self, point: Option<(u64, usize)>) {
        match point {
            Some((at, slot)) => {
                (self.at, self.point_slot) = (at, slot as u32);
                self.readable = self.columns.len().min(SERIES_MAX as usize) as u32;
                self.answered_feeds = self.feeds.len() as u32;
            }
            None => (self.readable, self.answered_feeds) = (0, 0),
        }
    }

    /// Sequence numbers and the read count start over at each decision point.
    pub fn new_decision(&mut self) {
        debug_assert_eq!(self.pending_len, 0, "the host takes the pending runs after every call");
        (self.reads, self.seq_base) = (0, 0);
    }

    pub fn logging(&self) -> bool {
        self.logging != 0
    }

    pub fn set_logging(&mut self, on: bool) {
        self.logging = u32::from(on);
    }

    /// Whether another read is within the read bound.
    pub fn may_read(&self) -> bool {
        self.reads < self.reads_limit
    }

    /// Counts a read the host answers; returns its sequence number. Take
    /// the pending runs first.
    pub fn count_read(&mut self) -> u32 {
        let seq = self.seq();
        self.reads += 1;
        seq
    }

    /// The sequence number of something logged that is not a read. Take
    /// the pending runs first.
    pub fn next_seq(&mut self) -> u32 {
        let seq = self.seq();
        self.seq_base = self.seq_base.wrapping_add(1);
        seq
    }

    fn seq(&self) -> u32 {
        self.seq_base.wrapping_add(self.reads)
    }

    /// Takes the reads the builtin logged since the last take, oldest
    /// first, as the host would have logged them.
    pub fn take_pending(&mut self) -> impl Iterator<Item = Access> + '_ {
        let len = std::mem::take(&mut self.pending_len) as usize;
        (self.open, self.stop) = (NO_OPEN_RUN, self.reads_limit);
        let end = self.seq();
        let runs = &self.pending[..len];
        runs.iter().enumerate().map(move |(i, run)| {
            let until = runs.get(i + 1).map_or(end, |next| next.seq);
            let (reads, step) = (until.wrapping_sub(run.seq) as u16, run.step as i8);
            Access { seq: run.seq, kind: AccessKind::Number { series: run.series, offset: run.offset, reads, step } }
        })
    }
}

// The builtin loads these pairs as one `u64` each, the first field in the low half.
const _: () = assert!(
    offset_of!(ReadTable, stop) == offset_of!(ReadTable, reads) + 4
        && offset_of!(ReadTable, kept) == offset_of!(ReadTable, readable) + 4
        && offset_of!(ReadTable, ring_mask) == offset_of!(ReadTable, point_slot) + 4
        && offset_of!(ReadTable, open_step) == offset_of!(ReadTable, logging) + 4
        && offset_of!(PendingRun, seq) == 0
        && offset_of!(PendingRun, series) == 4
        && offset_of!(PendingRun, step) == offset_of!(PendingRun, offset) + 4
);

/// The builtin, in the text format; offsets and sizes come from the types
/// above. It is part of the component cache's key.
pub fn builtin_text() -> String {
    format!(
        include_str!("fast_read.wat"),
        columns_address = offset_of!(ReadTable, columns_address),
        reads = offset_of!(ReadTable, reads),
        stop = offset_of!(ReadTable, stop),
        readable = offset_of!(ReadTable, readable),
        point_slot = offset_of!(ReadTable, point_slot),
        open = offset_of!(ReadTable, open),
        reads_limit = offset_of!(ReadTable, reads_limit),
        seq_base = offset_of!(ReadTable, seq_base),
        logging = offset_of!(ReadTable, logging),
        open_step = offset_of!(ReadTable, open_step),
        pending_len = offset_of!(ReadTable, pending_len),
        pending = offset_of!(ReadTable, pending),
        pending_cap = PENDING,
        run_size = size_of::<PendingRun>(),
        run_offset = offset_of!(PendingRun, offset),
        run_step = offset_of!(PendingRun, step),
        run_max = RUN_MAX,
        no_open_run = NO_OPEN_RUN as i64,
        column_size = size_of::<Column>(),
        column_values = offset_of!(Column, values),
        column_counts = offset_of!(Column, counts),
        at = offset_of!(ReadTable, at),
        feeds_address = offset_of!(ReadTable, feeds_address),
        answered_feeds = offset_of!(ReadTable, answered_feeds),
        feed_size = size_of::<FeedAddresses>(),
        feed_counts = offset_of!(FeedAddresses, counts),
        feed_stamps = offset_of!(FeedAddresses, stamps),
        stamp_size = RAW_STAMP.0,
        stamp_decision = RAW_STAMP.1,
        stamp_mask = BLOCK_POINTS - 1,
        market = MARKET_IMPORT,
        intrinsics = INTRINSICS_IMPORT,
    )
}

/// The builtin component's bytes.
pub fn builtin() -> Vec<u8> {
    wat::parse_str(builtin_text()).expect("the fast read builtin is valid text")
}

/// The names of a component's own imports, less those of types equal to
/// types it already has (a world's `use`), which name nothing to link.
pub fn imports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    use wasmparser::{ComponentTypeRef, Parser, Payload, TypeBounds};
    let (mut names, mut depth) = (Vec::new(), 0);
    for payload in Parser::new(0).parse_all(component) {
        match payload? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let import = import?;
                    if !matches!(import.ty, ComponentTypeRef::Type(TypeBounds::Eq(_))) {
                        names.push(import.name.name.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// The agent with its market import answered by the builtin. An agent
/// without that import is returned as it is.
pub fn compose(agent: &[u8], imports_market: bool) -> anyhow::Result<Cow<'_, [u8]>> {
    use wasm_compose::config::{Config, Dependency, Instantiation, InstantiationArg};
    if !imports_market {
        return Ok(Cow::Borrowed(agent));
    }
    // wasm-compose reads its inputs from files, and looks for a file named
    // after each import it is not told about: an empty directory of our
    // own makes sure it finds none.
    let dir = tempfile::tempdir()?;
    let (root, builtin_path) = (dir.path().join("agent.wasm"), dir.path().join("fast-read.wasm"));
    std::fs::write(&root, agent)?;
    std::fs::write(&builtin_path, builtin())?;
    let mut config = Config { dir: dir.path().to_owned(), ..Config::default() };
    config.dependencies.insert("fast-read".into(), Dependency { path: builtin_path });
    let argument = InstantiationArg { instance: "fast-read".into(), export: Some(MARKET_IMPORT.into()) };
    let mut root_instance = Instantiation::default();
    root_instance.arguments.insert(MARKET_IMPORT.into(), argument);
    config.instantiations.insert(wasm_compose::composer::ROOT_COMPONENT_NAME.into(), root_instance);
    Ok(Cow::Owned(wasm_compose::composer::ComponentComposer::new(&root, &config).compose()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_the_outer_components_less_types_equal_to_its_own() {
        let component = wat::parse_str(
            r#"(component
                (type $id u32)
                (import "id" (type (eq $id)))
                (import "unsafe-intrinsics" (instance))
                (import "run" (func))
                (component (import "inner" (func)))
            )"#,
        )
        .unwrap();
        assert_eq!(imports(&component).unwrap(), ["unsafe-intrinsics", "run"]);
    }

    #[test]
    fn the_builtin_text_is_a_component() {
        assert_eq!(imports(&builtin()).unwrap(), [INTRINSICS_IMPORT, MARKET_IMPORT]);
    }
}
