//! Builds every agent, the examples and the test suite's own, for
//! wasm32-wasip2, so that `cargo test` has them with no manual step. They
//! live in their own workspace (example-agents/Cargo.toml) and target
//! directory, next to this build's.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("tests/ sits in the repository root");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let target_dir = out_dir.ancestors().nth(4).expect("OUT_DIR is inside the target directory").join("agents");
    for watched in ["wit", "guest-sdk/src", "guest-sdk/Cargo.toml", "example-agents", "tests/agents", "bench/agents"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut build = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(root.join("example-agents/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .stdout(Stdio::null());
    // The outer build's settings are for the host, not for wasm guests.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        build.env_remove(var);
    }
    let status = build.status().unwrap_or_else(|e| panic!("cannot run cargo to build the agents: {e}"));
    if !status.success() {
        panic!(
            "building the agents in example-agents/ for wasm32-wasip2 failed (see above). \
             If the target is missing, run: rustup target add wasm32-wasip2"
        );
    }
    let wasm = target_dir.join("wasm32-wasip2").join("release");
    check_built(&wasm, &["sma_crossover", "sentiment_trader", "probe", "hostile", "wrong_world", "foreign_import"]);
    println!("cargo:rustc-env=AGENTS_DIR={}", wasm.display());
}

fn check_built(dir: &Path, names: &[&str]) {
    for name in names {
        let path = dir.join(format!("{name}.wasm"));
        assert!(path.exists(), "{} was not built", path.display());
    }
}
