//! The end of a run: the `--summary-json` file and the printed report.

use crate::decimal::{Normal, Positions};
use crate::fills::FillLog;
use crate::run::RunReport;
use crate::session::{AgentReport, OrderCounts};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// The `--summary-json` document.
#[derive(Serialize)]
pub struct Summary<'a> {
    schema_version: u32,
    agents: Agents<'a>,
    faulted: Vec<FaultJson<'a>>,
    interrupted: bool,
}

impl<'a> Summary<'a> {
    pub fn new(report: &'a RunReport) -> Self {
        Summary {
            schema_version: SUMMARY_SCHEMA_VERSION,
            agents: Agents(&report.agents),
            faulted: report
                .faulted()
                .filter_map(|a| a.fault.as_ref().map(|f| FaultJson { agent: &a.agent_id, kind: &f.kind, message: &f.message }))
                .collect(),
            interrupted: report.interrupted,
        }
    }
}

#[derive(Serialize)]
struct FaultJson<'a> {
    agent: &'a str,
    kind: &'a str,
    message: &'a str,
}

struct Agents<'a>(&'a [AgentReport]);

impl Serialize for Agents<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for agent in self.0 {
            map.serialize_entry(&agent.agent_id, &AgentJson::new(agent))?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct AgentJson<'a> {
    session_id: &'a str,
    final_value: Normal,
    final_cash: Normal,
    positions: Positions<'a>,
    fills: &'a FillLog,
    orders: &'a OrderCounts,
    decisions: u64,
    accesses: u64,
    over_limits: crate::fmel::OverLimits,
}

impl<'a> AgentJson<'a> {
    fn new(a: &'a AgentReport) -> Self {
        AgentJson {
            session_id: &a.session_id,
            final_value: Normal(a.portfolio.value),
            final_cash: Normal(a.portfolio.cash),
            positions: Positions { held: &a.portfolio.positions, symbols: &a.symbols },
            fills: &a.fills,
            orders: &a.orders,
            decisions: a.decisions,
            accesses: a.accesses,
            over_limits: a.over_limits,
        }
    }
}

/// Writes the `--summary-json` file, streamed: the lists of fills are read
/// back from disk as it goes.
pub fn write(path: &Path, report: &RunReport) -> anyhow::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    serde_json::to_writer_pretty(&mut out, &Summary::new(report))?;
    out.flush()?;
    Ok(())
}

/// The human-readable report printed at the end of a run.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    for a in &report.agents {
        let p = &a.portfolio;
        let pnl = p.value - report.starting_cash;
        let positions: Vec<String> =
            p.positions.iter().map(|(f, q)| format!("{} {}", a.symbols[f.index()], Normal(*q))).collect();
        let o = &a.orders;
        let _ = writeln!(out, "{}  (session {})", a.agent_id, a.session_id);
        if let Some(fault) = &a.fault {
            let _ = writeln!(out, "  FAULTED      {}: {}", fault.kind, fault.message);
        }
        let _ = writeln!(out, "  value        {}  (P&L {})", Normal(p.value), Normal(pnl));
        let _ = writeln!(out, "  cash         {}", Normal(p.cash));
        let _ = writeln!(out, "  positions    {}", if positions.is_empty() { "none".into() } else { positions.join(", ") });
        let _ = writeln!(
            out,
            "  orders       {} submitted, {} filled, {} rejected, {} canceled, {} refused, {} open",
            o.submitted, o.filled, o.rejected, o.canceled, o.refused, o.open
        );
        let _ = writeln!(out, "  decisions    {}, field accesses {}", a.decisions, a.accesses);
        let over = &a.over_limits;
        if !over.is_zero() {
            let _ = writeln!(
                out,
                "  over limits  {} orders refused, {} explain bytes and {} output bytes dropped",
                over.orders, over.explain_bytes, over.output_bytes
            );
        }
    }
    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { report.bars as f64 / seconds } else { 0.0 };
    let _ = write!(
        out,
        "{} bars, {} decision points in {:.2} s ({:.0} bars/s); {} FMEL records",
        report.bars, report.decision_points, seconds, rate, report.records
    );
    if report.skipped_rows > 0 {
        let _ = write!(out, "; {} bad rows skipped", report.skipped_rows);
    }
    if report.interrupted {
        out.push_str("; INTERRUPTED");
    }
    out.push('\n');
    out
}
