//! Hostile agents next to a well-behaved one: each attack gets its exact
//! reaction, and sma-crossover in the same process writes the same fills and
//! records as when it runs alone.

use serde_json::Value;
use tokio::sync::OnceCell;
use trading_host::run::RunReport;
use trading_host_tests::{agent, comparable, expanded_accesses, read_json, records, repo, run, stage};

/// A deadline far away, so that a loaded machine cannot turn a fuel fault
/// into a deadline fault.
const NO_DEADLINE: &[&str] = &["--limit", "hostile.deadline_ms=600000"];

struct Outcome {
    report: RunReport,
    hostile: Vec<Value>,
}

fn sample() -> String {
    repo("example-agents/data/ohlcv").to_str().unwrap().to_owned()
}

/// sma-crossover's records and fills when it runs alone.
async fn solo() -> &'static (Vec<Value>, Value) {
    static SOLO: OnceCell<(Vec<Value>, Value)> = OnceCell::const_new();
    SOLO.get_or_init(|| async {
        let dir = tempfile::tempdir().unwrap();
        let fmel = dir.path().join("fmel");
        let summary = dir.path().join("summary.json");
        let sma = format!("sma={}", agent("sma-crossover").display());
        run(&[
            "--agent",
            &sma,
            "--data",
            &sample(),
            "--fmel-dir",
            fmel.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ])
        .await
        .unwrap();
        let summary = read_json(&summary);
        (comparable(records(&fmel, "sma")), summary["agents"]["sma"]["fills"].clone())
    })
    .await
}

/// Runs the hostile agent in `mode` beside sma-crossover, and checks that
/// sma-crossover did exactly what it does alone.
async fn beside_sma(mode: &str, extra: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let fmel = dir.path().join("fmel");
    let summary = dir.path().join("summary.json");
    let hostile = format!("hostile={}", agent("hostile").display());
    let sma = format!("sma={}", agent("sma-crossover").display());
    let mode = format!("hostile.mode={mode}");
    let data = sample();
    let mut args = vec![
        "--agent",
        &hostile,
        "--agent",
        &sma,
        "--data",
        &data,
        "--param",
        &mode,
        "--fmel-dir",
        fmel.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let report = run(&args).await.unwrap();

    let (solo_records, solo_fills) = solo().await;
    let summary = read_json(&summary);
    assert_eq!(&summary["agents"]["sma"]["fills"], solo_fills, "sma-crossover's fills are untouched");
    assert!(comparable(records(&fmel, "sma")) == *solo_records, "sma-crossover's records are untouched");
    assert!(report.agents[1].fault.is_none());
    Outcome { hostile: records(&fmel, "hostile"), report }
}

/// The hostile agent faulted with `kind`, wrote a final ERROR record with
/// it at `decision_point`, and nothing after.
fn assert_fault(outcome: &Outcome, kind: &str, decision_point: u64) -> String {
    let fault = outcome.report.agents[0].fault.as_ref().unwrap_or_else(|| panic!("no fault, expected {kind}"));
    assert_eq!(fault.kind, kind, "{}", fault.message);
    assert_eq!(trading_host::cli::exit_code(&outcome.report), std::process::ExitCode::from(2));
    let last = outcome.hostile.last().unwrap();
    assert_eq!(last["stage"], "ERROR");
    assert_eq!(last["error"]["kind"], kind);
    assert_eq!(last["error"]["message"], fault.message.as_str());
    assert_eq!(last["decision_point"], decision_point);
    assert_eq!(stage(&outcome.hostile, "ERROR").len(), 1);
    fault.message.clone()
}

#[tokio::test]
async fn an_infinite_loop_in_on_bar_runs_out_of_fuel() {
    let outcome = beside_sma("loop-bar", NO_DEADLINE).await;
    let message = assert_fault(&outcome, "fuel", 1);
    assert_eq!(message, "on-bar used all its fuel (200000000, fuel_per_call)");
    assert_eq!(stage(&outcome.hostile, "NEXT").len(), 1, "the bar before the loop");
}

#[tokio::test]
async fn an_infinite_loop_in_init_runs_out_of_fuel() {
    let outcome = beside_sma("loop-init", &["--limit", "hostile.fuel_per_call=5000000"]).await;
    assert_eq!(assert_fault(&outcome, "fuel", 0), "init used all its fuel (5000000, fuel_per_call)");
    let stages: Vec<&str> = outcome.hostile.iter().map(|r| r["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["INIT", "ERROR"]);
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let outcome = beside_sma("memory", &["--limit", "hostile.memory_mib=16"]).await;
    let message = assert_fault(&outcome, "memory", 1);
    assert!(message.starts_with("on-bar asked for 16.") && message.ends_with("the limit is 16 MiB (memory_mib)"), "{message}");
}

#[tokio::test]
async fn unbounded_recursion_overflows_the_stack_cleanly() {
    let outcome = beside_sma("recursion", &[]).await;
    assert_eq!(assert_fault(&outcome, "stack-overflow", 1), "on-bar exhausted the wasm stack");
}

#[tokio::test]
async fn a_window_of_two_to_the_31_values_is_out_of_range() {
    let outcome = beside_sma("window", &[]).await;
    let message = assert_fault(&outcome, "out-of-range", 1);
    assert_eq!(message, "on-bar: a window of 2147483648 values is over the limit of 16384 (window_len)");
}

#[tokio::test]
async fn endless_reads_stop_at_the_read_bound_with_every_read_logged() {
    let outcome = beside_sma("reads", &["--limit", "hostile.reads_per_decision=1000"]).await;
    let message = assert_fault(&outcome, "limit", 1);
    assert_eq!(message, "on-bar: more than 1000 reads in one decision point (reads_per_decision)");
    let reads = expanded_accesses(outcome.hostile.last().unwrap());
    let expected: Vec<(u64, String, String, String)> = (0..1000u64)
        .map(|seq| {
            let (field, at) = if seq % 2 == 1 {
                ("open", "0")
            } else if seq % 4 == 0 {
                ("close", "0")
            } else {
                ("close", "-1")
            };
            (seq, "SYMA".into(), field.into(), at.into())
        })
        .collect();
    assert_eq!(reads, expected, "every read the bound allowed, in order");
}

#[tokio::test]
async fn a_megabyte_field_name_is_out_of_range() {
    let outcome = beside_sma("long-name", &[]).await;
    let message = assert_fault(&outcome, "out-of-range", 1);
    assert_eq!(message, "on-bar: a field name of 1048576 bytes is over the limit of 256 (name_bytes)");
}

#[tokio::test]
async fn a_million_orders_in_one_decision_are_bounded_and_counted() {
    // Plenty of time and fuel: the bound under test is the order count.
    let outcome =
        beside_sma("orders", &["--limit", "hostile.deadline_ms=600000", "--limit", "hostile.fuel_per_call=10000000000"]).await;
    let agent = &outcome.report.agents[0];
    assert!(agent.fault.is_none(), "{:?}", agent.fault);
    assert_eq!((agent.orders.submitted, agent.over_limits.orders), (100, 999_900));
    let next = stage(&outcome.hostile, "NEXT");
    let attack = next[1];
    assert_eq!(attack["over_limits"]["orders"], 999_900);
    assert_eq!(attack["actions"].as_array().unwrap().len(), 100, "only the allowed orders are logged one by one");
    assert_eq!(attack["rationale"], "ok=100 limited=999900 other=0", "the agent got typed errors");
}

#[tokio::test]
async fn megabytes_of_explain_are_cut_at_the_bound_and_counted() {
    let outcome = beside_sma("explain", &[]).await;
    let agent = &outcome.report.agents[0];
    assert!(agent.fault.is_none());
    let next = stage(&outcome.hostile, "NEXT");
    assert_eq!(next[1]["rationale"].as_str().unwrap().len(), 4096);
    assert_eq!(next[1]["over_limits"]["explain_bytes"], (8 << 20) + 4 - 4096);
    let bound = "LimitExceeded { bound: \"explain_bytes_per_decision\", limit: 4096 }";
    assert_eq!(next[2]["rationale"], format!("Err({bound}) Err({bound})").as_str(), "the agent was told");
}

#[tokio::test]
async fn files_environment_and_sockets_give_nothing() {
    let outcome = beside_sma("ambient", &[]).await;
    assert!(outcome.report.agents[0].fault.is_none());
    let report = stage(&outcome.hostile, "NEXT")[1]["rationale"].as_str().unwrap().to_owned();
    assert!(report.starts_with("env=[] args=[] file=Err("), "{report}");
    for denied in ["dir=Err(", "created=Err(", "tcp=Err(", "udp=Err(", "dns=Err("] {
        assert!(report.contains(denied), "{denied} in {report}");
    }
}

#[tokio::test]
async fn a_panic_is_a_fault_with_its_message() {
    let outcome = beside_sma("panic", &[]).await;
    let message = assert_fault(&outcome, "panic", 1);
    assert!(message.contains("hostile panics on bar 2"), "{message}");
}

#[tokio::test]
async fn a_trap_in_on_order_faults_and_cancels_the_open_order() {
    let outcome = beside_sma("trap-in-order", &[]).await;
    let message = assert_fault(&outcome, "trap", 1);
    assert_eq!(message, "on-order: wasm trap: wasm `unreachable` instruction executed");
    let error = outcome.hostile.last().unwrap();
    assert_eq!(error["canceled_orders"][0]["id"], 1);
    assert_eq!(outcome.report.agents[0].orders.canceled, 1);
}

#[tokio::test]
async fn waiting_in_a_host_call_is_cut_off_by_the_deadline() {
    let outcome = beside_sma("sleep", &["--limit", "hostile.deadline_ms=100"]).await;
    assert_eq!(assert_fault(&outcome, "deadline", 1), "on-bar ran past its deadline of 100 ms (deadline_ms)");
}

#[tokio::test]
async fn flooding_stdout_is_capped_per_decision_and_counted() {
    let outcome = beside_sma("flood-output", &[]).await;
    assert!(outcome.report.agents[0].fault.is_none());
    let next = stage(&outcome.hostile, "NEXT");
    // 13,000 "spam " and a newline a bar, of which 16 KiB is logged.
    assert!(next.iter().all(|r| r["over_limits"]["output_bytes"] == 65_001 - 16_384), "{}", next[0]);
}

#[tokio::test]
async fn a_fuel_fault_happens_at_the_same_point_on_every_run() {
    let first = beside_sma("loop-bar", NO_DEADLINE).await;
    let second = beside_sma("loop-bar", NO_DEADLINE).await;
    assert_eq!(comparable(first.hostile), comparable(second.hostile));
}

#[tokio::test]
async fn records_do_not_depend_on_the_order_of_agents() {
    let news = repo("example-agents/data/news");
    let sma = format!("sma={}", agent("sma-crossover").display());
    let sentiment = format!("sentiment={}", agent("sentiment-trader").display());
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (name, order) in [("ab", [&sma, &sentiment]), ("ba", [&sentiment, &sma])] {
        let fmel = dir.path().join(name);
        run(&["--agent", order[0], "--agent", order[1], "--data", news.to_str().unwrap(), "--fmel-dir", fmel.to_str().unwrap()])
            .await
            .unwrap();
        outputs.push((comparable(records(&fmel, "sma")), comparable(records(&fmel, "sentiment"))));
    }
    assert!(outputs[0].0.len() > 100 && outputs[0].1.len() > 100);
    assert!(outputs[0] == outputs[1], "the same records whichever agent comes first");
}

#[tokio::test]
async fn many_agents_spread_over_threads_write_what_each_writes_alone() {
    let (solo_records, _) = solo().await;
    let without_id = |records: Vec<Value>| -> Vec<Value> {
        records
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("agent_id");
                r
            })
            .collect()
    };
    let solo_records = without_id(solo_records.clone());
    let dir = tempfile::tempdir().unwrap();
    let fmel = dir.path().join("fmel");
    let specs: Vec<String> = (0..24).map(|i| format!("sma{i}={}", agent("sma-crossover").display())).collect();
    let mut args: Vec<&str> = specs.iter().flat_map(|s| ["--agent", s.as_str()]).collect();
    let data = sample();
    args.extend(["--data", &data, "--fmel-dir", fmel.to_str().unwrap()]);
    let report = run(&args).await.unwrap();
    assert_eq!(report.agents.len(), 24);
    for (i, agent) in report.agents.iter().enumerate() {
        assert_eq!(agent.agent_id, format!("sma{i}"), "reports in the order of --agent");
        let records = without_id(comparable(records(&fmel, &agent.agent_id)));
        assert!(records == solo_records, "sma{i} wrote what it writes alone");
    }
}
