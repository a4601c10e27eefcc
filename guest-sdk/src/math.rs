//! Numerics that must match backtrader to the last bit.

/// The correctly rounded sum of `values`, like Python's `math.fsum`:
/// backtrader's SMA is `fsum(window) / n`, and a naive running sum differs
/// in the last bit often enough to flip a crossover.
pub fn fsum(values: &[f64]) -> f64 {
    if values.iter().any(|v| !v.is_finite()) {
        return values.iter().sum();
    }
    // Shewchuk's algorithm: keep non-overlapping partial sums exactly.
    let mut partials: Vec<f64> = Vec::with_capacity(8);
    for &value in values {
        let mut x = value;
        let mut kept = 0;
        for i in 0..partials.len() {
            let mut y = partials[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    // Add the partials from the largest down, rounding half to even across them.
    let Some(mut hi) = partials.pop() else {
        return 0.0;
    };
    let mut lo = 0.0;
    while let Some(y) = partials.pop() {
        let x = hi;
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    if let Some(&next) = partials.last()
        && ((lo < 0.0 && next < 0.0) || (lo > 0.0 && next > 0.0))
    {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
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
