//! FMEL records as JSON Lines: one file per agent, `<dir>/<agent id>.jsonl`.

use super::{Batch, DecisionSink, SinkError};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct JsonlSink {
    files: Vec<Log>,
}

/// One agent's file.
struct Log {
    path: PathBuf,
    file: BufWriter<File>,
    /// Bytes written so far: the file's length once flushed.
    written: u64,
    /// Where the disk space reserved for the file ends (see [`Log::reserve`]).
    reserved: u64,
    /// Written to since the last flush.
    touched: bool,
}

/// Disk space reserved ahead of the writes, at least and at most: as much
/// as the file holds, between the two.
const RESERVE_MIN_BYTES: u64 = 1 << 20;
const RESERVE_MAX_BYTES: u64 = 64 << 20;

impl Log {
    /// Reserves disk space for the next `more` bytes and some after them,
    /// beyond the end of the file, which keeps its length. ext4 otherwise
    /// reserves it block by block as each write arrives, and that was a
    /// third of the kernel's time in a long replay's writes. Only an
    /// optimisation: where it fails, the writes go on without it.
    #[cfg(target_os = "linux")]
    fn reserve(&mut self, more: u64) {
        let end = self.written + more;
        if end <= self.reserved {
            return;
        }
        let ahead = self.written.clamp(RESERVE_MIN_BYTES, RESERVE_MAX_BYTES);
        let flags = rustix::fs::FallocateFlags::KEEP_SIZE;
        self.reserved = match rustix::fs::fallocate(self.file.get_ref(), flags, self.written, more + ahead) {
            Ok(()) => end + ahead,
            // Unsupported, or no room for that much: a later write says so if it matters.
            Err(_) => u64::MAX,
        };
    }

    #[cfg(not(target_os = "linux"))]
    fn reserve(&mut self, _more: u64) {}

    fn write(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        self.reserve(lines.len() as u64);
        self.file.write_all(lines).map_err(|source| io_error(&self.path, source))?;
        self.written += lines.len() as u64;
        self.touched = true;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.touched = false;
        self.file.flush().map_err(|source| io_error(&self.path, source))
    }

    /// Flushes the file and gives back the space reserved past its end.
    fn close(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        if self.reserved > self.written && self.reserved != u64::MAX {
            // Setting a file's length frees the blocks reserved beyond it, even an unchanged length.
            self.file.get_ref().set_len(self.written).map_err(|source| io_error(&self.path, source))?;
            self.reserved = self.written;
        }
        Ok(())
    }
}

impl JsonlSink {
    /// Creates one file per agent, in session order. An existing file is
    /// refused unless `overwrite`.
    pub fn create(dir: &Path, agent_ids: &[&str], overwrite: bool) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
        let mut files = Vec::with_capacity(agent_ids.len());
        for id in agent_ids {
            let path = dir.join(format!("{id}.jsonl"));
            // Replacing means a new file, not a truncated one: ext4 writes a
            // file truncated to nothing back to disk when it is closed, and
            // for a long replay's log that close took 0.2 s.
            if overwrite {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(&path, e)),
                    _ => {}
                }
            }
            let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => SinkError::Refused(format!(
                    "{} already exists; pass --overwrite to replace it, or choose another --fmel-dir",
                    path.display()
                )),
                _ => io_error(&path, source),
            })?;
            files.push(Log { path, file: BufWriter::with_capacity(1 << 16, file), written: 0, reserved: 0, touched: false });
        }
        Ok(Self { files })
    }
}

fn io_error(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Io { path: path.display().to_string(), error: source }
}

impl DecisionSink for JsonlSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), SinkError> {
        for (session, lines) in batch.runs() {
            self.files[session as usize].write(lines)?;
        }
        self.files.iter_mut().filter(|log| log.touched).try_for_each(Log::flush)
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.files.iter_mut().try_for_each(Log::close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_sessions_land_in_their_own_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = JsonlSink::create(dir.path(), &["a", "b"], false).unwrap();
        let mut batch = Batch::default();
        for (session, json) in [(0, "{\"n\":1}"), (0, "{\"n\":2}"), (1, "{\"n\":3}"), (0, "{\"n\":4}")] {
            batch.push(session, |out| out.extend_from_slice(json.as_bytes()));
        }
        assert_eq!(batch.len(), 4);
        let runs: Vec<(u32, &[u8])> = batch.runs().collect();
        assert_eq!(runs, [(0, &b"{\"n\":1}\n{\"n\":2}\n"[..]), (1, b"{\"n\":3}\n"), (0, b"{\"n\":4}\n")]);
        sink.write_batch(&batch).unwrap();
        batch.clear();
        assert!(batch.is_empty() && batch.runs().next().is_none());
        batch.push(1, |out| out.extend_from_slice(b"{\"n\":5}"));
        sink.write_batch(&batch).unwrap();
        sink.close().unwrap();
        let read = |id: &str| std::fs::read_to_string(dir.path().join(format!("{id}.jsonl"))).unwrap();
        assert_eq!(read("a"), "{\"n\":1}\n{\"n\":2}\n{\"n\":4}\n");
        assert_eq!(read("b"), "{\"n\":3}\n{\"n\":5}\n");
    }

    #[test]
    fn overwriting_replaces_the_file_instead_of_truncating_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, kept) = (dir.path().join("a.jsonl"), dir.path().join("kept.jsonl"));
        std::fs::write(&path, "old records\n").unwrap();
        std::fs::hard_link(&path, &kept).unwrap();
        let mut sink = JsonlSink::create(dir.path(), &["a"], true).unwrap();
        let mut batch = Batch::default();
        batch.push(0, |out| out.extend_from_slice(b"{}"));
        sink.write_batch(&batch).unwrap();
        sink.close().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        // The old file lives on under its other name: it was replaced, not truncated.
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "old records\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn disk_space_is_reserved_ahead_of_the_writes_and_given_back_on_close() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut sink = JsonlSink::create(dir.path(), &["a"], false).unwrap();
        let mut batch = Batch::default();
        batch.push(0, |out| out.extend_from_slice(b"{\"n\":1}"));
        sink.write_batch(&batch).unwrap();
        let allocated = |path: &Path| std::fs::metadata(path).unwrap().blocks() * 512;
        // The file has its length, and the disk space for a mebibyte more.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8);
        assert!(allocated(&path) >= RESERVE_MIN_BYTES, "{} bytes allocated", allocated(&path));
        sink.write_batch(&batch).unwrap();
        sink.close().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":1}\n{\"n\":1}\n");
        assert!(allocated(&path) < RESERVE_MIN_BYTES, "{} bytes still allocated", allocated(&path));
    }
}
