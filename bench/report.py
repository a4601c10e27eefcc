"""Prints bench/run.sh's table from the benchmarks' JSON lines, and then one
JSON object with every figure as the last line."""

import json
import sys


def main():
    figures = {}
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("{"):
            figures.update(json.loads(line))
    bt_tracked = figures["backtrader_tracked_bars_per_s"]
    ratio = lambda name: figures[name] / bt_tracked
    rows = [
        ("replay_bars_per_s", f"{figures['replay_bars_per_s']:,.0f}", f"{ratio('replay_bars_per_s'):.1f}× backtrader tracked (medians)", ">= 100×", ratio("replay_bars_per_s") >= 100),
        ("replay30_bars_per_s", f"{figures['replay30_bars_per_s']:,.0f}", f"{ratio('replay30_bars_per_s'):.1f}× backtrader tracked", ">= 20×", ratio("replay30_bars_per_s") >= 20),
        # The ratio is the median of each round's own ratio (see `bench micro`).
        ("field_read_ns", f"{figures['field_read_ns']:.1f}", f"{figures['field_read_logged_ratio']:.2f}× unlogged ({figures['field_read_unlogged_ns']:.1f})", "<= 45, <= 1.15× unlogged",
         figures["field_read_ns"] <= 45 and figures["field_read_logged_ratio"] <= 1.15),
        ("import_floor_ns", f"{figures['import_floor_ns']:.1f}", "an import of that shape doing nothing", "", None),
        ("window_value_ns", f"{figures['window_value_ns']:.2f}", "", "<= 15", figures["window_value_ns"] <= 15),
        ("on_bar_floor_ns", f"{figures['on_bar_floor_ns']:.1f}", "", "<= 120", figures["on_bar_floor_ns"] <= 120),
        ("instantiate_us", f"{figures['instantiate_us']:.1f}", "", "<= 100", figures["instantiate_us"] <= 100),
        ("idle_agent_kib", f"{figures['idle_agent_kib']:.1f}", f"{figures['rss_for_agents_mib']:.1f} MiB for 1,000", "<= 64", figures["idle_agent_kib"] <= 64),
        ("agents_1000_bars_per_s", f"{figures['agents_1000_bars_per_s']:,.0f}", "agent-symbol-bars/s", ">= 500,000", figures["agents_1000_bars_per_s"] >= 500_000),
        ("fmel_records_per_s", f"{figures['fmel_records_per_s']:,.0f}", "writer alone", "", None),
        ("fuel_overhead_pct", f"{figures['fuel_overhead_pct']:.1f}", "on replay_bars_per_s", "<= 10", figures["fuel_overhead_pct"] <= 10),
        ("epoch_overhead_pct", f"{figures['epoch_overhead_pct']:.1f}", "on replay_bars_per_s", "", None),
        ("cutoff_ms", f"{figures['cutoff_ms']:.1f}", "looping agent, default limits", "", None),
        ("replay_peak_rss_mib", f"{figures['replay_peak_rss_mib']:.1f}", f"2 × 1,000,000 bars; {figures['replay_200k_peak_rss_mib']:.1f} at 2 × 200,000", "", None),
        ("backtrader_bars_per_s", f"{figures['backtrader_bars_per_s']:,.0f}", "peer, 2 × 200,000 bars", "", None),
        ("backtrader_tracked_bars_per_s", f"{bt_tracked:,.0f}", "peer, 30 tracked reads, median of 5", "", None),
    ]
    print(f"{'figure':<30} {'measured':>14}  {'':<40} {'target':<26} ok")
    for name, value, note, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<30} {value:>14}  {note:<40} {target:<26} {mark}")
    pairs = zip(figures["replay_bars_per_s_pairs"], figures["backtrader_tracked_bars_per_s_pairs"])
    print("replay ÷ backtrader tracked, pair by pair: " + ", ".join(f"{r / b:.1f}×" for r, b in pairs))
    print("sandbox, round by round, % slower with the switch on: fuel "
          + ", ".join(f"{x:.1f}" for x in figures["fuel_overhead_pct_rounds"])
          + "; epoch " + ", ".join(f"{x:.1f}" for x in figures["epoch_overhead_pct_rounds"]))
    print(f"fills: trading-host and backtrader agree: {figures['fills_match']}; backtrader's two forms agree: {figures['tracked_forms_agree']}")
    names = [
        "field_read_ns", "field_read_unlogged_ns", "field_read_logged_ratio", "import_floor_ns", "window_value_ns", "on_bar_floor_ns",
        "replay_bars_per_s", "replay_bars_per_s_pairs",
        "replay_peak_rss_mib", "replay_200k_peak_rss_mib", "replay30_bars_per_s", "instantiate_us", "idle_agent_kib", "agents_1000_bars_per_s",
        "fmel_records_per_s", "fuel_overhead_pct", "fuel_overhead_pct_rounds", "epoch_overhead_pct", "epoch_overhead_pct_rounds",
        "cutoff_ms", "backtrader_bars_per_s",
        "backtrader_tracked_bars_per_s", "backtrader_tracked_bars_per_s_pairs", "fills_match",
    ]
    print(json.dumps({name: figures[name] for name in names}))


if __name__ == "__main__":
    main()
