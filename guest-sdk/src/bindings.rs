#![allow(clippy::too_many_arguments)]

//! Raw bindings of `trading:agent@0.1.0`. Agents use the typed API of this
//! crate instead; these stay reachable only for the export macro.

wit_bindgen::generate!({
    path: "../wit",
    world: "trading:agent/agent",
    pub_export_macro: true,
    export_macro_name: "__export_agent_world",
    default_bindings_module: "trading_sdk::__private::bindings",
    runtime_path: "trading_sdk::__private::wit_bindgen::rt",
});
