//! The fast path of `market.read`, the call agents make most.
//!
//! A component import costs wasmtime ~40 ns however little the host does,
//! more than everything else a logged read needs. So every agent is
//! compiled composed with a small builtin component of ours
//! (`fast_read.wat`) that stands in for its `trading:agent/market` import:
//! `read` is answered inside wasm, by native loads from the [`ReadTable`] at
//! the start of the agent's store data, and logged there as runs folded the
//! way the host folds them; the other functions are the host's own, passed
//! through. Anything the fast path does not cover (a read past the history,
//! a text or unknown series, the read bound, a full run buffer, no market
//! locked) calls the host's `read`, which takes the pending runs first, so
//! the log keeps its order.
//!
//! The agent cannot reach the native loads: wasmtime gives its unsafe
//! intrinsics to the composed component's import only, and an agent that
//! imports them itself is refused before composing (see `Runtime::compile`).
//! Every address the builtin loads from is checked against a bound in the
//! table. The host points the table at the market's rings when it locks the
//! market, arms it with the decision point before each call, and disarms it
//! when it unlocks, so no address is used outside its lock.

use crate::market::MarketView;
use std::mem::{offset_of, size_of};

/// The import the builtin stands in for.
pub const MARKET_IMPORT: &str = "trading:agent/market@0.1.0";
/// The import wasmtime answers with its unsafe intrinsics.
pub const INTRINSICS_IMPORT: &str = "unsafe-intrinsics";

/// Runs of reads logged by the builtin between two visits of the host.
const PENDING: usize = 64;

/// Reads the builtin made and the host has not yet logged, folded as
/// [`crate::fmel::Access::fold`] folds them: `reads` reads from `seq` on, of
/// one series, the first at `offset` and each `step` bars from the one before.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PendingRun {
    pub seq: u32,
    pub series: u32,
    pub offset: i32,
    pub reads: u32,
    pub step: i32,
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

/// What the builtin reads and writes, at the start of the agent's store
/// data (see `AgentState`). Addresses are `u64` as the intrinsics take them.
#[repr(C)]
pub struct ReadTable {
    /// Address of `columns[0]`.
    columns_address: u64,
    /// Series ids below this are answered by the builtin; 0 while no market is locked.
    readable: u32,
    /// The decision point's index into the feeds' bar counts.
    point_slot: u32,
    /// Bars of history a read may reach back.
    kept: u32,
    /// The size of the field rings, less one (a power of two).
    ring_mask: u32,
    /// Reads in this decision point, by both paths.
    pub reads: u32,
    pub reads_limit: u32,
    /// The call log's sequence number, shared by both paths.
    pub seq: u32,
    /// 0 while the host keeps no log (only `bench/` turns it off).
    pub logging: u32,
    pending_len: u32,
    pending: Box<[PendingRun; PENDING]>,
    columns: Vec<Column>,
}

impl ReadTable {
    pub fn new(reads_limit: u32) -> Self {
        Self {
            columns_address: 0,
            readable: 0,
            point_slot: 0,
            kept: 0,
            ring_mask: 0,
            reads: 0,
            reads_limit,
            seq: 0,
            logging: 1,
            pending_len: 0,
            pending: Box::new([PendingRun::default(); PENDING]),
            columns: Vec::new(),
        }
    }

    /// Points the table at the market's rings, one column per series id;
    /// the fast path stays off until [`Self::arm`].
    pub fn set_columns(&mut self, market: MarketView<'_>, columns: impl Iterator<Item = Column>) {
        self.columns.clear();
        self.columns.extend(columns);
        self.columns_address = self.columns.as_ptr() as u64;
        let (kept, ring) = market.history();
        // Below 2^31, so that the builtin's one unsigned comparison also
        // sends positive offsets to the host.
        self.kept = kept.min(i32::MAX as usize) as u32;
        self.ring_mask = (ring - 1) as u32;
        self.readable = 0;
    }

    /// Turns the fast path on at a decision point, or off without one.
    pub fn arm(&mut self, point_slot: Option<usize>) {
        match point_slot {
            Some(slot) => {
                self.point_slot = slot as u32;
                self.readable = self.columns.len() as u32;
            }
            None => self.readable = 0,
        }
    }

    /// Takes the runs of reads the builtin logged since the last take, oldest first.
    pub fn take_pending(&mut self) -> impl Iterator<Item = PendingRun> + '_ {
        let len = std::mem::take(&mut self.pending_len) as usize;
        self.pending[..len].iter().copied()
    }
}

/// The builtin, in the text format; offsets and sizes come from the types
/// above. It is part of the component cache's key.
pub fn builtin_text() -> String {
    format!(
        include_str!("fast_read.wat"),
        columns_address = offset_of!(ReadTable, columns_address),
        readable = offset_of!(ReadTable, readable),
        point_slot = offset_of!(ReadTable, point_slot),
        kept = offset_of!(ReadTable, kept),
        ring_mask = offset_of!(ReadTable, ring_mask),
        reads = offset_of!(ReadTable, reads),
        reads_limit = offset_of!(ReadTable, reads_limit),
        seq = offset_of!(ReadTable, seq),
        logging = offset_of!(ReadTable, logging),
        pending_len = offset_of!(ReadTable, pending_len),
        pending = offset_of!(ReadTable, pending),
        pending_cap = PENDING,
        run_size = size_of::<PendingRun>(),
        run_seq = offset_of!(PendingRun, seq),
        run_series = offset_of!(PendingRun, series),
        run_offset = offset_of!(PendingRun, offset),
        run_reads = offset_of!(PendingRun, reads),
        run_step = offset_of!(PendingRun, step),
        run_max = u16::MAX,
        column_size = size_of::<Column>(),
        column_values = offset_of!(Column, values),
        column_counts = offset_of!(Column, counts),
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
pub fn compose(agent: &[u8], imports_market: bool) -> anyhow::Result<Vec<u8>> {
    use wasm_compose::config::{Config, Dependency, Instantiation, InstantiationArg};
    if !imports_market {
        return Ok(agent.to_vec());
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
    wasm_compose::composer::ComponentComposer::new(&root, &config).compose()
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
