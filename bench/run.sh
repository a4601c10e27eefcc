#!/usr/bin/env bash
# Builds trading-host in the production profile (fat LTO, one codegen unit),
# runs every benchmark in its own process and the backtrader peer on the
# same generated data, and prints the table; the last line is one JSON
# object with every figure. Takes about ten minutes on 2 cores once built.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

cargo build --locked --profile production -p bench
cargo build --locked --release --target wasm32-wasip2 \
  --manifest-path example-agents/Cargo.toml --target-dir "$target/agents"
bench="$target/production/bench"
reader="$target/agents/wasm32-wasip2/release/bench_reader.wasm"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "generating 2 × 1,000,000 bars" >&2
"$bench" generate --dir "$work/1m" --bars 1000000 --symbols 2
mkdir -p "$work/200k" "$work/1k"
for f in "$work"/1m/*.csv; do
  head -n 200001 "$f" > "$work/200k/$(basename "$f")"
  head -n 1001 "$f" > "$work/1k/$(basename "$f")"
done

figures="$work/figures.jsonl"
step() { echo "$1" >&2; shift; "$@" | tail -n 1 | tee -a "$figures" >&2; }
# The peer runs right after the replays it is compared with: the machine's
# speed drifts over minutes, and a ratio is only as good as its two runs'
# nearness in time.
step "micro: field reads, windows, empty on-bar" "$bench" micro
step "replay: sma-crossover, 2 × 1,000,000 bars" "$bench" replay --data "$work/1m"
step "replay30: 30 single reads per symbol per bar" "$bench" replay --data "$work/1m" --agent "$reader" --param mode=reads30
step "trading-host on the peer's data, 2 × 200,000 bars, once" \
  "$bench" replay --data "$work/200k" --rounds 1 --summary-json "$work/host200k.json"
echo "backtrader: 2 × 200,000 bars, plain and tracked" >&2
bash bench/vs-backtrader/run.sh "$work/200k" > "$work/bt.json"
step "replay, once, for its peak memory" "$bench" replay --data "$work/1m" --rounds 1
step "replay with fuel and with epochs switched off, side by side" "$bench" replay --data "$work/1m" --sandbox-cost --rounds 7
step "instances: 1,000 idle agents" "$bench" instances --count 1000
step "agents: 1,000 sma-crossover on one feed" "$bench" replay --data "$work/1k" --agents 1000 --rounds 3
step "fmel: the writer alone" "$bench" fmel
step "cutoff: a looping agent" "$bench" cutoff

python3 - "$work" <<'PY' >> "$figures"
import json, sys
work = sys.argv[1]
lines = [json.loads(l) for l in open(f"{work}/figures.jsonl")]
replay, replay30, peer_run, once, sandbox, agents = lines[1], lines[2], lines[3], lines[4], lines[5], lines[7]
bt = json.load(open(f"{work}/bt.json"))
host = json.load(open(f"{work}/host200k.json"))["agents"]["a0"]["fills"]
keys = ["symbol", "side", "qty", "price", "bar_time", "commission"]
same = [[f[k] for k in keys] for f in host] == [[f[k] for k in keys] for f in bt["fills"]]
print(json.dumps({
    "replay_bars_per_s": replay["bars_per_s"], "replay_peak_rss_mib": once["peak_rss_mib"],
    "replay_200k_peak_rss_mib": peer_run["peak_rss_mib"],
    "fuel_overhead_pct": sandbox["fuel_overhead_pct"], "epoch_overhead_pct": sandbox["epoch_overhead_pct"],
    "replay30_bars_per_s": replay30["bars_per_s"], "agents_1000_bars_per_s": agents["bars_per_s"],
    "backtrader_bars_per_s": bt["backtrader_bars_per_s"], "backtrader_tracked_bars_per_s": bt["backtrader_tracked_bars_per_s"],
    "tracked_forms_agree": bt["tracked_forms_agree"], "fills_match": same, "fills_compared": len(host),
}))
PY
python3 bench/report.py < "$figures"
