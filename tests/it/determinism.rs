//! The same agents on the same data give the same records, apart from wall
//! clock times and session ids.

use trading_host_tests::{agent, comparable, records, repo, run};

async fn run_once(fmel: &std::path::Path) {
    let sma = format!("sma={}", agent("sma-crossover").display());
    let sentiment = format!("sentiment={}", agent("sentiment-trader").display());
    let ohlcv = repo("example-agents/data/ohlcv");
    let news = repo("example-agents/data/news");
    let _ = (&sma, &ohlcv);
    run(&["--agent", &sentiment, "--data", news.to_str().unwrap(), "--fmel-dir", fmel.to_str().unwrap()]).await.unwrap();
    run(&["--agent", &sma, "--data", ohlcv.to_str().unwrap(), "--fmel-dir", fmel.to_str().unwrap()]).await.unwrap();
}

#[tokio::test]
async fn two_runs_write_identical_records() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_once(&a).await;
    run_once(&b).await;
    for id in ["sma", "sentiment"] {
        let (first, second) = (records(&a, id), records(&b, id));
        assert!(first.len() > 100, "{id} wrote {} records", first.len());
        assert_ne!(first[0]["session_id"], second[0]["session_id"]);
        assert_eq!(comparable(first), comparable(second), "{id}");
    }
}
