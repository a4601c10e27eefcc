//! trading-host: runs sandboxed WebAssembly trading agents against market
//! feeds and brokers, and logs every decision they make.

pub mod agents;
pub mod broker;
pub mod cli;
pub mod config;
pub mod decimal;
pub mod feed;
pub mod fills;
pub mod fmel;
pub mod limits;
pub mod market;
mod prefetch;
pub mod run;
pub mod runtime;
pub mod session;
pub mod summary;
#[cfg(test)]
mod testing;
pub mod text;
pub mod time;
