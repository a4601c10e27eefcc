//! Benchmarks of trading-host, run in release mode.
//!
//! `replay`: end-to-end replay throughput of an agent over generated bars,
//! timed from the start of loading the data to the last flushed FMEL record.
//! Build the agents first:
//!   cargo build --release --target wasm32-wasip2 --manifest-path example-agents/Cargo.toml --target-dir target/agents
//!   cargo run --profile production -p bench -- replay --bars 1000000

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::io::Write;
use std::path::{Path, PathBuf};
use trading_host::cli::RunArgs;

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
        #[arg(long, default_value_os_t = default_agent())]
        agent: PathBuf,
        /// Bars per symbol.
        #[arg(long, default_value_t = 1_000_000)]
        bars: u64,
        /// Symbols, each its own CSV file.
        #[arg(long, default_value_t = 2)]
        symbols: u32,
    },
}

fn default_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/agents/wasm32-wasip2/release/sma_crossover.wasm")
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Bench::Replay { agent, bars, symbols } => {
            anyhow::ensure!(agent.exists(), "{} is missing; build the agents first (see bench/src/main.rs)", agent.display());
            let dir = tempfile::tempdir()?;
            let data = dir.path().join("data");
            std::fs::create_dir(&data)?;
            generate(&data, symbols, bars).context("generating the data")?;
            let fmel = dir.path().join("fmel");
            let agent = format!("bench={}", agent.display());
            let args = RunArgs::parse_args([
                "--agent".as_ref(),
                agent.as_ref(),
                "--data".as_ref(),
                data.as_os_str(),
                "--fmel-dir".as_ref(),
                fmel.as_os_str(),
                "--commission".as_ref(),
                "0.001".as_ref(),
            ] as [&std::ffi::OsStr; 8])?;
            let report = trading_host::cli::run_command(&args, std::future::pending()).await?;
            let seconds = report.elapsed.as_secs_f64();
            println!(
                "{{\"replay_bars_per_s\": {:.0}, \"bars\": {}, \"seconds\": {seconds:.3}, \"replay_peak_rss_mib\": {:.1}}}",
                report.bars as f64 / seconds,
                report.bars,
                peak_rss_mib().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
