//! The README demo, end to end: both example agents on the sample data.

use serde_json::Value;
use sha2::{Digest, Sha256};
use trading_host_tests::{agent, expanded_accesses, read_json, records, repo, run, run_until, stage};

#[tokio::test]
async fn sma_crossover_trades_two_symbols_and_logs_every_decision() {
    let dir = tempfile::tempdir().unwrap();
    let fmel = dir.path().join("fmel");
    let summary = dir.path().join("summary.json");
    let sma = agent("sma-crossover");
    let data = repo("example-agents/data/ohlcv");
    let report = run(&[
        "--agent",
        sma.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--fmel-dir",
        fmel.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert_eq!(trading_host::cli::exit_code(&report), std::process::ExitCode::SUCCESS);
    assert_eq!((report.bars, report.decision_points), (4000, 2000));

    let records = records(&fmel, "sma_crossover");
    let header = &records[0];
    assert_eq!(header["stage"], "INIT");
    let session = &header["session"];
    assert_eq!(session["agent_sha256"], hex::encode(Sha256::digest(std::fs::read(&sma).unwrap())).as_str());
    assert_eq!(session["wit_version"], "trading:agent@0.1.0");
    let syma = std::fs::read(data.join("SYMA.csv")).unwrap();
    assert_eq!(session["data"][0]["sha256"], hex::encode(Sha256::digest(&syma)).as_str());

    let next = stage(&records, "NEXT");
    assert_eq!(next.len(), 2000, "one NEXT record per decision point");
    assert!(next.iter().enumerate().all(|(i, r)| r["decision_point"] == i), "decision points in order, from 0");
    assert_eq!(records.last().unwrap()["stage"], "STOP");
    let trades: Vec<&&Value> = next.iter().filter(|r| r["action"] != "HOLD").collect();
    assert!(!trades.is_empty());
    assert!(trades[0]["rationale"].as_str().unwrap().contains("crossed above"), "{}", trades[0]);

    let logged: usize = next.iter().map(|r| expanded_accesses(r).len()).sum::<usize>()
        + stage(&records, "ORDER").iter().map(|r| expanded_accesses(r).len()).sum::<usize>();
    let summary = read_json(&summary);
    assert_eq!(summary["schema_version"], 1);
    assert_eq!(summary["faulted"], serde_json::json!([]));
    let agent = &summary["agents"]["sma_crossover"];
    assert_eq!(agent["decisions"], 2000);
    assert_eq!(agent["accesses"], logged as u64, "every read call is in the log");
    let fills = agent["fills"].as_array().unwrap();
    assert_eq!(agent["orders"]["filled"], fills.len() as u64);
    let times: Vec<&str> = fills.iter().map(|f| f["bar_time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "fills sorted by bar time");
    let traded: std::collections::BTreeSet<&str> = fills.iter().map(|f| f["symbol"].as_str().unwrap()).collect();
    let positions: std::collections::BTreeSet<&str> =
        agent["positions"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(traded, positions, "every traded symbol has a position, zero included");
    assert_eq!(records.last().unwrap()["positions"], agent["positions"], "the STOP record holds the final positions");
}

#[tokio::test]
async fn sentiment_trader_reads_dynamic_and_text_fields_from_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let fmel = dir.path().join("fmel");
    let trader = agent("sentiment-trader");
    let data = repo("example-agents/data/news");
    let report =
        run(&["--agent", trader.to_str().unwrap(), "--data", data.to_str().unwrap(), "--fmel-dir", fmel.to_str().unwrap()])
            .await
            .unwrap();
    assert!(report.agents[0].fault.is_none());
    assert!(!report.agents[0].fills.is_empty(), "the sample news makes it trade");

    let records = records(&fmel, "sentiment_trader");
    let buys: Vec<&Value> =
        stage(&records, "NEXT").into_iter().filter(|r| r["action"].as_str().unwrap().contains("BUY")).collect();
    assert!(!buys.is_empty());
    let buy = buys[0];
    assert_eq!(buy["actions"][0]["order_type"], "LIMIT");
    let fields: Vec<String> = expanded_accesses(buy).into_iter().map(|(_, _, field, _)| field).collect();
    for field in ["sentiment_score", "latest_news_relevance", "latest_news_headline"] {
        assert!(fields.iter().any(|f| f == field), "{field} read: {fields:?}");
    }
    let symbol = buy["actions"][0]["symbol"].as_str().unwrap();
    let rationale = buy["rationale"].as_str().unwrap();
    assert!(rationale.starts_with(&format!("{symbol} sentiment ")), "{rationale}");
    assert!(rationale.contains(symbol) && rationale.contains(": "), "the headline is the rationale: {rationale}");
}

#[tokio::test]
async fn an_interrupted_replay_stops_after_a_chunk_and_still_closes_every_log() {
    let dir = tempfile::tempdir().unwrap();
    let fmel = dir.path().join("fmel");
    let sma = agent("sma-crossover");
    let data = repo("example-agents/data/ohlcv");
    let args = ["--agent", sma.to_str().unwrap(), "--data", data.to_str().unwrap(), "--fmel-dir", fmel.to_str().unwrap()];
    // Asked to stop before the first point: a replay always has points at
    // hand, so the run must look for the signal between them.
    let report = run_until(&args, std::future::ready(())).await.unwrap();
    assert!(report.interrupted);
    assert_eq!(trading_host::cli::exit_code(&report), std::process::ExitCode::from(130));
    assert!(report.decision_points < 2000, "stopped early: {} of 2000 decision points", report.decision_points);

    let records = records(&fmel, "sma_crossover");
    assert_eq!(records[0]["stage"], "INIT");
    assert_eq!(records.last().unwrap()["stage"], "STOP", "the agent was stopped and its log flushed");
    assert_eq!(stage(&records, "NEXT").len() as u64, report.decision_points, "every decision made is logged");
}
