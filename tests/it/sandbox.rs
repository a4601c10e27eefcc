//! The guest lives without ambient authority: its clock is the bar's time,
//! its randomness comes from the seed, and it has no environment, files or
//! sockets.

use trading_host_tests::{agent, records, run, stage};

async fn sandbox_report(seed: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ABC.csv");
    std::fs::write(&csv, "timestamp,open,high,low,close,volume\n2024-03-01T09:30:00Z,1,1,1,1,1\n").unwrap();
    let fmel = dir.path().join("fmel");
    let probe = agent("probe");
    run(&[
        "--agent",
        probe.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--param",
        "mode=sandbox",
        "--seed",
        seed,
        "--fmel-dir",
        fmel.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let records = records(&fmel, "probe");
    stage(&records, "NEXT")[0]["rationale"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn clock_is_bar_time_randomness_is_seeded_and_nothing_else_is_reachable() {
    let report = sandbox_report("7").await;
    let bar_time = 1_709_285_400; // 2024-03-01T09:30:00Z
    assert!(report.starts_with(&format!("now={bar_time} ")), "{report}");
    assert!(report.contains(" env=[] "), "{report}");
    assert!(report.contains(" file=Err("), "no filesystem: {report}");
    assert!(report.contains(" socket=Err("), "no network: {report}");

    let random = |r: &str| r.split(' ').find(|w| w.starts_with("random=")).map(str::to_owned);
    assert_eq!(random(&report), random(&sandbox_report("7").await), "same seed, same randomness");
    assert_ne!(random(&report), random(&sandbox_report("8").await), "another seed, other randomness");
}
