//! The background writer: encodes records on its own thread and hands them
//! to the sink in batches, every `max_records` records or `max_delay`,
//! whichever comes first, and once more at the end. A crash loses at most
//! the batch being gathered and the records sessions have not sent yet
//! (one block of decision points each, see [`RecordSender::send`]).
//!
//! The writer polls the channel rather than sleeping in it: a receiver
//! asleep in the channel must be woken by every send, a system call per
//! record, while a polling one is never waited on.

use super::{AccessNames, Batch, DecisionRecord, DecisionSink, RecordCache, SessionMeta, SinkError, encode};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
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

/// How far ahead of the record being encoded the writer asks for records.
const PREFETCH_RECORDS: usize = 2;
/// How long the writer naps when the channel is empty.
const IDLE_POLL: Duration = Duration::from_millis(1);

/// Records a session usually sends at once: a block of decision points'.
const RECORDS_PER_MESSAGE: usize = crate::market::BLOCK_POINTS;

impl BatchPolicy {
    /// Messages that may wait in the channel: several batches' records, so
    /// that sessions rarely block on a napping writer.
    fn channel_capacity(&self) -> usize {
        (16 * self.max_records).clamp(1024, 65_536) / RECORDS_PER_MESSAGE
    }
}

/// The writer has stopped, after a sink error; `FmelWriter::finish` tells which.
#[derive(Debug, thiserror::Error)]
#[error("the FMEL writer has stopped")]
pub struct WriterStopped;

/// What travels to the writer, in order per session.
// Records are nearly every message; boxing them would allocate per record.
#[allow(clippy::large_enum_variant)]
enum Message {
    /// A new session, before any of its records.
    Open(Arc<SessionMeta>),
    /// The names behind a session's ids, whenever they change.
    Names(u32, Arc<AccessNames>),
    /// Records in order, of any sessions.
    Records(Vec<DecisionRecord>),
}

/// The handle for sending records: open the session, send its names when
/// they change, then its records.
#[derive(Clone)]
pub struct RecordSender {
    channel: Sender<Message>,
    /// Emptied record buffers, back from the writer.
    spare: Receiver<Vec<DecisionRecord>>,
}

impl RecordSender {
    pub fn open(&self, session: Arc<SessionMeta>) -> Result<(), WriterStopped> {
        self.channel.send(Message::Open(session)).map_err(|_| WriterStopped)
    }

    /// Names for the session's records. Names are only ever added, so the
    /// records not yet sent, written before, read the same with them.
    pub fn names(&self, session: u32, names: Arc<AccessNames>) -> Result<(), WriterStopped> {
        self.channel.send(Message::Names(session, names)).map_err(|_| WriterStopped)
    }

    /// Sends the records gathered in `records` and leaves it empty, to
    /// gather more. Sessions send a block of decision points' records at
    /// once: a record sent alone cost a slot of the channel each, and the
    /// writer then waited for every record's slot to arrive from the
    /// agents' core, where in a buffer it streams them.
    pub fn send(&self, records: &mut Vec<DecisionRecord>) -> Result<(), WriterStopped> {
        if records.is_empty() {
            return Ok(());
        }
        // The next buffer is as roomy as this one: the records of a block
        // vary a little in number, and a buffer that grows copies them all.
        let room = records.capacity();
        let empty =
            self.spare.try_recv().ok().filter(|spare| spare.capacity() >= room).unwrap_or_else(|| Vec::with_capacity(room));
        let full = std::mem::replace(records, empty);
        self.channel.send(Message::Records(full)).map_err(|_| WriterStopped)
    }
}

/// The writer's view of a session.
struct Session {
    meta: Arc<SessionMeta>,
    names: Arc<AccessNames>,
    cache: RecordCache,
}

pub struct FmelWriter {
    sender: RecordSender,
    thread: JoinHandle<Result<u64, SinkError>>,
}

impl FmelWriter {
    pub fn spawn(sink: Box<dyn DecisionSink>, policy: BatchPolicy) -> Self {
        let capacity = policy.channel_capacity();
        let (channel, rx) = crossbeam_channel::bounded::<Message>(capacity);
        let (recycle, spare) = crossbeam_channel::bounded(capacity);
        let thread = std::thread::Builder::new()
            .name("fmel-writer".into())
            .spawn(move || write_loop(rx, recycle, sink, policy))
            .expect("spawn the FMEL writer thread");
        Self { sender: RecordSender { channel, spare }, thread }
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

fn write_loop(
    rx: Receiver<Message>,
    recycle: Sender<Vec<DecisionRecord>>,
    mut sink: Box<dyn DecisionSink>,
    policy: BatchPolicy,
) -> Result<u64, SinkError> {
    let mut sessions: Vec<Option<Session>> = Vec::new();
    let mut batch = Batch::default();
    let mut started: Option<Instant> = None;
    let mut written = 0u64;
    loop {
        let waiting = match rx.try_recv() {
            Ok(Message::Open(meta)) => {
                let index = meta.index as usize;
                if sessions.len() <= index {
                    sessions.resize_with(index + 1, || None);
                }
                sessions[index] = Some(Session { meta, names: Arc::default(), cache: RecordCache::default() });
                None
            }
            Ok(Message::Names(index, names)) => {
                if let Some(Some(session)) = sessions.get_mut(index as usize) {
                    session.names = names;
                }
                None
            }
            Ok(Message::Records(mut records)) => {
                for (i, record) in records.iter().enumerate() {
                    // The agents' core wrote them; a record is encoded in
                    // less time than its lines take to come over unasked.
                    if let Some(ahead) = records.get(i + PREFETCH_RECORDS) {
                        crate::prefetch::for_read(ahead, 1);
                    }
                    let Some(Some(session)) = sessions.get_mut(record.session as usize) else {
                        return Err(SinkError::Refused(format!(
                            "a record of session {} before the session opened",
                            record.session
                        )));
                    };
                    batch.push(record.session, |out| encode(&session.meta, &session.names, &mut session.cache, record, out));
                }
                started.get_or_insert_with(Instant::now);
                records.clear();
                // A full return channel means the senders have spares enough.
                let _ = recycle.try_send(records);
                None
            }
            Err(empty_or_gone) => Some(empty_or_gone),
        };
        let disconnected = waiting == Some(TryRecvError::Disconnected);
        let full = batch.len() >= policy.max_records;
        let late = started.is_some_and(|at| at.elapsed() >= policy.max_delay);
        if !batch.is_empty() && (full || late || disconnected) {
            sink.write_batch(&batch)?;
            written += batch.len() as u64;
            batch.clear();
            started = None;
        }
        match waiting {
            None => {}
            Some(TryRecvError::Empty) => std::thread::sleep(IDLE_POLL),
            Some(TryRecvError::Disconnected) => {
                sink.close()?;
                return Ok(written);
            }
        }
    }
}
