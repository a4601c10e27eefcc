//! Numerics that must match backtrader to the last bit.

/// The correctly rounded sum of `values`, like Python's `math.fsum`:
/// backtrader's SMA is `fsum(window) / n`, and a naive running sum differs
/// in the last bit often enough to flip a crossover.
pub fn fsum(values: &[f64]) -> f64 {
    binade_sum(values).or_else(|| narrow_sum(values)).or_else(|| aligned_sum(values)).unwrap_or_else(|| shewchuk_sum(values))
}

/// Integers of 64 bits hold the exact sum when the count's bits and the
/// spread of exponents add up to at most this: 53-bit mantissas, shifted by
/// the spread, times the count, fit in 62 bits. WebAssembly has no 128-bit
/// arithmetic of its own, so this is the fast case.
const NARROW_BITS: u32 = 9;
const MANTISSA: u64 = (1 << 52) - 1;
const IMPLICIT: u64 = 1 << 52;

fn exponent(v: f64) -> i32 {
    ((v.to_bits() >> 52) & 0x7ff) as i32
}

/// The exact sum in one pass when every value has the first one's sign and
/// binade, as a window of prices mostly does: the mantissas, implicit bits
/// added back, then sum as integers without shifting. Up to 2^10 of them,
/// each below 2^53, fit in 64 bits. `None` otherwise.
fn binade_sum(values: &[f64]) -> Option<f64> {
    let top = values.first()?.to_bits() >> 52;
    let binade = (top & 0x7ff) as i32;
    if binade == 0 || binade == 0x7ff || values.len() > 1 << 10 {
        return None;
    }
    let (mut sum, mut differs) = (0u64, 0u64);
    let mut add = |v: f64| {
        let bits = v.to_bits();
        differs |= (bits >> 52) ^ top;
        sum += bits & MANTISSA;
    };
    // Four values per iteration, for the same reason as in `narrow_sum`.
    let mut chunks = values.chunks_exact(4);
    for chunk in &mut chunks {
        chunk.iter().for_each(|v| add(*v));
    }
    chunks.remainder().iter().for_each(|v| add(*v));
    if differs != 0 {
        return None;
    }
    let magnitude = scaled((sum + IMPLICIT * values.len() as u64) as f64, binade)?;
    Some(if top >> 11 == 1 { -magnitude } else { magnitude })
}

/// The exact sum in one pass, when every value lies within a few binades of
/// the first non-zero one, as prices in a window do. `None` otherwise.
fn narrow_sum(values: &[f64]) -> Option<f64> {
    let count_bits = usize::BITS - values.len().leading_zeros();
    let span = NARROW_BITS.checked_sub(count_bits)? as i32;
    let first = values.iter().find(|v| **v != 0.0)?;
    let low = exponent(*first) - span / 2;
    // Within these bounds every value the loop accepts is normal and finite.
    if low < 1 || low + span > 0x7fe {
        return None;
    }
    let (low_bits, span_bits) = (low as u64, span as u64);
    // Four values per iteration: Cranelift checks fuel and the epoch once per
    // loop iteration, which costs as much as summing a value.
    let mut chunks = values.chunks_exact(4);
    let mut sum: i64 = 0;
    for chunk in &mut chunks {
        for &v in chunk {
            sum += narrow_part(v, low_bits, span_bits)?;
        }
    }
    for &v in chunks.remainder() {
        sum += narrow_part(v, low_bits, span_bits)?;
    }
    scaled(sum as f64, low)
}

/// `v` as a signed integer in units of the last mantissa bit at exponent
/// `low`: zero for a zero, `None` outside `low ..= low + span`.
#[inline(always)]
fn narrow_part(v: f64, low: u64, span: u64) -> Option<i64> {
    let bits = v.to_bits();
    // Below `low` the subtraction wraps to a huge shift, caught by one compare.
    let shift = ((bits >> 52) & 0x7ff).wrapping_sub(low);
    if shift > span {
        return (bits << 1 == 0).then_some(0); // a zero of either sign
    }
    let magnitude = (((bits & MANTISSA) | IMPLICIT) << shift) as i64;
    let sign = (bits as i64) >> 63;
    Some((magnitude ^ sign) - sign)
}

/// The exact sum in a 128-bit integer, when every value fits: finite,
/// normal, and within 2^60 of each other in magnitude. `i128 as f64` rounds
/// to nearest, ties to even, so the one rounding is correct, and scaling by
/// a power of two is exact.
fn aligned_sum(values: &[f64]) -> Option<f64> {
    const SPREAD: i32 = 60;
    if values.len() > 1 << 12 {
        return None;
    }
    let mut low = i32::MAX;
    let mut high = i32::MIN;
    for &v in values {
        if v == 0.0 {
            continue;
        }
        let e = exponent(v);
        if e == 0 || e == 0x7ff {
            return None; // subnormal, infinite or NaN
        }
        low = low.min(e);
        high = high.max(e);
    }
    if low == i32::MAX {
        return Some(values.iter().sum());
    }
    if high - low > SPREAD {
        return None;
    }
    let mut sum: i128 = 0;
    for &v in values.iter().filter(|v| **v != 0.0) {
        let bits = v.to_bits();
        let part = i128::from((bits & MANTISSA) | IMPLICIT) << (exponent(v) - low);
        sum += if bits >> 63 == 1 { -part } else { part };
    }
    scaled(sum as f64, low)
}

/// `rounded` in units of 2^(low - 1075), the value of a mantissa's last bit
/// at exponent `low`; `None` where the scaling would not be exact.
fn scaled(rounded: f64, low: i32) -> Option<f64> {
    let scale = low - 1075;
    if rounded == 0.0 {
        return Some(0.0);
    }
    let result_exponent = exponent(rounded) - 1023 + scale;
    if !(-1000..=1000).contains(&result_exponent) || !(-1022..=1023).contains(&scale) {
        return None;
    }
    Some(rounded * f64::from_bits(((scale + 1023) as u64) << 52))
}

fn shewchuk_sum(values: &[f64]) -> f64 {
    let mut partials = Partials::default();
    for &value in values {
        if !value.is_finite() {
            return values.iter().sum();
        }
        partials.add(value);
    }
    partials.round()
}

/// Shewchuk's exact running sum: non-overlapping partials, smallest first.
/// A double's exponent range bounds how many there can be, so they live on
/// the stack.
struct Partials {
    parts: [f64; 64],
    len: usize,
}

impl Default for Partials {
    fn default() -> Self {
        Partials { parts: [0.0; 64], len: 0 }
    }
}

impl Partials {
    #[inline]
    fn add(&mut self, mut x: f64) {
        let mut kept = 0;
        for i in 0..self.len {
            let mut y = self.parts[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.parts[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.parts[kept] = x;
        self.len = kept + 1;
    }

    /// The exact sum rounded once, half to even across the partials.
    fn round(&self) -> f64 {
        let mut n = self.len;
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = self.parts[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = self.parts[n];
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        if n > 0 && ((lo < 0.0 && self.parts[n - 1] < 0.0) || (lo > 0.0 && self.parts[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

/// The simple moving average of `values` (exactly rounded sum over n);
/// `None` for an empty slice.
pub fn sma(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| fsum(values) / values.len() as f64)
}

/// Which way one line crossed another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cross {
    Up,
    Down,
}

/// backtrader's `CrossOver`: a cross up is `fast > slow` after the last
/// non-zero `fast - slow` was negative, a cross down the mirror. The first
/// update only records the difference.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrossOver {
    last_difference: Option<f64>,
}

impl CrossOver {
    pub fn update(&mut self, fast: f64, slow: f64) -> Option<Cross> {
        let cross = match self.last_difference {
            Some(d) if d < 0.0 && fast > slow => Some(Cross::Up),
            Some(d) if d > 0.0 && fast < slow => Some(Cross::Down),
            _ => None,
        };
        let difference = fast - slow;
        if self.last_difference.is_none() || difference != 0.0 {
            self.last_difference = Some(difference);
        }
        cross
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsum_is_exactly_rounded() {
        assert_eq!(fsum(&[0.1; 10]), 1.0);
        assert_ne!([0.1; 10].iter().sum::<f64>(), 1.0);
        assert_eq!(fsum(&[1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50]), 1e-100);
        assert_eq!(fsum(&[]), 0.0);
        // Half-even rounding across partials (Python: fsum([1, 1e-16, 1e-16]) == 1.0000000000000002).
        assert_eq!(fsum(&[1.0, 1e-16, 1e-16]), 1.0000000000000002);
        assert!(fsum(&[1.0, f64::NAN]).is_nan());
        // Signs and zeros in the one-pass path; a subnormal sends it to the fallbacks.
        assert_eq!(narrow_sum(&[-1.5, 2.0, 0.0, -0.0, 1.25]), Some(1.75));
        assert_eq!(narrow_sum(&[1.0, 5e-324]), None);
        // One sign and one binade, or not this path.
        assert_eq!(binade_sum(&[-1.5, -1.25, -1.75]), Some(-4.5));
        assert_eq!(binade_sum(&[1.5, -1.5]), None);
        assert_eq!(binade_sum(&[1.5, 2.5]), None);
        assert_eq!(binade_sum(&[1.5, 0.0]), None);
        assert_eq!(binade_sum(&[f64::INFINITY]), None);
        assert_eq!(fsum(&[1.0, 5e-324, -1.0]), 5e-324);
    }

    #[test]
    fn the_integer_path_agrees_with_shewchuk() {
        let mut next = crate::testing::random_bits();
        for round in 0..20_000 {
            let n = 1 + (next() % 40) as usize;
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    let r = next();
                    match round % 5 {
                        // Prices with four decimals, as in market data.
                        0 => (50_000 + (r % 2_000_000) as i64) as f64 / 10_000.0,
                        // Mixed signs and magnitudes within the integer path's reach.
                        1 => (r as i64 >> 11) as f64 * 2f64.powi((r % 40) as i32 - 20),
                        // Wide magnitudes that take the exact fallback.
                        2 => (r as i64 >> 11) as f64 * 2f64.powi((r % 600) as i32 - 300),
                        3 => f64::from_bits(r & !(0x7ff << 52) | (((r >> 52) % 2046 + 1) << 52)),
                        // A window of prices around 100, as sma-crossover sums.
                        _ => (900_000 + (r % 200_000) as i64) as f64 / 10_000.0,
                    }
                })
                .collect();
            assert_eq!(fsum(&values).to_bits(), shewchuk_sum(&values).to_bits(), "{values:?}");
            if round % 5 == 4 && n <= 32 {
                assert!(narrow_sum(&values).is_some(), "a window of prices takes the one-pass path: {values:?}");
                // Prices from 90 to 110 lie in the binade [64, 128).
                assert!(binade_sum(&values).is_some(), "a window of prices takes the integer path: {values:?}");
            }
        }
    }

    #[test]
    fn crossover_needs_a_previous_difference_and_skips_ties() {
        let mut c = CrossOver::default();
        assert_eq!(c.update(2.0, 1.0), None, "the first update only records");
        assert_eq!(c.update(1.0, 1.0), None, "a tie is not a cross");
        assert_eq!(c.update(0.5, 1.0), Some(Cross::Down), "the last non-zero difference was positive");
        assert_eq!(c.update(0.5, 1.0), None);
        assert_eq!(c.update(2.0, 1.0), Some(Cross::Up));
    }
}
