//! SMA crossover, per symbol, with backtrader's `CrossOver` rule.
//!
//! Params: `fast` (10) and `slow` (30) SMA periods on close, and `size`
//! (100). On a cross up while flat it buys `size` at market; on a cross down
//! while long it sells the whole position at market. The SMAs are
//! `fsum(window) / n`, exactly as backtrader computes them.

use trading_sdk::prelude::*;

struct SmaCrossover {
    fast: u32,
    slow: u32,
    size: f64,
    closes: Vec<Series>,
    crosses: Vec<CrossOver>,
}

impl Agent for SmaCrossover {
    fn init(ctx: &Context, params: &Params) -> Result<Self, String> {
        let fast: u32 = params.parse_or("fast", 10)?;
        let slow: u32 = params.parse_or("slow", 30)?;
        let size: f64 = params.parse_or("size", 100.0)?;
        if fast == 0 || slow <= fast {
            return Err(format!("need 0 < fast < slow, got fast={fast} slow={slow}"));
        }
        if size.is_nan() || size <= 0.0 {
            return Err(format!("size must be positive, got {size}"));
        }
        Ok(SmaCrossover {
            fast,
            slow,
            size,
            closes: ctx.feeds().iter().map(|f| f.series("close")).collect(),
            crosses: vec![CrossOver::default(); ctx.feeds().len()],
        })
    }

    fn on_bar(&mut self, ctx: &Context) {
        for (i, feed) in ctx.feeds().iter().enumerate() {
            if !feed.is_updated() {
                continue;
            }
            // One host call; a short window means the slow SMA does not exist yet.
            let window = self.closes[i].window(self.slow);
            if window.len() < self.slow as usize {
                continue;
            }
            let slow = fsum(&window) / f64::from(self.slow);
            let fast = fsum(&window[(self.slow - self.fast) as usize..]) / f64::from(self.fast);
            if !(fast.is_finite() && slow.is_finite()) {
                continue;
            }
            match self.crosses[i].update(fast, slow) {
                Some(Cross::Up) if feed.position() == 0.0 => {
                    ctx.explain(format!(
                        "{}: SMA{} {} crossed above SMA{} {}",
                        feed.symbol(),
                        self.fast,
                        fixed(fast, 4),
                        self.slow,
                        fixed(slow, 4)
                    ));
                    if let Err(e) = feed.buy(self.size).submit() {
                        eprintln!("buy {} refused: {e}", feed.symbol());
                    }
                }
                Some(Cross::Down) => {
                    let held = feed.position();
                    if held > 0.0 {
                        ctx.explain(format!(
                            "{}: SMA{} {} crossed below SMA{} {}",
                            feed.symbol(),
                            self.fast,
                            fixed(fast, 4),
                            self.slow,
                            fixed(slow, 4)
                        ));
                        if let Err(e) = feed.sell(held).submit() {
                            eprintln!("sell {} refused: {e}", feed.symbol());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn on_order(&mut self, _ctx: &Context, update: &OrderUpdate) {
        if let OrderStatus::Rejected(reason) = &update.status {
            eprintln!("order {} for {} rejected: {reason}", update.id, update.symbol);
        }
    }
}

export_agent!(SmaCrossover);
