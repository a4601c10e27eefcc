//! The background writer: encodes records on its own thread and hands them
//! to the sink in batches, every `max_records` records or `max_delay`,
//! whichever comes first, and once more at the end. A crash loses at most
//! the batch being gathered.

use super::{Batch, DecisionRecord, DecisionSink, SinkError, encode};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct BatchPolicy {
    pub max_records: usize,
    pub max_delay: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self { max_records: 1000, max_delay: Duration::from_millis(200) }
    }
}

/// The writer has stopped, after a sink error; `FmelWriter::finish` tells which.
#[derive(Debug, thiserror::Error)]
#[error("the FMEL writer has stopped")]
pub struct WriterStopped;

/// A session's handle for sending records.
#[derive(Clone)]
pub struct RecordSender(Sender<DecisionRecord>);

impl RecordSender {
    pub fn send(&self, record: DecisionRecord) -> Result<(), WriterStopped> {
        self.0.send(record).map_err(|_| WriterStopped)
    }
}

pub struct FmelWriter {
    sender: RecordSender,
    thread: JoinHandle<Result<u64, SinkError>>,
}

impl FmelWriter {
    pub fn spawn(sink: Box<dyn DecisionSink>, policy: BatchPolicy) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(4 * policy.max_records);
        let thread = std::thread::Builder::new()
            .name("fmel-writer".into())
            .spawn(move || write_loop(rx, sink, policy))
            .expect("spawn the FMEL writer thread");
        Self { sender: RecordSender(tx), thread }
    }

    pub fn sender(&self) -> RecordSender {
        self.sender.clone()
    }

    /// Waits until every sender is gone and the last batch is stored.
    /// Returns how many records were written.
    pub fn finish(self) -> Result<u64, SinkError> {
        drop(self.sender);
        self.thread.join().unwrap_or_else(|_| Err(SinkError::Refused("the FMEL writer thread panicked".into())))
    }
}

fn write_loop(rx: Receiver<DecisionRecord>, mut sink: Box<dyn DecisionSink>, policy: BatchPolicy) -> Result<u64, SinkError> {
    let mut batch = Batch::default();
    let mut deadline: Option<Instant> = None;
    let mut written = 0u64;
    let mut flush = |batch: &mut Batch, deadline: &mut Option<Instant>| -> Result<(), SinkError> {
        if !batch.is_empty() {
            sink.write_batch(batch)?;
            written += batch.len() as u64;
            batch.clear();
        }
        *deadline = None;
        Ok(())
    };
    loop {
        let received = match deadline {
            Some(at) => rx.recv_deadline(at),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(record) => {
                batch.push(record.session.index, |out| encode(&record, out));
                deadline.get_or_insert_with(|| Instant::now() + policy.max_delay);
                if batch.len() >= policy.max_records {
                    flush(&mut batch, &mut deadline)?;
                }
            }
            Err(RecvTimeoutError::Timeout) => flush(&mut batch, &mut deadline)?,
            Err(RecvTimeoutError::Disconnected) => {
                flush(&mut batch, &mut deadline)?;
                sink.close()?;
                return Ok(written);
            }
        }
    }
}
