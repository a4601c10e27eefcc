//! Write trading agents for [trading-host] in Rust.
//!
//! An agent is a type implementing [`Agent`], exported with
//! [`export_agent!`] and compiled for `wasm32-wasip2`. The host calls
//! [`Agent::init`] once, [`Agent::on_bar`] at every decision point (one per
//! distinct bar timestamp), [`Agent::on_order`] whenever one of its orders
//! changes, and [`Agent::on_stop`] at the end.
//!
//! Everything an agent knows about the market comes through [`Feed`]
//! handles, much like `self.datas` in backtrader: `data.close(0)` is the
//! current close, `data.close(-1)` the previous one, and
//! `data.field("sentiment_score", 0)` a dynamic field. The host logs every
//! read, with its bar offset, in the explainability log.
//!
//! # A complete agent
//!
//! ```no_run
//! use trading_sdk::prelude::*;
//!
//! /// Buys when the close rises above its 20-bar average while flat, and
//! /// sells everything when it falls back below.
//! struct Breakout {
//!     period: u32,
//!     size: f64,
//!     closes: Vec<Series>,
//! }
//!
//! impl Agent for Breakout {
//!     fn init(ctx: &Context, params: &Params) -> Result<Self, String> {
//!         Ok(Breakout {
//!             period: params.parse_or("period", 20)?,
//!             size: params.parse_or("size", 10.0)?,
//!             // Intern each feed's close once; reads by series are cheapest.
//!             closes: ctx.feeds().iter().map(|f| f.series("close")).collect(),
//!         })
//!     }
//!
//!     fn on_bar(&mut self, ctx: &Context) {
//!         for (feed, closes) in ctx.feeds().iter().zip(&self.closes) {
//!             if !feed.is_updated() || feed.len() < u64::from(self.period) {
//!                 continue;
//!             }
//!             let window = closes.window(self.period); // one host call
//!             let Some(average) = sma(&window) else { continue };
//!             let Some(close) = feed.close(0) else { continue };
//!             let held = feed.position();
//!             if close > average && held == 0.0 {
//!                 ctx.explain(format!("{} closed at {close} above its average {average:.4}", feed.symbol()));
//!                 let _ = feed.buy(self.size).submit();
//!             } else if close < average && held > 0.0 {
//!                 let _ = feed.sell(held).submit();
//!             }
//!         }
//!     }
//!
//!     fn on_order(&mut self, _ctx: &Context, update: &OrderUpdate) {
//!         if let OrderStatus::Rejected(reason) = &update.status {
//!             eprintln!("order {} rejected: {reason}", update.id);
//!         }
//!     }
//! }
//!
//! export_agent!(Breakout);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (the crate
//! type must be `cdylib`), then run it:
//! `trading-host run --agent target/wasm32-wasip2/release/breakout.wasm --data data/`.
//!
//! Inside the sandbox there are no files, no network and no environment;
//! `std::time::SystemTime::now()` is the current bar's time, and random
//! numbers come from the run's seed, so a replay is reproducible.
//!
//! [trading-host]: https://github.com/trading-host/trading-host

// The generated code names this crate by its external path.
extern crate self as trading_sdk;

#[doc(hidden)]
pub mod bindings;
mod context;
mod feed;
mod fixed;
pub mod math;
mod order;
mod params;
#[cfg(test)]
mod testing;

pub use context::Context;
pub use feed::{Feed, FeedId, Series};
pub use fixed::{Fixed, fixed};
pub use math::{Cross, CrossOver, fsum, sma};
pub use order::{Fill, LimitExceeded, OrderBuilder, OrderError, OrderId, OrderStatus, OrderUpdate, Side, TimeInForce};
pub use params::Params;

/// Everything an agent usually needs.
pub mod prelude {
    pub use crate::{
        Agent, Context, Cross, CrossOver, Feed, FeedId, Fill, LimitExceeded, OrderBuilder, OrderError, OrderId, OrderStatus,
        OrderUpdate, Params, Series, Side, TimeInForce, export_agent, fixed, fsum, sma,
    };
}

/// A trading agent. Only `init` and `on_bar` are required.
pub trait Agent: Sized + 'static {
    /// Builds the agent from its parameters, before the first bar. An error
    /// stops the agent with that message.
    fn init(ctx: &Context, params: &Params) -> Result<Self, String>;

    /// Decides at one decision point: one distinct bar timestamp across the feeds.
    fn on_bar(&mut self, ctx: &Context);

    /// Hears about a change of one of its orders: accepted, filled, canceled, rejected.
    fn on_order(&mut self, ctx: &Context, update: &OrderUpdate) {
        let _ = (ctx, update);
    }

    /// Called once when the run ends.
    fn on_stop(&mut self, ctx: &Context) {
        let _ = ctx;
    }
}

/// Exports an [`Agent`] type as the component's `agent` world.
#[macro_export]
macro_rules! export_agent {
    ($agent:ty) => {
        const _: () = {
            ::std::thread_local! {
                // The agent lives here between calls; the component has one thread.
                static AGENT: $crate::__private::Slot<$agent> = const { $crate::__private::Slot::new() };
            }

            struct __TradingAgentExport;

            impl $crate::__private::Guest for __TradingAgentExport {
                fn init(
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::init(&AGENT, params)
                }
                fn on_bar() {
                    $crate::__private::on_bar(&AGENT)
                }
                fn on_order(update: $crate::__private::RawOrderUpdate) {
                    $crate::__private::on_order(&AGENT, update)
                }
                fn on_stop() {
                    $crate::__private::on_stop(&AGENT)
                }
            }

    $crate::__private::bindings::__export_agent_world!(__TradingAgentExport with_types_in $crate::__private::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use super::{Agent, Context, OrderUpdate, Params};
    use std::cell::RefCell;
    use std::thread::LocalKey;

    pub use crate::bindings;
    pub use crate::bindings::Guest;
    pub use wit_bindgen;
    pub type RawOrderUpdate = crate::bindings::OrderUpdate;

    /// Where `export_agent!` keeps the agent and its context, typed, so that
    /// a call reaches the agent without dynamic dispatch.
    pub struct Slot<A>(RefCell<Option<(Context, A)>>);

    impl<A> Slot<A> {
        pub const fn new() -> Self {
            Slot(RefCell::new(None))
        }
    }

    impl<A> Default for Slot<A> {
        fn default() -> Self {
            Self::new()
        }
    }

    type Key<A> = LocalKey<Slot<A>>;

    fn with<A: Agent>(key: &'static Key<A>, call: impl FnOnce(&mut A, &Context)) {
        key.with(|slot| {
            let mut slot = slot.0.borrow_mut();
            let (ctx, agent) = slot.as_mut().expect("the host calls init before anything else");
            call(agent, ctx);
        });
    }

    pub fn init<A: Agent>(key: &'static Key<A>, params: Vec<(String, String)>) -> Result<(), String> {
        let ctx = Context::load();
        let agent = A::init(&ctx, &Params::new(params))?;
        key.with(|slot| *slot.0.borrow_mut() = Some((ctx, agent)));
        Ok(())
    }

    pub fn on_bar<A: Agent>(key: &'static Key<A>) {
        with(key, |agent, ctx| agent.on_bar(ctx));
    }

    pub fn on_order<A: Agent>(key: &'static Key<A>, update: RawOrderUpdate) {
        let update = OrderUpdate::from(update);
        with(key, |agent, ctx| agent.on_order(ctx, &update));
    }

    pub fn on_stop<A: Agent>(key: &'static Key<A>) {
        with(key, |agent, ctx| agent.on_stop(ctx));
    }
}
