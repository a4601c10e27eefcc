//! Loading and running agent components with wasmtime.

pub mod bindings;
mod cache;
mod fast_read;
mod host;
mod sandbox;

use crate::broker::{OrderEvent, OrderStatus, Side};
use crate::config::EngineConfig;
use crate::decimal;
use crate::fmel::{Fault, OverLimits};
use crate::limits::AgentLimits;
use crate::market::DataHash;
use crate::time::Timestamp;
use anyhow::Context;
use bindings::Agent;
use bindings::trading::agent::types;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use host::{CallLog, HostFault, HostState};
use sandbox::{AgentLimiter, BarClock, CallClock, CallClockData, CallClockView, GuestOutput, TICK, Ticks};

/// The contract every agent implements.
pub const WIT_PACKAGE: &str = "trading:agent@0.1.0";

/// The exports of the `agent` world.
const EXPORTS: [&str; 4] = ["init", "on-bar", "on-order", "on-stop"];

// `repr(C)` and the host state first: the fast read builtin finds its table
// at the store data's address (see `fast_read`).
#[repr(C)]
pub struct AgentState {
    host: HostState,
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: AgentLimiter,
    clock: CallClock,
}

const _: () = assert!(std::mem::offset_of!(AgentState, host) == 0);

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Why a `.wasm` file cannot run as an agent.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a WebAssembly file (it lacks the \\0asm header)")]
    NotWasm { path: String },
    #[error(
        "{path}: not a component but a core WebAssembly module; build the agent for wasm32-wasip2, or wrap it with `wasm-tools component new`"
    )]
    CoreModule { path: String },
    #[error("{path}: the component is {size_mib:.1} MiB, over the limit of {limit_mib} MiB (component_mib)")]
    TooLarge { path: String, size_mib: f64, limit_mib: u64 },
    #[error("{path}: memory_mib {memory_mib} is over the engine's memory slot of {slot_mib} MiB; raise --memory-slot-mib")]
    MemoryOverSlot { path: String, memory_mib: u64, slot_mib: u64 },
    #[error("{path}: not a valid component: {reason}")]
    Invalid { path: String, reason: String },
    #[error("{path}: imports {import}, which agents may not use; only wasi:* and trading:agent imports are allowed")]
    ForeignImport { path: String, import: String },
    #[error(
        "{path}: missing export {export}; an agent exports init, on-bar, on-order and on-stop of the world trading:agent/agent@0.1.0"
    )]
    MissingExport { path: String, export: String },
    #[error("{path}: does not match the world trading:agent/agent@0.1.0: {reason}")]
    WrongWorld { path: String, reason: String },
}

/// Compiles and links agent components. One per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<AgentState>,
    config: EngineConfig,
    cache: Option<cache::ComponentCache>,
    ticker: EpochTicker,
}

/// Core instances, memories and tables pooled per agent: a Rust component
/// has a handful of each; more than this fails at instantiation.
const POOLED_CORE_INSTANCES_PER_AGENT: u32 = 8;
const POOLED_MEMORIES_PER_AGENT: u32 = 2;
const POOLED_TABLES_PER_AGENT: u32 = 4;

impl Runtime {
    /// An engine for up to `agents` agents at once.
    pub fn new(settings: &EngineConfig, agents: u32) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // Lets the fast read builtin inline into the agent where wasmtime
        // finds the caller small enough.
        config.compiler_inlining(wasmtime::Inlining::InterModule);
        config.consume_fuel(settings.fuel);
        config.epoch_interruption(settings.epoch_deadlines);
        config.max_wasm_stack(usize::try_from(settings.wasm_stack_kib)?.saturating_mul(1024));
        if settings.pooling && agents > 0 {
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            pool.total_component_instances(agents)
                .total_core_instances(agents.saturating_mul(POOLED_CORE_INSTANCES_PER_AGENT))
                .total_memories(agents.saturating_mul(POOLED_MEMORIES_PER_AGENT))
                .total_tables(agents.saturating_mul(POOLED_TABLES_PER_AGENT))
                .max_memory_size(usize::try_from(settings.memory_slot_mib)?.saturating_mul(1 << 20));
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // The agent's monotonic clock is bar time, which does not move during a call.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<AgentState, CallClockData>(&mut linker, |state| {
            CallClockView { clock: &state.clock, table: &mut state.table }
        })?;
        linker.allow_shadowing(false);
        Agent::add_to_linker::<AgentState, HasSelf<HostState>>(&mut linker, |state| &mut state.host)?;
        let ticker = EpochTicker::start(engine.clone());
        let cache = settings.cache_dir.as_deref().map(|dir| cache::ComponentCache::new(dir, &engine));
        Ok(Self { ticker, cache, engine, linker, config: settings.clone() })
    }

    /// The engine agents run on, for measuring it against other components.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, compiles and checks a component against the `agent` world,
    /// and checks it against an agent's limits.
    pub fn load(&self, path: &Path, limits: &AgentLimits) -> Result<AgentComponent, LoadError> {
        let component = self.compile(path, limits.component_mib)?;
        self.admit(&component, limits)?;
        Ok(component)
    }

    /// Whether an agent with these limits may run this component.
    pub fn admit(&self, component: &AgentComponent, limits: &AgentLimits) -> Result<(), LoadError> {
        let path = component.path.display().to_string();
        if self.config.pooling && limits.memory_mib > self.config.memory_slot_mib {
            return Err(LoadError::MemoryOverSlot { path, memory_mib: limits.memory_mib, slot_mib: self.config.memory_slot_mib });
        }
        if component.size > limits.component_mib.saturating_mul(1 << 20) {
            let size_mib = component.size as f64 / f64::from(1 << 20);
            return Err(LoadError::TooLarge { path, size_mib, limit_mib: limits.component_mib });
        }
        Ok(())
    }

    /// Reads, compiles and checks a component against the `agent` world. A
    /// file over `max_mib` is refused before it is read.
    pub fn compile(&self, path: &Path, max_mib: u64) -> Result<AgentComponent, LoadError> {
        let shown = path.display().to_string();
        let size = std::fs::metadata(path).map_err(|error| LoadError::Io { path: shown.clone(), error })?.len();
        if size > max_mib.saturating_mul(1 << 20) {
            return Err(LoadError::TooLarge { path: shown, size_mib: size as f64 / f64::from(1 << 20), limit_mib: max_mib });
        }
        let bytes = std::fs::read(path).map_err(|error| LoadError::Io { path: shown.clone(), error })?;
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm { path: shown });
        }
        // The version field: 1 for a core module; components use a layer of 1.
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(LoadError::CoreModule { path: shown });
        }
        let invalid = |e: anyhow::Error| LoadError::Invalid { path: shown.clone(), reason: format!("{e:#}") };
        // Checked before composing: the composed component imports the
        // intrinsics, which an agent's own imports must never reach.
        let imports = fast_read::imports(&bytes).map_err(invalid)?;
        if let Some(import) = imports.iter().find(|name| !(name.starts_with("wasi:") || name.starts_with("trading:agent/"))) {
            return Err(LoadError::ForeignImport { path: shown, import: import.clone() });
        }
        let sha256 = DataHash::of(&bytes);
        let builder = || -> anyhow::Result<wasmtime::CodeBuilder<'_>> {
            let composed = fast_read::compose(&bytes, imports.iter().any(|name| name == fast_read::MARKET_IMPORT))
                .context("does not fit the world trading:agent/agent@0.1.0")?;
            let mut builder = wasmtime::CodeBuilder::new(&self.engine);
            // SAFETY: the intrinsics go to the fast read builtin alone (the
            // agent's imports are checked above), which bounds every address
            // it uses by the table the host keeps at the start of the store
            // data of every store this engine runs agents in (`AgentState`).
            unsafe { builder.expose_unsafe_intrinsics(fast_read::INTRINSICS_IMPORT) };
            builder.wasm_binary(composed, None)?;
            Ok(builder)
        };
        let component = match &self.cache {
            Some(cache) => cache.load(&self.engine, &sha256.0, || Ok(builder()?.compile_component_serialized()?)),
            None => builder().and_then(|builder| Ok(builder.compile_component()?)),
        }
        .map_err(invalid)?;
        let ty = component.component_type();
        let exports: Vec<&str> = ty.exports(&self.engine).map(|(name, _)| name).collect();
        if let Some(missing) = EXPORTS.iter().find(|e| !exports.contains(e)) {
            return Err(LoadError::MissingExport { path: shown, export: (*missing).to_owned() });
        }
        let wrong = |e: wasmtime::Error| LoadError::WrongWorld { path: shown.clone(), reason: format!("{e:#}") };
        let pre = self.linker.instantiate_pre(&component).map_err(wrong)?;
        let pre = bindings::AgentPre::new(pre).map_err(wrong)?;
        Ok(AgentComponent {
            path: path.to_owned(),
            sha256,
            size,
            pre,
            engine: self.config.clone(),
            ticks: self.ticker.ticks.clone(),
        })
    }
}

/// Advances the engine's epoch and the call clocks' [`Ticks`] every tick,
/// so that call deadlines fire.
struct EpochTicker {
    ticks: Ticks,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ticks = Ticks::default();
        let (stopping, ticking) = (stop.clone(), ticks.clone());
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.advance();
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch ticker thread");
        Self { ticks, stop, thread: Some(thread) }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A checked, compiled agent, ready to instantiate any number of times.
pub struct AgentComponent {
    pub path: PathBuf,
    pub sha256: DataHash,
    /// Bytes of the `.wasm` file.
    pub size: u64,
    pre: bindings::AgentPre<AgentState>,
    engine: EngineConfig,
    ticks: Ticks,
}

impl AgentComponent {
    pub fn instantiate(&self, agent_id: &str, seed: u64, limits: AgentLimits, host: HostState) -> Result<AgentInstance, Fault> {
        let clock = BarClock::default();
        let id: Arc<str> = agent_id.into();
        let output_limit = limits.output_bytes_per_decision as usize;
        let stdout = GuestOutput::new(id.clone(), "stdout", output_limit);
        let stderr = GuestOutput::new(id, "stderr", output_limit);
        let wasi = sandbox::wasi_context(&clock, seed, stdout.clone(), stderr.clone());
        let state = AgentState {
            wasi,
            table: ResourceTable::new(),
            host,
            limiter: AgentLimiter::new(&limits),
            clock: CallClock::new(clock.clone(), self.ticks.clone()),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        let mut instance = AgentInstance { store, agent: None, clock, stdout, stderr, limits, engine: self.engine.clone() };
        instance.arm();
        match self.pre.instantiate(&mut instance.store) {
            Ok(agent) => {
                instance.agent = Some(agent);
                Ok(instance)
            }
            Err(e) => Err(instance.classify(&e, "instantiation")),
        }
    }
}

/// One running agent: its store, its sandbox and its host state.
pub struct AgentInstance {
    store: Store<AgentState>,
    agent: Option<Agent>,
    clock: BarClock,
    stdout: GuestOutput,
    stderr: GuestOutput,
    limits: AgentLimits,
    engine: EngineConfig,
}

impl AgentInstance {
    pub fn host(&mut self) -> &mut HostState {
        &mut self.store.data_mut().host
    }

    /// Sets the time the agent's clocks show.
    pub fn set_time(&self, time: Timestamp) {
        self.clock.set(time.0);
    }

    /// Starts a new decision point: fresh per-decision bounds.
    pub fn new_decision(&mut self) {
        self.host().new_decision();
    }

    /// What the bounds dropped since the last call to this, for the record.
    pub fn take_over_limits(&mut self) -> OverLimits {
        let mut over = self.host().log.take_over_limits();
        over.output_bytes = self.stdout.take_dropped() + self.stderr.take_dropped();
        over
    }

    /// Gives the next call its fuel and its deadline.
    fn arm(&mut self) {
        if self.engine.fuel {
            // Fuel is on for every store of this engine, so this cannot fail.
            let _ = self.store.set_fuel(self.limits.fuel_per_call);
        }
        let ticks = self.limits.deadline_ms.div_ceil(TICK.as_millis() as u64).max(1);
        if self.engine.epoch_deadlines {
            self.store.set_epoch_deadline(ticks);
        }
        self.store.data_mut().clock.set_deadline(ticks);
    }

    fn call<R>(
        &mut self,
        name: &str,
        call: impl FnOnce(&Agent, &mut Store<AgentState>) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        self.arm();
        let Some(agent) = self.agent.as_ref() else {
            return Err(Fault { kind: "trap".into(), message: "the agent was not instantiated".into() });
        };
        self.store.data_mut().host.arm_fast_reads();
        let result = call(agent, &mut self.store);
        self.store.data_mut().host.log.drain_pending();
        match result {
            Ok(_) if self.store.data().clock.expired() => Err(self.deadline_fault(name)),
            Ok(value) => Ok(value),
            Err(e) => Err(self.classify(&e, name)),
        }
    }

    fn deadline_fault(&self, call: &str) -> Fault {
        let message = format!("{call} ran past its deadline of {} ms (deadline_ms)", self.limits.deadline_ms);
        Fault { kind: "deadline".into(), message }
    }

    // The calls below need the market locked in the host state: see `HostState::lock_market`.

    pub fn init(&mut self, params: &[(String, String)]) -> Result<Result<(), String>, Fault> {
        self.call("init", |agent, store| agent.call_init(store, params))
    }

    pub fn on_bar(&mut self) -> Result<(), Fault> {
        self.call("on-bar", |agent, store| agent.call_on_bar(store))
    }

    pub fn on_order(&mut self, event: &OrderEvent) -> Result<(), Fault> {
        let update = order_update(event);
        self.call("on-order", |agent, store| agent.call_on_order(store, &update))
    }

    pub fn on_stop(&mut self) -> Result<(), Fault> {
        self.call("on-stop", |agent, store| agent.call_on_stop(store))
    }

    /// Names what ended a call, from the most specific evidence down.
    fn classify(&self, error: &wasmtime::Error, call: &str) -> Fault {
        tracing::debug!("{call} failed: {error:?}");
        let fault = |kind: &str, message: String| Fault { kind: kind.into(), message };
        if let Some(asked) = self.store.data().limiter.denied_memory() {
            let limit = self.limits.memory_mib;
            let asked = asked as f64 / f64::from(1 << 20);
            return fault("memory", format!("{call} asked for {asked:.1} MiB of memory; the limit is {limit} MiB (memory_mib)"));
        }
        if let Some(host) = error.downcast_ref::<HostFault>() {
            return fault(host.kind, format!("{call}: {}", host.message));
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => {
                return fault("fuel", format!("{call} used all its fuel ({}, fuel_per_call)", self.limits.fuel_per_call));
            }
            Some(Trap::Interrupt) => {
                return fault(
                    "deadline",
                    format!("{call} ran past its deadline of {} ms (deadline_ms)", self.limits.deadline_ms),
                );
            }
            Some(Trap::StackOverflow) => return fault("stack-overflow", format!("{call} exhausted the wasm stack")),
            _ => {}
        }
        let recent = self.stderr.recent();
        if let Some(start) = recent.iter().rposition(|line| line.contains("panicked at")) {
            let message = recent[start..]
                .iter()
                .take_while(|line| !line.starts_with("note: "))
                .map(|line| line.trim())
                .collect::<Vec<_>>()
                .join(" ");
            return fault("panic", message);
        }
        fault("trap", format!("{call}: {}", error.root_cause()))
    }
}

fn order_update(event: &OrderEvent) -> types::OrderUpdate {
    let fill = |f: &crate::broker::Fill| types::Fill {
        price: decimal::to_f64(f.price),
        qty: decimal::to_f64(f.qty),
        commission: decimal::to_f64(f.commission),
        cumulative_qty: decimal::to_f64(f.cumulative_qty),
    };
    types::OrderUpdate {
        id: event.id.0,
        client_order_id: event.client_order_id.clone(),
        symbol: event.symbol.to_string(),
        side: match event.side {
            Side::Buy => types::Side::Buy,
            Side::Sell => types::Side::Sell,
        },
        status: match &event.status {
            OrderStatus::Accepted => types::OrderStatus::Accepted,
            OrderStatus::PartiallyFilled(f) => types::OrderStatus::PartiallyFilled(fill(f)),
            OrderStatus::Filled(f) => types::OrderStatus::Filled(fill(f)),
            OrderStatus::Canceled(reason) => types::OrderStatus::Canceled(reason.clone()),
            OrderStatus::Rejected(reason) => types::OrderStatus::Rejected(reason.clone()),
        },
    }
}
