//! Loading and running agent components with wasmtime.

pub mod bindings;
mod host;
mod sandbox;

use crate::broker::{OrderEvent, OrderStatus, Side};
use crate::decimal;
use crate::fmel::Fault;
use crate::market::{DataHash, Market};
use crate::time::Timestamp;
use bindings::Agent;
use bindings::trading::agent::types;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use host::{CallLog, HostState};
use sandbox::{BarClock, GuestOutput};

/// The contract every agent implements.
pub const WIT_PACKAGE: &str = "trading:agent@0.1.0";

/// The exports of the `agent` world.
const EXPORTS: [&str; 4] = ["init", "on-bar", "on-order", "on-stop"];

pub struct AgentState {
    wasi: WasiCtx,
    table: ResourceTable,
    host: HostState,
}

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
}

impl Runtime {
    pub fn new() -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Agent::add_to_linker::<AgentState, HasSelf<HostState>>(&mut linker, |state| &mut state.host)?;
        Ok(Self { engine, linker })
    }

    /// Reads, compiles and checks a component against the `agent` world.
    pub fn load(&self, path: &Path) -> Result<AgentComponent, LoadError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| LoadError::Io { path: shown.clone(), error })?;
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm { path: shown });
        }
        // The version field: 1 for a core module; components use a layer of 1.
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(LoadError::CoreModule { path: shown });
        }
        let component = Component::new(&self.engine, &bytes)
            .map_err(|e| LoadError::Invalid { path: shown.clone(), reason: format!("{e:#}") })?;
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            if !(name.starts_with("wasi:") || name.starts_with("trading:agent/")) {
                return Err(LoadError::ForeignImport { path: shown, import: name.to_owned() });
            }
        }
        let exports: Vec<&str> = ty.exports(&self.engine).map(|(name, _)| name).collect();
        if let Some(missing) = EXPORTS.iter().find(|e| !exports.contains(e)) {
            return Err(LoadError::MissingExport { path: shown, export: (*missing).to_owned() });
        }
        let wrong = |e: wasmtime::Error| LoadError::WrongWorld { path: shown.clone(), reason: format!("{e:#}") };
        let pre = self.linker.instantiate_pre(&component).map_err(wrong)?;
        let pre = bindings::AgentPre::new(pre).map_err(wrong)?;
        Ok(AgentComponent { path: path.to_owned(), sha256: DataHash(Sha256::digest(&bytes).into()), pre })
    }
}

/// A checked, compiled agent, ready to instantiate any number of times.
pub struct AgentComponent {
    pub path: PathBuf,
    pub sha256: DataHash,
    pre: bindings::AgentPre<AgentState>,
}

impl AgentComponent {
    pub fn instantiate(&self, agent_id: &str, seed: u64, host: HostState) -> Result<AgentInstance, Fault> {
        let clock = BarClock::default();
        let id: Arc<str> = agent_id.into();
        let stderr = GuestOutput::new(id.clone(), "stderr");
        let wasi = sandbox::wasi_context(&clock, seed, GuestOutput::new(id, "stdout"), stderr.clone());
        let mut store = Store::new(self.pre.engine(), AgentState { wasi, table: ResourceTable::new(), host });
        match self.pre.instantiate(&mut store) {
            Ok(agent) => Ok(AgentInstance { store, agent, clock, stderr }),
            Err(e) => Err(classify(&e, &stderr)),
        }
    }
}

/// One running agent: its store, its sandbox and its host state.
pub struct AgentInstance {
    store: Store<AgentState>,
    agent: Agent,
    clock: BarClock,
    stderr: GuestOutput,
}

impl AgentInstance {
    pub fn host(&mut self) -> &mut HostState {
        &mut self.store.data_mut().host
    }

    /// Sets the time the agent's clocks show.
    pub fn set_time(&self, time: Timestamp) {
        self.clock.set(time.0);
    }

    fn call<R>(
        &mut self,
        market: &Arc<RwLock<Market>>,
        call: impl FnOnce(&Agent, &mut Store<AgentState>) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        self.store.data_mut().host.lock_market(market.read_arc());
        let result = call(&self.agent, &mut self.store);
        self.store.data_mut().host.unlock_market();
        result.map_err(|e| classify(&e, &self.stderr))
    }

    pub fn init(&mut self, market: &Arc<RwLock<Market>>, params: &[(String, String)]) -> Result<Result<(), String>, Fault> {
        self.call(market, |agent, store| agent.call_init(store, params))
    }

    pub fn on_bar(&mut self, market: &Arc<RwLock<Market>>) -> Result<(), Fault> {
        self.call(market, |agent, store| agent.call_on_bar(store))
    }

    pub fn on_order(&mut self, market: &Arc<RwLock<Market>>, event: &OrderEvent) -> Result<(), Fault> {
        let update = order_update(event);
        self.call(market, |agent, store| agent.call_on_order(store, &update))
    }

    pub fn on_stop(&mut self, market: &Arc<RwLock<Market>>) -> Result<(), Fault> {
        self.call(market, |agent, store| agent.call_on_stop(store))
    }
}

/// Names what ended a call: a panic (from the guest's own report on
/// stderr), or another trap.
fn classify(error: &wasmtime::Error, stderr: &GuestOutput) -> Fault {
    tracing::debug!("agent call failed: {error:?}");
    let recent = stderr.recent();
    if let Some(start) = recent.iter().rposition(|line| line.contains("panicked at")) {
        let message = recent[start..]
            .iter()
            .take_while(|line| !line.starts_with("note: "))
            .map(|line| line.trim())
            .collect::<Vec<_>>()
            .join(" ");
        return Fault { kind: "panic".into(), message };
    }
    Fault { kind: "trap".into(), message: error.root_cause().to_string() }
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
