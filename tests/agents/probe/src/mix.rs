//! What the probe's `mix` mode does at each bar, as data: the probe makes
//! these calls, and tests/it/access_log.rs predicts its log from the same
//! steps (it includes this file).

/// The series a [`Step::Read`] reads, by index.
pub const FIELDS: [&str; 4] = ["close", "open", "headline", "no_such_field"];

/// Reads of `close[0]` on the first bar, before the steps: more than one
/// logged entry holds (65,535).
pub const FIRST_BAR_READS: u32 = 70_000;

/// One call of the mix.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// A single read of `FIELDS[field]`: by the builtin for the numbers, by
    /// the host for the text field (NaN) and the absent one.
    Read { field: usize, offset: i32 },
    /// `cash()`, a portfolio read.
    Cash,
    /// A window of 3 closes.
    Window,
    /// The headline's text now.
    Text,
    /// A market buy of one share: an action between reads.
    Buy,
}

/// The 1,000 steps of bar `bar` (1-based): pseudo-random, mostly reads
/// that continue a run (steps -1, 0 or 1) with runs starting anywhere in
/// `-45..=2`, so that both read paths and every way a run ends are met.
pub fn steps(bar: u64) -> impl Iterator<Item = Step> {
    let mut random = bar.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |n: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % n
    };
    let (mut field, mut offset, mut step) = (0, 0i32, 0i32);
    (0..1_000).map(move |_| match next(100) {
        r @ 0..80 => {
            if r < 60 {
                offset += step;
                if !(-45..=2).contains(&offset) {
                    offset = 0;
                }
            } else {
                (field, offset, step) = (next(4) as usize, next(48) as i32 - 45, next(3) as i32 - 1);
            }
            Step::Read { field, offset }
        }
        80..88 => Step::Cash,
        88..93 => Step::Window,
        93..97 => Step::Text,
        _ => Step::Buy,
    })
}
