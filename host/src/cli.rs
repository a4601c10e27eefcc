//! The command line.

use crate::broker::simulated::SimulatedBrokerConfig;
use crate::config::{AgentConfig, BrokerConfig, DEFAULT_HISTORY_BARS, EngineConfig, FeedConfig, FmelConfig, RunConfig};
use crate::limits::AgentLimits;
use crate::run::{RunError, RunReport, run};
use crate::runtime::Runtime;
use crate::summary::{self, render};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs sandboxed WebAssembly trading agents and logs every decision they make.
#[derive(Debug, Parser)]
#[command(name = "trading-host", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run agents over market data with a paper broker.
    ///
    /// Exit status: 0 when every agent ran to the end, 1 when the setup or
    /// the input is wrong, 2 when an agent faulted, 130 when interrupted.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// An agent component, as [ID=]PATH. The id defaults to the file stem.
    #[arg(long = "agent", value_name = "[ID=]PATH", required = true)]
    pub agents: Vec<String>,
    /// A .csv or .jsonl file, or a directory of them; several merge by timestamp.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Starting cash of each agent.
    #[arg(long, value_name = "N", default_value = "100000")]
    pub cash: Decimal,
    /// Commission as a fraction of traded value, on both sides: 0.001 is 0.1%.
    #[arg(long, value_name = "RATE", default_value = "0")]
    pub commission: Decimal,
    /// Let sells take positions below zero.
    #[arg(long)]
    pub allow_short: bool,
    /// Seed of the agents' randomness.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// A parameter for init: KEY=VALUE for every agent, ID.KEY=VALUE for one.
    #[arg(long = "param", value_name = "[ID.]KEY=VALUE")]
    pub params: Vec<String>,
    /// Directory of the FMEL logs, one <ID>.jsonl per agent.
    #[arg(long, value_name = "DIR", default_value = "fmel")]
    pub fmel_dir: PathBuf,
    /// Replace existing FMEL files.
    #[arg(long)]
    pub overwrite: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Skip and count malformed rows instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Bars of history kept per feed; reads further back trap.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HISTORY_BARS)]
    pub history_bars: usize,
    /// A sandbox bound: KEY=VALUE for every agent, ID.KEY=VALUE for one (see the README).
    #[arg(long = "limit", value_name = "[ID.]KEY=VALUE")]
    pub limits: Vec<String>,
    /// Native stack for WebAssembly frames, in KiB, for every agent.
    #[arg(long, value_name = "KIB", default_value_t = EngineConfig::default().wasm_stack_kib)]
    pub wasm_stack_kib: u64,
    /// Largest memory any agent can be given, in MiB: the size of each slot
    /// of the instance pool.
    #[arg(long, value_name = "MIB", default_value_t = EngineConfig::default().memory_slot_mib)]
    pub memory_slot_mib: u64,
    /// Directory of precompiled components [default: ~/.cache/trading-host/components].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile components on every start instead of caching them.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

impl RunArgs {
    /// Parses the arguments of `trading-host run`, without the program and
    /// subcommand names.
    pub fn parse_args<I, T>(args: I) -> Result<RunArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let argv = ["trading-host".into(), "run".into()].into_iter().chain(args.into_iter().map(Into::into));
        match Cli::try_parse_from(argv)?.command {
            Command::Run(args) => Ok(args),
        }
    }

    pub fn to_config(&self) -> Result<RunConfig, RunError> {
        let mut agents: Vec<AgentConfig> = Vec::new();
        for spec in &self.agents {
            let (id, path) = match spec.split_once('=') {
                Some((id, path)) => (id.to_owned(), PathBuf::from(path)),
                None => (stem(Path::new(spec)), PathBuf::from(spec)),
            };
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(RunError::Config(format!(
                    "agent id {id:?} (from --agent {spec}) may hold only letters, digits, '-', '_' and '.'"
                )));
            }
            if agents.iter().any(|a| a.id == id) {
                return Err(RunError::Config(format!("two agents have the id {id}; name them with --agent ID=PATH")));
            }
            agents.push(AgentConfig { id, path, params: Vec::new(), limits: AgentLimits::default() });
        }
        for param in &self.params {
            for_agents(&mut agents, "--param", param, |agent, key, value| {
                agent.params.push((key.to_owned(), value.to_owned()));
                Ok(())
            })?;
        }
        for limit in &self.limits {
            for_agents(&mut agents, "--limit", limit, |agent, key, value| agent.limits.set(key, value))?;
        }
        Ok(RunConfig {
            agents,
            feed: FeedConfig::Replay { paths: self.data.clone(), skip_bad_rows: self.skip_bad_rows },
            broker: BrokerConfig::Simulated(SimulatedBrokerConfig {
                cash: self.cash,
                commission_rate: self.commission,
                allow_short: self.allow_short,
            }),
            fmel: FmelConfig::Jsonl { dir: self.fmel_dir.clone(), overwrite: self.overwrite },
            seed: self.seed,
            history_bars: self.history_bars,
            engine: EngineConfig {
                wasm_stack_kib: self.wasm_stack_kib,
                memory_slot_mib: self.memory_slot_mib,
                cache_dir: match self.no_cache {
                    true => None,
                    false => self.cache_dir.clone().or_else(EngineConfig::default_cache_dir),
                },
                ..EngineConfig::default()
            },
        })
    }
}

/// Applies `[ID.]KEY=VALUE` to the agent `ID`, or to every agent when the
/// part before the first dot is no agent's id.
fn for_agents(
    agents: &mut [AgentConfig],
    flag: &str,
    setting: &str,
    mut apply: impl FnMut(&mut AgentConfig, &str, &str) -> Result<(), String>,
) -> Result<(), RunError> {
    let (key, value) = setting
        .split_once('=')
        .ok_or_else(|| RunError::Config(format!("{flag} {setting}: expected KEY=VALUE or ID.KEY=VALUE")))?;
    let scoped = key.split_once('.').filter(|(id, _)| agents.iter().any(|a| a.id == *id));
    for agent in agents.iter_mut() {
        let key = match scoped {
            Some((id, key)) if agent.id == id => key,
            Some(_) => continue,
            None => key,
        };
        apply(agent, key, value).map_err(|e| RunError::Config(format!("{flag} {setting}: {e}")))?;
    }
    Ok(())
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// How a finished run maps to the exit status.
pub fn exit_code(report: &RunReport) -> ExitCode {
    if report.interrupted {
        ExitCode::from(130)
    } else if report.faulted().next().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `trading-host run`, prints the report, writes the summary.
pub async fn run_command(args: &RunArgs, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<RunReport> {
    let config = args.to_config()?;
    let runtime = Runtime::new(&config.engine, config.agents.len() as u32)?;
    let report = run(&config, &runtime, shutdown).await?;
    print!("{}", render(&report));
    if let Some(path) = &args.summary_json {
        summary::write(path, &report).with_context(|| format!("cannot write the summary {}", path.display()))?;
    }
    for agent in report.faulted() {
        if let Some(fault) = &agent.fault {
            eprintln!("agent {} faulted ({}): {}", agent.agent_id, fault.kind, fault.message);
        }
    }
    Ok(report)
}
