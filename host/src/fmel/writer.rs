//! The background writer: encodes records on its own thread and hands them
//! to the sink in batches, every `max_records` records or `max_delay`,
//! whichever comes first, and once more at the end. A crash loses at most
//! the batch being gathered.
//!
//! The writer polls the channel rather than sleeping in it: a receiver
//! asleep in the channel must be woken by every send, a system call per
//! record, while a polling one is never waited on.

use super::{Batch, DecisionRecord, DecisionSink, SinkError, encode};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
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

impl BatchPolicy {
    /// The default for `sessions` sessions writing to one sink: a thousand
    /// records each, up to 50,000 at once. With one file per session a
    /// batch costs a write per file, so the batch grows with the sessions;
    /// `max_delay` still bounds what a crash can lose.
    pub fn for_sessions(sessions: usize) -> Self {
        let default = Self::default();
        Self { max_records: (default.max_records * sessions.max(1)).min(50_000), ..default }
    }
}

/// How long the writer naps when the channel is empty.
const IDLE_POLL: Duration = Duration::from_millis(1);

impl BatchPolicy {
    /// Records that may wait in the channel: several batches, so that
    /// sessions rarely block on a napping writer.
    fn channel_capacity(&self) -> usize {
        (16 * self.max_records).clamp(1024, 65_536)
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
        let (tx, rx) = crossbeam_channel::bounded(policy.channel_capacity());
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
    let mut started: Option<Instant> = None;
    let mut written = 0u64;
    loop {
        let received = rx.try_recv();
        if let Ok(record) = &received {
            batch.push(record.session.index, |out| encode(record, out));
            started.get_or_insert_with(Instant::now);
        }
        let disconnected = matches!(received, Err(TryRecvError::Disconnected));
        let full = batch.len() >= policy.max_records;
        // Reading the clock per record would cost more than encoding some;
        // a busy channel fills the batch long before the delay anyway.
        let idle = received.is_err() || batch.len() % 256 == 0;
        let late = idle && started.is_some_and(|at| at.elapsed() >= policy.max_delay);
        if !batch.is_empty() && (full || late || disconnected) {
            sink.write_batch(&batch)?;
            written += batch.len() as u64;
            batch.clear();
            started = None;
        }
        match received {
            Ok(_) => {}
            Err(TryRecvError::Empty) => std::thread::sleep(IDLE_POLL),
            Err(TryRecvError::Disconnected) => {
                sink.close()?;
                return Ok(written);
            }
        }
    }
}
