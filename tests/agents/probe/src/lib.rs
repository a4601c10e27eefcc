//! The test suite's probe: does one scripted thing per `mode` param, and
//! reports what it saw through `explain` so tests can assert on it.
//!
//! - `reads`: a fixed sequence of reads on the first feed at every bar.
//! - `orders`: on the first bar, orders the host must refuse, then one it takes.
//! - `sandbox`: reports its clock, random numbers, environment and file access.
//! - `panic`: panics on bar `at` (default 3).
//! - `feeds`: reports each feed's `is_updated` and `len` at every bar, and
//!   at the first also what they were during `init`.
//! - `mix`: a long pseudo-random mix of reads, by both of the host's read
//!   paths, with orders between them (see `mix.rs`).
//! - `windows`: at every bar, a window of `close` of each length in `lens`
//!   (comma-separated), each followed by a read of `close[0]`; explains each
//!   window's length, count and sum.

mod mix;

use std::fmt::Write as _;
use trading_sdk::prelude::*;

struct Probe {
    mode: String,
    at: u64,
    bars: u64,
    /// `feeds`: what the feeds looked like during `init`.
    at_init: String,
    /// `windows`: the lengths of the windows read at every bar.
    lens: Vec<u32>,
}

impl Agent for Probe {
    fn init(ctx: &Context, params: &Params) -> Result<Self, String> {
        let mode = params.get("mode").ok_or("the probe needs a mode param")?.to_owned();
        let lens = params.get("lens").unwrap_or_default().split(',').filter(|len| !len.is_empty());
        let lens = lens.map(|len| len.parse().map_err(|e| format!("lens: {e}"))).collect::<Result<_, _>>()?;
        Ok(Probe { at_init: feeds(ctx), mode, at: params.parse_or("at", 3)?, bars: 0, lens })
    }

    fn on_bar(&mut self, ctx: &Context) {
        self.bars += 1;
        match self.mode.as_str() {
            "reads" => reads(ctx),
            "orders" if self.bars == 1 => orders(ctx),
            "sandbox" if self.bars == 1 => sandbox(ctx),
            "panic" if self.bars == self.at => panic!("probe panics on bar {}", self.at),
            "mix" => mix(ctx, self.bars),
            "windows" => windows(ctx, &self.lens),
            "feeds" if self.bars == 1 => ctx.explain(format!("init: {}; bar: {}", self.at_init, feeds(ctx))),
            "feeds" => ctx.explain(feeds(ctx)),
            _ => {}
        }
    }

    fn on_order(&mut self, ctx: &Context, update: &OrderUpdate) {
        if self.mode == "orders" {
            ctx.explain(format!("update {} {:?}", update.id, update.status));
        }
    }
}

/// The sequence tests/it/access_log.rs expects, in this order.
fn reads(ctx: &Context) {
    let feed = &ctx.feeds()[0];
    let symbol = feed.symbol().to_owned();
    let close = feed.series("close");
    let mut seen = String::new();
    let _ = write!(seen, "c0={:?} ", close.get(0));
    let _ = write!(seen, "c1={:?} ", close.get(-1));
    let _ = write!(seen, "c2={:?} ", close.get(-2));
    let _ = write!(seen, "w={:?} ", feed.window("close", 3));
    let _ = write!(seen, "rsi={:?} ", feed.field("rsi", 0));
    let _ = write!(seen, "headline={:?} ", feed.text("headline", 0));
    let _ = write!(seen, "cash={} ", ctx.cash());
    let _ = write!(seen, "pos={} ", ctx.position(&symbol));
    let _ = write!(seen, "nothing={:?} ", feed.field("no_such_field", 0));
    let _ = write!(seen, "o0={:?}", feed.open(0));
    ctx.explain(seen);
}

fn windows(ctx: &Context, lens: &[u32]) {
    let close = ctx.feeds()[0].series("close");
    let mut seen = String::new();
    for &len in lens {
        let window = close.window(len);
        let _ = write!(seen, "{len}:{}:{} ", window.len(), window.iter().sum::<f64>());
        std::hint::black_box(close.get(0));
    }
    ctx.explain(seen);
}

fn feeds(ctx: &Context) -> String {
    let feeds: Vec<String> =
        ctx.feeds().iter().map(|f| format!("{} updated={} len={}", f.symbol(), f.is_updated(), f.len())).collect();
    feeds.join(", ")
}

/// The mix of bar `bar` (see `mix.rs`); explains the sum of what it read.
fn mix(ctx: &Context, bar: u64) {
    let feed = &ctx.feeds()[0];
    let series = mix::FIELDS.map(|f| feed.series(f));
    let mut sum = 0.0;
    let mut add = |value: Option<f64>| sum += value.unwrap_or(0.0);
    if bar == 1 {
        for _ in 0..mix::FIRST_BAR_READS {
            add(series[0].get(0));
        }
    }
    for step in mix::steps(bar) {
        match step {
            mix::Step::Read { field, offset } => add(series[field].get(offset)),
            mix::Step::Cash => drop(std::hint::black_box(ctx.cash())),
            mix::Step::Window => add(series[0].window(3).last().copied()),
            mix::Step::Text => add(series[2].text(0).map(|t| t.len() as f64)),
            mix::Step::Buy => {
                let _ = feed.buy(1.0).submit();
            }
        }
    }
    ctx.explain(format!("sum={sum}"));
}

fn orders(ctx: &Context) {
    let symbol = ctx.feeds()[0].symbol().to_owned();
    let outcomes = [
        ("unknown", ctx.buy("NOPE", 1.0).submit()),
        ("negative", ctx.buy(&symbol, -5.0).submit()),
        ("nan-limit", ctx.buy(&symbol, 1.0).limit(f64::NAN).submit()),
        ("good", ctx.buy(&symbol, 1.0).client_order_id("probe-1").submit()),
    ];
    for (name, outcome) in outcomes {
        match outcome {
            Ok(id) => ctx.explain(format!("{name}: ok {id}")),
            Err(e) => ctx.explain(format!("{name}: {e:?}")),
        }
    }
}

fn sandbox(ctx: &Context) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut random = [0u8; 8];
    let random_ok = getrandom(&mut random);
    let env: Vec<(String, String)> = std::env::vars().collect();
    let file = std::fs::read_to_string("/etc/passwd").map(|s| s.len()).map_err(|e| e.kind());
    let socket = std::net::TcpStream::connect("127.0.0.1:9").map(|_| ()).map_err(|e| e.kind());
    ctx.explain(format!("now={now} random={random_ok}:{random:?} env={env:?} file={file:?} socket={socket:?}"));
}

/// Random bytes through std's hasher seed: std draws it from wasi:random.
fn getrandom(out: &mut [u8; 8]) -> bool {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    *out = hasher.finish().to_le_bytes();
    true
}
export_agent!(Probe);
