//! FMEL records as JSON Lines: one file per agent, `<dir>/<agent id>.jsonl`.

use super::{Batch, DecisionSink, SinkError};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct JsonlSink {
    files: Vec<(PathBuf, BufWriter<File>)>,
    touched: Vec<bool>,
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
            files.push((path, BufWriter::with_capacity(1 << 16, file)));
        }
        Ok(Self { touched: vec![false; files.len()], files })
    }

    fn flush_touched(&mut self) -> Result<(), SinkError> {
        for (i, (path, file)) in self.files.iter_mut().enumerate() {
            if std::mem::take(&mut self.touched[i]) {
                file.flush().map_err(|source| io_error(path, source))?;
            }
        }
        Ok(())
    }
}

fn io_error(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Io { path: path.display().to_string(), error: source }
}

impl DecisionSink for JsonlSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), SinkError> {
        for (session, lines) in batch.runs() {
            let (path, file) = &mut self.files[session as usize];
            file.write_all(lines).map_err(|source| io_error(path, source))?;
            self.touched[session as usize] = true;
        }
        self.flush_touched()
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.flush_touched()
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
}
