//! Money and quantities: `f64` at the WIT boundary, `Decimal` inside the host.

use crate::text::extend_small;
use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// The decimal a guest meant by `x`: its shortest round-trip form, so that
/// `0.05` is exactly 0.05. None for NaN, infinities and values beyond
/// `Decimal`'s 28 digits.
pub fn from_f64(x: f64) -> Option<Decimal> {
    if !x.is_finite() {
        return None;
    }
    // `Display` for f64 prints the shortest text that parses back to `x`.
    Decimal::from_str_exact(&x.to_string()).ok()
}

/// The closest `f64` to `d`, for reporting back to a guest: what parsing
/// its text gives. (`rust_decimal`'s own conversion is an ulp off for some
/// decimals: 4.8% of the test's, spread over scales 0 to 25.)
pub fn to_f64(d: Decimal) -> f64 {
    exact_f64(d).unwrap_or_else(|| d.to_string().parse().unwrap_or(f64::NAN))
}

/// Parses a decimal as written in a data file, scientific notation included.
pub fn parse(text: &str) -> Option<Decimal> {
    let text = crate::text::trim(text);
    plain(text).or_else(|| Decimal::from_str(text).ok()).or_else(|| Decimal::from_scientific(text).ok())
}

/// `[-]digits[.digits]` of up to 18 characters, as prices are written,
/// without the general parser, which was most of the cost of reading a
/// row. None for any other form, and for zero, whose sign is the general
/// parser's to keep.
fn plain(text: &str) -> Option<Decimal> {
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        bytes => (false, bytes),
    };
    // 18 digits at most: below 2^63, so the mantissa cannot overflow.
    if digits.len() > 18 {
        return None;
    }
    let (mut mantissa, mut scale, mut point) = (0i64, 0u32, false);
    for (i, &byte) in digits.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i64::from(byte - b'0');
                scale += u32::from(point);
            }
            b'.' if !point && i > 0 && i + 1 < digits.len() => point = true,
            _ => return None,
        }
    }
    (mantissa != 0).then(|| Decimal::new(if negative { -mantissa } else { mantissa }, scale))
}

/// `d` as the nearest `f64`, when one correctly rounded division gives it:
/// a mantissa below 2^53 over a power of ten up to 10^22, both exact in
/// `f64` (Clinger's fast path). It then equals parsing `d`'s text as `f64`,
/// for a fraction of the cost. None otherwise, and for zero, whose sign a
/// decimal may not keep.
pub fn exact_f64(d: Decimal) -> Option<f64> {
    const POWERS_OF_TEN: [f64; 23] = {
        let mut powers = [1.0; 23];
        let mut i = 1;
        while i < powers.len() {
            powers[i] = powers[i - 1] * 10.0;
            i += 1;
        }
        powers
    };
    // Converting from i64 rather than i128 saves a call into the runtime library.
    let mantissa = i64::try_from(d.mantissa()).ok().filter(|m| *m != 0 && m.unsigned_abs() < 1 << 53)?;
    Some(mantissa as f64 / *POWERS_OF_TEN.get(d.scale() as usize)?)
}

/// Formats without trailing zeros and without a negative zero: `99.234`, not `99.2340`.
pub struct Normal(pub Decimal);

impl fmt::Display for Normal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.normalize();
        if d.is_zero() { f.write_str("0") } else { write!(f, "{d}") }
    }
}

impl serde::Serialize for Normal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Appends what `Normal(d)` displays, without the formatting machinery.
pub fn write_normal(d: Decimal, out: &mut Vec<u8>) {
    if d.is_zero() {
        out.push(b'0');
        return;
    }
    if d.is_sign_negative() {
        out.push(b'-');
    }
    let mut buffer = itoa::Buffer::new();
    // Money nearly always fits 64 bits: its trailing zeros then go with
    // `u64` division and its digits cost a fraction of 128 bits', where
    // `Decimal::normalize` divides 96 bits for each zero.
    let (digits, scale) = match u64::try_from(d.mantissa().unsigned_abs()) {
        Ok(mut mantissa) => {
            let mut scale = d.scale();
            while scale > 0 && mantissa % 10 == 0 {
                mantissa /= 10;
                scale -= 1;
            }
            (buffer.format(mantissa), scale)
        }
        Err(_) => {
            let d = d.normalize();
            (buffer.format(d.mantissa().unsigned_abs()), d.scale())
        }
    };
    let digits = digits.as_bytes();
    let scale = scale as usize;
    if scale == 0 {
        extend_small(out, digits);
    } else if digits.len() > scale {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        extend_small(out, whole);
        out.push(b'.');
        extend_small(out, fraction);
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        extend_small(out, digits);
    }
}

/// Positions as a JSON object of symbol to normalised quantity, in order.
pub struct Positions<'a> {
    pub held: &'a [(crate::market::FeedId, Decimal)],
    /// Every feed's symbol, by feed id.
    pub symbols: &'a [std::sync::Arc<str>],
}

impl serde::Serialize for Positions<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.held.len()))?;
        for (feed, qty) in self.held {
            map.serialize_entry(&*self.symbols[feed.index()], &Normal(*qty))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_becomes_its_shortest_decimal() {
        assert_eq!(from_f64(0.05).unwrap().to_string(), "0.05");
        assert_eq!(from_f64(100.1733).unwrap().to_string(), "100.1733");
        assert_eq!(from_f64(100.0).unwrap().to_string(), "100");
        assert_eq!(from_f64(1e-7).unwrap().to_string(), "0.0000001");
        assert!(from_f64(f64::NAN).is_none());
        assert!(from_f64(f64::INFINITY).is_none());
        assert!(from_f64(1e40).is_none());
    }

    #[test]
    fn normal_form_drops_trailing_zeros_and_negative_zero() {
        assert_eq!(Normal(Decimal::from_str("99.2340").unwrap()).to_string(), "99.234");
        assert_eq!(Normal(Decimal::from_str("-0.000").unwrap()).to_string(), "0");
        assert_eq!(Normal(Decimal::from_str("1000000").unwrap()).to_string(), "1000000");
    }

    #[test]
    fn the_fast_writer_writes_what_normal_displays() {
        for x in crate::testing::XorShift(88172645463325252).take(100_000) {
            let mantissa = (x as i64 >> (x % 50)) as i128 * if x & 1 == 0 { 1 } else { 1_000_000_007 };
            let d = Decimal::from_i128_with_scale(mantissa, ((x >> 8) % 20) as u32);
            let mut out = Vec::new();
            write_normal(d, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), Normal(d).to_string(), "{d:?}");
        }
    }

    /// Decimal texts of 1 to 20 digits, scales 0 to 25, either sign.
    fn decimal_texts(seed: u64) -> impl Iterator<Item = String> {
        crate::testing::XorShift(seed).take(200_000).map(|x| {
            let digits = 1 + (x % 20) as u32;
            let scale = ((x >> 8) % 26) as usize;
            let mut text = ((x >> 16) % 10u64.pow(digits.min(19))).to_string();
            if text.len() <= scale {
                text = format!("{}{text}", "0".repeat(scale + 1 - text.len()));
            }
            if scale > 0 {
                text.insert(text.len() - scale, '.');
            }
            if x & 1 == 1 {
                text.insert(0, '-');
            }
            text
        })
    }

    #[test]
    fn the_exact_conversion_equals_parsing_the_text() {
        let mut taken = 0;
        for text in decimal_texts(0x2545_f491_4f6c_dd1d) {
            let Some(exact) = exact_f64(parse(&text).unwrap()) else { continue };
            taken += 1;
            assert_eq!(exact.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
        }
        assert!(taken > 50_000, "the fast path is the common one: {taken}");
        assert_eq!(exact_f64(parse("100.0225").unwrap()), Some(100.0225));
        assert_eq!(exact_f64(parse("-0.000").unwrap()), None, "zero keeps its sign through the text");
        assert_eq!(exact_f64(parse("9007199254740993").unwrap()), None, "beyond 2^53");
    }

    #[test]
    fn every_decimal_reaches_a_guest_as_its_nearest_f64() {
        for text in decimal_texts(0x9e37_79b9_7f4a_7c15) {
            let (ours, parsed) = (to_f64(parse(&text).unwrap()), text.parse::<f64>().unwrap());
            // A zero is a plain zero: a position of -0 is no position.
            let expected = if parsed == 0.0 { 0.0 } else { parsed };
            assert_eq!(ours.to_bits(), expected.to_bits(), "{text}");
        }
        assert_eq!(to_f64(parse("0.0000000000000000000000018").unwrap()), 1.8e-24, "an ulp off in rust_decimal 1.x");
    }

    /// The shortcut must give exactly what the general parser gives, scale
    /// included, and leave every other form to it.
    #[test]
    fn the_plain_form_parses_as_the_general_parser_does() {
        let common = ["1", "-1", "0012.50", "199.9397", "-0.5", "123456789012345678", "1234567890123456.7"];
        for text in common {
            assert!(plain(text).is_some(), "{text:?} takes the shortcut");
        }
        let odd = ["0", "-0.00", "1.", ".5", "-", "", "1.2.3", "+1", "1e3", "1_0", "１", "1234567890123456789", "--1"];
        let mut cases: Vec<String> = common.into_iter().chain(odd).map(String::from).collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let len = (state >> 59) as usize + 1;
            let text: String = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b"0123456789.-"[(state % 12) as usize] as char
                })
                .collect();
            cases.push(text);
        }
        let mut taken = 0;
        for text in &cases {
            let Some(fast) = plain(text) else { continue };
            taken += 1;
            let general = Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?}: the general parser refuses it: {e}"));
            assert_eq!((fast.mantissa(), fast.scale()), (general.mantissa(), general.scale()), "{text:?}");
        }
        assert!(taken > 1000, "the random cases exercise the shortcut ({taken})");
    }

    #[test]
    fn parses_plain_and_scientific_text() {
        assert_eq!(parse("100.1733").unwrap().to_string(), "100.1733");
        assert_eq!(parse("1.5e2").unwrap(), Decimal::from(150));
        assert!(parse("abc").is_none());
    }
}
