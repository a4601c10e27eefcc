//! Helpers for the end-to-end tests: where the agents and fixtures are, and
//! running the host in-process the way the command line does.

use serde_json::Value;
use std::path::{Path, PathBuf};
use trading_host::cli::{RunArgs, run_command};
use trading_host::run::RunReport;

/// A component built by build.rs, by crate name: `sma-crossover`.
pub fn agent(name: &str) -> PathBuf {
    Path::new(env!("AGENTS_DIR")).join(format!("{}.wasm", name.replace('-', "_")))
}

/// A file under tests/fixtures.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(path)
}

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Runs the host in-process with `trading-host run` arguments.
pub async fn run(args: &[&str]) -> anyhow::Result<RunReport> {
    run_until(args, std::future::pending()).await
}

/// Runs the host in-process until the data ends or `shutdown` is ready.
pub async fn run_until(args: &[&str], shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<RunReport> {
    let args = RunArgs::parse_args(args).unwrap_or_else(|e| panic!("bad test arguments: {e}"));
    run_command(&args, shutdown).await
}

/// A JSON file, such as a `--summary-json` output.
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The records of one agent's FMEL file.
pub fn records(fmel_dir: &Path, agent_id: &str) -> Vec<Value> {
    let path = fmel_dir.join(format!("{agent_id}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))).collect()
}

/// Records with the fields that legitimately differ between runs removed:
/// wall-clock times and the session id.
pub fn comparable(mut records: Vec<Value>) -> Vec<Value> {
    for record in &mut records {
        let object = record.as_object_mut().expect("records are objects");
        object.remove("timestamp");
        object.remove("session_id");
        if let Some(Value::Array(actions)) = object.get_mut("actions") {
            for action in actions {
                action.as_object_mut().expect("actions are objects").remove("timestamp_ns");
            }
        }
    }
    records
}

/// Records of one stage.
pub fn stage<'a>(records: &'a [Value], stage: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["stage"] == stage).collect()
}

/// The single reads a record's access patterns stand for, expanded, in
/// seq order: (seq, symbol, field, offset or window range as text).
pub fn expanded_accesses(record: &Value) -> Vec<(u64, String, String, String)> {
    let mut out = Vec::new();
    for group in record["data_accessed"].as_array().expect("data_accessed is an array") {
        let symbol = group["symbol"].as_str().expect("symbol").to_owned();
        for pattern in group["access_patterns"].as_array().expect("access_patterns") {
            let seq = pattern["seq"].as_u64().expect("seq");
            let field = pattern["field"].as_str().expect("field").to_owned();
            if let Some(indices) = pattern.get("indices") {
                let (from, to) = (indices[0].as_i64().expect("from"), indices[1].as_i64().expect("to"));
                let step = if to >= from { 1 } else { -1 };
                for (n, offset) in std::iter::successors(Some(from), |o| (*o != to).then_some(o + step)).enumerate() {
                    out.push((seq + n as u64, symbol.clone(), field.clone(), offset.to_string()));
                }
            } else if let Some(range) = pattern.get("range") {
                out.push((seq, symbol.clone(), field, format!("{}..{}", range[0], range[1])));
            } else if let Some(index) = pattern.get("index") {
                out.push((seq, symbol.clone(), field, index.to_string()));
            } else {
                out.push((seq, symbol.clone(), field, String::new()));
            }
        }
    }
    out.sort();
    out
}
