//! CSV replay rows: `timestamp,open,high,low,close,volume`, in any order,
//! plus any extra columns. An extra column is numeric when its first value
//! parses as a number (or is empty), and text otherwise.

use crate::decimal;
use crate::market::{Bar, DataHash, FeedId, FeedSchema, Numbers, OHLCV, Ohlc};
use crate::text;
use crate::time::Timestamp;
use csv_core::ReadRecordResult;
use std::sync::Arc;

/// Where each field of a bar sits in a CSV row.
#[derive(Debug)]
pub struct CsvLayout {
    timestamp: usize,
    /// (column, field index in the schema); OHLCV first.
    numbers: Vec<(usize, usize)>,
    texts: Vec<(usize, usize)>,
    header: Vec<Box<str>>,
}

impl CsvLayout {
    /// Reads the layout from the header and the first data row, and adds the
    /// dynamic fields to `schema`.
    pub fn infer(header: &[&str], first_row: Option<&[&str]>, schema: &mut FeedSchema) -> Result<Self, String> {
        let position = |name: &str| header.iter().position(|h| h.trim() == name);
        let timestamp = position("timestamp").ok_or("header has no timestamp column")?;
        let mut numbers = Vec::with_capacity(header.len());
        for (field, name) in OHLCV.iter().enumerate() {
            let column = position(name).ok_or_else(|| format!("header has no {name} column"))?;
            numbers.push((column, field));
        }
        let mut texts = Vec::new();
        for (column, name) in header.iter().enumerate() {
            let name = name.trim();
            if column == timestamp || OHLCV.contains(&name) {
                continue;
            }
            if name.is_empty() {
                return Err(format!("column {} has an empty name", column + 1));
            }
            if header[..column].iter().any(|h| h.trim() == name) {
                return Err(format!("column {name} appears twice"));
            }
            let sample = first_row.and_then(|row| row.get(column)).map_or("", |c| c.trim());
            if sample.is_empty() || sample.parse::<f64>().is_ok() {
                numbers.push((column, schema.fields.len()));
                schema.fields.push(name.into());
            } else {
                texts.push((column, schema.text_fields.len()));
                schema.text_fields.push(name.into());
            }
        }
        Ok(Self { timestamp, numbers, texts, header: header.iter().map(|h| h.trim().into()).collect() })
    }

    pub fn parse(&self, cells: &Cells, feed: FeedId, hash: DataHash) -> Result<Bar, String> {
        if cells.len() != self.header.len() {
            return Err(format!("expected {} columns, found {}", self.header.len(), cells.len()));
        }
        let time = Timestamp::parse(cells.get(self.timestamp)).map_err(|e| e.to_string())?;
        let mut numbers: Numbers = smallvec::smallvec![f64::NAN; self.numbers.len()];
        let mut prices = [rust_decimal::Decimal::ZERO; 4];
        for &(column, field) in &self.numbers {
            let cell = text::trim(cells.get(column));
            let name = &self.header[column];
            if field < 4 {
                let price = decimal::parse(cell).ok_or_else(|| format!("{name}: not a number: {cell:?}"))?;
                prices[field] = price;
                if let Some(number) = decimal::exact_f64(price) {
                    numbers[field] = number;
                    continue;
                }
            } else if field == 4 && cell.is_empty() {
                return Err("volume is empty".into());
            }
            if !cell.is_empty() {
                numbers[field] = number(cell).ok_or_else(|| format!("{name}: not a number: {cell:?}"))?;
            }
        }
        let texts =
            self.texts.iter().map(|&(column, _)| Some(cells.get(column)).filter(|c| !c.is_empty()).map(Arc::from)).collect();
        let [open, high, low, close] = prices;
        Ok(Bar { feed, time, numbers, texts, prices: Ohlc { open, high, low, close }, hash })
    }
}

/// A number cell. Whole numbers of up to 15 digits, as volumes are
/// written, are exact in `f64` and skip the general float parser, which
/// cost a row as much as its four prices.
fn number(cell: &str) -> Option<f64> {
    let digits = cell.as_bytes();
    if (1..=15).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
        return Some(digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64);
    }
    cell.parse().ok()
}

/// Splits one CSV line into cells, honouring quotes.
pub struct LineSplitter {
    reader: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self { reader: csv_core::Reader::new(), out: Vec::new(), ends: Vec::new() }
    }
}

/// The cells of one line, borrowed from the line or the splitter's buffer.
pub struct Cells<'a> {
    text: &'a str,
    ends: &'a [usize],
    /// Bytes between one cell's end and the next one's start: the delimiter
    /// in the line itself, nothing in unquoted output.
    gap: usize,
}

impl<'a> Cells<'a> {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Cell `i`. Splitting happens only at ASCII delimiters and quotes, so
    /// every cell of a UTF-8 line starts and ends on a character boundary.
    pub fn get(&self, i: usize) -> &'a str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + self.gap };
        self.text.get(start..self.ends[i]).unwrap_or("")
    }

    pub fn to_vec(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.get(i).to_owned()).collect()
    }
}

impl LineSplitter {
    pub fn split<'a>(&'a mut self, line: &'a str) -> Cells<'a> {
        self.ends.clear();
        // Without quotes, a cell is exactly the text between commas.
        if comma_positions(line.as_bytes(), &mut self.ends) {
            self.ends.push(line.len());
            return Cells { text: line, ends: &self.ends, gap: 1 };
        }
        self.reader.reset();
        // Unquoting only shrinks a field, and a line has at most len + 1 cells.
        self.out.resize(line.len(), 0);
        self.ends.resize(line.len() + 1, 0);
        let (mut input, mut nout, mut nends) = (line.as_bytes(), 0, 0);
        loop {
            let (result, nin, o, e) = self.reader.read_record(input, &mut self.out[nout..], &mut self.ends[nends..]);
            input = &input[nin..];
            nout += o;
            nends += e;
            match result {
                // The line is consumed; the next call, with empty input, ends the record.
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::Record | ReadRecordResult::End => break,
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {
                    unreachable!("buffers are sized for the worst case")
                }
            }
        }
        // Removing ASCII quotes from UTF-8 leaves UTF-8.
        let text = std::str::from_utf8(&self.out[..nout]).unwrap_or("");
        Cells { text, ends: &self.ends[..nends], gap: 0 }
    }
}

/// Appends where `line`'s commas are to `ends`, unless it has a quote:
/// false then. Eight bytes at a time: a line's cells are a few bytes each,
/// and a search call per cell cost more than its cell.
fn comma_positions(line: &[u8], ends: &mut Vec<usize>) -> bool {
    const COMMAS: u64 = u64::from_le_bytes([b','; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    let mut words = line.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of eight"));
        if zero_bytes(word ^ QUOTES) != 0 {
            return false;
        }
        let mut commas = zero_bytes(word ^ COMMAS);
        while commas != 0 {
            ends.push(at + (commas.trailing_zeros() / 8) as usize);
            commas &= commas - 1;
        }
        at += 8;
    }
    for (i, byte) in words.remainder().iter().enumerate() {
        match byte {
            b'"' => return false,
            b',' => ends.push(at + i),
            _ => {}
        }
    }
    true
}

/// The top bit of each byte of `word` that is zero, and no other bit.
fn zero_bytes(word: u64) -> u64 {
    const LOW_SEVEN: u64 = u64::from_le_bytes([0x7f; 8]);
    // Adding 0x7f to a byte's low seven bits sets its top bit unless they
    // are all zero, without a carry into the next byte; or-ing in the word
    // itself leaves out the bytes whose own top bit is set.
    !(((word & LOW_SEVEN) + LOW_SEVEN) | word | LOW_SEVEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_cells() {
        let mut s = LineSplitter::default();
        assert_eq!(s.split(r#"a,"b, c",,"say ""hi""""#).to_vec(), ["a", "b, c", "", r#"say "hi""#]);
        assert_eq!(s.split("1,2").to_vec(), ["1", "2"]);
        // Lines without quotes take a shortcut that must split the same
        // way: short lines, and lines of up to 40 characters with commas
        // anywhere in their eight-byte words.
        let mut lines: Vec<String> = ["", ",", "a", "a,,b,", " x , y ", "é,ü,ß"].map(String::from).to_vec();
        let mut random = crate::testing::XorShift(0x9e37_79b9_7f4a_7c15);
        for len in 0..40 {
            for _ in 0..20 {
                // '¢' and '¬' hold the bytes a quote and a comma differ from in the top bit only.
                let chars = random.by_ref().take(len).map(|x| [',', 'a', '7', ' ', 'é', '¢', '¬'][(x % 7) as usize]);
                lines.push(chars.collect());
            }
        }
        for line in &lines {
            let quoted = format!("\"\",{line}");
            let mut slow = LineSplitter::default().split(&quoted).to_vec();
            slow.remove(0);
            assert_eq!(s.split(line).to_vec(), slow, "{line:?}");
            let mut with_quote: Vec<char> = line.chars().collect();
            with_quote.insert(with_quote.len() / 2, '"');
            let with_quote: String = with_quote.into_iter().collect();
            assert!(!comma_positions(with_quote.as_bytes(), &mut Vec::new()), "a quote in {with_quote:?}");
        }
    }

    #[test]
    fn numbers_parse_as_the_float_parser_parses_them() {
        let mut cells: Vec<String> =
            ["0", "000123", "999999999999999", "9999999999999999", "12345678901234567", "-5", "+5", "1e3", "2.5"]
                .map(String::from)
                .to_vec();
        let mut random = crate::testing::XorShift(0x2545_f491_4f6c_dd1d);
        cells.extend(random.by_ref().take(2000).map(|x| (x >> (x % 64)).to_string()));
        for cell in &cells {
            assert_eq!(number(cell).map(f64::to_bits), cell.parse::<f64>().ok().map(f64::to_bits), "{cell:?}");
        }
        for bad in ["", "x", "1x", "1,5"] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn infers_dynamic_and_text_columns() {
        let mut schema = FeedSchema::new("X", "X");
        let header = ["timestamp", "close", "open", "high", "low", "volume", "rsi", "headline"];
        let row = ["2024-01-01", "2", "1", "3", "0.5", "10", "55.5", "Big news"];
        let layout = CsvLayout::infer(&header, Some(&row), &mut schema).unwrap();
        assert_eq!(schema.fields.iter().map(|f| &**f).collect::<Vec<_>>(), ["open", "high", "low", "close", "volume", "rsi"]);
        assert_eq!(schema.text_fields.iter().map(|f| &**f).collect::<Vec<_>>(), ["headline"]);
        let mut splitter = LineSplitter::default();
        let bar = layout.parse(&splitter.split(&row.join(",")), FeedId(0), DataHash::default()).unwrap();
        assert_eq!(bar.numbers.as_slice(), [1.0, 3.0, 0.5, 2.0, 10.0, 55.5]);
        assert_eq!(bar.prices.close.to_string(), "2");
        assert_eq!(bar.texts[0].as_deref(), Some("Big news"));
    }

    #[test]
    fn names_missing_columns_and_bad_cells() {
        let mut schema = FeedSchema::new("X", "X");
        let err = CsvLayout::infer(&["timestamp", "open"], None, &mut schema).unwrap_err();
        assert_eq!(err, "header has no high column");
        let header = ["timestamp", "open", "high", "low", "close", "volume"];
        let layout = CsvLayout::infer(&header, None, &mut FeedSchema::new("X", "X")).unwrap();
        let mut splitter = LineSplitter::default();
        let err = layout.parse(&splitter.split("2024-01-01,1,x,1,1,1"), FeedId(0), DataHash::default()).unwrap_err();
        assert_eq!(err, "high: not a number: \"x\"");
        let err = layout.parse(&splitter.split("2024-01-01,1"), FeedId(0), DataHash::default()).unwrap_err();
        assert_eq!(err, "expected 6 columns, found 2");
    }
}
