"""The peer: backtrader running the same SMA(10/30) crossover on the same data.

Two forms, timed as trading-host is timed, from the start of loading the data
to the end of the run:
  - plain: backtrader's own SMA and CrossOver indicators;
  - tracked: the original runtime's tracked strategy, which reads close[0] ...
    close[-29] of each symbol on every bar through a proxy that records
    (symbol, field, index, seq) for every read and keeps them all in memory.

Both use backtrader's default broker with cash 1,000,000, commission 0.001
and size 100. Prints one JSON object with bars/s and the fills; with
--tracked-only, the tracked form's bars/s alone (for repeated runs).
"""

import argparse
import json
import math
import os
import sys
import time

import backtrader as bt


class Fills:
    """Collects completed orders as decimal strings, like trading-host's summary."""

    def __init__(self):
        self.fills = []

    def record(self, order):
        if order.status != order.Completed:
            return
        ex = order.executed
        dt = bt.num2date(ex.dt)
        self.fills.append({
            "symbol": order.data._name,
            "side": "BUY" if order.isbuy() else "SELL",
            "qty": fmt(abs(ex.size)),
            "price": fmt(ex.price),
            "bar_time": dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commission": fmt(ex.comm),
        })


def fmt(x):
    """Decimal text without trailing zeros, as trading-host prints decimals.

    backtrader computes executed prices in floats, so 249.5389 can come back
    as 249.53889999999998: ten decimals are more than the data has."""
    text = format(round(float(x), 10), ".10f").rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


class Plain(bt.Strategy):
    params = dict(fast=10, slow=30, size=100, fills=None)

    def __init__(self):
        self.cross = {
            d: bt.ind.CrossOver(bt.ind.SMA(d.close, period=self.p.fast), bt.ind.SMA(d.close, period=self.p.slow))
            for d in self.datas
        }

    def next(self):
        for d in self.datas:
            held = self.getposition(d).size
            if self.cross[d][0] > 0 and held == 0:
                self.buy(data=d, size=self.p.size)
            elif self.cross[d][0] < 0 and held > 0:
                self.sell(data=d, size=held)

    def notify_order(self, order):
        self.p.fills.record(order)


class TrackedLine:
    """A proxy over a data line that records every read."""

    def __init__(self, log, symbol, field, line):
        self.log, self.symbol, self.field, self.line = log, symbol, field, line

    def __getitem__(self, index):
        self.log.append((self.symbol, self.field, index, len(self.log)))
        return self.line[index]


class Tracked(bt.Strategy):
    params = dict(fast=10, slow=30, size=100, fills=None, log=None)

    def __init__(self):
        self.closes = {d: TrackedLine(self.p.log, d._name, "close", d.close) for d in self.datas}
        self.prev = {d: None for d in self.datas}

    def next(self):
        for d in self.datas:
            if len(d) < self.p.slow:
                continue
            close = self.closes[d]
            window = [close[-i] for i in range(self.p.slow)]
            window.reverse()
            slow = math.fsum(window) / self.p.slow
            fast = math.fsum(window[-self.p.fast:]) / self.p.fast
            prev, diff = self.prev[d], fast - slow
            held = self.getposition(d).size
            if prev is not None:
                if prev < 0 and fast > slow and held == 0:
                    self.buy(data=d, size=self.p.size)
                elif prev > 0 and fast < slow and held > 0:
                    self.sell(data=d, size=held)
            if prev is None or diff != 0:
                self.prev[d] = diff

    def notify_order(self, order):
        self.p.fills.record(order)


def run(strategy, files, **params):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=0.001)
    for path in files:
        data = bt.feeds.GenericCSVData(
            dataname=path, name=os.path.splitext(os.path.basename(path))[0],
            dtformat="%Y-%m-%d %H:%M:%S", datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
            timeframe=bt.TimeFrame.Minutes,
        )
        cerebro.adddata(data)
    fills = Fills()
    cerebro.addstrategy(strategy, fills=fills, **params)
    start = time.perf_counter()
    cerebro.run()
    elapsed = time.perf_counter() - start
    return elapsed, fills.fills, cerebro.broker.getvalue()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="directory of SYM*.csv files")
    parser.add_argument("--tracked-only", action="store_true", help="time the tracked form alone")
    args = parser.parse_args()
    files = sorted(os.path.join(args.data, f) for f in os.listdir(args.data) if f.endswith(".csv"))
    bars = sum(sum(1 for _ in open(f)) - 1 for f in files)
    if args.tracked_only:
        tracked_s, _, _ = run(Tracked, files, log=[])
        print(json.dumps({"bars": bars, "backtrader_tracked_bars_per_s": round(bars / tracked_s)}))
        return

    plain_s, plain_fills, plain_value = run(Plain, files)
    log = []
    tracked_s, tracked_fills, _ = run(Tracked, files, log=log)
    print(json.dumps({
        "bars": bars,
        "backtrader_bars_per_s": round(bars / plain_s),
        "backtrader_tracked_bars_per_s": round(bars / tracked_s),
        "tracked_reads": len(log),
        "tracked_forms_agree": plain_fills == tracked_fills,
        "final_value": plain_value,
        "fills": plain_fills,
    }))


if __name__ == "__main__":
    sys.exit(main())
