//! Bar and wall-clock times as nanoseconds since the Unix epoch, in UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

/// A point in time, UTC, with nanosecond resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

#[derive(Debug, thiserror::Error)]
#[error("bad timestamp {0:?}: expected RFC 3339 (2024-11-17T14:30:00Z) or YYYY-MM-DD[ HH:MM:SS[.fff]] in UTC")]
pub struct TimestampError(pub String);

impl Timestamp {
    pub fn now() -> Self {
        let since = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Parses RFC 3339, or a date and time without a zone, taken as UTC.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let text = crate::text::trim(text);
        // The common forms, UTC since 1970, take the fast parser; the rest chrono.
        if let Ok(t) = humantime::parse_rfc3339_weak(text)
            && let Ok(since) = t.duration_since(UNIX_EPOCH)
            && let Ok(nanos) = i64::try_from(since.as_nanos())
        {
            return Ok(Self(nanos));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Self::from_datetime(t.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(Self::from_datetime(t.and_utc()));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Self::from_datetime(d.and_time(Default::default()).and_utc()));
        }
        Err(TimestampError(text.to_owned()))
    }

    fn from_datetime(t: DateTime<Utc>) -> Self {
        // Beyond ±292 years from 1970 nanoseconds overflow; clamp rather than panic.
        Self(t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 { i64::MIN } else { i64::MAX }))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }
}

impl Timestamp {
    /// Appends what `Display` writes, without the formatting machinery: the
    /// FMEL writer formats two times per record.
    pub fn write_rfc3339(self, out: &mut Vec<u8>) {
        if self.0 < 0 {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{self}");
            return;
        }
        // Non-negative from here, so unsigned: dividing by ten is then a
        // multiply and a shift, with no sign fix-up.
        let (seconds, nanos) = (self.0 / 1_000_000_000, (self.0 % 1_000_000_000) as u32);
        let (year, month, day) = civil_from_days(seconds / 86_400);
        let second_of_day = (seconds % 86_400) as u32;
        // Filled in place and appended once: a push per character was most
        // of the cost.
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day);
        put_digits(&mut text[11..13], second_of_day / 3600);
        put_digits(&mut text[14..16], second_of_day / 60 % 60);
        put_digits(&mut text[17..19], second_of_day % 60);
        if nanos == 0 {
            text[19] = b'Z';
            out.extend_from_slice(&text[..20]);
        } else {
            put_digits(&mut text[20..29], nanos);
            out.extend_from_slice(&text);
        }
    }
}

/// The two decimal digits of every number below 100.
static DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// Writes the last `slots.len()` decimal digits of `n`, zero-padded, two
/// at a time: every record has two times to write.
#[inline]
fn put_digits(slots: &mut [u8], mut n: u32) {
    let mut end = slots.len();
    while end >= 2 {
        slots[end - 2..end].copy_from_slice(&DIGIT_PAIRS[(n % 100) as usize]);
        n /= 100;
        end -= 2;
    }
    if end == 1 {
        slots[0] = b'0' + (n % 10) as u8;
    }
}

/// (year, month, day) of a count of days since 1970-01-01, for the days
/// of non-negative times (at most 106,751). Neri and Schneider's algorithm
/// ("Euclidean affine functions and their application to calendar
/// algorithms", 2022): a short chain of 32-bit multiplications and shifts,
/// where the divisions of Hinnant's `civil_from_days`, one waiting on the
/// next, were a third of writing a time.
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    // Days from a 1 March long enough before 1970 that every count is
    // positive, in a calendar whose years begin in March.
    const ERAS_BEFORE: u32 = 82;
    let n = days as u32 + 719_468 + 146_097 * ERAS_BEFORE;
    let n1 = 4 * n + 3;
    let century = n1 / 146_097;
    let day_of_century = n1 % 146_097 / 4;
    let p2 = 2_939_745 * u64::from(4 * day_of_century + 3);
    let year_of_century = (p2 >> 32) as u32;
    let day_of_year = (p2 as u32) / 2_939_745 / 4;
    let n3 = 2141 * day_of_year + 197_913;
    let (month, day) = (n3 >> 16, (n3 & 0xffff) / 2141 + 1);
    let january_or_february = day_of_year >= 306;
    let year = 100 * century + year_of_century + u32::from(january_or_february) - 400 * ERAS_BEFORE;
    (year, if january_or_february { month - 12 } else { month }, day)
}

/// RFC 3339 in UTC with `Z`; fractional seconds only when there are any.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match u64::try_from(self.0) {
            Ok(nanos) => write!(f, "{}", humantime::format_rfc3339(UNIX_EPOCH + Duration::from_nanos(nanos))),
            Err(_) => f.write_str(&self.to_datetime().to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms_as_utc() {
        let expected = Timestamp::parse("2024-01-01T00:36:00Z").unwrap();
        for text in ["2024-01-01 00:36:00", "2024-01-01T00:36:00", "2024-01-01T01:36:00+01:00"] {
            assert_eq!(Timestamp::parse(text).unwrap(), expected, "{text}");
        }
        assert_eq!(expected.to_string(), "2024-01-01T00:36:00Z");
        assert_eq!(Timestamp::parse("2024-01-02").unwrap().to_string(), "2024-01-02T00:00:00Z");
        assert_eq!(Timestamp::parse("2024-01-01 00:00:00.25").unwrap().to_string(), "2024-01-01T00:00:00.250000000Z");
        assert_eq!(Timestamp::parse("1969-12-31T23:59:59Z").unwrap().to_string(), "1969-12-31T23:59:59Z");
        assert_eq!(Timestamp::parse("2024-01-01T02:00:00+02:00").unwrap(), Timestamp::parse("2024-01-01").unwrap());
    }

    #[test]
    fn the_fast_writer_writes_what_display_does() {
        for x in crate::testing::XorShift(0x2545_f491_4f6c_dd1d).take(100_000) {
            // Up to the year 2262, whole seconds half of the time.
            let mut nanos = (x % 9_200_000_000_000_000_000) as i64;
            if x & 1 == 0 {
                nanos -= nanos % 1_000_000_000;
            }
            let t = Timestamp(nanos);
            let mut out = Vec::new();
            t.write_rfc3339(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), t.to_string());
        }
        let mut out = Vec::new();
        Timestamp(-1).write_rfc3339(&mut out);
        assert_eq!(out, Timestamp(-1).to_string().as_bytes());
    }

    #[test]
    fn the_fast_writer_writes_every_day_as_display_does() {
        let last_day = i64::MAX / 86_400_000_000_000;
        for day in 0..=last_day {
            let t = Timestamp((day * 86_400_000_000_000).saturating_add(86_399_000_000_000));
            let mut out = Vec::new();
            t.write_rfc3339(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), t.to_string(), "day {day}");
        }
    }

    #[test]
    fn refuses_garbage_with_the_text() {
        let err = Timestamp::parse("yesterday").unwrap_err();
        assert!(err.to_string().contains("\"yesterday\""), "{err}");
    }
}
