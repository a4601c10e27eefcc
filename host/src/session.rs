//! One agent's run: its instance, its broker account and its log.
//!
//! At each decision point the broker works open orders against the new bars,
//! the agent hears about each order change (`on-order`), then decides
//! (`on-bar`), then hears whether its new orders were accepted. Every call
//! produces one FMEL record. A fault ends this session only: it writes an
//! ERROR record, cancels the open orders and stops calling the agent.

use crate::broker::{Broker, OpenOrder, OrderEvent, OrderStatus};
use crate::fills::{Fill, FillLog, FillSpill};
use crate::fmel::writer::{RecordSender, WriterStopped};
use crate::fmel::{
    AccessNames, Accesses, ActionKind, DataHashes, DecisionRecord, Detail, Fault, OverLimits, PortfolioState, SessionHeader,
    SessionMeta, Stage,
};
use crate::limits::AgentLimits;
use crate::market::{Market, MarketView};
use crate::runtime::{AgentComponent, AgentInstance, HostState};
use crate::time::Timestamp;
use parking_lot::RwLock;
use std::sync::Arc;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct OrderCounts {
    /// Orders the broker took and gave an id.
    pub submitted: u64,
    pub filled: u64,
    pub rejected: u64,
    pub canceled: u64,
    /// Requests the host refused with a typed error.
    pub refused: u64,
    /// Still open when the run ended.
    pub open: u64,
}

/// What a session did, for the run's report.
#[derive(Debug)]
pub struct AgentReport {
    pub agent_id: String,
    pub session_id: String,
    pub portfolio: PortfolioState,
    /// Every feed's symbol, by feed id: the names of `portfolio.positions`.
    /// Empty, like the positions, when the agent never got an instance.
    pub symbols: Vec<Arc<str>>,
    pub fills: FillLog,
    pub orders: OrderCounts,
    /// NEXT records written.
    pub decisions: u64,
    /// Read calls made; a window is one.
    pub accesses: u64,
    /// What the sandbox's per-decision bounds refused, in total.
    pub over_limits: OverLimits,
    pub fault: Option<Fault>,
}

pub struct Session {
    meta: Arc<SessionMeta>,
    /// The names last sent to the writer; compared by address, which costs
    /// no atomic operation.
    sent_names: Arc<AccessNames>,
    instance: Option<AgentInstance>,
    market: Arc<RwLock<Market>>,
    sender: RecordSender,
    /// Records written and not yet sent: each public call sends its
    /// records when it ends, a block of decision points' at once.
    unsent: Vec<DecisionRecord>,
    events: Vec<OrderEvent>,
    report: AgentReport,
    running: bool,
}

/// What a new session needs besides its component.
pub struct SessionSetup {
    pub index: u32,
    pub agent_id: String,
    pub params: Vec<(String, String)>,
    pub seed: u64,
    pub limits: AgentLimits,
    pub header: SessionHeader,
    /// Where the session's fills go past the newest few: the run's one file.
    pub fills: FillSpill,
}

impl Session {
    /// Instantiates the agent, calls its `init` and writes the session header.
    pub fn start(
        component: &AgentComponent,
        setup: SessionSetup,
        market: Arc<RwLock<Market>>,
        broker: Box<dyn Broker>,
        sender: RecordSender,
    ) -> Result<Self, WriterStopped> {
        let meta = Arc::new(SessionMeta::new(setup.index, setup.agent_id.clone(), uuid::Uuid::new_v4().to_string()));
        let host = HostState::new(market.read().view(None), broker, setup.limits.clone());
        let instance = component.instantiate(&setup.agent_id, setup.seed, setup.limits, host);
        let mut session = Session {
            report: AgentReport {
                agent_id: setup.agent_id,
                session_id: meta.session_id.clone(),
                portfolio: PortfolioState::default(),
                symbols: Vec::new(),
                fills: FillLog::new(setup.fills),
                orders: OrderCounts::default(),
                decisions: 0,
                accesses: 0,
                over_limits: OverLimits::default(),
                fault: None,
            },
            meta,
            sent_names: Arc::default(),
            instance: None,
            market,
            sender,
            unsent: Vec::new(),
            events: Vec::new(),
            running: false,
        };
        session.sender.open(session.meta.clone())?;
        session.init(instance, Detail::Header(Box::new(setup.header)), &setup.params)?;
        session.send_unsent()?;
        Ok(session)
    }

    /// Calls the agent's `init`, once it has an instance, and writes the INIT record.
    fn init(
        &mut self,
        instance: Result<AgentInstance, Fault>,
        header: Detail,
        params: &[(String, String)],
    ) -> Result<(), WriterStopped> {
        match instance {
            Ok(instance) => self.instance = Some(instance),
            Err(fault) => {
                self.write(Stage::Init, header)?;
                return self.fail(fault);
            }
        }
        self.with_market(|session| {
            let instance = session.instance.as_mut().expect("just instantiated");
            let outcome = instance.init(params);
            session.write(Stage::Init, header)?;
            match outcome {
                Ok(Ok(())) => session.running = true,
                Ok(Err(message)) => session.fail(Fault { kind: "init-failed".into(), message })?,
                Err(fault) => session.fail(fault)?,
            }
            session.deliver_events()
        })
    }

    /// Runs decision points `from..=to` of the market, the last [`BLOCK_POINTS`] at most.
    ///
    /// [`BLOCK_POINTS`]: crate::market::BLOCK_POINTS
    pub fn on_decisions(&mut self, from: u64, to: u64) -> Result<(), WriterStopped> {
        if !self.running {
            return Ok(());
        }
        self.with_market(|session| {
            for at in from..=to {
                if !session.running {
                    break;
                }
                session.instance.as_mut().expect("running sessions have an instance").host().move_to(at);
                session.decide()?;
            }
            Ok(())
        })?;
        self.send_unsent()
    }

    fn decide(&mut self) -> Result<(), WriterStopped> {
        self.prefetch_next_slot();
        let instance = self.instance.as_mut().expect("running sessions have an instance");
        instance.new_decision();
        let time = instance.host().market().time();
        instance.set_time(time);
        instance.host().work_orders();
        self.deliver_events()?;
        if !self.running {
            return Ok(());
        }
        let instance = self.instance.as_mut().expect("running sessions have an instance");
        match instance.on_bar() {
            Ok(()) => {
                self.report.decisions += 1;
                self.write(Stage::Next, Detail::None)?;
                self.deliver_events()
            }
            Err(fault) => self.fail(fault),
        }
    }

    /// Calls `on-stop` and writes the STOP record, with the orders still open.
    pub fn stop(&mut self) -> Result<(), WriterStopped> {
        if !self.running {
            return Ok(());
        }
        self.with_market(|session| {
            let instance = session.instance.as_mut().expect("running sessions have an instance");
            instance.new_decision();
            match instance.on_stop() {
                Ok(()) => {
                    let open_orders = instance.host().broker.open_orders();
                    session.running = false;
                    session.write(Stage::Stop, Detail::Stop { open_orders })
                }
                Err(fault) => session.fail(fault),
            }
        })?;
        self.send_unsent()
    }

    /// The session's results; call after `stop`.
    pub fn into_report(mut self) -> AgentReport {
        if let Some(instance) = self.instance.as_mut() {
            let host = instance.host();
            self.report.symbols = host.names().feeds.clone();
            let broker = &host.broker;
            self.report.portfolio = portfolio(broker.as_ref());
            self.report.orders.open = broker.open_orders().len() as u64;
        }
        self.report
    }

    /// Holds the market read-locked for the agent while `work` runs: once
    /// per block of decision points, not once per call.
    fn with_market<R>(&mut self, work: impl FnOnce(&mut Self) -> R) -> R {
        if let Some(instance) = self.instance.as_mut() {
            instance.host().lock_market(self.market.read_arc());
        }
        let result = work(self);
        if let Some(instance) = self.instance.as_mut() {
            instance.host().unlock_market();
        }
        result
    }

    /// Passes each order change to the agent, until no new ones arise.
    fn deliver_events(&mut self) -> Result<(), WriterStopped> {
        loop {
            let Some(instance) = self.instance.as_mut().filter(|_| self.running) else {
                return Ok(());
            };
            instance.host().broker.drain_events(&mut self.events);
            if self.events.is_empty() {
                return Ok(());
            }
            for event in std::mem::take(&mut self.events) {
                self.count(&event);
                let Some(instance) = self.instance.as_mut().filter(|_| self.running) else {
                    continue;
                };
                match instance.on_order(&event) {
                    Ok(()) => self.write(Stage::Order, Detail::Order(Box::new(event)))?,
                    Err(fault) => self.fail(fault)?,
                }
            }
        }
    }

    fn count(&mut self, event: &OrderEvent) {
        let orders = &mut self.report.orders;
        match &event.status {
            OrderStatus::Accepted | OrderStatus::PartiallyFilled(_) => {}
            OrderStatus::Filled(fill) => {
                orders.filled += 1;
                let fill = Fill::new(&event.symbol, event.side, fill.qty, fill.price, fill.bar_time, fill.commission);
                self.report.fills.push(&fill);
            }
            OrderStatus::Rejected(_) => orders.rejected += 1,
            OrderStatus::Canceled(_) => orders.canceled += 1,
        }
    }

    /// Ends the session after a fault: an ERROR record, then the open orders canceled.
    fn fail(&mut self, fault: Fault) -> Result<(), WriterStopped> {
        tracing::error!(agent = %self.meta.agent_id, kind = %fault.kind, "agent stopped: {}", fault.message);
        self.running = false;
        self.report.fault = Some(fault.clone());
        let canceled: Vec<OpenOrder> = match self.instance.as_mut() {
            Some(instance) => {
                let broker = &mut instance.host().broker;
                let open = broker.open_orders();
                for order in &open {
                    // The order was listed as open a moment ago, so the cancel cannot miss.
                    let _ = broker.cancel(order.id, "the agent faulted");
                }
                open
            }
            None => Vec::new(),
        };
        self.write(Stage::Error, Detail::Error { fault: Box::new(fault), canceled })?;
        if let Some(instance) = self.instance.as_mut() {
            instance.host().broker.drain_events(&mut self.events);
            for event in std::mem::take(&mut self.events) {
                self.count(&event);
            }
        }
        Ok(())
    }

    /// Writes one record with what the agent did since the last one.
    fn write(&mut self, stage: Stage, detail: Detail) -> Result<(), WriterStopped> {
        let wall_time = Timestamp::now();
        let mut accesses = Accesses::new();
        let ((decision_point, bar_time), data_hashes, (actions, rationale), portfolio, over_limits) = match self.instance.as_mut()
        {
            Some(instance) => {
                let over_limits = instance.take_over_limits();
                let host = instance.host();
                if !Arc::ptr_eq(host.names(), &self.sent_names) {
                    self.sent_names = host.names().clone();
                    self.sender.names(self.meta.index, self.sent_names.clone())?;
                }
                // The hashes first: they are those of the feeds read, which `take_into` clears.
                let data_hashes = host.data_hashes();
                let taken = host.log.take_into(&mut accesses);
                (position(host.market()), data_hashes, taken, portfolio(host.broker.as_ref()), over_limits)
            }
            None => {
                let position = position(self.market.read().latest());
                (position, DataHashes::new(), (Vec::new(), None), PortfolioState::default(), OverLimits::default())
            }
        };
        let record = DecisionRecord {
            session: self.meta.index,
            decision_point,
            wall_time,
            bar_time,
            stage,
            actions,
            accesses,
            data_hashes,
            portfolio,
            rationale,
            over_limits,
            detail,
        };
        self.report.accesses += record.accesses.iter().map(|a| u64::from(a.reads())).sum::<u64>();
        self.report.over_limits.add(record.over_limits);
        for action in &record.actions {
            match (&action.kind, action.order_id, &action.error) {
                (ActionKind::Submit { .. }, Some(_), None) => self.report.orders.submitted += 1,
                (_, _, Some(_)) => self.report.orders.refused += 1,
                _ => {}
            }
        }
        self.unsent.push(record);
        Ok(())
    }

    fn send_unsent(&mut self) -> Result<(), WriterStopped> {
        self.sender.send(&mut self.unsent)
    }

    /// Asks for the slot the decision's record goes to, before the agent
    /// decides: the buffers come back from the FMEL writer, whose core read
    /// them last.
    fn prefetch_next_slot(&self) {
        if self.unsent.len() < self.unsent.capacity() {
            crate::prefetch::for_write(self.unsent.as_ptr().wrapping_add(self.unsent.len()), 1);
        }
    }
}

/// The decision point and bar time of a record: 0 and none before the first bar.
fn position(market: MarketView<'_>) -> (u64, Option<Timestamp>) {
    match market.decision() {
        Some(d) => (d, Some(market.time())),
        None => (0, None),
    }
}

fn portfolio(broker: &dyn Broker) -> PortfolioState {
    PortfolioState { value: broker.value(), cash: broker.cash(), positions: broker.positions() }
}
