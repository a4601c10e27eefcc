//! Benchmarks of trading-host, run in release mode.
//!
//! - `replay`: end-to-end replay throughput of an agent over generated bars,
//!   timed from the start of loading the data to the last flushed FMEL record.
//! - `sandbox`: what the CPU budget (fuel) and the wall-clock backstop
//!   (epochs) cost on replay throughput, measured side by side, and how long a
//!   looping or sleeping agent runs before it is cut off.
//!
//! Build the agents first:
//!   cargo build --release --target wasm32-wasip2 --manifest-path example-agents/Cargo.toml --target-dir target/agents
//!   cargo run --profile production -p bench -- replay --bars 1000000

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use trading_host::cli::RunArgs;
use trading_host::limits::{AgentLimits, EngineLimits};
use trading_host::run::{RunReport, run};
use trading_host::runtime::Runtime;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
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
async fn replay(args: &[&OsStr], engine: &EngineLimits) -> anyhow::Result<RunReport> {
    let mut config = RunArgs::parse_args(args)?.to_config()?;
    config.engine = engine.clone();
    let runtime = Runtime::new(&config.engine)?;
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

async fn sandbox(bars: u64, rounds: usize) -> anyhow::Result<()> {
    let sma = built_agent("sma_crossover");
    let hostile = built_agent("hostile");
    require(&sma)?;
    require(&hostile)?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir(&data)?;
    generate(&data, 2, bars)?;
    let fmel = dir.path().join("fmel");
    let sma = format!("bench={}", sma.display());
    let engines = [("fuel+epoch", true, true), ("fuel", true, false), ("epoch", false, true), ("none", false, false)];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    for _ in 0..rounds {
        for (i, (_, fuel, epoch_deadlines)) in engines.iter().enumerate() {
            let engine = EngineLimits { fuel: *fuel, epoch_deadlines: *epoch_deadlines, ..EngineLimits::default() };
            let args: [&OsStr; 7] = [
                "--agent".as_ref(),
                sma.as_ref(),
                "--data".as_ref(),
                data.as_os_str(),
                "--fmel-dir".as_ref(),
                fmel.as_os_str(),
                "--overwrite".as_ref(),
            ];
            let report = replay(&args, &engine).await?;
            rates[i].push(report.bars as f64 / report.elapsed.as_secs_f64());
        }
    }
    let rate: Vec<f64> = rates.into_iter().map(median).collect();
    for ((name, ..), r) in engines.iter().zip(&rate) {
        println!("{name:>10}: {r:>10.0} bars/s");
    }
    let overhead = |with: f64| (rate[3] / with - 1.0) * 100.0;

    // Cut-off: a looping or sleeping agent against one that returns, on three bars.
    let tiny = dir.path().join("tiny");
    std::fs::create_dir(&tiny)?;
    generate(&tiny, 1, 3)?;
    let hostile = format!("hostile={}", hostile.display());
    let elapsed = |mode: &'static str| {
        let (hostile, tiny, fmel) = (hostile.clone(), tiny.clone(), fmel.clone());
        async move {
            let mut times = Vec::new();
            for _ in 0..rounds {
                let mode = format!("mode={mode}");
                let args: [&OsStr; 9] = [
                    "--agent".as_ref(),
                    hostile.as_ref(),
                    "--data".as_ref(),
                    tiny.as_os_str(),
                    "--param".as_ref(),
                    mode.as_ref(),
                    "--fmel-dir".as_ref(),
                    fmel.as_os_str(),
                    "--overwrite".as_ref(),
                ];
                times.push(replay(&args, &EngineLimits::default()).await?.elapsed.as_secs_f64() * 1000.0);
            }
            anyhow::Ok(median(times))
        }
    };
    let idle = elapsed("idle").await?;
    let cutoff_ms = elapsed("loop-bar").await? - idle;
    let deadline_cutoff_ms = elapsed("sleep").await? - idle;
    println!(
        "{{\"fuel_overhead_pct\": {:.1}, \"epoch_overhead_pct\": {:.1}, \"fuel_and_epoch_overhead_pct\": {:.1}, \"cutoff_ms\": {cutoff_ms:.1}, \"deadline_cutoff_ms\": {deadline_cutoff_ms:.1}, \"deadline_ms\": {}}}",
        overhead(rate[1]),
        overhead(rate[2]),
        overhead(rate[0]),
        AgentLimits::default().deadline_ms
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Bench::Replay { agent, bars, symbols } => {
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
            let report = replay(&args, &EngineLimits::default()).await?;
            let seconds = report.elapsed.as_secs_f64();
            println!(
                "{{\"replay_bars_per_s\": {:.0}, \"bars\": {}, \"seconds\": {seconds:.3}, \"replay_peak_rss_mib\": {:.1}}}",
                report.bars as f64 / seconds,
                report.bars,
                peak_rss_mib().unwrap_or(f64::NAN)
            );
        }
        Bench::Sandbox { bars, rounds } => sandbox(bars, rounds).await?,
    }
    Ok(())
}
