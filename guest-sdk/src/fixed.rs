//! Numbers with a fixed count of decimals, for rationales.
//!
//! `format!("{x:.4}")` is exact, and to be exact `core::fmt` works through
//! 128-bit and big-number arithmetic that WebAssembly lacks: about a
//! microsecond per number in an agent, more than the rest of its decision.
//! [`fixed`] writes the same text from one 128-bit product and a shift.

use std::fmt;

/// `value` with `places` decimals, written exactly as
/// `format!("{value:.places$}")` writes it: rounded half to even from the
/// value's exact binary expansion, with the sign of negative values (zero
/// included). A formatter's width, fill and alignment apply as to a string.
///
/// ```
/// use trading_sdk::fixed;
/// assert_eq!(format!("SMA {}", fixed(101.234_56, 4)), "SMA 101.2346");
/// assert_eq!(fixed(0.125, 2).to_string(), format!("{:.2}", 0.125));
/// ```
pub fn fixed(value: f64, places: u8) -> Fixed {
    Fixed { value, places }
}

/// See [`fixed`].
#[derive(Clone, Copy, Debug)]
pub struct Fixed {
    value: f64,
    places: u8,
}

/// The most decimals the integer path writes: `10^9` times a 53-bit
/// mantissa stays below 2^83, and a shift then fits in 128 bits.
const MAX_PLACES: u8 = 9;
/// The largest binary exponent the integer path takes, for the same reason.
const MAX_EXPONENT: i32 = 40;

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(scaled) = scaled(self.value, self.places) else {
            let text = format!("{:.*}", usize::from(self.places), self.value);
            return f.pad(&text);
        };
        // Sign, up to 20 integer digits, the point and 9 decimals.
        let mut text = [0u8; 32];
        let mut at = text.len();
        let mut push = |byte: u8| {
            at -= 1;
            text[at] = byte;
        };
        let pow = 10u64.pow(u32::from(self.places));
        let (mut whole, mut fraction) = (scaled / pow, scaled % pow);
        for _ in 0..self.places {
            push(b'0' + (fraction % 10) as u8);
            fraction /= 10;
        }
        if self.places > 0 {
            push(b'.');
        }
        loop {
            push(b'0' + (whole % 10) as u8);
            whole /= 10;
            if whole == 0 {
                break;
            }
        }
        if self.value.is_sign_negative() {
            push(b'-');
        }
        // Only ASCII digits, a point and a sign were written.
        f.pad(std::str::from_utf8(&text[at..]).map_err(|_| fmt::Error)?)
    }
}

/// `|value| × 10^places`, rounded half to even, when the integer path
/// covers it: finite, at most `MAX_PLACES`, and the result below 2^64.
fn scaled(value: f64, places: u8) -> Option<u64> {
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0x7ff || places > MAX_PLACES {
        return None;
    }
    let fraction = bits & ((1 << 52) - 1);
    // value = mantissa × 2^exponent, exactly.
    let (mantissa, exponent) = if biased == 0 { (fraction, -1074) } else { (fraction | 1 << 52, biased - 1075) };
    let product = u128::from(mantissa) * u128::from(10u64.pow(u32::from(places)));
    let rounded = if exponent >= 0 {
        if exponent > MAX_EXPONENT {
            return None;
        }
        product << exponent
    } else {
        let shift = exponent.unsigned_abs();
        // The product is below 2^83: past this shift it is below a half.
        if shift > 100 {
            0
        } else {
            let quotient = product >> shift;
            let remainder = product - (quotient << shift);
            let half = 1u128 << (shift - 1);
            quotient + u128::from(remainder > half || (remainder == half && quotient & 1 == 1))
        }
    };
    u64::try_from(rounded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: f64, places: u8) {
        let expected = format!("{value:.*}", usize::from(places));
        assert_eq!(fixed(value, places).to_string(), expected, "{value:e} to {places} places ({:#x})", value.to_bits());
    }

    #[test]
    fn writes_what_core_fmt_writes() {
        // Ties of every kind: exact halves round to even, near-halves by
        // their exact binary value.
        for value in [0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 1.005, 2.675, 0.045, 1e-10, -1e-10, 99.99995, 123.456_75] {
            for places in 0..=12 {
                check(value, places);
            }
        }
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN_POSITIVE, 5e-324, 1.8e19, 1e25] {
            check(value, 4);
        }
        // Random values: all bit patterns, and prices with few decimals.
        let mut next = crate::testing::random_bits();
        for _ in 0..200_000 {
            let (random, places) = (next(), (next() % 11) as u8);
            check(f64::from_bits(random), places);
            let price = (random % 100_000_000) as f64 / 10f64.powi((places % 6).into());
            check(price, places);
            check(-price / 7.0, places);
        }
    }

    #[test]
    fn a_width_pads_as_for_a_string() {
        assert_eq!(format!("[{:>8}]", fixed(1.5, 2)), "[    1.50]");
        assert_eq!(format!("[{:<8}]", fixed(f64::NAN, 2)), "[NaN     ]");
    }
}
