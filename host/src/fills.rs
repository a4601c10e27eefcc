//! The fills a session made, kept for the run's summary.
//!
//! A session keeps its newest fills in memory, 64 bytes each, and moves
//! them in chunks to one unnamed temporary file that every session of the
//! run shares: a run's memory must not grow with its trades (a long replay
//! makes tens of thousands), and a thousand agents must not need a
//! thousand more open files. The summary streams them back as JSON. They
//! are kept in binary because they are kept on the agents' threads, where
//! formatting each as JSON took about 3% of the agent thread in a replay.

use crate::broker::Side;
use crate::decimal::Normal;
use crate::time::Timestamp;
use rust_decimal::Decimal;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Fills a session keeps in memory before moving them to the spill file:
/// 512 fills.
const CHUNK_BYTES: usize = 32 * 1024;
/// A kept fill: the symbol's index among the log's symbols (4 bytes), the
/// side (1), padding (3), quantity, price and commission (16 each, as
/// `Decimal::serialize`) and the bar time (8).
const RECORD_BYTES: usize = 64;

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

/// The run's spill file, shared by its sessions; created at the first
/// chunk, removed when the last session's log is dropped.
#[derive(Clone, Debug, Default)]
pub struct FillSpill(Arc<Spill>);

#[derive(Debug, Default)]
struct Spill {
    file: OnceLock<Result<File, String>>,
    /// Where the next chunk goes: chunks never overlap, so sessions on
    /// different threads write without a lock.
    end: AtomicU64,
}

impl FillSpill {
    fn file(&self) -> io::Result<&File> {
        match self.0.file.get_or_init(|| tempfile::tempfile().map_err(|e| e.to_string())) {
            Ok(file) => Ok(file),
            Err(e) => Err(io::Error::other(format!("cannot create a temporary file: {e}"))),
        }
    }

    /// Writes `chunk` and returns its offset.
    fn append(&self, chunk: &[u8]) -> io::Result<u64> {
        let file = self.file()?;
        let offset = self.0.end.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        file.write_all_at(chunk, offset)?;
        Ok(offset)
    }

    fn read(&self, offset: u64, into: &mut [u8]) -> io::Result<()> {
        self.file()?.read_exact_at(into, offset)
    }
}

/// A session's fills, in the order the broker reported them. Serializes
/// as a JSON array.
#[derive(Debug, Default)]
pub struct FillLog {
    spill: FillSpill,
    /// Offset and length of each chunk moved to the spill, oldest first.
    chunks: Vec<(u64, usize)>,
    /// The newest fills, [`RECORD_BYTES`] each.
    recent: Vec<u8>,
    /// The symbols of the fills, by the index their records hold.
    symbols: Vec<Arc<str>>,
    count: u64,
    /// Why the fills could not be kept, from the first write that failed.
    /// The run goes on (the FMEL has every fill); the summary cannot.
    error: Option<String>,
}

impl FillLog {
    pub fn new(spill: FillSpill) -> Self {
        FillLog { spill, ..FillLog::default() }
    }

    pub fn push(&mut self, fill: &Fill) {
        if self.error.is_some() {
            return;
        }
        let symbol = match self.symbols.iter().position(|s| **s == *fill.symbol) {
            Some(i) => i,
            None => {
                self.symbols.push(Arc::from(fill.symbol));
                self.symbols.len() - 1
            }
        };
        self.recent.extend_from_slice(&encode(symbol as u32, fill));
        self.count += 1;
        if self.recent.len() >= CHUNK_BYTES {
            match self.spill.append(&self.recent) {
                Ok(offset) => {
                    self.chunks.push((offset, self.recent.len()));
                    self.recent.clear();
                }
                Err(e) => {
                    tracing::warn!("the summary's list of fills is lost: {e}");
                    self.error = Some(e.to_string());
                    self.recent = Vec::new();
                }
            }
        }
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
        let mut chunk = Vec::new();
        let fills = |bytes: &[u8], seq: &mut S::SerializeSeq| -> Result<(), S::Error> {
            for record in bytes.chunks_exact(RECORD_BYTES) {
                let fill = decode(record.try_into().expect("chunks of a record's size"), &self.symbols)
                    .ok_or_else(|| S::Error::custom("a kept fill does not read back"))?;
                seq.serialize_element(&fill)?;
            }
            Ok(())
        };
        for &(offset, len) in &self.chunks {
            chunk.resize(len, 0);
            self.spill.read(offset, &mut chunk).map_err(S::Error::custom)?;
            fills(&chunk, &mut seq)?;
        }
        fills(&self.recent, &mut seq)?;
        seq.end()
    }
}

fn encode(symbol: u32, fill: &Fill) -> [u8; RECORD_BYTES] {
    let mut record = [0; RECORD_BYTES];
    record[..4].copy_from_slice(&symbol.to_le_bytes());
    record[4] = u8::from(fill.side == Side::Sell);
    record[8..24].copy_from_slice(&fill.qty.0.serialize());
    record[24..40].copy_from_slice(&fill.price.0.serialize());
    record[40..56].copy_from_slice(&fill.commission.0.serialize());
    record[56..].copy_from_slice(&fill.bar_time.0.to_le_bytes());
    record
}

/// The fill `record` holds; none for a symbol index the log does not have.
fn decode<'a>(record: &[u8; RECORD_BYTES], symbols: &'a [Arc<str>]) -> Option<Fill<'a>> {
    let bytes = |at: usize, len: usize| &record[at..at + len];
    let decimal = |at| Decimal::deserialize(bytes(at, 16).try_into().expect("16 bytes"));
    let symbol = symbols.get(u32::from_le_bytes(bytes(0, 4).try_into().expect("4 bytes")) as usize)?;
    let side = if record[4] == 1 { Side::Sell } else { Side::Buy };
    let bar_time = Timestamp(i64::from_le_bytes(bytes(56, 8).try_into().expect("8 bytes")));
    Some(Fill::new(symbol, side, decimal(8), decimal(24), bar_time, decimal(40)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(symbol: &str, qty: i64, seconds: i64) -> Fill<'_> {
        let time = Timestamp(seconds * 1_000_000_000);
        Fill::new(symbol, Side::Buy, Decimal::from(qty), Decimal::new(1005, 1), time, Decimal::new(25, 2))
    }

    fn json(symbol: &str, qty: i64, seconds: i64) -> serde_json::Value {
        serde_json::to_value(fill(symbol, qty, seconds)).unwrap()
    }

    #[test]
    fn a_fill_is_listed_as_the_summary_shows_it() {
        let want = serde_json::json!(
            {"symbol": "B", "side": "BUY", "qty": "10", "price": "100.5", "bar_time": "1970-01-01T00:01:00Z", "commission": "0.25"}
        );
        assert_eq!(json("B", 10, 60), want);
    }

    #[test]
    fn sessions_sharing_a_spill_get_back_their_own_fills_in_order() {
        let spill = FillSpill::default();
        let mut logs = [FillLog::new(spill.clone()), FillLog::new(spill.clone())];
        // Interleaved, and enough for several chunks each.
        let per_log = 3 * CHUNK_BYTES / RECORD_BYTES;
        for i in 0..per_log as i64 {
            logs[0].push(&fill("A", i, i));
            logs[1].push(&fill("B", i + 1, 2 * i));
        }
        assert!(logs.iter().all(|log| log.chunks.len() >= 2), "chunks were moved to the spill");
        assert_eq!(spill.0.end.load(Ordering::Relaxed) as usize, logs.iter().flat_map(|l| &l.chunks).map(|c| c.1).sum::<usize>());
        for (log, (symbol, shift, scale)) in logs.iter().zip([("A", 0, 1), ("B", 1, 2)]) {
            let want: Vec<_> = (0..per_log as i64).map(|i| json(symbol, i + shift, scale * i)).collect();
            assert_eq!(log.len(), per_log as u64);
            assert_eq!(serde_json::to_value(log).unwrap(), serde_json::Value::Array(want.clone()));
            assert_eq!(serde_json::to_value(log).unwrap(), serde_json::Value::Array(want), "read twice, the same");
        }
    }

    #[test]
    fn a_fill_reads_back_as_it_was_kept() {
        let d = |text: &str| text.parse::<Decimal>().unwrap();
        let fills = [
            Fill::new("SYM1", Side::Buy, d("100"), d("200.0058"), Timestamp(1_704_067_200_000_000_000), d("0")),
            Fill::new("é\"x", Side::Sell, d("0.0001"), d("123456789.123456789012"), Timestamp(-1), d("3.50")),
            Fill::new("SYM1", Side::Sell, d("7"), d("-0.5"), Timestamp(i64::MAX), d("79228162514264337593543950335")),
        ];
        let mut log = FillLog::new(FillSpill::default());
        for fill in &fills {
            log.push(fill);
        }
        let want: Vec<_> = fills.iter().map(|f| serde_json::to_value(f).unwrap()).collect();
        assert_eq!(serde_json::to_value(&log).unwrap(), serde_json::Value::Array(want));
        assert_eq!(log.symbols.len(), 2, "a symbol is kept once");
    }

    #[test]
    fn few_fills_stay_in_memory_and_need_no_file() {
        let spill = FillSpill::default();
        let mut log = FillLog::new(spill.clone());
        assert_eq!(serde_json::to_string(&log).unwrap(), "[]");
        log.push(&fill("A", 1, 0));
        assert!(spill.0.file.get().is_none());
        assert_eq!(serde_json::to_value(&log).unwrap(), serde_json::json!([json("A", 1, 0)]));
    }
}
