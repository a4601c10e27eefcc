//! What an agent may use. Every bound has a default; `--limit KEY=VALUE`
//! changes one for every agent and `--limit ID.KEY=VALUE` for one agent.

use serde::{Deserialize, Serialize};

/// Per-agent bounds of the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentLimits {
    /// Fuel for each call into the agent (init, on-bar, on-order, on-stop),
    /// about one unit per WebAssembly instruction. Running out is a fault at
    /// the same instruction on every run.
    pub fuel_per_call: u64,
    /// Wall-clock deadline of each call, in milliseconds: the backstop for
    /// time spent where fuel does not burn, such as waiting in a host call.
    pub deadline_ms: u64,
    /// Linear memory of the agent, in MiB.
    pub memory_mib: u64,
    /// Tables the agent may create.
    pub tables: u32,
    /// Elements in any one table.
    pub table_elements: u32,
    /// Core instances in the agent's component.
    pub instances: u32,
    /// Linear memories in the agent's component.
    pub memories: u32,
    /// Size of the component file, in MiB.
    pub component_mib: u64,
    /// Values one window read may ask for; more is a fault.
    pub window_len: u32,
    /// Bytes one text read may return; more is a fault.
    pub text_bytes: u32,
    /// Read calls in one decision point; more is a fault, since a read
    /// that is not logged cannot be allowed.
    pub reads_per_decision: u32,
    /// Series and position symbols the agent may intern; more is a fault.
    pub series: u32,
    /// Bytes of a field name, symbol or client order id the agent passes;
    /// more is a fault, so that names the host keeps stay small.
    pub name_bytes: u32,
    /// Order requests and cancels in one decision point; the excess gets a
    /// typed error and is counted in the record.
    pub orders_per_decision: u32,
    /// Bytes of `explain` text kept per decision point; the excess is
    /// dropped, counted, and the agent gets a typed error.
    pub explain_bytes_per_decision: u32,
    /// Bytes of stdout and of stderr logged per decision point; the excess
    /// is dropped and counted.
    pub output_bytes_per_decision: u32,
}

impl Default for AgentLimits {
    fn default() -> Self {
        AgentLimits {
            fuel_per_call: 200_000_000,
            deadline_ms: 1_000,
            memory_mib: 64,
            tables: 16,
            table_elements: 100_000,
            instances: 32,
            memories: 2,
            component_mib: 64,
            window_len: 16_384,
            text_bytes: 65_536,
            reads_per_decision: 1_000_000,
            series: 65_536,
            name_bytes: 256,
            orders_per_decision: 100,
            explain_bytes_per_decision: 4_096,
            output_bytes_per_decision: 16_384,
        }
    }
}

impl AgentLimits {
    /// Sets one bound by its name, as given to `--limit`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut fields = serde_json::to_value(&*self).map_err(|e| e.to_string())?;
        let number: u64 =
            value.trim().replace('_', "").parse().map_err(|_| format!("limit {key}: {value:?} is not a whole number"))?;
        let slot =
            fields.get_mut(key).ok_or_else(|| format!("unknown limit {key}; the limits are {}", Self::names().join(", ")))?;
        *slot = number.into();
        *self = serde_json::from_value(fields).map_err(|e| format!("limit {key}: {e}"))?;
        Ok(())
    }

    pub fn names() -> Vec<String> {
        match serde_json::to_value(AgentLimits::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_by_name_with_clear_errors() {
        let mut limits = AgentLimits::default();
        limits.set("fuel_per_call", "1_000").unwrap();
        assert_eq!(limits.fuel_per_call, 1000);
        let err = limits.set("fule_per_call", "1").unwrap_err();
        assert!(err.starts_with("unknown limit fule_per_call; the limits are component_mib, deadline_ms,"), "{err}");
        assert_eq!(limits.set("memory_mib", "lots").unwrap_err(), "limit memory_mib: \"lots\" is not a whole number");
        assert!(limits.set("tables", "99999999999").unwrap_err().starts_with("limit tables: "));
    }
}
