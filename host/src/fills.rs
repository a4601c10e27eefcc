//! The fills a session made, kept for the run's summary.
//!
//! They go to an unnamed temporary file as they happen, one JSON object a
//! line, and the summary streams them back: a run's memory must not grow
//! with its trades, and a long replay makes tens of thousands of them.

use crate::broker::Side;
use crate::decimal::Normal;
use crate::time::Timestamp;
use rust_decimal::Decimal;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

/// One fill, as the summary lists it.
#[derive(Serialize)]
pub struct Fill<'a> {
    pub symbol: &'a str,
    pub side: Side,
    pub qty: Normal,
    pub price: Normal,
    pub bar_time: Timestamp,
    pub commission: Normal,
}

impl<'a> Fill<'a> {
    pub fn new(symbol: &'a str, side: Side, qty: Decimal, price: Decimal, bar_time: Timestamp, commission: Decimal) -> Self {
        Fill { symbol, side, qty: Normal(qty), price: Normal(price), bar_time, commission: Normal(commission) }
    }
}

/// The fills, in the order the broker reported them. Serializes as a JSON
/// array; call [`FillLog::finish`] first.
#[derive(Debug, Default)]
pub struct FillLog {
    /// Created at the first fill: most agents of a large run never trade.
    spill: Option<BufWriter<File>>,
    count: u64,
    /// Why the fills could not be kept, from the first write that failed.
    /// The run goes on (the FMEL has every fill); the summary cannot.
    error: Option<String>,
}

impl FillLog {
    pub fn push(&mut self, fill: &Fill) {
        if self.error.is_some() {
            return;
        }
        match self.append(fill) {
            Ok(()) => self.count += 1,
            Err(e) => self.fail(e),
        }
    }

    fn append(&mut self, fill: &Fill) -> io::Result<()> {
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(BufWriter::new(tempfile::tempfile()?)),
        };
        serde_json::to_writer(&mut *spill, fill)?;
        spill.write_all(b"\n")
    }

    /// Writes out what is buffered, so that the fills can be read back.
    pub fn finish(&mut self) {
        if let Some(Err(e)) = self.spill.as_mut().filter(|_| self.error.is_none()).map(|s| s.flush()) {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: io::Error) {
        tracing::warn!("the summary's list of fills is lost: cannot write its temporary file: {e}");
        self.error = Some(e.to_string());
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Serialize for FillLog {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(e) = &self.error {
            return Err(S::Error::custom(format_args!("the fills could not be kept: {e}")));
        }
        let mut seq = s.serialize_seq(Some(self.count as usize))?;
        if let Some(spill) = &self.spill {
            let mut file = spill.get_ref();
            file.seek(SeekFrom::Start(0)).map_err(S::Error::custom)?;
            for line in BufReader::new(file).lines() {
                let line = line.map_err(S::Error::custom)?;
                let fill: &serde_json::value::RawValue = serde_json::from_str(&line).map_err(S::Error::custom)?;
                seq.serialize_element(fill)?;
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(symbol: &str, qty: i64, seconds: i64) -> Fill<'_> {
        let time = Timestamp(seconds * 1_000_000_000);
        Fill::new(symbol, Side::Buy, Decimal::from(qty), Decimal::new(1005, 1), time, Decimal::new(25, 2))
    }

    #[test]
    fn the_fills_come_back_in_the_order_they_were_pushed() {
        let mut log = FillLog::default();
        for (i, symbol) in ["B", "A", "C"].iter().enumerate() {
            log.push(&fill(symbol, 10 * (i as i64 + 1), 60 * i as i64));
        }
        log.finish();
        assert_eq!(log.len(), 3);
        let got = serde_json::to_value(&log).unwrap();
        let want = serde_json::json!([
            {"symbol": "B", "side": "BUY", "qty": "10", "price": "100.5", "bar_time": "1970-01-01T00:00:00Z", "commission": "0.25"},
            {"symbol": "A", "side": "BUY", "qty": "20", "price": "100.5", "bar_time": "1970-01-01T00:01:00Z", "commission": "0.25"},
            {"symbol": "C", "side": "BUY", "qty": "30", "price": "100.5", "bar_time": "1970-01-01T00:02:00Z", "commission": "0.25"},
        ]);
        assert_eq!(got, want);
        assert_eq!(serde_json::to_value(&log).unwrap(), want, "read twice, the same");
    }

    #[test]
    fn no_fills_is_an_empty_list_and_no_file() {
        let mut log = FillLog::default();
        log.finish();
        assert!(log.is_empty() && log.spill.is_none());
        assert_eq!(serde_json::to_string(&log).unwrap(), "[]");
    }
}
