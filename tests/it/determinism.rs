//! The same agents on the same data give the same records, apart from wall
//! clock times and session ids.

use trading_host_tests::{agent, comparable, records, repo, run};

async fn run_once(fmel: &std::path::Path, extra: &[&str]) {
    let sma = format!("sma={}", agent("sma-crossover").display());
    let sentiment = format!("sentiment={}", agent("sentiment-trader").display());
    let ohlcv = repo("example-agents/data/ohlcv");
    let news = repo("example-agents/data/news");
    for (agent, data) in [(&sentiment, &news), (&sma, &ohlcv)] {
        let args = ["--agent", agent, "--data", data.to_str().unwrap(), "--fmel-dir", fmel.to_str().unwrap()];
        run(&[&args[..], extra].concat()).await.unwrap();
    }
}

#[tokio::test]
async fn two_runs_write_identical_records_with_and_without_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_once(&a, &[]).await;
    // The second compiles afresh, without the component cache.
    run_once(&b, &["--no-cache"]).await;
    for id in ["sma", "sentiment"] {
        let (first, second) = (records(&a, id), records(&b, id));
        assert!(first.len() > 100, "{id} wrote {} records", first.len());
        assert_ne!(first[0]["session_id"], second[0]["session_id"]);
        assert_eq!(comparable(first), comparable(second), "{id}");
    }
}

#[tokio::test]
async fn an_agent_among_many_writes_what_it_writes_alone() {
    // Twenty agents take two threads, each running its agents through blocks
    // of decision points; neither may show in any record.
    let dir = tempfile::tempdir().unwrap();
    let (alone, many) = (dir.path().join("alone"), dir.path().join("many"));
    let sma = agent("sma-crossover");
    let ohlcv = repo("example-agents/data/ohlcv");
    let specs: Vec<String> = (0..20).map(|i| format!("a{i}={}", sma.display())).collect();
    let common = ["--data", ohlcv.to_str().unwrap(), "--fmel-dir"];
    run(&[&["--agent", &specs[0]][..], &common, &[alone.to_str().unwrap()]].concat()).await.unwrap();
    let mut args: Vec<&str> = specs.iter().flat_map(|spec| ["--agent", spec.as_str()]).collect();
    args.extend(common);
    args.push(many.to_str().unwrap());
    run(&args).await.unwrap();
    let solo = comparable(records(&alone, "a0"));
    assert!(solo.len() > 100, "a0 wrote {} records", solo.len());
    for id in ["a0", "a7", "a19"] {
        let mut theirs = comparable(records(&many, id));
        for record in &mut theirs {
            record["agent_id"] = "a0".into();
        }
        assert_eq!(theirs, solo, "{id}");
    }
}
