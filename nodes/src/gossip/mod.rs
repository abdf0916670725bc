//! Gossip: SWIM membership and failure detection, and a key-value store spread by
//! push-pull anti-entropy with version vectors per key (concurrent writes kept as
//! siblings, deletes as tombstones).
//!
//! - `machine`: a server as a pure state machine (probes, indirect probes, suspicion and
//!   refutation, piggybacked dissemination, anti-entropy, client writes); `store`: the
//!   versioned replica and its merge; `msg`: the wire; `host`: the async loop on the
//!   simulator; `client`: client processes; `observer` and `check`: the oracle and the
//!   end-of-run checks; `liveness`: failure detection, copies behind each ack and client
//!   progress; `bugs`: the bug catalog.
//!
//! - `persist`: the replica and incarnation as a checksummed snapshot on the simulated
//!   disk, replaced atomically and fsynced before anything that depends on it is sent.
//!
//! Not implemented: an incremental write-ahead log (the whole replica is rewritten),
//! tombstone garbage collection, read repair, CRDT values, Lifeguard's refinements of SWIM.

pub mod bugs;
pub mod check;
pub mod client;
pub mod host;
pub mod liveness;
pub mod machine;
pub mod msg;
pub mod observer;
pub mod persist;
pub mod store;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sim::SimHandle;

pub use bugs::{Bug, Bugs};
pub use check::check_run;
pub use client::ClientConfig;
pub use machine::{GossipConfig, GossipMachine};
pub use observer::Observer;

/// The system's settings, as a scenario gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipSystem {
    /// Client processes, nodes `servers..servers + clients`.
    pub clients: usize,
    pub client: ClientConfig,
    pub gossip: GossipConfig,
    /// Anti-entropy rounds within which live servers must converge once faults and
    /// clients are quiet.
    pub convergence_rounds: u64,
    /// Bugs this scenario always switches on (the CLI can add more).
    pub bugs: Bugs,
}

impl Default for GossipSystem {
    fn default() -> Self {
        GossipSystem {
            clients: 2,
            client: ClientConfig::default(),
            gossip: GossipConfig::default(),
            convergence_rounds: 30,
            bugs: Bugs::none(),
        }
    }
}

/// Starts the servers (nodes `0..servers`) and the clients after them.
pub fn start(
    sim: &SimHandle,
    system: &GossipSystem,
    servers: usize,
    bugs: &Bugs,
) -> Arc<Mutex<Observer>> {
    let obs = Arc::new(Mutex::new(Observer::new(servers)));
    let mut all_bugs = system.bugs.clone();
    all_bugs.0.extend(bugs.0.iter().copied());
    for node in 0..servers {
        let (o, config, b) = (obs.clone(), system.gossip, all_bugs.clone());
        sim.start_node(node, move |ctx| {
            host::run_server(ctx, servers, config, b.clone(), o.clone())
        });
    }
    for c in 0..system.clients {
        let (o, cc) = (obs.clone(), system.client);
        sim.start_node(servers + c, move |ctx| {
            client::run_client(ctx, servers, cc, o.clone())
        });
    }
    obs
}

impl GossipSystem {
    /// Draws protocol settings for a swarm run: indirect probes, the suspicion timeout,
    /// the piggyback budget and the copies a write needs before it is acknowledged.
    /// Returns what it drew, for the run's description.
    pub fn draw_settings(&mut self, rng: &mut impl rand::Rng) -> Vec<String> {
        let g = &mut self.gossip;
        g.indirect = rng.gen_range(1..=3);
        g.suspicion = sim::Nanos::from_millis(rng.gen_range(300..=800));
        g.piggyback = rng.gen_range(2..=8);
        g.copies = rng.gen_range(1..=3);
        vec![format!(
            "{} indirect probes, suspicion {} ms, piggyback {}, {} copies per write",
            g.indirect,
            g.suspicion.0 / 1_000_000,
            g.piggyback,
            g.copies
        )]
    }
}
