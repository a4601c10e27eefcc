//! One agent's run: its instance, its broker account and its log.
//!
//! At each decision point the broker works open orders against the new bars,
//! the agent hears about each order change (`on-order`), then decides
//! (`on-bar`), then hears whether its new orders were accepted. Every call
//! produces one FMEL record. A fault ends this session only: it writes an
//! ERROR record, cancels the open orders and stops calling the agent.

use crate::broker::{Broker, OpenOrder, OrderEvent, OrderStatus, Side};
use crate::fmel::writer::{RecordSender, WriterStopped};
use crate::fmel::{ActionKind, DecisionRecord, Detail, Fault, OverLimits, PortfolioState, SessionHeader, SessionMeta, Stage};
use crate::limits::AgentLimits;
use crate::market::Market;
use crate::runtime::{AgentComponent, AgentInstance, HostState};
use crate::time::Timestamp;
use parking_lot::RwLock;
use rust_decimal::Decimal;
use std::sync::Arc;

/// A fill as the summary reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct FillReport {
    pub symbol: Arc<str>,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    pub bar_time: Timestamp,
    pub commission: Decimal,
}

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
#[derive(Clone, Debug)]
pub struct AgentReport {
    pub agent_id: String,
    pub session_id: String,
    pub portfolio: PortfolioState,
    pub fills: Vec<FillReport>,
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
    instance: Option<AgentInstance>,
    market: Arc<RwLock<Market>>,
    sender: RecordSender,
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
        let meta = Arc::new(SessionMeta {
            index: setup.index,
            agent_id: setup.agent_id.clone(),
            session_id: uuid::Uuid::new_v4().to_string(),
        });
        let host = HostState::new(&market.read(), broker, setup.limits.clone());
        let instance = component.instantiate(&setup.agent_id, setup.seed, setup.limits, host);
        let mut session = Session {
            report: AgentReport {
                agent_id: setup.agent_id,
                session_id: meta.session_id.clone(),
                portfolio: PortfolioState::default(),
                fills: Vec::new(),
                orders: OrderCounts::default(),
                decisions: 0,
                accesses: 0,
                over_limits: OverLimits::default(),
                fault: None,
            },
            meta,
            instance: None,
            market,
            sender,
            events: Vec::new(),
            running: false,
        };
        let header = Detail::Header(Box::new(setup.header));
        let mut instance = match instance {
            Ok(instance) => instance,
            Err(fault) => {
                session.write(Stage::Init, header)?;
                return session.fail(fault).map(|()| session);
            }
        };
        let outcome = instance.init(&session.market, &setup.params);
        session.instance = Some(instance);
        session.write(Stage::Init, header)?;
        match outcome {
            Ok(Ok(())) => session.running = true,
            Ok(Err(message)) => session.fail(Fault { kind: "init-failed".into(), message })?,
            Err(fault) => session.fail(fault)?,
        }
        if session.running {
            session.deliver_events()?;
        }
        Ok(session)
    }

    /// Runs the current decision point of the market.
    pub fn on_decision(&mut self) -> Result<(), WriterStopped> {
        let Some(instance) = self.instance.as_mut().filter(|_| self.running) else {
            return Ok(());
        };
        {
            let market = self.market.read();
            instance.set_time(market.time());
            instance.new_decision();
            instance.host().broker.on_market(&market);
        }
        self.deliver_events()?;
        if !self.running {
            return Ok(());
        }
        let instance = self.instance.as_mut().expect("running sessions have an instance");
        match instance.on_bar(&self.market) {
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
        let instance = self.instance.as_mut().expect("running sessions have an instance");
        instance.new_decision();
        match instance.on_stop(&self.market) {
            Ok(()) => {
                let open_orders = instance.host().broker.open_orders();
                self.running = false;
                self.write(Stage::Stop, Detail::Stop { open_orders })
            }
            Err(fault) => self.fail(fault),
        }
    }

    /// The session's results; call after `stop`.
    pub fn into_report(mut self) -> AgentReport {
        if let Some(instance) = self.instance.as_mut() {
            let broker = &instance.host().broker;
            self.report.portfolio = portfolio(broker.as_ref());
            self.report.orders.open = broker.open_orders().len() as u64;
        }
        self.report.fills.sort_by_key(|f| f.bar_time);
        self.report
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
                match instance.on_order(&self.market, &event) {
                    Ok(()) => self.write(Stage::Order, Detail::Order(event))?,
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
                self.report.fills.push(FillReport {
                    symbol: event.symbol.clone(),
                    side: event.side,
                    qty: fill.qty,
                    price: fill.price,
                    bar_time: fill.bar_time,
                    commission: fill.commission,
                });
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
        self.write(Stage::Error, Detail::Error { fault, canceled })?;
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
        let market = self.market.read();
        let (decision_point, bar_time) = match market.decision() {
            Some(d) => (d, Some(market.time())),
            None => (0, None),
        };
        let mut record = DecisionRecord {
            session: self.meta.clone(),
            decision_point,
            wall_time: Timestamp::now(),
            bar_time,
            stage,
            actions: Vec::new(),
            accesses: Vec::new(),
            data_hashes: Vec::new(),
            names: Default::default(),
            portfolio: PortfolioState::default(),
            rationale: None,
            over_limits: OverLimits::default(),
            detail,
        };
        if let Some(instance) = self.instance.as_mut() {
            record.over_limits = instance.take_over_limits();
            let host = instance.host();
            record.data_hashes = host.data_hashes(&market);
            record.names = host.names().clone();
            (record.accesses, record.actions, record.rationale) = host.log.take();
            record.portfolio = portfolio(host.broker.as_ref());
        }
        drop(market);
        self.report.accesses += record.accesses.len() as u64;
        self.report.over_limits.add(record.over_limits);
        for action in &record.actions {
            match (&action.kind, action.order_id, &action.error) {
                (ActionKind::Submit { .. }, Some(_), None) => self.report.orders.submitted += 1,
                (_, _, Some(_)) => self.report.orders.refused += 1,
                _ => {}
            }
        }
        self.sender.send(record)
    }
}

fn portfolio(broker: &dyn Broker) -> PortfolioState {
    PortfolioState { value: broker.value(), cash: broker.cash(), positions: broker.positions() }
}
