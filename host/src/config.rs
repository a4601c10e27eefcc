//! What a run is made of. The only place, with `main`, that names the
//! concrete feeds, brokers and sinks.

use crate::broker::Broker;
use crate::broker::simulated::{SimulatedBroker, SimulatedBrokerConfig};
use crate::feed::replay::ReplayFeed;
use crate::feed::{FeedError, MarketFeed};
use crate::fmel::jsonl::JsonlSink;
use crate::fmel::{DecisionSink, SinkError};
use crate::limits::AgentLimits;
use crate::market::FeedSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Bars of history kept per feed unless configured otherwise.
pub const DEFAULT_HISTORY_BARS: usize = 16_384;

/// A whole run: agents, where their data comes from, where their orders go
/// and where their decisions are logged.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The agents, each with its own portfolio and FMEL file.
    pub agents: Vec<AgentConfig>,
    /// The market data all agents share.
    pub feed: FeedConfig,
    /// The broker each agent gets its own account with.
    pub broker: BrokerConfig,
    /// Where decision records go.
    pub fmel: FmelConfig,
    /// Seed of the agents' randomness.
    #[serde(default)]
    pub seed: u64,
    /// Bars kept per feed for reads by offset and windows; older reads trap.
    #[serde(default = "default_history_bars")]
    pub history_bars: usize,
    /// Settings wasmtime applies to every agent at once.
    #[serde(default)]
    pub engine: EngineConfig,
}

/// Settings of the WebAssembly engine, shared by every agent of a process.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Native stack for WebAssembly frames, in KiB: deep recursion traps.
    pub wasm_stack_kib: u64,
    /// Meter fuel. Off, `fuel_per_call` is not enforced: only for measuring
    /// its cost, or for agents trusted not to loop.
    pub fuel: bool,
    /// Enforce `deadline_ms` with epoch interruption. Off, only waits in host
    /// calls are bounded: only for measuring its cost.
    pub epoch_deadlines: bool,
    /// Directory of precompiled components, keyed by the component's SHA-256
    /// and the engine's settings; none to compile on every start. Its entries
    /// are native code: keep it writable by the host's own user only.
    pub cache_dir: Option<PathBuf>,
    /// Pre-allocate a pool of instance slots, for instantiation in
    /// microseconds; each memory slot holds `memory_slot_mib`.
    pub pooling: bool,
    /// Largest linear memory any agent can have when pooling, in MiB. An
    /// agent's `memory_mib` cannot exceed it.
    pub memory_slot_mib: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            wasm_stack_kib: 512,
            fuel: true,
            epoch_deadlines: true,
            cache_dir: None,
            pooling: true,
            memory_slot_mib: 64,
        }
    }
}

impl EngineConfig {
    /// `$XDG_CACHE_HOME/trading-host/components`, or under `~/.cache`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("trading-host").join("components"))
    }
}

fn default_history_bars() -> usize {
    DEFAULT_HISTORY_BARS
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Names the agent in logs, the summary and its FMEL file.
    pub id: String,
    /// The agent's `.wasm` component.
    pub path: PathBuf,
    /// Passed to the agent's `init`, in order.
    #[serde(default)]
    pub params: Vec<(String, String)>,
    /// The agent's sandbox bounds.
    #[serde(default)]
    pub limits: AgentLimits,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FeedConfig {
    /// Replays CSV and JSONL files merged by timestamp.
    Replay {
        /// Files, or directories of `.csv` and `.jsonl` files.
        paths: Vec<PathBuf>,
        /// Skip and count malformed rows instead of stopping.
        #[serde(default)]
        skip_bad_rows: bool,
    },
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BrokerConfig {
    /// The embedded paper broker with backtrader's semantics.
    Simulated(SimulatedBrokerConfig),
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FmelConfig {
    /// One JSON Lines file per agent: `<dir>/<agent id>.jsonl`.
    Jsonl {
        /// Directory of the files; created if missing.
        dir: PathBuf,
        /// Replace existing files instead of refusing to start.
        #[serde(default)]
        overwrite: bool,
    },
}

impl FeedConfig {
    pub fn open(&self) -> Result<Box<dyn MarketFeed>, FeedError> {
        match self {
            FeedConfig::Replay { paths, skip_bad_rows } => Ok(Box::new(ReplayFeed::open(paths, *skip_bad_rows)?)),
        }
    }
}

impl BrokerConfig {
    /// A new account for one agent.
    pub fn account(&self, feeds: &[FeedSchema]) -> Box<dyn Broker> {
        match self {
            BrokerConfig::Simulated(config) => Box::new(SimulatedBroker::new(config.clone(), feeds)),
        }
    }

    /// Starting cash, for P&L.
    pub fn starting_cash(&self) -> rust_decimal::Decimal {
        match self {
            BrokerConfig::Simulated(config) => config.cash,
        }
    }
}

impl FmelConfig {
    pub fn open(&self, agent_ids: &[&str]) -> Result<Box<dyn DecisionSink>, SinkError> {
        match self {
            FmelConfig::Jsonl { dir, overwrite } => Ok(Box::new(JsonlSink::create(dir, agent_ids, *overwrite)?)),
        }
    }
}
