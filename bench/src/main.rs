//! Benchmarks of trading-host, run in release mode.
//!
//! - `replay`: end-to-end replay throughput of an agent over generated bars,
//!   timed from the start of loading the data to the last flushed FMEL record.
//! - `sandbox`: what the CPU budget (fuel) and the wall-clock backstop
//!   (epochs) cost per decision point, measured side by side, and how long a
//!   looping or sleeping agent runs before it is cut off.
//!
//! Build the agents first:
//!   cargo build --release --target wasm32-wasip2 --manifest-path example-agents/Cargo.toml --target-dir target/agents
//!   cargo run --profile production -p bench -- replay --bars 1000000

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use parking_lot::RwLock;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rust_decimal::Decimal;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use trading_host::broker::simulated::{SimulatedBroker, SimulatedBrokerConfig};
use trading_host::cli::RunArgs;
use trading_host::config::EngineConfig;
use trading_host::fmel::Fault;
use trading_host::limits::AgentLimits;
use trading_host::market::{Bar, DataHash, DecisionPoint, FeedId, FeedSchema, Market, Ohlc};
use trading_host::run::{RunReport, run};
use trading_host::runtime::{AgentInstance, HostState, Runtime};
use trading_host::time::Timestamp;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replays SYMBOLS × BARS generated one-minute bars through one agent.
    Replay {
        /// The agent component.
        #[arg(long, default_value_os_t = built_agent("sma_crossover"))]
        agent: PathBuf,
        /// Bars per symbol.
        #[arg(long, default_value_t = 1_000_000)]
        bars: u64,
        /// Symbols, each its own CSV file.
        #[arg(long, default_value_t = 2)]
        symbols: u32,
    },
    /// The cost of fuel and epochs, and the time to cut off a hostile agent.
    Sandbox {
        /// Bars per symbol of the replays compared.
        #[arg(long, default_value_t = 200_000)]
        bars: u64,
        /// Rounds; each figure is the median.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

fn built_agent(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/agents/wasm32-wasip2/release/{name}.wasm"))
}

/// A deterministic random walk: each bar opens at the previous close.
fn generate(dir: &Path, symbols: u32, bars: u64) -> anyhow::Result<()> {
    for s in 0..symbols {
        let path = dir.join(format!("SYM{s}.csv"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(out, "timestamp,open,high,low,close,volume")?;
        let mut rng = StdRng::seed_from_u64(u64::from(s) + 1);
        let mut close = 100.0 * f64::from(s + 1);
        let start = 1_704_067_200i64; // 2024-01-01T00:00:00Z
        for i in 0..bars {
            let open = close;
            close = (open * (1.0 + rng.random_range(-0.002..0.002)) * 10_000.0).round() / 10_000.0;
            let high = open.max(close) + rng.random_range(0.0..0.05);
            let low = open.min(close) - rng.random_range(0.0..0.05);
            let t = minute_bar_time(start + 60 * i as i64);
            writeln!(out, "{t},{open:.4},{high:.4},{low:.4},{close:.4},{}", rng.random_range(100..1000))?;
        }
        out.flush()?;
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` for Unix seconds.
fn minute_bar_time(seconds: i64) -> String {
    let t = trading_host::time::Timestamp(seconds * 1_000_000_000).to_string();
    t.trim_end_matches('Z').replace('T', " ")
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs the host on `args` with the engine settings given, silently.
async fn replay(args: &[&OsStr], engine: &EngineConfig) -> anyhow::Result<RunReport> {
    let mut config = RunArgs::parse_args(args)?.to_config()?;
    config.engine = engine.clone();
    let runtime = Runtime::new(&config.engine, config.agents.len() as u32)?;
    Ok(run(&config, &runtime, std::future::pending()).await?)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn require(agent: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(agent.exists(), "{} is missing; build the agents first (see bench/src/main.rs)", agent.display());
    Ok(())
}

/// Synthetic decision points for two symbols, made before any timing.
fn points(bars: u64) -> Vec<DecisionPoint> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut closes = [100.0f64, 50.0];
    (0..bars)
        .map(|i| {
            let time = Timestamp(1_704_067_200_000_000_000 + i as i64 * 60_000_000_000);
            let bars = (0..2u32)
                .map(|s| {
                    let open = closes[s as usize];
                    let close = (open * (1.0 + rng.random_range(-0.002..0.002)) * 10_000.0).round() / 10_000.0;
                    closes[s as usize] = close;
                    let price = |x: f64| Decimal::from_f64_retain(x).unwrap_or_default().round_dp(4);
                    Bar {
                        feed: FeedId(s),
                        time,
                        numbers: vec![open, open.max(close), open.min(close), close, 100.0],
                        texts: Vec::new(),
                        prices: Ohlc {
                            open: price(open),
                            high: price(open.max(close)),
                            low: price(open.min(close)),
                            close: price(close),
                        },
                        hash: DataHash::default(),
                    }
                })
                .collect();
            DecisionPoint { time, bars }
        })
        .collect()
}

/// One agent instance on its own, fed decision points in a loop: what a
/// decision costs in the agent and its host calls, without feed or writer.
struct Bench {
    market: Arc<RwLock<Market>>,
    instance: AgentInstance,
}

impl Bench {
    fn new(engine: &EngineConfig, agent: &Path, params: &[(String, String)]) -> anyhow::Result<Self> {
        let runtime = Runtime::new(engine, 1)?;
        let limits = AgentLimits::default();
        let component = runtime.load(agent, &limits)?;
        let schemas = vec![FeedSchema::new("A", "A"), FeedSchema::new("B", "B")];
        let market = Arc::new(RwLock::new(Market::new(schemas.clone(), 1024)));
        let config = SimulatedBrokerConfig { cash: Decimal::from(1_000_000), commission_rate: Decimal::ZERO, allow_short: false };
        let host = HostState::new(&market.read(), Box::new(SimulatedBroker::new(config, &schemas)), limits.clone());
        let mut instance = component.instantiate("bench", 0, limits, host).map_err(|f| anyhow::anyhow!("{}", f.message))?;
        instance.init(&market, params).map_err(|f| anyhow::anyhow!("{}", f.message))?.map_err(anyhow::Error::msg)?;
        Ok(Bench { market, instance })
    }

    /// Runs one decision point; the fault, if the agent faulted.
    fn decide(&mut self, point: DecisionPoint) -> Result<(), Fault> {
        self.market.write().advance(point);
        self.instance.new_decision();
        self.instance.host().broker.on_market(&self.market.read());
        let result = self.instance.on_bar(&self.market);
        let host = self.instance.host();
        host.log.take();
        let mut events = Vec::new();
        host.broker.drain_events(&mut events);
        result
    }
}

fn decision_ns(engine: &EngineConfig, agent: &Path, points: &[DecisionPoint]) -> anyhow::Result<f64> {
    let mut bench = Bench::new(engine, agent, &[])?;
    let start = Instant::now();
    for point in points {
        bench.decide(point.clone()).map_err(|f| anyhow::anyhow!("{}", f.message))?;
    }
    Ok(start.elapsed().as_nanos() as f64 / points.len() as f64)
}

/// Milliseconds from the start of the hostile call to its fault.
fn cutoff_ms(agent: &Path, mode: &str) -> anyhow::Result<(f64, String)> {
    let mut bench = Bench::new(&EngineConfig::default(), agent, &[("mode".into(), mode.into()), ("at".into(), "1".into())])?;
    let point = points(1).remove(0);
    let start = Instant::now();
    let fault = bench.decide(point).err().ok_or_else(|| anyhow::anyhow!("mode {mode} did not fault"))?;
    Ok((start.elapsed().as_secs_f64() * 1000.0, fault.kind))
}

fn sandbox(bars: u64, rounds: usize) -> anyhow::Result<()> {
    let sma = built_agent("sma_crossover");
    let hostile = built_agent("hostile");
    require(&sma)?;
    require(&hostile)?;
    let points = points(bars);
    let engines = [("none", false, false), ("epoch", false, true), ("fuel", true, false), ("fuel+epoch", true, true)];
    let mut costs: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    for _ in 0..rounds {
        for (i, (_, fuel, epoch_deadlines)) in engines.iter().enumerate() {
            let engine = EngineConfig { fuel: *fuel, epoch_deadlines: *epoch_deadlines, ..EngineConfig::default() };
            costs[i].push(decision_ns(&engine, &sma, &points)?);
        }
    }
    let cost: Vec<f64> = costs.into_iter().map(median).collect();
    for ((name, ..), ns) in engines.iter().zip(&cost) {
        println!("{name:>10}: {ns:>8.1} ns per decision point of sma-crossover (2 symbols)");
    }
    let overhead = |with: f64| (with / cost[0] - 1.0) * 100.0;
    let fuel_cutoffs: Vec<(f64, String)> = (0..rounds).map(|_| cutoff_ms(&hostile, "loop-bar")).collect::<Result<_, _>>()?;
    let sleep_cutoffs: Vec<(f64, String)> = (0..rounds.min(3)).map(|_| cutoff_ms(&hostile, "sleep")).collect::<Result<_, _>>()?;
    println!("cut-off kinds: {} and {}", fuel_cutoffs[0].1, sleep_cutoffs[0].1);
    println!(
        "{{\"fuel_overhead_pct\": {:.1}, \"epoch_overhead_pct\": {:.1}, \"fuel_and_epoch_overhead_pct\": {:.1}, \"cutoff_ms\": {:.1}, \"deadline_cutoff_ms\": {:.1}, \"deadline_ms\": {}}}",
        overhead(cost[2]),
        overhead(cost[1]),
        overhead(cost[3]),
        median(fuel_cutoffs.into_iter().map(|(ms, _)| ms).collect()),
        median(sleep_cutoffs.into_iter().map(|(ms, _)| ms).collect()),
        AgentLimits::default().deadline_ms
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Replay { agent, bars, symbols } => {
            require(&agent)?;
            let dir = tempfile::tempdir()?;
            let data = dir.path().join("data");
            std::fs::create_dir(&data)?;
            generate(&data, symbols, bars).context("generating the data")?;
            let fmel = dir.path().join("fmel");
            let agent = format!("bench={}", agent.display());
            let args: [&OsStr; 8] = [
                "--agent".as_ref(),
                agent.as_ref(),
                "--data".as_ref(),
                data.as_os_str(),
                "--fmel-dir".as_ref(),
                fmel.as_os_str(),
                "--commission".as_ref(),
                "0.001".as_ref(),
            ];
            let report = replay(&args, &EngineConfig::default()).await?;
            let seconds = report.elapsed.as_secs_f64();
            println!(
                "{{\"replay_bars_per_s\": {:.0}, \"bars\": {}, \"seconds\": {seconds:.3}, \"replay_peak_rss_mib\": {:.1}}}",
                report.bars as f64 / seconds,
                report.bars,
                peak_rss_mib().unwrap_or(f64::NAN)
            );
        }
        Command::Sandbox { bars, rounds } => tokio::task::spawn_blocking(move || sandbox(bars, rounds)).await??,
    }
    Ok(())
}
