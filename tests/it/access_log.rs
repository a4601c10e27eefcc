//! An agent reading a known sequence of fields produces exactly that
//! sequence in its records, with what it read.

use sha2::{Digest, Sha256};
use trading_host_tests::{agent, expanded_accesses, records, run, stage};

fn line_hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

const ROWS: [&str; 3] = [
    "2024-01-01 00:00:00,10,11,9,10.5,100,55.5,\"Quiet, before\"",
    "2024-01-01 00:01:00,10.5,12,10,11.5,200,60.25,",
    "2024-01-01 00:02:00,11.5,13,11,12.5,300,65,Rally",
];

#[tokio::test]
async fn every_read_is_logged_in_order_with_offsets_and_the_data_hash() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("XYZ.csv");
    std::fs::write(&csv, format!("timestamp,open,high,low,close,volume,rsi,headline\n{}\n", ROWS.join("\n"))).unwrap();
    let fmel = dir.path().join("fmel");
    let probe = agent("probe");
    let report = run(&[
        "--agent",
        probe.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--param",
        "mode=reads",
        "--fmel-dir",
        fmel.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert_eq!(report.agents[0].accesses, 30, "10 read calls on each of 3 bars");

    let records = records(&fmel, "probe");
    let next = stage(&records, "NEXT");
    assert_eq!(next.len(), 3);
    let expected: Vec<(u64, String, String, String)> = [
        (0, "XYZ", "close", "0"),
        (1, "XYZ", "close", "-1"),
        (2, "XYZ", "close", "-2"),
        (3, "XYZ", "close", "-2..0"),
        (4, "XYZ", "rsi", "0"),
        (5, "XYZ", "headline", "0"),
        (6, "$portfolio", "cash", ""),
        (7, "$portfolio", "position.XYZ", ""),
        (8, "XYZ", "no_such_field", "0"),
        (9, "XYZ", "open", "0"),
    ]
    .into_iter()
    .map(|(seq, symbol, field, at)| (seq, symbol.into(), field.into(), at.into()))
    .collect();
    for (i, record) in next.iter().enumerate() {
        assert_eq!(expanded_accesses(record), expected, "decision point {i}");
        let groups = record["data_accessed"].as_array().unwrap();
        assert_eq!(groups[0]["symbol"], "XYZ");
        assert_eq!(groups[0]["data_hash"], line_hash(ROWS[i]).as_str(), "hash of the raw line");
        assert_eq!(groups[0]["fields_accessed"], serde_json::json!(["close", "rsi", "headline", "no_such_field", "open"]));
        assert_eq!(groups[1]["symbol"], "$portfolio");
        assert_eq!(groups[1]["data_hash"], serde_json::Value::Null);
    }
    // Three consecutive single reads fold into one pattern that expands back to them.
    let first = &next[2]["data_accessed"][0]["access_patterns"][0];
    assert_eq!(first, &serde_json::json!({"seq": 0, "field": "close", "indices": [0, -2]}));
    assert_eq!(
        next[2]["data_accessed"][0]["access_patterns"][1],
        serde_json::json!({"seq": 3, "field": "close", "range": [-2, 0]})
    );

    // What the agent saw is what the data holds.
    assert_eq!(
        next[0]["rationale"],
        "c0=Some(10.5) c1=None c2=None w=[10.5] rsi=Some(55.5) headline=Some(\"Quiet, before\") cash=100000 pos=0 nothing=None o0=Some(10.0)"
    );
    assert_eq!(
        next[2]["rationale"],
        "c0=Some(12.5) c1=Some(11.5) c2=Some(10.5) w=[10.5, 11.5, 12.5] rsi=Some(65.0) headline=Some(\"Rally\") cash=100000 pos=0 nothing=None o0=Some(11.5)"
    );
    assert!(next[1]["rationale"].as_str().unwrap().contains(" headline=None "), "an empty cell is missing text");
}
