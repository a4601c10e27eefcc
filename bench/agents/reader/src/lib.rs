//! The benchmarks' agent. The `mode` param picks what `on-bar` does:
//!
//! - `reads`: `n` single reads of the first feed's close, by interned id;
//! - `window`: `n` window reads of 30 closes;
//! - `empty`: nothing;
//! - `reads30`: sma-crossover's strategy (SMA 10/30, size 100), but reading
//!   close[0] … close[-29] as 30 single reads per symbol per bar, the access
//!   pattern of the original runtime's tracked strategies. It trades exactly
//!   like sma-crossover.

use std::hint::black_box;
use trading_sdk::prelude::*;

struct Reader {
    mode: String,
    n: u32,
    closes: Vec<Series>,
    crosses: Vec<CrossOver>,
    window: Vec<f64>,
}

impl Agent for Reader {
    fn init(ctx: &Context, params: &Params) -> Result<Self, String> {
        Ok(Reader {
            mode: params.get("mode").ok_or("the bench reader needs a mode param")?.to_owned(),
            n: params.parse_or("n", 1)?,
            closes: ctx.feeds().iter().map(|f| f.series("close")).collect(),
            crosses: vec![CrossOver::default(); ctx.feeds().len()],
            window: Vec::with_capacity(30),
        })
    }

    fn on_bar(&mut self, ctx: &Context) {
        match self.mode.as_str() {
            "reads" => {
                let close = self.closes[0];
                let mut sum = 0.0;
                for _ in 0..self.n {
                    sum += close.get(0).unwrap_or(0.0);
                }
                black_box(sum);
            }
            "window" => {
                let close = self.closes[0];
                for _ in 0..self.n {
                    black_box(close.window(30));
                }
            }
            "reads30" => self.reads30(ctx),
            _ => {}
        }
    }
}

impl Reader {
    fn reads30(&mut self, ctx: &Context) {
        for (i, feed) in ctx.feeds().iter().enumerate() {
            if !feed.is_updated() || feed.len() < 30 {
                continue;
            }
            self.window.clear();
            for offset in (-29..=0).rev() {
                self.window.push(self.closes[i].get(offset).unwrap_or(f64::NAN));
            }
            self.window.reverse();
            let slow = fsum(&self.window) / 30.0;
            let fast = fsum(&self.window[20..]) / 10.0;
            match self.crosses[i].update(fast, slow) {
                Some(Cross::Up) if feed.position() == 0.0 => {
                    let _ = feed.buy(100.0).submit();
                }
                Some(Cross::Down) => {
                    let held = feed.position();
                    if held > 0.0 {
                        let _ = feed.sell(held).submit();
                    }
                }
                _ => {}
            }
        }
    }
}

export_agent!(Reader);
