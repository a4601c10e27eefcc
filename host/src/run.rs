//! `trading-host run`: every agent over one feed, to the end of the data.
//!
//! Shutdown goes in order: the feed stops, each agent gets `on-stop`, the
//! brokers give their final state, and the FMEL writer flushes last.

use crate::agents::Agents;
use crate::config::RunConfig;
use crate::feed::{FeedError, MarketFeed};
use crate::fills::FillSpill;
use crate::fmel::writer::{BatchPolicy, FmelWriter, WriterStopped};
use crate::fmel::{FMEL_VERSION, SessionHeader, SinkError};
use crate::market::{Bar, DecisionPoint, Market};
use crate::runtime::{AgentComponent, LoadError, Runtime, WIT_PACKAGE};
use crate::session::{AgentReport, SessionSetup};
use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

/// Why a run could not start or finish. Agent faults are not errors: they
/// are in the report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("FMEL: {0}")]
    Sink(#[from] SinkError),
    #[error("{0}")]
    Runtime(String),
}

#[derive(Debug)]
pub struct RunReport {
    pub agents: Vec<AgentReport>,
    /// Symbol-bars the agents saw; after an interrupt, the feed had read
    /// a few more.
    pub bars: u64,
    pub decision_points: u64,
    pub elapsed: Duration,
    pub skipped_rows: u64,
    pub records: u64,
    /// The run stopped early on a shutdown signal.
    pub interrupted: bool,
    pub starting_cash: rust_decimal::Decimal,
}

impl RunReport {
    pub fn faulted(&self) -> impl Iterator<Item = &AgentReport> {
        self.agents.iter().filter(|a| a.fault.is_some())
    }
}

/// Bars sent to the agents at once, when the feed has them ready: a chunk
/// ends at the first decision point that reaches this many. Once the feed
/// is ahead, it sleeps until the agents take a chunk, so the chunk sets how
/// often it wakes. With chunks of 64 decision points, those wake-ups (one
/// per 200 µs of a single agent's work) often landed on the agent's core
/// and pre-empted it: a replay of two symbols took 5-13% longer than with
/// this size (512 of its points).
const CHUNK_BARS: usize = 1024;
/// Chunks the feed may read ahead of the agents. Counted in bars, the lead
/// costs the same memory however many symbols a decision point has.
const READ_AHEAD: usize = 32;

pub async fn run(config: &RunConfig, runtime: &Runtime, shutdown: impl Future<Output = ()>) -> Result<RunReport, RunError> {
    let started = Instant::now();
    if config.agents.is_empty() {
        return Err(RunError::Config("no agent given; pass --agent PATH".into()));
    }
    let components = load_components(config, runtime)?;
    let mut feed = config.feed.open()?;
    let schemas = feed.schemas().to_vec();
    let ids: Vec<&str> = config.agents.iter().map(|a| a.id.as_str()).collect();
    let writer = FmelWriter::spawn(config.fmel.open(&ids)?, BatchPolicy::for_sessions(ids.len()));

    let fills = FillSpill::default();
    let setups: Vec<SessionSetup> = config
        .agents
        .iter()
        .zip(&components)
        .enumerate()
        .map(|(index, (agent, component))| SessionSetup {
            index: index as u32,
            agent_id: agent.id.clone(),
            params: agent.params.clone(),
            seed: config.seed,
            limits: agent.limits.clone(),
            header: SessionHeader {
                fmel_version: FMEL_VERSION,
                agent_path: agent.path.display().to_string(),
                agent_sha256: component.sha256,
                wit_version: WIT_PACKAGE,
                host_version: env!("CARGO_PKG_VERSION"),
                params: agent.params.clone(),
                seed: config.seed,
                data: feed.sources().to_vec(),
            },
            fills: fills.clone(),
        })
        .collect();

    // Agents run on a blocking thread: their calls are CPU-bound, and WASI's
    // synchronous host calls must not run inside an async task.
    let (chunks, incoming) = tokio::sync::mpsc::channel::<Vec<DecisionPoint>>(READ_AHEAD);
    let stop = Arc::new(AtomicBool::new(false));
    let (recycle, recycled) = crossbeam_channel::bounded(READ_AHEAD);
    let market = Arc::new(RwLock::new(Market::new(schemas.clone(), config.history_bars)));
    let agents = Agents {
        market: market.clone(),
        accounts: setups.iter().map(|_| config.broker.account(&schemas)).collect(),
        setups,
        components,
        sender: writer.sender(),
        progress: progress_bar(feed.expected_bars()),
        stop: stop.clone(),
        recycle,
    };
    let agents = tokio::task::spawn_blocking(move || agents.run(incoming));

    let (mut read_points, mut interrupted, mut feed_error) = (0u64, false, None);
    let (mut chunk, mut chunk_bars) = (Vec::new(), 0);
    tokio::pin!(shutdown);
    loop {
        let point = match feed.try_next() {
            Some(point) => point,
            None => {
                // The feed would wait: what is gathered goes now.
                if !chunk.is_empty() && !send_chunk(&chunks, &mut chunk, &mut chunk_bars, &recycled, &mut *feed).await {
                    break;
                }
                tokio::select! {
                    () = &mut shutdown => {
                        interrupted = true;
                        break;
                    }
                    point = feed.next() => point,
                }
            }
        };
        let point = match point {
            Ok(Some(point)) => point,
            Ok(None) => break,
            Err(e) => {
                feed_error = Some(e);
                break;
            }
        };
        read_points += 1;
        chunk_bars += point.bars.len();
        chunk.push(point);
        if chunk_bars >= CHUNK_BARS {
            if !send_chunk(&chunks, &mut chunk, &mut chunk_bars, &recycled, &mut *feed).await {
                break;
            }
            // A feed with points always at hand is only ever asked here.
            if shutdown.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready() {
                interrupted = true;
                break;
            }
        }
    }
    if interrupted {
        stop.store(true, Ordering::Relaxed);
    }
    if !chunk.is_empty() && !interrupted {
        // Whatever the agent threads did with it, their result says.
        let _ = chunks.send(chunk).await;
    }
    drop(chunks);
    if interrupted {
        tracing::warn!("interrupted after reading {read_points} decision points; the agents stop after their current block");
    }
    let agents = match agents.await {
        Ok(Ok(agents)) => agents,
        Ok(Err(stopped)) => return Err(writer_failed(writer, stopped)),
        Err(e) => return Err(RunError::Runtime(format!("the agent thread failed: {e}"))),
    };
    let records = writer.finish()?;
    let (bars, decision_points) = {
        let market = market.read();
        (market.bars(), market.newest().map_or(0, |newest| newest + 1))
    };
    if let Some(e) = feed_error {
        return Err(e.into());
    }
    Ok(RunReport {
        agents,
        bars,
        decision_points,
        elapsed: started.elapsed(),
        skipped_rows: feed.skipped_rows(),
        records,
        interrupted,
        starting_cash: config.broker.starting_cash(),
    })
}

/// Sends the gathered chunk to the agents and takes back the bar buffers
/// they are done with. False when the agent threads have stopped; their
/// result says why.
async fn send_chunk(
    chunks: &tokio::sync::mpsc::Sender<Vec<DecisionPoint>>,
    chunk: &mut Vec<DecisionPoint>,
    chunk_bars: &mut usize,
    recycled: &crossbeam_channel::Receiver<Vec<Vec<Bar>>>,
    feed: &mut dyn MarketFeed,
) -> bool {
    *chunk_bars = 0;
    if chunks.send(std::mem::take(chunk)).await.is_err() {
        return false;
    }
    recycled.try_iter().flatten().for_each(|bars| feed.recycle(bars));
    true
}

/// Each distinct component once, shared by the agents that run it.
fn load_components(config: &RunConfig, runtime: &Runtime) -> Result<Vec<Arc<AgentComponent>>, LoadError> {
    let mut loaded: HashMap<&Path, Arc<AgentComponent>> = HashMap::new();
    let mut components = Vec::with_capacity(config.agents.len());
    for agent in &config.agents {
        let component = match loaded.get(agent.path.as_path()) {
            Some(component) => component.clone(),
            None => {
                let largest = config.agents.iter().filter(|a| a.path == agent.path).map(|a| a.limits.component_mib).max();
                let component = Arc::new(runtime.compile(&agent.path, largest.unwrap_or(agent.limits.component_mib))?);
                loaded.insert(&agent.path, component.clone());
                component
            }
        };
        runtime.admit(&component, &agent.limits)?;
        components.push(component);
    }
    Ok(components)
}

/// The writer stopped: its own error says why.
fn writer_failed(writer: FmelWriter, _: WriterStopped) -> RunError {
    match writer.finish() {
        Err(e) => RunError::Sink(e),
        Ok(_) => RunError::Runtime("the FMEL writer stopped unexpectedly".into()),
    }
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    // Draws on stderr only when it is a terminal.
    let bar = ProgressBar::new(total.unwrap_or(0));
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} bars ({per_sec}, {eta} left)") {
        bar.set_style(style);
    }
    bar
}
