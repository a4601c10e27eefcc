//! Replays CSV and JSONL files, merged by timestamp into decision points.
//!
//! Opening a feed scans every file once: it hashes the file for the session
//! header, reads the CSV header, and learns the symbols and fields of JSONL
//! files, so that agents see the full list of feeds before the first bar.
//! The replay itself then streams, reading a few rows ahead per file so
//! that their hashes are computed together: SHA-256 of one short line is
//! serial work, and a batch fills the SIMD lanes (or SHA units) of the CPU.

use super::csv::{CsvLayout, LineSplitter};
use super::message::Message;
use super::{FeedError, MarketFeed, Next, SourceInfo};
use crate::market::{Bar, DataHash, DecisionPoint, FeedId, FeedSchema, Numbers, Sha256};
use crate::time::Timestamp;
use smallvec::SmallVec;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ReplayFeed {
    sources: Vec<Source>,
    schemas: Vec<FeedSchema>,
    provenance: Vec<SourceInfo>,
    rows: u64,
    skip_bad_rows: bool,
    skipped: u64,
    /// Scratch space for the lines read ahead.
    raw: String,
    /// An error met while looking past the point being gathered: it is
    /// returned once that point, whose rows are all good, is delivered.
    failed: Option<FeedError>,
    /// Each feed's last bar time, by feed id, to refuse a second bar at it.
    last_by_feed: Vec<Option<Timestamp>>,
    /// Empty bar buffers of decided points, to fill again.
    spare: Vec<Vec<Bar>>,
}

/// Spare bar buffers kept at most: a few chunks' worth.
const SPARE_BUFFERS: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Jsonl,
}

enum Rows {
    Csv {
        layout: CsvLayout,
        feed: FeedId,
        splitter: Box<LineSplitter>,
    },
    /// Feeds by symbol, each with its field indices by name.
    Jsonl {
        stem: String,
        feeds: HashMap<String, JsonlFeed>,
    },
}

struct JsonlFeed {
    id: FeedId,
    fields: HashMap<String, usize>,
    text_fields: HashMap<String, usize>,
}

/// Rows read ahead per file and hashed in one batch.
const HASH_BATCH: usize = 32;

struct Source {
    path: String,
    lines: Lines,
    rows: Rows,
    /// Rows read ahead, parsed, by line number; a row that does not parse
    /// keeps its error until its turn comes.
    ahead: VecDeque<(u64, Result<Bar, String>)>,
    /// Whether the front of `ahead` is the next bar, checked against the
    /// rows before it. It waits there rather than in a field of its own:
    /// a bar is 200 bytes, and each move is a copy.
    front_checked: bool,
    /// A read error met while reading ahead, reported after the rows before it.
    read_error: Option<FeedError>,
    last_time: Option<Timestamp>,
}

/// Lines of a file without their endings, blank lines skipped.
struct Lines {
    reader: BufReader<File>,
    buf: Vec<u8>,
    number: u64,
}

impl Lines {
    fn open(path: &Path) -> Result<Self, FeedError> {
        let file = File::open(path).map_err(io_error(path))?;
        Ok(Self { reader: BufReader::with_capacity(1 << 16, file), buf: Vec::new(), number: 0 })
    }

    /// Hashes the rest of the file and counts its non-blank lines, a block
    /// at a time: opening a large file should cost little more than reading it.
    fn count_rest(&mut self, path: &str, hasher: &mut Sha256) -> Result<u64, FeedError> {
        let mut rows = 0;
        let mut blank = true;
        loop {
            let block = self.reader.fill_buf().map_err(|error| FeedError::Io { path: path.to_owned(), error })?;
            if block.is_empty() {
                break;
            }
            hasher.update(block);
            // A line is rarely blank, so its first byte usually settles it.
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', block) {
                blank = blank && is_blank(&block[start..end]);
                rows += u64::from(!blank);
                blank = true;
                start = end + 1;
            }
            blank = blank && is_blank(&block[start..]);
            let read = block.len();
            self.reader.consume(read);
        }
        Ok(rows + u64::from(!blank))
    }

    /// Up to `max` non-blank lines whole in the reader's buffer, with their
    /// numbers, in `lines`, reading nothing more: a copy of each line would
    /// cost about as much as parsing it. Returns how many bytes they take,
    /// blank lines included, and the number of the last, for
    /// [`Lines::consume`]. Stops before a line that is not UTF-8, for
    /// [`Lines::next`] to report.
    fn whole_lines<'a>(&'a self, max: usize, lines: &mut SmallVec<[(u64, &'a str); HASH_BATCH]>) -> (usize, u64) {
        let buffer = self.reader.buffer();
        let (mut start, mut number) = (0, self.number);
        for newline in memchr::memchr_iter(b'\n', buffer) {
            if lines.len() == max {
                break;
            }
            let mut end = newline;
            while end > start && buffer[end - 1] == b'\r' {
                end -= 1;
            }
            let bytes = &buffer[start..end];
            if !is_blank(bytes) {
                let Ok(line) = std::str::from_utf8(bytes) else { break };
                lines.push((number + 1, line));
            }
            number += 1;
            start = newline + 1;
        }
        (start, number)
    }

    /// Moves past the lines [`Lines::whole_lines`] returned.
    fn consume(&mut self, bytes: usize, number: u64) {
        self.reader.consume(bytes);
        self.number = number;
    }

    /// The next non-blank line and its number. `raw` sees every line's bytes,
    /// ending included, for the whole-file hash.
    fn next(&mut self, path: &str, mut raw: impl FnMut(&[u8])) -> Result<Option<(u64, &str)>, FeedError> {
        loop {
            self.buf.clear();
            let n =
                self.reader.read_until(b'\n', &mut self.buf).map_err(|error| FeedError::Io { path: path.to_owned(), error })?;
            if n == 0 {
                return Ok(None);
            }
            raw(&self.buf);
            self.number += 1;
            let mut end = self.buf.len();
            while end > 0 && matches!(self.buf[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            if is_blank(&self.buf[..end]) {
                continue;
            }
            let line = std::str::from_utf8(&self.buf[..end]).map_err(|_| FeedError::BadRow {
                path: path.to_owned(),
                line: self.number,
                message: "not UTF-8".into(),
            })?;
            return Ok(Some((self.number, line)));
        }
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn bad_row(path: &str, line: u64, message: impl Into<String>) -> FeedError {
    FeedError::BadRow { path: path.to_owned(), line, message: message.into() }
}

impl ReplayFeed {
    /// Opens files and directories of `.csv` and `.jsonl` files. A file's
    /// symbol is its stem unless a JSONL line names one.
    pub fn open(paths: &[PathBuf], skip_bad_rows: bool) -> Result<Self, FeedError> {
        let files = list_files(paths)?;
        let mut feed = Self {
            sources: Vec::new(),
            schemas: Vec::new(),
            provenance: Vec::new(),
            rows: 0,
            skip_bad_rows,
            skipped: 0,
            raw: String::new(),
            failed: None,
            last_by_feed: Vec::new(),
            spare: Vec::new(),
        };
        let mut owner: HashMap<Arc<str>, String> = HashMap::new();
        let scans = scan_all(&files, skip_bad_rows);
        for ((path, format), scan) in files.into_iter().zip(scans) {
            let display = path.display().to_string();
            let Scan { mut rows, schemas, sha256, count } = scan?;
            rows.number_feeds_from(feed.schemas.len() as u32);
            let first_feed = feed.schemas.len();
            feed.schemas.extend(schemas);
            for schema in &feed.schemas[first_feed..] {
                if let Some(other) = owner.insert(schema.symbol.clone(), display.clone()) {
                    return Err(FeedError::Invalid(format!(
                        "symbol {} comes from both {other} and {display}; give each symbol one file",
                        schema.symbol
                    )));
                }
            }
            feed.rows += count;
            feed.provenance.push(SourceInfo { source: display.clone(), sha256: Some(sha256) });
            let mut lines = Lines::open(&path)?;
            if format == Format::Csv {
                lines.next(&display, |_| {})?;
            }
            feed.sources.push(Source {
                path: display,
                lines,
                rows,
                ahead: VecDeque::with_capacity(HASH_BATCH),
                read_error: None,
                front_checked: false,
                last_time: None,
            });
        }
        if feed.schemas.is_empty() {
            return Err(FeedError::Invalid("the data files hold no bars".into()));
        }
        feed.last_by_feed = vec![None; feed.schemas.len()];
        Ok(feed)
    }

    /// Brings a source's next bar to the front of its rows read ahead, the
    /// next row that parses, or returns an error.
    fn refill(&mut self, index: usize) -> Result<(), FeedError> {
        let source = &mut self.sources[index];
        while !source.front_checked {
            if source.ahead.is_empty() {
                source.read_ahead(&self.schemas, &mut self.raw);
            }
            let Some((number, parsed)) = source.ahead.front_mut() else {
                return source.read_error.take().map_or(Ok(()), Err);
            };
            let number = *number;
            let bar = match parsed {
                Ok(bar) => &*bar,
                Err(message) => {
                    let message = std::mem::take(message);
                    source.ahead.pop_front();
                    if !self.skip_bad_rows {
                        return Err(bad_row(&source.path, number, message));
                    }
                    tracing::warn!(file = %source.path, line = number, "skipped bad row: {message}");
                    self.skipped += 1;
                    continue;
                }
            };
            if let Some(last) = source.last_time.filter(|last| bar.time < *last) {
                return Err(bad_row(
                    &source.path,
                    number,
                    format!("timestamp {} is before the previous row's {last}; rows must be in time order", bar.time),
                ));
            }
            if self.last_by_feed[bar.feed.index()].replace(bar.time) == Some(bar.time) {
                let symbol = &self.schemas[bar.feed.index()].symbol;
                return Err(bad_row(&source.path, number, format!("a second bar for {symbol} at {}", bar.time)));
            }
            source.last_time = Some(bar.time);
            source.front_checked = true;
        }
        Ok(())
    }

    /// The bars of the earliest timestamp any source has next.
    fn next_point(&mut self) -> Next {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        for i in 0..self.sources.len() {
            self.refill(i)?;
        }
        let Some(time) = self.sources.iter().filter_map(|s| s.pending().map(|b| b.time)).min() else {
            return Ok(None);
        };
        // Room for a bar of every feed and no more: `Vec` would start at
        // four bars, twice the memory a point of two symbols needs, and a
        // replay holds some 16,000 points in flight.
        let mut bars = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(self.schemas.len()));
        // The next point's buffer: the agents' core read it last.
        if let Some(next) = self.spare.last() {
            crate::prefetch::for_write(next.as_ptr(), next.capacity());
        }
        // Whether the bars come in feed order, from the queues rather than
        // from `bars`: the copies into it are still on their way out to
        // lines the agents' core read last, and a load behind them waits.
        let (mut sorted, mut last) = (true, None);
        for i in 0..self.sources.len() {
            while let Some(feed) = self.sources[i].pending().filter(|b| b.time == time).map(|b| b.feed) {
                sorted &= last <= Some(feed);
                last = Some(feed);
                self.sources[i].take_pending_into(&mut bars);
                if let Err(error) = self.refill(i) {
                    self.failed.get_or_insert(error);
                }
            }
        }
        // Files in feed order are the common case: no moves then.
        if !sorted {
            bars.sort_unstable_by_key(|b| b.feed);
        }
        Ok(Some(DecisionPoint { time, bars }))
    }
}

/// What opening one file learned: how to parse its rows, its feeds
/// (numbered from 0 until [`Rows::number_feeds_from`]), its hash and its row count.
struct Scan {
    rows: Rows,
    schemas: Vec<FeedSchema>,
    sha256: DataHash,
    count: u64,
}

/// Scans every file, several at once: hashing is most of opening a feed,
/// and each file's hash is serial work. Results come in file order.
fn scan_all(files: &[(PathBuf, Format)], skip_bad_rows: bool) -> Vec<Result<Scan, FeedError>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let scan = |i: usize| {
        let (path, format) = &files[i];
        let display = path.display().to_string();
        match format {
            Format::Csv => scan_csv(path, &display),
            Format::Jsonl => scan_jsonl(path, &display, skip_bad_rows),
        }
    };
    let mut results: Vec<(usize, Result<Scan, FeedError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= files.len() {
                            return done;
                        }
                        done.push((i, scan(i)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, scan)| scan).collect()
}

/// Reads the header and the first row, and hashes the file.
fn scan_csv(path: &Path, display: &str) -> Result<Scan, FeedError> {
    let mut lines = Lines::open(path)?;
    let mut hasher = Sha256::new();
    let mut splitter = LineSplitter::default();
    let header: Vec<String> = match lines.next(display, |raw| hasher.update(raw))? {
        Some((_, line)) => splitter.split(line).to_vec(),
        None => return Err(FeedError::Invalid(format!("{display}: empty file, expected a header"))),
    };
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let first: Option<Vec<String>> =
        lines.next(display, |raw| hasher.update(raw))?.map(|(_, line)| splitter.split(line).to_vec());
    let first: Option<Vec<&str>> = first.as_ref().map(|row| row.iter().map(String::as_str).collect());
    let stem = file_stem(path);
    let mut schema = FeedSchema::new(&stem, &stem);
    let layout = CsvLayout::infer(&header, first.as_deref(), &mut schema).map_err(|message| bad_row(display, 1, message))?;
    let count = u64::from(first.is_some()) + lines.count_rest(display, &mut hasher)?;
    let rows = Rows::Csv { layout, feed: FeedId(0), splitter: Box::new(splitter) };
    Ok(Scan { rows, schemas: vec![schema], sha256: hasher.finish(), count })
}

/// Learns every symbol and field, and hashes the file.
fn scan_jsonl(path: &Path, display: &str, skip_bad_rows: bool) -> Result<Scan, FeedError> {
    let mut lines = Lines::open(path)?;
    let mut hasher = Sha256::new();
    let stem = file_stem(path);
    let mut feeds: HashMap<String, JsonlFeed> = HashMap::new();
    let mut schemas: Vec<FeedSchema> = Vec::new();
    let mut count = 0;
    while let Some((number, line)) = lines.next(display, |raw| hasher.update(raw))? {
        count += 1;
        let message = match Message::parse(line) {
            Ok(message) => message,
            Err(_) if skip_bad_rows => continue,
            Err(e) => return Err(bad_row(display, number, e.to_string())),
        };
        let symbol = message.symbol.unwrap_or_else(|| stem.clone());
        let feed = feeds.entry(symbol.clone()).or_insert_with(|| {
            let id = FeedId(schemas.len() as u32);
            let schema = FeedSchema::new(&stem, &symbol);
            let fields = schema.fields.iter().enumerate().map(|(i, f)| (f.to_string(), i)).collect();
            schemas.push(schema);
            JsonlFeed { id, fields, text_fields: HashMap::new() }
        });
        let schema = &mut schemas[feed.id.index()];
        for (name, _) in message.numbers {
            feed.fields.entry(name).or_insert_with_key(|name| {
                schema.fields.push(name.as_str().into());
                schema.fields.len() - 1
            });
        }
        for (name, _) in message.texts {
            feed.text_fields.entry(name).or_insert_with_key(|name| {
                schema.text_fields.push(name.as_str().into());
                schema.text_fields.len() - 1
            });
        }
    }
    Ok(Scan { rows: Rows::Jsonl { stem, feeds }, schemas, sha256: hasher.finish(), count })
}

impl Rows {
    /// Gives this file's feeds their ids in the whole feed, from `first`.
    fn number_feeds_from(&mut self, first: u32) {
        match self {
            Rows::Csv { feed, .. } => feed.0 += first,
            Rows::Jsonl { feeds, .. } => feeds.values_mut().for_each(|f| f.id.0 += first),
        }
    }
}

impl Source {
    /// The next bar, once `ReplayFeed::refill` has checked it.
    fn pending(&self) -> Option<&Bar> {
        match self.ahead.front() {
            Some((_, Ok(bar))) if self.front_checked => Some(bar),
            _ => None,
        }
    }

    /// Moves the next bar into `bars`, once `ReplayFeed::refill` has checked
    /// it: straight from the queue, since each move of a bar is a copy of
    /// some 200 bytes.
    fn take_pending_into(&mut self, bars: &mut Vec<Bar>) {
        if std::mem::replace(&mut self.front_checked, false)
            && let Some((_, Ok(bar))) = self.ahead.pop_front()
        {
            bars.push(bar);
        }
    }

    /// Reads up to `HASH_BATCH` rows, hashes their lines in one batch and
    /// parses them. Lines whole in the reader's buffer are taken where they
    /// are; the line across its end, and the lines after it in the batch,
    /// are copied into `raw`, scratch space.
    fn read_ahead(&mut self, schemas: &[FeedSchema], raw: &mut String) {
        // Nothing past a line that could not be read: its error comes next.
        if self.read_error.is_some() {
            return;
        }
        let mut lines: SmallVec<[(u64, &str); HASH_BATCH]> = SmallVec::new();
        let (taken, number) = self.lines.whole_lines(HASH_BATCH, &mut lines);
        let found = !lines.is_empty();
        if found {
            hash_and_parse(&mut self.rows, &mut self.ahead, schemas, &lines);
        }
        // The lines borrow the buffer that `consume` moves past.
        drop(lines);
        self.lines.consume(taken, number);
        if found {
            return;
        }
        raw.clear();
        let mut rows: SmallVec<[(u64, std::ops::Range<usize>); HASH_BATCH]> = SmallVec::new();
        while rows.len() < HASH_BATCH && self.read_error.is_none() {
            match self.lines.next(&self.path, |_| {}) {
                Ok(Some((number, line))) => {
                    let start = raw.len();
                    raw.push_str(line);
                    rows.push((number, start..raw.len()));
                }
                Ok(None) => break,
                Err(error) => self.read_error = Some(error),
            }
        }
        let lines: SmallVec<[(u64, &str); HASH_BATCH]> = rows.into_iter().map(|(number, range)| (number, &raw[range])).collect();
        hash_and_parse(&mut self.rows, &mut self.ahead, schemas, &lines);
    }
}

/// Hashes `lines` in one batch, parses them and queues the rows.
fn hash_and_parse(
    rows: &mut Rows,
    ahead: &mut VecDeque<(u64, Result<Bar, String>)>,
    schemas: &[FeedSchema],
    lines: &[(u64, &str)],
) {
    // Each line goes with an empty prefix cut from the line itself, not
    // `&[]`: the crate compares a batch's prefixes with `memcmp`, whose
    // AVX-512 form loads under a mask, and at an empty slice's dangling
    // address that load takes a microcode assist that more than doubles
    // the cost of a line.
    let messages: SmallVec<[tape_sha256::Message<'_>; HASH_BATCH]> = lines
        .iter()
        .map(|(_, line)| {
            let line = line.as_bytes();
            tape_sha256::Message::prefixed(&line[..0], line)
        })
        .collect();
    let mut hashes = [[0u8; 32]; HASH_BATCH];
    tape_sha256::hash_messages(&messages, &mut hashes[..messages.len()]);
    for ((number, line), hash) in lines.iter().zip(hashes) {
        ahead.push_back((*number, parse_row(rows, line, schemas, DataHash(hash))));
    }
}

/// A bar from one line; `hash` is the line's SHA-256.
fn parse_row(rows: &mut Rows, line: &str, schemas: &[FeedSchema], hash: DataHash) -> Result<Bar, String> {
    match rows {
        Rows::Csv { layout, feed, splitter } => layout.parse(&splitter.split(line), *feed, hash),
        Rows::Jsonl { stem, feeds } => {
            let message = Message::parse(line).map_err(|e| e.to_string())?;
            let symbol = message.symbol.as_deref().unwrap_or(stem);
            let feed = feeds.get(symbol).ok_or_else(|| format!("symbol {symbol} was not in the file when it was opened"))?;
            let schema = &schemas[feed.id.index()];
            let mut numbers: Numbers = smallvec::smallvec![f64::NAN; schema.fields.len()];
            for (name, value) in &message.numbers {
                numbers[feed.fields[name]] = *value;
            }
            let mut texts = vec![None; schema.text_fields.len()];
            for (name, value) in message.texts {
                texts[feed.text_fields[&name]] = Some(Arc::from(value));
            }
            Ok(Bar { feed: feed.id, time: message.time, numbers, texts, prices: message.prices, hash })
        }
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()? {
        "csv" => Some(Format::Csv),
        "jsonl" => Some(Format::Jsonl),
        _ => None,
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FeedError + '_ {
    move |error| FeedError::Io { path: path.display().to_string(), error }
}

/// Expands directories into their `.csv` and `.jsonl` files, sorted by name.
fn list_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Format)>, FeedError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(io_error(path))?;
        if meta.is_dir() {
            let mut found: Vec<(PathBuf, Format)> = std::fs::read_dir(path)
                .map_err(io_error(path))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter_map(|p| format_of(&p).map(|f| (p, f)))
                .collect();
            if found.is_empty() {
                return Err(FeedError::Invalid(format!("{}: no .csv or .jsonl files in this directory", path.display())));
            }
            found.sort_by(|a, b| a.0.cmp(&b.0));
            files.extend(found);
        } else {
            let format = format_of(path).ok_or_else(|| {
                FeedError::Invalid(format!("{}: unknown data format; use a .csv or .jsonl file", path.display()))
            })?;
            files.push((path.clone(), format));
        }
    }
    if files.is_empty() {
        return Err(FeedError::Invalid("no data given; pass --data with a file or directory".into()));
    }
    Ok(files)
}

#[async_trait::async_trait]
impl MarketFeed for ReplayFeed {
    fn schemas(&self) -> &[FeedSchema] {
        &self.schemas
    }

    fn sources(&self) -> &[SourceInfo] {
        &self.provenance
    }

    fn expected_bars(&self) -> Option<u64> {
        Some(self.rows)
    }

    async fn next(&mut self) -> Next {
        self.next_point()
    }

    fn try_next(&mut self) -> Option<Next> {
        Some(self.next_point())
    }

    fn skipped_rows(&self) -> u64 {
        self.skipped
    }

    fn recycle(&mut self, mut bars: Vec<Bar>) {
        if self.spare.len() < SPARE_BUFFERS {
            bars.clear();
            self.spare.push(bars);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
        path
    }

    async fn drain(feed: &mut ReplayFeed) -> Result<Vec<DecisionPoint>, FeedError> {
        let mut points = Vec::new();
        while let Some(point) = feed.next().await? {
            points.push(point);
        }
        Ok(points)
    }

    /// Replays `path` to its first error: the points delivered before it, and the error.
    async fn points_until_error(path: &Path) -> (usize, String) {
        let mut feed = ReplayFeed::open(&[path.to_path_buf()], false).unwrap();
        let mut delivered = 0;
        loop {
            match feed.next().await {
                Ok(Some(_)) => delivered += 1,
                Ok(None) => panic!("the bad row was not reported"),
                Err(e) => return (delivered, e.to_string()),
            }
        }
    }

    const HEADER: &str = "timestamp,open,high,low,close,volume\n";

    fn sha256(line: &str) -> DataHash {
        use sha2::Digest;
        DataHash(sha2::Sha256::digest(line.as_bytes()).into())
    }

    /// Rows are hashed in batches: every bar's hash must still be its own
    /// line's, whatever the batch boundaries and line lengths (one, two or
    /// three SHA-256 blocks), and a bad row must surface in its turn.
    #[tokio::test]
    async fn each_bar_carries_the_hash_of_its_own_line_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<String> = (0..3 * HASH_BATCH + 5)
            .map(|i| {
                let volume = "9".repeat(1 + (i * 7) % 90);
                format!("2024-01-01 00:{:02}:{:02},{i},{i},{i},{i},{volume}", i / 60, i % 60)
            })
            .collect();
        let path = write(dir.path(), "A.csv", &format!("{HEADER}{}\n", rows.join("\n")));
        let mut feed = ReplayFeed::open(std::slice::from_ref(&path), false).unwrap();
        let points = drain(&mut feed).await.unwrap();
        let hashes: Vec<DataHash> = points.iter().map(|p| p.bars[0].hash).collect();
        assert_eq!(hashes, rows.iter().map(|r| sha256(r)).collect::<Vec<_>>());

        let mut bad = rows.clone();
        bad[HASH_BATCH + 3] = "2024-01-01 00:00:35,1,1,1,oops,1".into();
        let path = write(dir.path(), "B.csv", &format!("{HEADER}{}\n", bad.join("\n")));
        let (delivered, err) = points_until_error(&path).await;
        assert_eq!(delivered, HASH_BATCH + 3, "every row before the bad one is delivered first");
        assert_eq!(err, format!("{}:{}: close: not a number: \"oops\"", path.display(), HASH_BATCH + 5));
    }

    /// Lines are parsed in the reader's buffer while they are whole there,
    /// and copied when one runs across its end: the bars, their hashes and
    /// the line numbers of errors must not tell the two apart.
    #[tokio::test]
    async fn lines_across_the_read_buffer_blank_lines_and_crlf_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<String> = (0..4_000)
            .map(|i| {
                format!(
                    "2024-01-{:02} {:02}:{:02}:00,{i},{i},{i},{i},{}",
                    1 + i / 1440,
                    i / 60 % 24,
                    i % 60,
                    "7".repeat(1 + i % 40)
                )
            })
            .collect();
        let mut text = HEADER.as_bytes().to_vec();
        for (i, row) in rows.iter().enumerate() {
            text.extend_from_slice(row.as_bytes());
            text.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
            if i % 97 == 0 {
                text.extend_from_slice(b"  \n");
            }
        }
        assert!(text.len() > 3 << 16, "the file spans several read buffers");
        let path = dir.path().join("A.csv");
        std::fs::write(&path, &text).unwrap();
        let mut feed = ReplayFeed::open(std::slice::from_ref(&path), false).unwrap();
        let points = drain(&mut feed).await.unwrap();
        let hashes: Vec<DataHash> = points.iter().map(|p| p.bars[0].hash).collect();
        assert_eq!(hashes, rows.iter().map(|r| sha256(r)).collect::<Vec<_>>());

        // A line that is not UTF-8 ends the replay after the rows before it,
        // naming its line: in the buffer, across its end, or among the
        // copied lines after that.
        let buffer_end = rows.iter().scan(HEADER.len(), |end, row| {
            *end += row.len() + 1;
            Some(*end)
        });
        let across = buffer_end.take_while(|end| *end < 1 << 16).count();
        for bad_row in across - 2..across + HASH_BATCH + 2 {
            let mut text = HEADER.as_bytes().to_vec();
            for (i, row) in rows.iter().enumerate() {
                text.extend_from_slice(if i == bad_row { b"2024-01-02 17:40:00,\xff,1,1,1,1" } else { row.as_bytes() });
                text.push(b'\n');
            }
            let path = dir.path().join("B.csv");
            std::fs::write(&path, &text).unwrap();
            let (delivered, err) = points_until_error(&path).await;
            assert_eq!(delivered, bad_row);
            assert_eq!(err, format!("{}:{}: not UTF-8", path.display(), bad_row + 2));
        }
    }

    #[tokio::test]
    async fn a_recycled_buffer_is_filled_with_the_next_points_bars_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "A.csv", &format!("{HEADER}2024-01-01 00:00:00,1,1,1,1,1\n2024-01-01 00:01:00,2,2,2,2,2\n"));
        let mut feed = ReplayFeed::open(std::slice::from_ref(&path), false).unwrap();
        let first = feed.next().await.unwrap().unwrap();
        // Given back with a bar still in it, as a careless caller might.
        let mut stale = first.bars;
        stale.push(crate::testing::bar(0, 0, 99.0));
        // A capacity no new buffer of one bar would have.
        stale.reserve_exact(100);
        let capacity = stale.capacity();
        feed.recycle(stale);
        let second = feed.next().await.unwrap().unwrap();
        assert_eq!(second.bars.len(), 1);
        assert_eq!(second.bars[0].numbers[3], 2.0);
        assert_eq!(second.bars.capacity(), capacity, "the buffer given back is the one reused");
    }

    #[tokio::test]
    async fn merges_files_into_one_point_per_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "A.csv", &format!("{HEADER}2024-01-01 00:00:00,1,1,1,1,1\n2024-01-01 00:02:00,2,2,2,2,2\n"));
        write(dir.path(), "B.csv", &format!("{HEADER}2024-01-01 00:01:00,3,3,3,3,3\r\n2024-01-01 00:02:00,4,4,4,4,4\r\n"));
        let mut feed = ReplayFeed::open(&[dir.path().to_owned()], false).unwrap();
        assert_eq!(feed.schemas().iter().map(|s| &*s.symbol).collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(feed.expected_bars(), Some(4));
        let blanks = write(dir.path(), "C.csv", &format!("{HEADER}2024-01-01,1,1,1,1,1\r\n\r\n \t\n2024-01-02,1,1,1,1,1"));
        assert_eq!(ReplayFeed::open(&[blanks], false).unwrap().expected_bars(), Some(2), "blank lines are not bars");
        let points = drain(&mut feed).await.unwrap();
        let shape: Vec<(String, Vec<u32>)> =
            points.iter().map(|p| (p.time.to_string(), p.bars.iter().map(|b| b.feed.0).collect())).collect();
        assert_eq!(
            shape,
            [
                ("2024-01-01T00:00:00Z".into(), vec![0]),
                ("2024-01-01T00:01:00Z".into(), vec![1]),
                ("2024-01-01T00:02:00Z".into(), vec![0, 1])
            ]
        );
        // The hash covers the line without its ending, so CRLF files hash like LF ones.
        assert_eq!(points[1].bars[0].hash, sha256("2024-01-01 00:01:00,3,3,3,3,3"));
    }

    /// Opening counts a file's bars a block at a time: lines and blank
    /// lines that straddle the reader's blocks count once, or not at all.
    #[test]
    fn bars_are_counted_across_read_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = HEADER.to_owned();
        let mut bars = 0;
        for i in 0..12_000u32 {
            match i % 7 {
                3 => text.push_str(&" ".repeat((i % 13) as usize)),
                5 => text.push_str(" \t\r"),
                _ => {
                    let volume = "9".repeat(1 + (i as usize * 31) % 47);
                    text.push_str(&format!("2024-01-01 00:00:00,1,1,1,1,{volume}"));
                    bars += 1;
                }
            }
            text.push_str(if i % 2 == 0 { "\n" } else { "\r\n" });
        }
        text.push_str("2024-01-02,1,1,1,1,1");
        assert!(text.len() > 4 << 16, "the file spans several blocks");
        let path = write(dir.path(), "A.csv", &text);
        assert_eq!(ReplayFeed::open(&[path], false).unwrap().expected_bars(), Some(bars + 1));
    }

    #[tokio::test]
    async fn jsonl_symbols_come_from_the_line_or_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let bar = |extra: &str| {
            format!(r#"{{"timestamp":"2024-01-01T00:00:00Z","open":1,"high":1,"low":1,"close":1,"volume":1{extra}}}"#)
        };
        let multi = format!("{}\n{}\n", bar(r#","symbol":"X","rsi":50"#), bar(r#","symbol":"Y","news":{"headline":"hi"}"#));
        let path = write(dir.path(), "mixed.jsonl", &multi);
        let plain = write(dir.path(), "ZZ.jsonl", &format!("{}\n", bar("")));
        let mut feed = ReplayFeed::open(&[path, plain], false).unwrap();
        let symbols: Vec<&str> = feed.schemas().iter().map(|s| &*s.symbol).collect();
        assert_eq!(symbols, ["X", "Y", "ZZ"]);
        assert_eq!(feed.schemas()[0].fields.last().map(|f| &**f), Some("rsi"));
        assert_eq!(feed.schemas()[1].text_fields[0].as_ref(), "news_headline");
        let points = drain(&mut feed).await.unwrap();
        assert_eq!(points.len(), 1);
        // Files are scanned in parallel, but feeds are numbered in file order.
        assert_eq!(points[0].bars.iter().map(|b| b.feed.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(points[0].bars[1].texts[0].as_deref(), Some("hi"));
    }

    #[tokio::test]
    async fn bad_rows_name_file_and_line_or_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            format!("{HEADER}2024-01-01 00:00:00,1,1,1,1,1\n2024-01-01 00:01:00,1,oops,1,1,1\n2024-01-01 00:02:00,1,1,1,1,1\n");
        let path = write(dir.path(), "A.csv", &text);
        let mut feed = ReplayFeed::open(std::slice::from_ref(&path), false).unwrap();
        let err = drain(&mut feed).await.unwrap_err().to_string();
        assert_eq!(err, format!("{}:3: high: not a number: \"oops\"", path.display()));

        let mut feed = ReplayFeed::open(&[path], true).unwrap();
        assert_eq!(drain(&mut feed).await.unwrap().len(), 2);
        assert_eq!(feed.skipped_rows(), 1);
    }

    #[tokio::test]
    async fn unsorted_and_duplicate_rows_are_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "A.csv", &format!("{HEADER}2024-01-02,1,1,1,1,1\n2024-01-01,1,1,1,1,1\n"));
        let mut feed = ReplayFeed::open(&[path], true).unwrap();
        let err = drain(&mut feed).await.unwrap_err().to_string();
        assert!(err.ends_with("A.csv:3: timestamp 2024-01-01T00:00:00Z is before the previous row's 2024-01-02T00:00:00Z; rows must be in time order"), "{err}");

        let path = write(dir.path(), "B.csv", &format!("{HEADER}2024-01-02,1,1,1,1,1\n2024-01-02,1,1,1,1,1\n"));
        let mut feed = ReplayFeed::open(&[path], false).unwrap();
        let err = drain(&mut feed).await.unwrap_err().to_string();
        assert!(err.ends_with("B.csv:3: a second bar for B at 2024-01-02T00:00:00Z"), "{err}");
    }

    #[test]
    fn refuses_unknown_formats_and_duplicate_symbols() {
        let dir = tempfile::tempdir().unwrap();
        let txt = write(dir.path(), "A.txt", "x");
        let err = ReplayFeed::open(&[txt], false).err().unwrap().to_string();
        assert!(err.ends_with("A.txt: unknown data format; use a .csv or .jsonl file"), "{err}");
        let a = write(dir.path(), "A.csv", &format!("{HEADER}2024-01-01,1,1,1,1,1\n"));
        let b = write(
            dir.path(),
            "A.jsonl",
            "{\"timestamp\":\"2024-01-01\",\"open\":1,\"high\":1,\"low\":1,\"close\":1,\"volume\":1}\n",
        );
        let err = ReplayFeed::open(&[a, b], false).err().unwrap().to_string();
        assert!(err.starts_with("symbol A comes from both"), "{err}");
    }
}
