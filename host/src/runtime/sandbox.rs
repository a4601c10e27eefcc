//! The WASI world an agent lives in: no files, no network, no environment,
//! no inherited stdio. Clocks show the current bar's time and randomness
//! comes from the run's seed, so a replay is reproducible. Output lines go
//! to `tracing`, tagged with the agent id.

use bytes::Bytes;
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use crate::limits::AgentLimits;

/// The time the agent sees: the current bar's, in nanoseconds since the epoch.
#[derive(Clone, Default)]
pub struct BarClock(Arc<AtomicI64>);

impl BarClock {
    pub fn set(&self, nanos: i64) {
        self.0.store(nanos, Ordering::Relaxed);
    }

    fn nanos(&self) -> u64 {
        self.0.load(Ordering::Relaxed).max(0) as u64
    }
}

impl HostWallClock for BarClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos())
    }
}

impl HostMonotonicClock for BarClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.nanos()
    }
}

/// How often [`Ticks`] advance: the resolution of call deadlines.
pub const TICK: Duration = Duration::from_millis(10);

/// Longest line kept whole; longer output is cut into pieces of this size.
const MAX_LINE_BYTES: usize = 4096;
/// Lines of stderr remembered to explain a fault, such as a panic message.
const TAIL_LINES: usize = 8;

/// One output stream: the lines, and the per-decision budget kept apart
/// so that reading what was dropped takes no lock.
struct Output {
    lines: Mutex<Lines>,
    /// Bytes logged per decision point; the rest is dropped and counted.
    limit: usize,
    written: AtomicUsize,
    dropped: AtomicU64,
}

impl Output {
    fn write(&self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.written.load(Ordering::Relaxed));
        let kept = bytes.len().min(room);
        self.written.fetch_add(kept, Ordering::Relaxed);
        self.dropped.fetch_add((bytes.len() - kept) as u64, Ordering::Relaxed);
        if kept > 0 {
            self.lines.lock().write(&bytes[..kept]);
        }
    }
}

struct Lines {
    agent: Arc<str>,
    stream: &'static str,
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl Lines {
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&bytes[..end]);
            self.emit();
            bytes = &bytes[end + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= MAX_LINE_BYTES {
            let rest = self.partial.split_off(MAX_LINE_BYTES);
            self.emit();
            self.partial = rest;
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_owned();
        self.partial.clear();
        tracing::info!(target: "agent", agent = %self.agent, stream = self.stream, "{line}");
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// A guest's stdout or stderr, line-buffered into `tracing`.
#[derive(Clone)]
pub struct GuestOutput(Arc<Output>);

impl GuestOutput {
    pub fn new(agent: Arc<str>, stream: &'static str, limit: usize) -> Self {
        let lines = Mutex::new(Lines { agent, stream, partial: Vec::new(), tail: VecDeque::new() });
        Self(Arc::new(Output { lines, limit, written: AtomicUsize::new(0), dropped: AtomicU64::new(0) }))
    }

    /// Bytes dropped since the last call; the budget starts over.
    pub fn take_dropped(&self) -> u64 {
        self.0.written.store(0, Ordering::Relaxed);
        // Read first: this runs for every record, nearly always finds
        // nothing, and a swap is a locked instruction that waits for the
        // record's stores to drain. Bytes dropped between the two are
        // counted at the next call.
        match self.0.dropped.load(Ordering::Relaxed) {
            0 => 0,
            _ => self.0.dropped.swap(0, Ordering::Relaxed),
        }
    }

    /// The last lines written, oldest first, the unfinished one included.
    pub fn recent(&self) -> Vec<String> {
        let state = self.0.lines.lock();
        let mut lines: Vec<String> = state.tail.iter().cloned().collect();
        if !state.partial.is_empty() {
            lines.push(String::from_utf8_lossy(&state.partial).into_owned());
        }
        lines
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.0.write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE_BYTES)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A WASI context with no ambient authority: no preopened directories, no
/// environment, no arguments, no network, empty stdin.
pub fn wasi_context(clock: &BarClock, seed: u64, stdout: GuestOutput, stderr: GuestOutput) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout)
        .stderr(stderr)
        .wall_clock(clock.clone())
        .monotonic_clock(clock.clone())
        .secure_random(StdRng::seed_from_u64(seed))
        .insecure_random(StdRng::seed_from_u64(seed.rotate_left(32)))
        .insecure_random_seed(u128::from(seed))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build()
}

/// Enforces the agent's memory, table and instance bounds, and remembers a
/// refused memory growth to name the fault that usually follows.
pub struct AgentLimiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    tables: usize,
    memories: usize,
    denied_memory: Option<usize>,
}

impl AgentLimiter {
    pub fn new(limits: &AgentLimits) -> Self {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        AgentLimiter {
            memory_bytes: size(limits.memory_mib).saturating_mul(1 << 20),
            table_elements: size(limits.table_elements.into()),
            instances: size(limits.instances.into()),
            tables: size(limits.tables.into()),
            memories: size(limits.memories.into()),
            denied_memory: None,
        }
    }

    /// The memory size in bytes a refused growth asked for, if any.
    pub fn denied_memory(&self) -> Option<usize> {
        self.denied_memory
    }
}

impl wasmtime::ResourceLimiter for AgentLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.denied_memory = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

/// The agent's `wasi:clocks/monotonic-clock`: bar time, which stands still
/// during a call. Waiting for it to move can only end at the call's
/// deadline, where the wall-clock backstop cuts the agent off; a zero or
/// past wait is ready at once.
pub struct CallClock {
    clock: BarClock,
    ticks: Ticks,
    deadline: u64,
    /// Set when a wait reached the deadline: the call has overrun, even if
    /// it returns before WebAssembly code checks the epoch again.
    expired: Arc<AtomicBool>,
}

/// A coarse wall clock, advanced by the runtime's ticker thread: cheaper to
/// read on every call than the system clock.
#[derive(Clone, Default)]
pub struct Ticks(Arc<AtomicU64>);

impl Ticks {
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl CallClock {
    pub fn new(clock: BarClock, ticks: Ticks) -> Self {
        CallClock { clock, ticks, deadline: 0, expired: Arc::default() }
    }

    /// Starts the deadline of a call, `after` ticks from now.
    pub fn set_deadline(&mut self, after: u64) {
        self.deadline = self.ticks.now() + after;
        self.expired.store(false, Ordering::Relaxed);
    }

    /// Whether the call waited until its deadline.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    fn wait(&self, table: &mut ResourceTable, forever: bool) -> wasmtime::Result<Resource<DynPollable>> {
        let until = forever.then(|| Deadline { ticks: self.ticks.clone(), at: self.deadline, expired: self.expired.clone() });
        let wait = table.push(Wait(until))?;
        subscribe(table, wait)
    }
}

struct Deadline {
    ticks: Ticks,
    at: u64,
    expired: Arc<AtomicBool>,
}

/// Ready at once, or at the call's deadline.
struct Wait(Option<Deadline>);

#[async_trait::async_trait]
impl Pollable for Wait {
    async fn ready(&mut self) {
        let Some(deadline) = &self.0 else { return };
        loop {
            let now = deadline.ticks.now();
            if now >= deadline.at {
                break;
            }
            tokio::time::sleep(TICK * (deadline.at - now) as u32).await;
        }
        deadline.expired.store(true, Ordering::Relaxed);
    }
}

/// Links a [`CallClockView`] as the agent's monotonic clock.
pub struct CallClockData;

impl wasmtime::component::HasData for CallClockData {
    type Data<'a> = CallClockView<'a>;
}

/// The WASI view of a [`CallClock`] needs the store's resource table.
pub struct CallClockView<'a> {
    pub clock: &'a CallClock,
    pub table: &'a mut ResourceTable,
}

impl monotonic_clock::Host for CallClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.clock.clock.nanos())
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let forever = when > self.clock.clock.nanos();
        self.clock.wait(self.table, forever)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.clock.wait(self.table, duration > 0)
    }
}
