//! Benchmarks of trading-host. `bench/run.sh` builds everything in the
//! `production` profile, runs each benchmark in its own process (so that
//! resident memory is each one's own) next to the backtrader peer, and
//! prints the table. Each subcommand prints one JSON object as its last line.
//!
//! Timed assertions do not belong in tests; the figures live here.

use anyhow::{Context as _, anyhow};
use clap::{Parser, Subcommand};
use parking_lot::RwLock;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rust_decimal::Decimal;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trading_host::broker::simulated::{SimulatedBroker, SimulatedBrokerConfig};
use trading_host::cli::RunArgs;
use trading_host::config::{EngineConfig, RunConfig};
use trading_host::fmel::jsonl::JsonlSink;
use trading_host::fmel::writer::{BatchPolicy, FmelWriter};
use trading_host::fmel::{
    Access, AccessKind, AccessNames, Accesses, DataHashes, DecisionRecord, Detail, OverLimits, PortfolioState, SessionMeta, Stage,
};
use trading_host::limits::AgentLimits;
use trading_host::market::{BLOCK_POINTS, Bar, DataHash, DecisionPoint, FeedId, FeedSchema, Market, Ohlc};
use trading_host::run::{RunReport, run};
use trading_host::runtime::{AgentComponent, AgentInstance, HostState, Runtime};
use trading_host::time::Timestamp;

/// The allocator of the `trading-host` binary, so that figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes SYMBOLS × BARS generated one-minute bars as CSV files.
    Generate {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        bars: u64,
        #[arg(long, default_value_t = 2)]
        symbols: u32,
    },
    /// Host-call costs inside on-bar: field reads (logged and not), window
    /// values, and the empty on-bar.
    Micro {
        /// Rounds of each measurement; figures are medians.
        #[arg(long, default_value_t = 21)]
        rounds: usize,
    },
    /// End-to-end replay of generated data: load, run, and write every FMEL
    /// record to disk.
    Replay {
        /// Directory of the data, as written by `generate`.
        #[arg(long)]
        data: PathBuf,
        /// The agent component.
        #[arg(long, default_value_os_t = built_agent("sma_crossover"))]
        agent: PathBuf,
        /// A parameter for the agent, KEY=VALUE.
        #[arg(long = "param")]
        params: Vec<String>,
        /// Agents: instances of the same component, each with its own portfolio and FMEL file.
        #[arg(long, default_value_t = 1)]
        agents: u32,
        /// Also report the replay with fuel and with epochs switched off, side by side.
        #[arg(long)]
        sandbox_cost: bool,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Write the last round's summary JSON here, for comparing fills.
        #[arg(long)]
        summary_json: Option<PathBuf>,
    },
    /// Cold start from the precompiled cache, and memory per idle agent.
    Instances {
        #[arg(long, default_value_t = 1000)]
        count: u32,
    },
    /// The replay feed alone: opening the files and reading every decision point.
    Feed {
        /// Directory of the data, as written by `generate`.
        #[arg(long)]
        data: PathBuf,
    },
    /// The FMEL writer alone: encoding and writing records.
    Fmel {
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
    },
    /// How long a looping agent runs before it is cut off, at the default limits.
    Cutoff {
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

fn built_agent(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/agents/wasm32-wasip2/release/{name}.wasm"))
}

fn require(agent: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(agent.exists(), "{} is missing; build the agents first (bench/run.sh does)", agent.display());
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A deterministic random walk per symbol: each bar opens at the previous
/// close, prices with four decimals, like the reference data.
fn generate(dir: &Path, symbols: u32, bars: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for s in 0..symbols {
        let path = dir.join(format!("SYM{s}.csv"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(out, "timestamp,open,high,low,close,volume")?;
        let mut rng = StdRng::seed_from_u64(u64::from(s) + 1);
        let mut close: i64 = 1_000_000 * i64::from(s + 1); // in 1/10,000
        let start = 1_704_067_200i64; // 2024-01-01T00:00:00Z
        for i in 0..bars {
            let open = close;
            close = (open + rng.random_range(-200..=200)).max(100);
            let high = open.max(close) + rng.random_range(0..=50);
            let low = (open.min(close) - rng.random_range(0..=50)).max(1);
            let time = Timestamp((start + 60 * i as i64) * 1_000_000_000).to_string();
            let time = time.trim_end_matches('Z').replacen('T', " ", 1);
            let price = |p: i64| format!("{}.{:04}", p / 10_000, p % 10_000);
            writeln!(
                out,
                "{time},{},{},{},{},{}",
                price(open),
                price(high),
                price(low),
                price(close),
                rng.random_range(100..1000)
            )?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Synthetic decision points for two symbols, made before any timing.
fn points(bars: u64) -> Vec<DecisionPoint> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut closes = [1_000_000i64, 500_000];
    (0..bars)
        .map(|i| {
            let time = Timestamp(1_704_067_200_000_000_000 + i as i64 * 60_000_000_000);
            let bars = (0..2u32)
                .map(|s| {
                    let open = closes[s as usize];
                    let close = open + rng.random_range(-200..=200);
                    closes[s as usize] = close;
                    let price = |p: i64| Decimal::new(p, 4);
                    let value = |p: i64| p as f64 / 10_000.0;
                    Bar {
                        feed: FeedId(s),
                        time,
                        numbers: [value(open), value(open.max(close)), value(open.min(close)), value(close), 100.0]
                            .into_iter()
                            .collect(),
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

fn schemas() -> Vec<FeedSchema> {
    vec![FeedSchema::new("A", "A"), FeedSchema::new("B", "B")]
}

/// One agent instance driven directly, without feed, session or writer.
struct Harness {
    market: Arc<RwLock<Market>>,
    instance: AgentInstance,
}

impl Harness {
    fn new(component: &AgentComponent, params: &[(&str, &str)], limits: AgentLimits) -> anyhow::Result<Self> {
        let market = Arc::new(RwLock::new(Market::new(schemas(), 1024)));
        let broker = SimulatedBroker::new(
            SimulatedBrokerConfig { cash: Decimal::from(1_000_000), commission_rate: Decimal::ZERO, allow_short: false },
            &schemas(),
        );
        let host = HostState::new(market.read().latest(), Box::new(broker), limits.clone());
        let instance = component.instantiate("bench", 0, limits, host).map_err(|f| anyhow!("{}: {}", f.kind, f.message))?;
        let mut harness = Harness { market, instance };
        let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        harness
            .with_market(|i| i.init(&params))
            .map_err(|f| anyhow!("{}: {}", f.kind, f.message))?
            .map_err(anyhow::Error::msg)?;
        Ok(harness)
    }

    fn with_market<R>(&mut self, work: impl FnOnce(&mut AgentInstance) -> R) -> R {
        let market = self.market.read_arc();
        if let Some(newest) = market.newest() {
            self.instance.host().move_to(newest);
        }
        self.instance.host().lock_market(market);
        let result = work(&mut self.instance);
        self.instance.host().unlock_market();
        result
    }

    fn advance(&mut self, point: DecisionPoint) {
        self.market.write().advance(point);
    }

    /// Runs one on-bar and returns how long it took; the log is cleared after.
    fn timed_on_bar(&mut self) -> anyhow::Result<Duration> {
        let elapsed = self.with_market(|i| {
            i.new_decision();
            let start = Instant::now();
            let result = i.on_bar();
            (start.elapsed(), result)
        });
        elapsed.1.map_err(|f| anyhow!("{}: {}", f.kind, f.message))?;
        self.instance.host().log.take_into(&mut Accesses::new());
        Ok(elapsed.0)
    }
}

fn runtime(engine: &EngineConfig, agents: u32) -> anyhow::Result<Runtime> {
    Runtime::new(&EngineConfig { cache_dir: EngineConfig::default_cache_dir(), ..engine.clone() }, agents)
}

/// The cheapest import of a field read's shape, `(u32, s32) -> f64`, on the
/// agents' engine: a component whose only import the host answers with
/// nothing but arithmetic. Field reads cost this plus the host's own work.
struct ImportFloor {
    store: wasmtime::Store<()>,
    run: wasmtime::component::TypedFunc<(u32,), (f64,)>,
}

impl ImportFloor {
    fn new(runtime: &Runtime, settings: &EngineConfig) -> anyhow::Result<Self> {
        let path = built_agent("bench_floor");
        require(&path)?;
        let engine = runtime.engine();
        let component = wasmtime::component::Component::from_file(engine, &path)?;
        let mut linker = wasmtime::component::Linker::new(engine);
        linker
            .instance("bench:floor/market")?
            .func_wrap("read", |_, (series, offset): (u32, i32)| Ok((f64::from(series) + f64::from(offset),)))?;
        let mut store = wasmtime::Store::new(engine, ());
        // Where the agents' engine meters fuel and checks epochs, so does the floor.
        if settings.fuel {
            store.set_fuel(u64::MAX)?;
        }
        if settings.epoch_deadlines {
            store.set_epoch_deadline(u64::MAX / 2);
        }
        let instance = linker.instantiate(&mut store, &component)?;
        let run = instance.get_typed_func(&mut store, "run")?;
        Ok(Self { store, run })
    }

    fn timed(&mut self, calls: u32) -> anyhow::Result<Duration> {
        let start = Instant::now();
        std::hint::black_box(self.run.call(&mut self.store, (calls,))?);
        Ok(start.elapsed())
    }
}

fn micro(rounds: usize) -> anyhow::Result<()> {
    let agent = built_agent("bench_reader");
    require(&agent)?;
    // Four agents and the import floor's component.
    let settings = EngineConfig::default();
    let runtime = runtime(&settings, 5)?;
    // A million reads in one call: over the default fuel, which meters the
    // fast read path's wasm too.
    let limits = AgentLimits { reads_per_decision: 2_000_000, fuel_per_call: 10_000_000_000, ..AgentLimits::default() };
    let component = runtime.load(&agent, &limits)?;
    let warm = |h: &mut Harness| {
        for point in points(40) {
            h.advance(point);
        }
    };

    const READS: u32 = 1_000_000;
    let mut reads = Harness::new(&component, &[("mode", "reads"), ("n", &READS.to_string())], limits.clone())?;
    warm(&mut reads);
    let mut import_floor = ImportFloor::new(&runtime, &settings)?;
    // Round by round, side by side, which goes first alternating: the
    // machine's speed drifts, so logging's cost is each round's own ratio.
    let (mut logged, mut unlogged, mut ratios, mut bare) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut pair = [0.0; 2];
        for logging in if round % 2 == 0 { [true, false] } else { [false, true] } {
            reads.instance.host().set_logging(logging);
            pair[usize::from(logging)] = reads.timed_on_bar()?.as_nanos() as f64 / f64::from(READS);
        }
        let [off, on] = pair;
        logged.push(on);
        unlogged.push(off);
        ratios.push(on / off);
        bare.push(import_floor.timed(READS)?.as_nanos() as f64 / f64::from(READS));
    }

    const WINDOWS: u32 = 100_000;
    let mut windows = Harness::new(&component, &[("mode", "window"), ("n", &WINDOWS.to_string())], limits.clone())?;
    warm(&mut windows);
    let window_value: Vec<f64> = (0..rounds)
        .map(|_| windows.timed_on_bar().map(|t| t.as_nanos() as f64 / f64::from(WINDOWS * 30)))
        .collect::<Result<_, _>>()?;

    const CALLS: u32 = 200_000;
    let mut empty = Harness::new(&component, &[("mode", "empty")], limits)?;
    warm(&mut empty);
    let mut floor = Vec::new();
    for _ in 0..rounds {
        let ns = empty.with_market(|i| {
            let start = Instant::now();
            for _ in 0..CALLS {
                i.on_bar().map_err(|f| anyhow!("{}", f.message))?;
            }
            anyhow::Ok(start.elapsed().as_nanos() as f64 / f64::from(CALLS))
        })?;
        empty.instance.host().log.take_into(&mut Accesses::new());
        floor.push(ns);
    }
    println!(
        "{{\"field_read_ns\": {:.1}, \"field_read_unlogged_ns\": {:.1}, \"field_read_logged_ratio\": {:.3}, \"import_floor_ns\": {:.1}, \"window_value_ns\": {:.2}, \"on_bar_floor_ns\": {:.1}}}",
        median(logged),
        median(unlogged),
        median(ratios),
        median(bare),
        median(window_value),
        median(floor)
    );
    Ok(())
}

fn peak_rss_mib() -> Option<f64> {
    proc_status_kib("VmHWM:").map(|kib| kib / 1024.0)
}

fn proc_status_kib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

fn remove_logs(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).context(format!("removing {}", dir.display())),
        _ => Ok(()),
    }
}

fn run_config(data: &Path, agent: &Path, params: &[String], agents: u32, fmel: &Path) -> anyhow::Result<RunConfig> {
    let mut args: Vec<OsString> = Vec::new();
    for i in 0..agents {
        args.push("--agent".into());
        args.push(format!("a{i}={}", agent.display()).into());
    }
    for param in params {
        args.extend(["--param".into(), param.into()]);
    }
    args.extend(["--data".into(), data.into(), "--fmel-dir".into(), fmel.into(), "--overwrite".into()]);
    args.extend(["--cash".into(), "1000000".into(), "--commission".into(), "0.001".into()]);
    Ok(RunArgs::parse_args(args)?.to_config()?)
}

async fn replay_once(config: &RunConfig) -> anyhow::Result<RunReport> {
    let runtime = Runtime::new(&config.engine, config.agents.len() as u32)?;
    Ok(run(config, &runtime, std::future::pending()).await?)
}

struct ReplayArgs {
    data: PathBuf,
    agent: PathBuf,
    params: Vec<String>,
    agents: u32,
    sandbox_cost: bool,
    rounds: usize,
    summary_json: Option<PathBuf>,
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let ReplayArgs { data, agent, params, agents, sandbox_cost, rounds, summary_json } = args;
    let (data, agent) = (data.as_path(), agent.as_path());
    require(agent)?;
    let out = tempfile::tempdir()?;
    let logs = out.path().join("fmel");
    let config = run_config(data, agent, &params, agents, &logs)?;
    // Warm the component cache, as a second start of the same agent would find it.
    let mut warm = config.clone();
    warm.agents.truncate(1);
    warm.feed = trading_host::config::FeedConfig::Replay { paths: vec![tiny_data(out.path())?], skip_bad_rows: false };
    replay_once(&warm).await?;

    let engines: Vec<(&str, EngineConfig)> = if sandbox_cost {
        vec![
            ("fuel+epoch", config.engine.clone()),
            ("epoch", EngineConfig { fuel: false, ..config.engine.clone() }),
            ("fuel", EngineConfig { epoch_deadlines: false, ..config.engine.clone() }),
        ]
    } else {
        vec![("default", config.engine.clone())]
    };
    // Each round runs every engine once, starting with a different one each
    // round, so that a switch's cost is read off runs minutes apart at most
    // and no engine always runs first.
    let mut rounds_rates = Vec::with_capacity(rounds);
    let mut last = None;
    for round in 0..rounds {
        let mut rates = vec![0.0; engines.len()];
        for k in 0..engines.len() {
            let i = (round + k) % engines.len();
            // The last round's logs go before the clock starts, as in the
            // first round: removing 650 MB of them took 45 ms, which
            // `--overwrite` would spend inside the run.
            remove_logs(&logs)?;
            let report = replay_once(&RunConfig { engine: engines[i].1.clone(), ..config.clone() }).await?;
            rates[i] = (report.bars * u64::from(agents)) as f64 / report.elapsed.as_secs_f64();
            last = Some(report);
        }
        rounds_rates.push(rates);
    }
    let report = last.context("at least one round")?;
    if let Some(fault) = report.faulted().next() {
        anyhow::bail!("agent {} faulted: {:?}", fault.agent_id, fault.fault);
    }
    let fills: u64 = report.agents.iter().map(|a| a.fills.len()).sum();
    if let Some(path) = summary_json {
        trading_host::summary::write(&path, &report)?;
    }
    let mut json = format!(
        "{{\"bars_per_s\": {:.0}, \"bars\": {}, \"agents\": {agents}, \"fills\": {fills}, \"records\": {}, \"peak_rss_mib\": {:.1}",
        median(rounds_rates.iter().map(|rates| rates[0]).collect()),
        report.bars,
        report.records,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    if sandbox_cost {
        // Overhead of a switch: how much slower the replay is with it on,
        // the median over rounds of each round's own ratio. On a shared
        // machine whose speed drifts over minutes, ratios of medians taken
        // over the whole run mostly measure the drift.
        let overheads = |without: usize| -> Vec<f64> {
            rounds_rates.iter().map(|rates| ((rates[without] / rates[0] - 1.0) * 1000.0).round() / 10.0).collect()
        };
        let (fuel, epoch) = (overheads(1), overheads(2));
        json.push_str(&format!(
            ", \"fuel_overhead_pct\": {:.1}, \"epoch_overhead_pct\": {:.1}, \"fuel_overhead_pct_rounds\": {fuel:?}, \"epoch_overhead_pct_rounds\": {epoch:?}",
            median(fuel.clone()),
            median(epoch.clone())
        ));
    }
    println!("{json}}}");
    Ok(())
}

/// Three bars of one symbol, to warm the cache without timing anything.
fn tiny_data(dir: &Path) -> anyhow::Result<PathBuf> {
    let tiny = dir.join("tiny");
    generate(&tiny, 1, 3)?;
    Ok(tiny)
}

fn instances(count: u32) -> anyhow::Result<()> {
    let agent = built_agent("sma_crossover");
    require(&agent)?;
    let runtime = runtime(&EngineConfig::default(), count)?;
    let limits = AgentLimits::default();
    runtime.load(&agent, &limits)?; // warms the cache
    let component = runtime.load(&agent, &limits)?;
    // As in a run, every agent reads one market.
    let market = Arc::new(RwLock::new(Market::new(schemas(), 64)));
    let before = proc_status_kib("VmRSS:").context("VmRSS")?;
    let mut harnesses = Vec::with_capacity(count as usize);
    let mut times = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let market = market.clone();
        let broker = SimulatedBroker::new(
            SimulatedBrokerConfig { cash: Decimal::from(100_000), commission_rate: Decimal::ZERO, allow_short: false },
            &schemas(),
        );
        let host = HostState::new(market.read().latest(), Box::new(broker), limits.clone());
        let start = Instant::now();
        let instance = component.instantiate("bench", 0, limits.clone(), host).map_err(|f| anyhow!("{}", f.message))?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
        let mut harness = Harness { market, instance };
        harness.with_market(|i| i.init(&[])).map_err(|f| anyhow!("{}", f.message))?.map_err(anyhow::Error::msg)?;
        harnesses.push(harness);
    }
    let after = proc_status_kib("VmRSS:").context("VmRSS")?;
    println!(
        "{{\"instantiate_us\": {:.1}, \"idle_agent_kib\": {:.1}, \"agents\": {count}, \"rss_for_agents_mib\": {:.1}}}",
        median(times),
        (after - before) / f64::from(count),
        (after - before) / 1024.0
    );
    drop(harnesses);
    Ok(())
}

async fn feed(data: &Path) -> anyhow::Result<()> {
    use trading_host::feed::MarketFeed;
    let start = Instant::now();
    let mut feed = trading_host::feed::replay::ReplayFeed::open(&[data.to_path_buf()], false)?;
    let opened = start.elapsed().as_secs_f64();
    let mut bars = 0;
    // As a run takes them: at hand, without a future each.
    while let Some(point) = match feed.try_next() {
        Some(next) => next,
        None => feed.next().await,
    }? {
        bars += point.bars.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{{\"feed_bars_per_s\": {:.0}, \"bars\": {bars}, \"open_s\": {opened:.3}}}", bars as f64 / seconds);
    Ok(())
}

fn fmel(records: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let names = Arc::new(AccessNames {
        feeds: vec!["SYMA".into(), "SYMB".into()],
        series: vec![(FeedId(0), "close".into()), (FeedId(1), "close".into())],
        position_fields: vec![],
    });
    let meta = Arc::new(SessionMeta::new(0, "bench".into(), uuid_like()));
    let record = |i: u64| DecisionRecord {
        session: 0,
        decision_point: i,
        wall_time: Timestamp::now(),
        bar_time: Some(Timestamp(1_704_067_200_000_000_000 + i as i64 * 60_000_000_000)),
        stage: Stage::Next,
        actions: Vec::new(),
        accesses: Accesses::from_slice(&[
            Access { seq: 0, kind: AccessKind::Window { series: 0, len: 30 } },
            Access { seq: 1, kind: AccessKind::Window { series: 1, len: 30 } },
        ]),
        data_hashes: DataHashes::from_slice(&[(FeedId(0), Some(DataHash([7; 32]))), (FeedId(1), Some(DataHash([9; 32])))]),
        portfolio: PortfolioState {
            value: Decimal::new(99_468_945_096, 5),
            cash: Decimal::new(97_937_073_096, 5),
            positions: [(FeedId(0), Decimal::from(100))].into_iter().collect(),
        },
        rationale: None,
        over_limits: OverLimits::default(),
        detail: Detail::None,
    };
    let start = Instant::now();
    let writer = FmelWriter::spawn(Box::new(JsonlSink::create(dir.path(), &["bench"], true)?), BatchPolicy::default());
    let sender = writer.sender();
    sender.open(meta)?;
    sender.names(0, names)?;
    // As a session sends them: a block of decision points' records at once.
    let mut unsent = Vec::new();
    for i in 0..records {
        unsent.push(record(i));
        if unsent.len() == BLOCK_POINTS {
            sender.send(&mut unsent)?;
        }
    }
    sender.send(&mut unsent)?;
    drop(sender);
    let written = writer.finish()?;
    let seconds = start.elapsed().as_secs_f64();
    println!("{{\"fmel_records_per_s\": {:.0}, \"records\": {written}}}", written as f64 / seconds);
    Ok(())
}

fn uuid_like() -> String {
    "00000000-0000-4000-8000-000000000000".into()
}

fn cutoff(rounds: usize) -> anyhow::Result<()> {
    let agent = built_agent("hostile");
    require(&agent)?;
    let runtime = runtime(&EngineConfig::default(), 2)?;
    let component = runtime.load(&agent, &AgentLimits::default())?;
    let mut times = Vec::new();
    let mut kind = String::new();
    for _ in 0..rounds {
        let mut harness = Harness::new(&component, &[("mode", "loop-bar"), ("at", "1")], AgentLimits::default())?;
        harness.advance(points(1).remove(0));
        let start = Instant::now();
        let fault = harness.with_market(|i| i.on_bar()).err().context("the looping agent was not cut off")?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        kind = fault.kind;
    }
    println!(
        "{{\"cutoff_ms\": {:.1}, \"cutoff_kind\": \"{kind}\", \"fuel_per_call\": {}}}",
        median(times),
        AgentLimits::default().fuel_per_call
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate { dir, bars, symbols } => generate(&dir, symbols, bars)?,
        Command::Micro { rounds } => tokio::task::spawn_blocking(move || micro(rounds)).await??,
        Command::Replay { data, agent, params, agents, sandbox_cost, rounds, summary_json } => {
            replay(ReplayArgs { data, agent, params, agents, sandbox_cost, rounds, summary_json }).await?
        }
        Command::Instances { count } => tokio::task::spawn_blocking(move || instances(count)).await??,
        Command::Feed { data } => feed(&data).await?,
        Command::Fmel { records } => tokio::task::spawn_blocking(move || fmel(records)).await??,
        Command::Cutoff { rounds } => tokio::task::spawn_blocking(move || cutoff(rounds)).await??,
    }
    Ok(())
}
