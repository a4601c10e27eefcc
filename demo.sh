#!/usr/bin/env bash
# The demo: builds the example agents and the host, then runs sma-crossover
# over the sample bars of two symbols with the simulated broker, writing
# every decision to target/demo/fmel/sma-crossover.jsonl.
# Extra arguments go to `trading-host run`, e.g. ./demo.sh --param fast=5
set -euo pipefail
cd "$(dirname "$0")"

# The toolchain, its components and the wasm32-wasip2 target that
# rust-toolchain.toml pins; rustup installs whatever is missing.
rustup toolchain install
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path example-agents/Cargo.toml --target-dir "$target/agents"
cargo build --release --locked -p trading-host

mkdir -p "$target/demo"
"$target/release/trading-host" run \
  --agent sma-crossover="$target/agents/wasm32-wasip2/release/sma_crossover.wasm" \
  --data example-agents/data/ohlcv \
  --cash 100000 --commission 0.001 \
  --fmel-dir "$target/demo/fmel" --overwrite \
  --summary-json "$target/demo/summary.json" "$@"

echo
echo "The first trade in the log ($target/demo/fmel/sma-crossover.jsonl):"
grep -m1 '"stage":"NEXT","action":"BUY' "$target/demo/fmel/sma-crossover.jsonl"
