//! Host bindings for `trading:agent@0.1.0`, generated once, here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "trading:agent/agent",
    imports: { default: trappable },
});
