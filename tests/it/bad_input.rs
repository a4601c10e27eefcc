//! Bad input gets a clear error that says what is wrong, and a fault ends
//! only the agent that faulted.

use sha2::Digest;
use trading_host_tests::{agent, records, repo, run, stage};

fn fmel_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("fmel").to_str().unwrap().to_owned()
}

async fn run_error(agent_arg: &str, data: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let fmel = fmel_arg(&dir);
    let mut args = vec!["--agent", agent_arg, "--data", data, "--fmel-dir", &fmel];
    args.extend_from_slice(extra);
    format!("{:#}", run(&args).await.expect_err("the run must fail"))
}

fn sample() -> String {
    repo("example-agents/data/ohlcv").to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_file_that_is_not_webassembly_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, "hello").unwrap();
    let err = run_error(path.to_str().unwrap(), &sample(), &[]).await;
    assert!(err.ends_with("notes.wasm: not a WebAssembly file (it lacks the \\0asm header)"), "{err}");
}

#[tokio::test]
async fn a_core_module_is_refused_as_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let err = run_error(path.to_str().unwrap(), &sample(), &[]).await;
    assert!(err.contains("core.wasm: not a component but a core WebAssembly module; build the agent for wasm32-wasip2"), "{err}");
}

#[tokio::test]
async fn a_component_of_another_world_names_the_missing_export() {
    let err = run_error(agent("wrong-world").to_str().unwrap(), &sample(), &[]).await;
    assert!(err.contains("wrong_world.wasm: missing export init;"), "{err}");
}

#[tokio::test]
async fn imports_outside_wasi_and_trading_agent_are_refused_by_name() {
    let err = run_error(agent("foreign-import").to_str().unwrap(), &sample(), &[]).await;
    assert!(err.contains("foreign_import.wasm: imports evil:net/socket, which agents may not use"), "{err}");
}

#[tokio::test]
async fn an_agent_importing_the_engines_unsafe_intrinsics_is_refused() {
    // The fast read builtin composed into every agent gets them; an agent
    // naming them itself would read and write the host's memory.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("intrinsics.wasm");
    let component = r#"(component (import "unsafe-intrinsics" (instance (export "store-data-address" (func (result u64))))))"#;
    std::fs::write(&path, wat::parse_str(component).unwrap()).unwrap();
    let err = run_error(path.to_str().unwrap(), &sample(), &[]).await;
    assert!(err.contains("intrinsics.wasm: imports unsafe-intrinsics, which agents may not use"), "{err}");
}

#[tokio::test]
async fn a_malformed_csv_row_names_file_and_line_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("BAD.csv");
    std::fs::write(&csv, "timestamp,open,high,low,close,volume\n2024-01-01 00:00:00,1,1,1,1,1\n2024-01-01 00:01:00,1,x,1,1,1\n2024-01-01 00:02:00,1,1,1,1,1\n").unwrap();
    let sma = agent("sma-crossover");
    let stopped = dir.path().join("stopped");
    let sma_arg = format!("sma={}", sma.display());
    let args = ["--agent", &sma_arg, "--data", csv.to_str().unwrap(), "--fmel-dir", stopped.to_str().unwrap()];
    let err = format!("{:#}", run(&args).await.expect_err("the run must fail"));
    assert!(err.ends_with("BAD.csv:3: high: not a number: \"x\""), "{err}");
    let records = records(&stopped, "sma");
    let stages: Vec<(&str, Option<&str>)> =
        records.iter().skip(1).map(|r| (r["stage"].as_str().unwrap(), r["bar_time"].as_str())).collect();
    let bar = |stage| (stage, Some("2024-01-01T00:00:00Z"));
    assert_eq!(stages, [bar("NEXT"), bar("STOP")], "the good bar before the bad row is decided on");

    let fmel = fmel_arg(&dir);
    let report =
        run(&["--agent", sma.to_str().unwrap(), "--data", csv.to_str().unwrap(), "--fmel-dir", &fmel, "--skip-bad-rows"])
            .await
            .unwrap();
    assert_eq!((report.skipped_rows, report.decision_points), (1, 2));
}

#[tokio::test]
async fn orders_for_unknown_symbols_and_bad_quantities_get_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fmel = fmel_arg(&dir);
    let probe = agent("probe");
    let report = run(&["--agent", probe.to_str().unwrap(), "--data", &sample(), "--param", "mode=orders", "--fmel-dir", &fmel])
        .await
        .unwrap();
    let orders = &report.agents[0].orders;
    assert_eq!((orders.refused, orders.submitted, orders.filled), (3, 1, 1));

    let records = records(std::path::Path::new(&fmel), "probe");
    let first = stage(&records, "NEXT")[0];
    let actions = first["actions"].as_array().unwrap();
    let statuses: Vec<(&str, &str)> =
        actions.iter().map(|a| (a["status"].as_str().unwrap(), a["error"].as_str().unwrap_or(""))).collect();
    assert_eq!(statuses[0], ("REFUSED", "unknown-symbol: no feed carries NOPE"));
    assert!(statuses[1].1.starts_with("invalid-quantity: quantity must be a positive finite number, got -5"), "{statuses:?}");
    assert_eq!(actions[1]["size"], "-5");
    assert!(statuses[2].1.starts_with("invalid-price: price must be a positive finite number, got NaN"), "{statuses:?}");
    assert_eq!(statuses[3], ("SUBMITTED", ""));
    assert_eq!(actions[3]["order_id"], 1);
    assert_eq!(actions[3]["client_order_id"], "probe-1");
    assert_eq!(first["action"], "BUY(NOPE) → BUY(SYMA) → BUY(SYMA) → BUY(SYMA)");
    // The agent itself got the typed errors back.
    let rationale = first["rationale"].as_str().unwrap();
    assert!(rationale.starts_with("unknown: UnknownSymbol(\"no feed carries NOPE\"); negative: InvalidQuantity("), "{rationale}");
    assert!(rationale.ends_with("good: ok 1"), "{rationale}");
    // Accepted right after the decision, filled at the next bar's open.
    let order_records = stage(&records, "ORDER");
    assert_eq!(order_records[0]["order"]["status"], "ACCEPTED");
    assert_eq!(order_records[0]["decision_point"], 0);
    assert_eq!(order_records[1]["order"]["status"], "FILLED");
    assert_eq!(order_records[1]["decision_point"], 1);
    assert_eq!(order_records[1]["order"]["client_order_id"], "probe-1");
}

#[tokio::test]
async fn a_panicking_agent_faults_alone_with_an_error_record() {
    let dir = tempfile::tempdir().unwrap();
    let fmel = fmel_arg(&dir);
    let probe = agent("probe");
    let sma = format!("sma={}", agent("sma-crossover").display());
    let report = run(&[
        "--agent",
        probe.to_str().unwrap(),
        "--agent",
        &sma,
        "--data",
        &sample(),
        "--param",
        "probe.mode=panic",
        "--fmel-dir",
        &fmel,
    ])
    .await
    .unwrap();
    assert_eq!(trading_host::cli::exit_code(&report), std::process::ExitCode::from(2));
    let fault = report.agents[0].fault.as_ref().expect("the probe faulted");
    assert_eq!(fault.kind, "panic");
    assert!(fault.message.contains("probe panics on bar 3"), "{}", fault.message);
    assert!(report.agents[1].fault.is_none());
    assert_eq!(report.agents[1].decisions, 2000, "the other agent ran to the end");

    let probe_records = records(std::path::Path::new(&fmel), "probe");
    let last = probe_records.last().unwrap();
    assert_eq!(last["stage"], "ERROR");
    assert_eq!(last["decision_point"], 2);
    assert_eq!(last["error"]["kind"], "panic");
    assert_eq!(stage(&probe_records, "NEXT").len(), 2);
}

#[tokio::test]
async fn setup_mistakes_are_refused_with_what_to_fix() {
    let sma = agent("sma-crossover");
    let sma = sma.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fmel = fmel_arg(&dir);
    let twice = run(&["--agent", sma, "--agent", sma, "--data", &sample(), "--fmel-dir", &fmel]).await.unwrap_err();
    assert_eq!(twice.to_string(), "two agents have the id sma_crossover; name them with --agent ID=PATH");

    let missing = run(&["--agent", sma, "--data", "/no/such/dir", "--fmel-dir", &fmel]).await.unwrap_err();
    assert!(missing.to_string().starts_with("/no/such/dir: "), "{missing}");

    run(&["--agent", sma, "--data", &sample(), "--fmel-dir", &fmel]).await.unwrap();
    let exists = run(&["--agent", sma, "--data", &sample(), "--fmel-dir", &fmel]).await.unwrap_err();
    assert!(
        exists
            .to_string()
            .ends_with("sma_crossover.jsonl already exists; pass --overwrite to replace it, or choose another --fmel-dir"),
        "{exists}"
    );
    run(&["--agent", sma, "--data", &sample(), "--fmel-dir", &fmel, "--overwrite"]).await.unwrap();

    let bad_param = run(&["--agent", sma, "--data", &sample(), "--fmel-dir", &fmel, "--param", "fast"]).await.unwrap_err();
    assert_eq!(bad_param.to_string(), "--param fast: expected KEY=VALUE or ID.KEY=VALUE");
}

#[tokio::test]
async fn an_init_error_stops_the_agent_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let fmel = fmel_arg(&dir);
    let sma = agent("sma-crossover");
    let report =
        run(&["--agent", sma.to_str().unwrap(), "--data", &sample(), "--param", "fast=50", "--fmel-dir", &fmel]).await.unwrap();
    let fault = report.agents[0].fault.as_ref().expect("init refused the params");
    assert_eq!((fault.kind.as_str(), fault.message.as_str()), ("init-failed", "need 0 < fast < slow, got fast=50 slow=30"));
    let records = records(std::path::Path::new(&fmel), "sma_crossover");
    let stages: Vec<&str> = records.iter().map(|r| r["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["INIT", "ERROR"]);
}

#[tokio::test]
async fn the_component_cache_is_used_and_a_broken_entry_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let fmel = fmel_arg(&dir);
    let sma = agent("sma-crossover");
    let args = [
        "--agent",
        sma.to_str().unwrap(),
        "--data",
        &sample(),
        "--fmel-dir",
        &fmel,
        "--overwrite",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    run(&args).await.unwrap();
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let name = entry.file_name().unwrap().to_str().unwrap();
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&sma).unwrap()));
    assert!(name.starts_with(&sha) && name.ends_with(".cwasm"), "{name}");

    std::fs::write(entry, b"not native code").unwrap();
    let report = run(&args).await.unwrap();
    assert_eq!(report.agents[0].decisions, 2000, "a broken entry is compiled again");
    assert!(std::fs::metadata(entry).unwrap().len() > 1000, "and replaced");
}
