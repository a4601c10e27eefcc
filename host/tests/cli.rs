//! The binary's exit status and error lines. Runs with agents are tested in
//! tests/; these need none.

use std::process::Command;

fn trading_host(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trading-host")).args(args).output().expect("run trading-host");
    (out.status.code().expect("exited"), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn usage_mistakes_exit_1_not_2() {
    let (code, stderr) = trading_host(&["run", "--data", "x"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--agent"), "{stderr}");
    assert_eq!(trading_host(&["--help"]).0, 0);
}

#[test]
fn setup_errors_exit_1_with_one_line_saying_what_is_wrong() {
    let dir = std::env::temp_dir().join(format!("trading-host-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("A.csv");
    std::fs::write(&data, "timestamp,open,high,low,close,volume\n2024-01-01,1,1,1,1,1\n").unwrap();
    let (code, stderr) = trading_host(&["run", "--agent", "/no/such/agent.wasm", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 1);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors, ["error: /no/such/agent.wasm: No such file or directory (os error 2)"], "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
