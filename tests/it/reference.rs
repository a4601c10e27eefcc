//! The backtrader cross-check: sma-crossover through the simulated broker
//! must reproduce backtrader's fills and final account exactly.

use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;
use trading_host_tests::{agent, fixture, read_json, run};

async fn cross_check(data: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let agent = format!("sma-crossover={}", agent("sma-crossover").display());
    let data = fixture(&format!("reference/{data}"));
    let report = run(&[
        "--agent",
        &agent,
        "--data",
        data.to_str().unwrap(),
        "--cash",
        "1000000",
        "--commission",
        "0.001",
        "--param",
        "size=100",
        "--fmel-dir",
        dir.path().join("fmel").to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert!(report.faulted().next().is_none());

    let got = read_json(&summary);
    let got = &got["agents"]["sma-crossover"];
    let want = read_json(&fixture(&format!("reference/{expected}")));

    let fill = |f: &Value| {
        ["symbol", "side", "qty", "price", "bar_time", "commission"]
            .map(|k| f[k].as_str().unwrap_or_else(|| panic!("{k} in {f}")).to_owned())
    };
    let got_fills: Vec<_> = got["fills"].as_array().unwrap().iter().map(fill).collect();
    let want_fills: Vec<_> = want["fills"].as_array().unwrap().iter().map(fill).collect();
    assert_eq!(got_fills.len(), want_fills.len(), "number of fills");
    for (i, (g, w)) in got_fills.iter().zip(&want_fills).enumerate() {
        assert_eq!(g, w, "fill {i}");
    }
    for key in ["final_value", "final_cash"] {
        let decimal = |v: &Value| Decimal::from_str(v.as_str().unwrap()).unwrap();
        assert_eq!(decimal(&got[key]), decimal(&want[key]), "{key}");
        assert_eq!(got[key], want[key], "{key} as normalised text");
    }
    assert_eq!(got["positions"], want["positions"]);
    assert_eq!(got["orders"]["filled"].as_u64(), Some(want_fills.len() as u64));
}

#[tokio::test]
async fn sma_crossover_matches_backtrader_on_10k_bars() {
    cross_check("10k", "fills_10k.json").await;
}

#[tokio::test]
async fn sma_crossover_matches_backtrader_with_opening_gaps() {
    cross_check("gaps_5k", "fills_gaps_5k.json").await;
}
