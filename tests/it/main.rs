//! End-to-end tests: real components in the real host. One binary, so that
//! wasmtime is linked once.

mod access_log;
mod bad_input;
mod determinism;
mod e2e;
mod hostile;
mod reference;
mod sandbox;
mod schema;
