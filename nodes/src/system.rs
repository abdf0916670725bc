//! What every system under test hands the runner at the end of a run, and gets back.

use serde::Serialize;
use sim::audit::Violation;
use sim::{Status, TraceEvent};

/// The finished run, as a system's checks see it.
pub struct RunEnd<'a> {
    pub events: &'a [TraceEvent],
    pub names: &'a [String],
    /// Every node's status at the end (servers first, then clients).
    pub statuses: &'a [Status],
    /// Servers are nodes `0..servers`.
    pub servers: usize,
    /// Simulated time of the last scheduled fault (0 if none).
    pub last_fault_ns: u64,
    /// Simulated time at which the run ended.
    pub end_ns: u64,
}

/// A system's verdict on a run.
#[derive(Debug, Default, Serialize)]
pub struct SystemCheck {
    pub violations: Vec<Violation>,
    /// Set when a check could not decide (a search ran out of time).
    pub unknown: Option<String>,
    /// Figures the system reports (convergence rounds, blocked time, ...), shown in reports.
    pub stats: serde_json::Map<String, serde_json::Value>,
    /// The client history as native JSON lines, if the system has clients.
    pub history: Option<String>,
}
