//! The relay system: the smallest system that exercises every part of the world.
//!
//! Every node, on each tick of its own clock, sends a `Relay` to the next peer in
//! round-robin order. A node that receives a `Relay` acknowledges it to the sender and, if
//! hops remain, forwards it to its own next peer. Counters are volatile: a crash loses them
//! and the restarted incarnation starts from zero (it persists nothing).
//!
//! Not a protocol anyone would deploy: there are no retries and no ordering guarantees.
//! What it offers is traffic on every link, which is what the world's checks need.

pub mod check;
pub mod host;
pub mod machine;

pub use check::check_traffic_resumes;
pub use host::{start, RelayConfig};
pub use machine::{RelayMachine, RelayMsg};

use crate::system::{NoBugs, RunEnd, Running, Start, System, SystemCheck};

/// The relay as a system under test: every node is a server, no clients, no bugs.
pub struct Relay;

struct RelayRun;

impl Running for RelayRun {
    fn judge(self: Box<Self>, end: &RunEnd<'_>) -> SystemCheck {
        let servers = end.servers;
        SystemCheck {
            violations: check_traffic_resumes(
                end.events,
                &end.names[..servers],
                &end.statuses[..servers],
                end.last_fault_ns,
            ),
            ..SystemCheck::default()
        }
    }
}

impl System for Relay {
    type Settings = RelayConfig;
    type Bug = NoBugs;

    fn name(&self) -> &'static str {
        "relay"
    }

    fn describe(&self) -> &'static str {
        "nodes relay and acknowledge messages on every link: a system that proves the world"
    }

    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        vec![(
            "traffic-resumes",
            "after the last fault, messages flow between every pair of nodes that are up",
        )]
    }

    /// `traffic-resumes` reads every delivery.
    fn reads_every_event(&self) -> bool {
        true
    }

    fn validate(&self, s: &RelayConfig, _servers: usize) -> Result<(), String> {
        s.validate()
    }

    fn start(&self, st: Start<'_, RelayConfig, NoBugs>) -> Box<dyn Running> {
        start(st.sim, *st.settings);
        Box::new(RelayRun)
    }
}
