//! Runs every session through each decision point, on as many threads as
//! pay off. Sessions are independent, so how they are spread over threads
//! changes no record; the market is advanced only while no thread reads it.
//!
//! The market advances a block of points at a time (see [`BLOCK_POINTS`]),
//! and each thread runs its sessions one after another through the whole
//! block: with hundreds of agents, running each through one point at a time
//! would evict every agent's memory from the cache before its next point.

use crate::broker::Broker;
use crate::fmel::writer::{RecordSender, WriterStopped};
use crate::market::{BLOCK_POINTS, Bar, DecisionPoint, Market};
use crate::runtime::AgentComponent;
use crate::session::{AgentReport, Session, SessionSetup};
use indicatif::ProgressBar;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

/// Below this many sessions per thread, one thread is faster: waking the
/// others costs more than a few agents' decisions.
const SESSIONS_PER_THREAD: usize = 8;

/// How far ahead of the point being recorded the market's leader asks for
/// bars to be loaded: enough for a load from another core to arrive.
const PREFETCH_POINTS: usize = 4;

/// Everything the agents need, moved onto their threads.
pub struct Agents {
    pub market: Arc<RwLock<Market>>,
    pub setups: Vec<SessionSetup>,
    pub components: Vec<Arc<AgentComponent>>,
    pub accounts: Vec<Box<dyn Broker>>,
    pub sender: RecordSender,
    pub progress: ProgressBar,
    /// Set on shutdown: the agents stop before their next block, and the
    /// points the feed read ahead are not decided. A lead of thousands of
    /// points would otherwise keep a thousand agents busy for a minute.
    pub stop: Arc<AtomicBool>,
    /// Where the bar buffers of decided points go back to the feed, a
    /// chunk's at a time.
    pub recycle: crossbeam_channel::Sender<Vec<Vec<Bar>>>,
}

/// What the threads share for one run.
struct Shared {
    market: Arc<RwLock<Market>>,
    /// Every thread meets here twice per block of decision points: to start
    /// it, after the market advanced, and to finish it, before the market
    /// advances again.
    /// None for a single thread, which needs no meeting (and a barrier's
    /// wake-up is a system call).
    barrier: Option<Barrier>,
    done: AtomicBool,
    failed: AtomicBool,
    stop: Arc<AtomicBool>,
}

impl Agents {
    /// Starts every session, runs each decision point through all of them,
    /// and stops them when the feed ends. Reports come in session order.
    pub fn run(self, mut incoming: tokio::sync::mpsc::Receiver<Vec<DecisionPoint>>) -> Result<Vec<AgentReport>, WriterStopped> {
        let mut sessions = Vec::with_capacity(self.setups.len());
        for ((setup, component), account) in self.setups.into_iter().zip(&self.components).zip(self.accounts) {
            sessions.push(Session::start(component, setup, self.market.clone(), account, self.sender.clone())?);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (sessions.len() / SESSIONS_PER_THREAD).clamp(1, cores);
        let mut shards: Vec<Vec<(usize, Session)>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, session) in sessions.into_iter().enumerate() {
            shards[i % threads].push((i, session));
        }
        let shared = Shared {
            market: self.market,
            barrier: (threads > 1).then(|| Barrier::new(threads)),
            done: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            stop: self.stop,
        };
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut shards = shards.into_iter();
        let mine = shards.next().unwrap_or_default();
        let results = std::thread::scope(|scope| {
            let others: Vec<_> = shards
                .map(|shard| {
                    let (shared, runtime) = (&shared, runtime.clone());
                    scope.spawn(move || {
                        // WASI's synchronous calls look for the runtime of the thread.
                        let _entered = runtime.as_ref().map(|r| r.enter());
                        follow(shard, shared)
                    })
                })
                .collect();
            let mut results = vec![lead(mine, &shared, &mut incoming, &self.recycle, &self.progress)];
            results.extend(others.into_iter().map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))));
            results
        });
        self.progress.finish_and_clear();
        let mut reports: Vec<(usize, AgentReport)> = Vec::new();
        for result in results {
            reports.extend(result?);
        }
        reports.sort_by_key(|(i, _)| *i);
        Ok(reports.into_iter().map(|(_, report)| report).collect())
    }
}

/// The leading thread: advances the market, then decides its own share.
fn lead(
    mut shard: Vec<(usize, Session)>,
    shared: &Shared,
    incoming: &mut tokio::sync::mpsc::Receiver<Vec<DecisionPoint>>,
    recycle: &crossbeam_channel::Sender<Vec<Vec<Bar>>>,
    progress: &ProgressBar,
) -> Result<Vec<(usize, AgentReport)>, WriterStopped> {
    let mut outcome = Ok(());
    let mut next = 0;
    let mut chunk = Vec::new().into_iter();
    let mut spare = Vec::new();
    loop {
        // A block is what has arrived, up to BLOCK_POINTS: it never waits for
        // more, so a live feed's single points are decided as they come.
        while chunk.as_slice().is_empty() && !shared.failed.load(Ordering::Relaxed) {
            match incoming.blocking_recv() {
                Some(points) => chunk = points.into_iter(),
                None => break,
            }
        }
        let mut bars = 0;
        if chunk.as_slice().is_empty() || shared.failed.load(Ordering::Relaxed) || shared.stop.load(Ordering::Relaxed) {
            shared.done.store(true, Ordering::Relaxed);
        } else {
            let mut market = shared.market.write();
            for _ in 0..BLOCK_POINTS {
                let Some(point) = chunk.next() else { break };
                if let Some(ahead) = chunk.as_slice().get(PREFETCH_POINTS - 1) {
                    ahead.prefetch();
                }
                bars += point.bars.len() as u64;
                spare.push(market.advance(point));
            }
            if chunk.as_slice().is_empty() {
                // A feed that is gone or behind loses nothing but the reuse.
                let _ = recycle.try_send(std::mem::take(&mut spare));
            }
        }
        if !decide(&mut shard, shared, &mut next, &mut outcome) {
            break;
        }
        progress.inc(bars);
    }
    finish(shard, outcome)
}

/// The other threads: decide their share whenever the leader says go.
fn follow(mut shard: Vec<(usize, Session)>, shared: &Shared) -> Result<Vec<(usize, AgentReport)>, WriterStopped> {
    let (mut outcome, mut next) = (Ok(()), 0);
    while decide(&mut shard, shared, &mut next, &mut outcome) {}
    finish(shard, outcome)
}

/// The new block of decision points for a shard, from `next` to the
/// market's newest, between the two barriers. False when the run is over.
/// After a writer failure the thread keeps meeting the others at the
/// barriers, so that nobody waits forever, but does no more work.
fn decide(shard: &mut [(usize, Session)], shared: &Shared, next: &mut u64, outcome: &mut Result<(), WriterStopped>) -> bool {
    shared.meet();
    if shared.done.load(Ordering::Relaxed) {
        return false;
    }
    let newest = shared.market.read().newest();
    if let Some(newest) = newest.filter(|newest| *newest >= *next && outcome.is_ok()) {
        for (_, session) in shard.iter_mut() {
            if let Err(stopped) = session.on_decisions(*next, newest) {
                shared.failed.store(true, Ordering::Relaxed);
                *outcome = Err(stopped);
                break;
            }
        }
    }
    *next = newest.map_or(0, |newest| newest + 1);
    shared.meet();
    true
}

impl Shared {
    fn meet(&self) {
        if let Some(barrier) = &self.barrier {
            barrier.wait();
        }
    }
}

fn finish(shard: Vec<(usize, Session)>, outcome: Result<(), WriterStopped>) -> Result<Vec<(usize, AgentReport)>, WriterStopped> {
    outcome?;
    let mut reports = Vec::with_capacity(shard.len());
    for (i, mut session) in shard {
        session.stop()?;
        reports.push((i, session.into_report()));
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmel::jsonl::JsonlSink;
    use crate::fmel::writer::{BatchPolicy, FmelWriter};
    use crate::market::FeedSchema;
    use crate::testing::bar;
    use crate::time::Timestamp;

    /// Runs no sessions over `points` decision points of one bar, already
    /// sent, and returns the newest point the market reached and its bars.
    fn market_after_run(points: i64, stop: bool) -> (Option<u64>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let writer = FmelWriter::spawn(Box::new(JsonlSink::create(dir.path(), &[], false).unwrap()), BatchPolicy::default());
        let market = Arc::new(RwLock::new(Market::new(vec![FeedSchema::new("s", "S")], 10)));
        let (chunks, incoming) = tokio::sync::mpsc::channel(1);
        let chunk = (0..points).map(|t| DecisionPoint { time: Timestamp(t), bars: vec![bar(0, t, 1.0)] }).collect();
        chunks.try_send(chunk).unwrap();
        drop(chunks);
        let agents = Agents {
            market: market.clone(),
            setups: vec![],
            components: vec![],
            accounts: vec![],
            sender: writer.sender(),
            progress: ProgressBar::hidden(),
            stop: Arc::new(AtomicBool::new(stop)),
            recycle: crossbeam_channel::bounded(1).0,
        };
        agents.run(incoming).unwrap();
        writer.finish().unwrap();
        let market = market.read();
        (market.newest(), market.bars())
    }

    #[test]
    fn the_agents_decide_every_point_sent_unless_stopped() {
        assert_eq!(market_after_run(100, false), (Some(99), 100));
        assert_eq!(market_after_run(100, true), (None, 0));
    }
}
