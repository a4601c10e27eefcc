//! A hostile agent for the sandbox tests: the `mode` param picks the attack,
//! made on bar `at` (default 2) unless the mode says otherwise.

use std::hint::black_box;
use trading_sdk::prelude::*;

struct Hostile {
    mode: String,
    at: u64,
    bars: u64,
    /// What the host answered, reported on the next bar.
    answers: Option<String>,
}

impl Agent for Hostile {
    fn init(_ctx: &Context, params: &Params) -> Result<Self, String> {
        let mode = params.get("mode").ok_or("the hostile agent needs a mode param")?.to_owned();
        if mode == "loop-init" {
            spin();
        }
        Ok(Hostile { mode, at: params.parse_or("at", 2)?, bars: 0, answers: None })
    }

    fn on_bar(&mut self, ctx: &Context) {
        self.bars += 1;
        if self.mode == "flood-output" {
            // Every bar, far more than the per-decision output bound.
            println!("{}", "spam ".repeat(13_000));
            return;
        }
        if let Some(answers) = self.answers.take() {
            ctx.explain(answers);
        }
        if self.bars != self.at {
            return;
        }
        let feed = &ctx.feeds()[0];
        match self.mode.as_str() {
            "loop-bar" => spin(),
            "sleep" => std::thread::sleep(std::time::Duration::from_secs(3600)),
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    black_box(&hoard);
                }
            }
            "recursion" => {
                black_box(deep(black_box(0)));
            }
            "reads" => {
                // Two series in turn, so that no two reads fold: the fast
                // read path's pending runs fill up and overflow to the host.
                let (close, open) = (feed.series("close"), feed.series("open"));
                for i in 0u32.. {
                    black_box(close.get(-((i % 2) as i32)));
                    black_box(open.get(0));
                }
            }
            "window" => {
                black_box(feed.window("close", 1 << 31));
            }
            "long-name" => {
                black_box(feed.field(&"x".repeat(1 << 20), 0));
            }
            "orders" => {
                let (mut ok, mut limited, mut other) = (0u64, 0u64, 0u64);
                for _ in 0..1_000_000 {
                    match feed.buy(1.0).submit() {
                        Ok(_) => ok += 1,
                        Err(OrderError::LimitExceeded(_)) => limited += 1,
                        Err(_) => other += 1,
                    }
                }
                ctx.explain(format!("ok={ok} limited={limited} other={other}"));
            }
            "explain" => {
                let megabytes = "x".repeat(8 << 20);
                let first = ctx.try_explain(&megabytes);
                let second = ctx.try_explain("more");
                self.answers = Some(format!("{first:?} {second:?}"));
            }
            "ambient" => {
                let env: Vec<(String, String)> = std::env::vars().collect();
                let args: Vec<String> = std::env::args().collect();
                let file = std::fs::read("/etc/hostname").map(|b| b.len()).map_err(|e| e.kind());
                let dir = std::fs::read_dir("/").map(|d| d.count()).map_err(|e| e.kind());
                let created = std::fs::write("owned.txt", b"x").map_err(|e| e.kind());
                let tcp = std::net::TcpStream::connect("127.0.0.1:80").map(|_| ()).map_err(|e| e.kind());
                let udp = std::net::UdpSocket::bind("0.0.0.0:0").map(|_| ()).map_err(|e| e.kind());
                let dns = std::net::ToSocketAddrs::to_socket_addrs("localhost:80").map(|a| a.count()).map_err(|e| e.kind());
                ctx.explain(format!(
                    "env={env:?} args={args:?} file={file:?} dir={dir:?} created={created:?} tcp={tcp:?} udp={udp:?} dns={dns:?}"
                ));
            }
            "panic" => panic!("hostile panics on bar {}", self.at),
            "trap-in-order" => {
                let _ = feed.buy(1.0).submit();
            }
            _ => {}
        }
    }

    fn on_order(&mut self, _ctx: &Context, _update: &OrderUpdate) {
        if self.mode == "trap-in-order" {
            std::process::abort();
        }
    }
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn deep(n: u64) -> u64 {
    let mut pad = [0u8; 64];
    pad[(n % 64) as usize] = 1;
    black_box(&pad);
    if n == u64::MAX { 0 } else { deep(black_box(n + 1)) + u64::from(pad[0]) }
}

export_agent!(Hostile);
