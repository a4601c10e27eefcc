//! Not an agent: the cheapest component import there is, for the bench's
//! `import_floor_ns`. `run(n)` calls `read` `n` times. `read` has the shape of
//! `trading:agent/market.read`, and the bench's host for it does nothing, so
//! the time per call is what the engine alone costs for such an import.

wit_bindgen::generate!({
    inline: r"
        package bench:floor;

        interface market {
            read: func(series: u32, offset: s32) -> f64;
        }

        world floor {
            import market;
            export run: func(n: u32) -> f64;
        }
    ",
});

struct Floor;

impl Guest for Floor {
    fn run(n: u32) -> f64 {
        let mut sum = 0.0;
        for _ in 0..n {
            sum += bench::floor::market::read(0, 0);
        }
        sum
    }
}

export!(Floor);
