//! An agent reading a known sequence of fields produces exactly that
//! sequence in its records, with what it read.

#[path = "../agents/probe/src/mix.rs"]
mod mix;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use trading_host::run::RunReport;
use trading_host_tests::{agent, expanded_accesses, records, run, stage};

/// Runs the probe in `mode` over `data` (a file or a directory); returns
/// the run's report and the probe's records.
async fn run_probe(data: &Path, mode: &str) -> (RunReport, Vec<Value>) {
    run_probe_with(data, mode, &[]).await
}

/// [`run_probe`] with more arguments.
async fn run_probe_with(data: &Path, mode: &str, more: &[&str]) -> (RunReport, Vec<Value>) {
    let fmel = tempfile::tempdir().unwrap();
    let (probe, mode) = (agent("probe"), format!("mode={mode}"));
    let args = ["--agent", probe.to_str().unwrap(), "--data", data.to_str().unwrap(), "--param", &mode];
    let report = run(&[&args[..], more, &["--fmel-dir", fmel.path().to_str().unwrap()]].concat()).await.unwrap();
    (report, records(fmel.path(), "probe"))
}

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
    let (report, records) = run_probe(&csv, "reads").await;
    assert_eq!(report.agents[0].accesses, 30, "10 read calls on each of 3 bars");

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

/// What the probe's `mix` mode does at one bar.
struct Mix {
    /// Its reads, as `expanded_accesses` gives them.
    reads: Vec<(u64, String, String, String)>,
    orders: usize,
    /// The sum of the values it read.
    sum: f64,
}

/// What the probe's `mix` mode logs at bar `bar` (1-based) over `closes`.
fn mix(bar: u64, closes: &[f64]) -> Mix {
    let now = bar as i64 - 1;
    let value = |field: usize, offset: i32| {
        let i = now + i64::from(offset);
        match field {
            0 | 1 if offset <= 0 && i >= 0 => closes[i as usize] - 0.5 * field as f64,
            _ => 0.0,
        }
    };
    let (mut reads, mut orders, mut sum) = (Vec::new(), 0, 0.0);
    let first = (bar == 1).then_some(mix::Step::Read { field: 0, offset: 0 });
    let steps = std::iter::repeat_n(first, mix::FIRST_BAR_READS as usize).flatten().chain(mix::steps(bar));
    for (seq, step) in steps.enumerate() {
        let (field, at) = match step {
            mix::Step::Read { field, offset } => {
                sum += value(field, offset);
                (mix::FIELDS[field], offset.to_string())
            }
            mix::Step::Cash => ("cash", String::new()),
            mix::Step::Window => {
                sum += value(0, 0);
                ("close", "-2..0".into())
            }
            mix::Step::Text => {
                sum += if now % 3 == 0 { format!("h{now}").len() as f64 } else { 0.0 };
                ("headline", "0".into())
            }
            mix::Step::Buy => {
                orders += 1;
                continue;
            }
        };
        let symbol = if field == "cash" { "$portfolio" } else { "XYZ" };
        reads.push((seq as u64, symbol.to_owned(), field.to_owned(), at));
    }
    reads.sort();
    Mix { reads, orders, sum }
}

#[tokio::test]
async fn a_long_mix_of_reads_by_both_paths_is_logged_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("XYZ.csv");
    let closes: Vec<f64> = (0..30).map(|i| 100.0 + 0.25 * f64::from(i)).collect();
    let rows: Vec<String> = closes
        .iter()
        .enumerate()
        .map(|(i, close)| {
            let headline = if i % 3 == 0 { format!("h{i}") } else { String::new() };
            format!("2024-01-01 00:{i:02}:00,{},{close},{close},{close},100,{headline}", close - 0.5)
        })
        .collect();
    std::fs::write(&csv, format!("timestamp,open,high,low,close,volume,headline\n{}\n", rows.join("\n"))).unwrap();
    let (report, records) = run_probe(&csv, "mix").await;
    assert!(report.agents[0].fault.is_none(), "{:?}", report.agents[0].fault);

    let next = stage(&records, "NEXT");
    assert_eq!(next.len(), closes.len());
    for (i, record) in next.iter().enumerate() {
        let Mix { reads, orders, sum } = mix(i as u64 + 1, &closes);
        assert_eq!(expanded_accesses(record), reads, "decision point {i}");
        assert_eq!(record["actions"].as_array().unwrap().len(), orders, "decision point {i}");
        assert_eq!(record["rationale"], format!("sum={sum}"), "decision point {i}: what the agent read");
    }
}

/// Writes `XYZ.csv` of `bars` bars a minute apart into `dir`; returns its path and closes.
fn closes_file(dir: &Path, bars: usize) -> (std::path::PathBuf, Vec<f64>) {
    let closes: Vec<f64> = (0..bars).map(|i| 100.0 + 0.25 * (i % 97) as f64 + 0.125 * (i / 97) as f64).collect();
    let rows: Vec<String> = closes
        .iter()
        .enumerate()
        .map(|(i, close)| {
            let time = format!("2024-01-{:02} {:02}:{:02}:00", 1 + i / 1440, i / 60 % 24, i % 60);
            format!("{time},{close},{close},{close},{close},100")
        })
        .collect();
    let csv = dir.join("XYZ.csv");
    std::fs::write(&csv, format!("timestamp,open,high,low,close,volume\n{}\n", rows.join("\n"))).unwrap();
    (csv, closes)
}

/// What the probe's `windows` mode explains and logs at bar `bar` (1-based).
fn windows_seen(bar: usize, closes: &[f64], lens: &[u32]) -> (String, Vec<(u64, String, String, String)>) {
    let (mut seen, mut reads) = (String::new(), Vec::new());
    for (i, &len) in lens.iter().enumerate() {
        let window = &closes[bar.saturating_sub(len as usize)..bar];
        seen += &format!("{len}:{}:{} ", window.len(), window.iter().sum::<f64>());
        let seq = 2 * i as u64;
        reads.push((seq, "XYZ".to_owned(), "close".to_owned(), format!("{}..0", 1 - i64::from(len))));
        reads.push((seq + 1, "XYZ".to_owned(), "close".to_owned(), "0".to_owned()));
    }
    reads.sort();
    (seen, reads)
}

#[tokio::test]
async fn windows_hold_the_newest_values_oldest_first_across_the_ring_and_are_logged_apart() {
    // A history of 8 bars keeps a ring of 128 values per field: 300 bars
    // wrap it twice. Windows of 0 to 8 values, with a single read after
    // each, which the fast read builtin answers: no run of its reads
    // continues a window's entry.
    let dir = tempfile::tempdir().unwrap();
    let (csv, closes) = closes_file(dir.path(), 300);
    let lens = [0, 1, 2, 3, 5, 7, 8, 8, 1];
    let lens_param = format!("lens={}", lens.map(|len| len.to_string()).join(","));
    let (report, records) = run_probe_with(&csv, "windows", &["--param", &lens_param, "--history-bars", "8"]).await;
    assert!(report.agents[0].fault.is_none(), "{:?}", report.agents[0].fault);
    let next = stage(&records, "NEXT");
    assert_eq!(next.len(), closes.len());
    for (i, record) in next.iter().enumerate() {
        let (seen, reads) = windows_seen(i + 1, &closes, &lens);
        assert_eq!(record["rationale"], seen, "decision point {i}");
        assert_eq!(expanded_accesses(record), reads, "decision point {i}");
    }
}

#[tokio::test]
async fn feeds_report_whether_they_updated_and_their_length_at_each_point() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let csv = |minutes: &[u32]| {
        let rows: Vec<String> = minutes.iter().map(|m| format!("2024-01-01 00:0{m}:00,1,1,1,1,1")).collect();
        format!("timestamp,open,high,low,close,volume\n{}\n", rows.join("\n"))
    };
    std::fs::write(data.join("XYZ.csv"), csv(&[0, 1, 2, 3, 4])).unwrap();
    std::fs::write(data.join("ABC.csv"), csv(&[1, 3, 4])).unwrap();
    let (_, records) = run_probe(&data, "feeds").await;
    let seen: Vec<&str> = stage(&records, "NEXT").iter().map(|r| r["rationale"].as_str().unwrap()).collect();
    assert_eq!(
        seen,
        [
            "init: ABC updated=false len=0, XYZ updated=false len=0; bar: ABC updated=false len=0, XYZ updated=true len=1",
            "ABC updated=true len=1, XYZ updated=true len=2",
            "ABC updated=false len=1, XYZ updated=true len=3",
            "ABC updated=true len=2, XYZ updated=true len=4",
            "ABC updated=true len=3, XYZ updated=true len=5",
        ]
    );
}
