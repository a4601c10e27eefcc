//! Every record the host writes validates against docs/fmel-record.schema.json.

use serde_json::Value;
use trading_host_tests::{agent, fixture, read_json, records, repo, run};

fn validator() -> jsonschema::Validator {
    let schema = read_json(&repo("docs/fmel-record.schema.json"));
    jsonschema::draft202012::new(&schema).expect("the schema is valid JSON Schema")
}

fn assert_valid(validator: &jsonschema::Validator, records: &[Value]) {
    for record in records {
        let errors: Vec<String> = validator.iter_errors(record).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "{record}\n{errors:#?}");
    }
}

#[tokio::test]
async fn every_stage_of_every_agent_validates() {
    let validator = validator();
    let dir = tempfile::tempdir().unwrap();
    let fmel = dir.path().join("fmel");
    let fmel = fmel.to_str().unwrap();
    let ohlcv = repo("example-agents/data/ohlcv");
    let news = repo("example-agents/data/news");
    let gaps = fixture("reference/gaps_5k");
    let runs: [(&str, &str, &str, &str); 7] = [
        ("sma-crossover", "sma", gaps.to_str().unwrap(), "size=100"),
        ("sentiment-trader", "sentiment", news.to_str().unwrap(), "size=10"),
        ("probe", "orders", ohlcv.to_str().unwrap(), "mode=orders"),
        ("probe", "reads", ohlcv.to_str().unwrap(), "mode=reads"),
        ("probe", "panic", ohlcv.to_str().unwrap(), "mode=panic"),
        ("hostile", "explain", ohlcv.to_str().unwrap(), "mode=explain"),
        ("hostile", "window", ohlcv.to_str().unwrap(), "mode=window"),
    ];
    let mut stages = std::collections::BTreeSet::new();
    let mut over_limits = false;
    for (name, id, data, param) in runs {
        let agent = format!("{id}={}", agent(name).display());
        run(&["--agent", &agent, "--data", data, "--param", param, "--fmel-dir", fmel]).await.unwrap();
        let records = records(std::path::Path::new(fmel), id);
        stages.extend(records.iter().map(|r| r["stage"].as_str().unwrap().to_owned()));
        over_limits |= records.iter().any(|r| r.get("over_limits").is_some());
        assert_valid(&validator, &records);
    }
    assert_eq!(stages.into_iter().collect::<Vec<_>>(), ["ERROR", "INIT", "NEXT", "ORDER", "STOP"]);
    assert!(over_limits, "a record with over_limits was validated");
}

#[test]
fn the_schema_rejects_what_it_must() {
    let validator = validator();
    let record = |patch: fn(&mut Value)| {
        let mut r = serde_json::json!({
            "session_id": "s", "agent_id": "a", "decision_point": 0, "timestamp": "2024-01-01T00:00:00Z",
            "bar_time": "2024-01-01T00:00:00Z", "stage": "NEXT", "action": "HOLD", "actions": [], "data_accessed": [],
            "portfolio_value": "100", "portfolio_cash": "100", "positions": {}, "rationale": null
        });
        patch(&mut r);
        r
    };
    assert!(validator.is_valid(&record(|_| {})));
    assert!(!validator.is_valid(&record(|r| r["portfolio_cash"] = "100.50".into())), "trailing zero");
    assert!(!validator.is_valid(&record(|r| r["portfolio_cash"] = 100.into())), "money as a number");
    assert!(!validator.is_valid(&record(|r| r["timestamp"] = "2024-01-01T00:00:00+01:00".into())), "not UTC Z");
    assert!(!validator.is_valid(&record(|r| r["stage"] = "ORDER".into())), "ORDER without its order");
    assert!(!validator.is_valid(&record(|r| r["extra"] = 1.into())), "unknown field");
}
