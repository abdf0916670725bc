//! Raft: a replicated key-value store, as a production engineer would recognise it.
//!
//! - `machine`: the node as a pure state machine emitting [`Ready`] batches;
//!   `vote`: elections with PreVote and CheckQuorum as options;
//!   `replication`: AppendEntries, fast backtracking, Figure 8 commitment;
//!   `kv`: the state machine with client sessions; `storage`: term, vote and a
//!   checksummed log on the simulated disk; `host`: the async loop on the simulator.
//! - `client`: client processes that record the history; `observer` and `check`: the
//!   safety, linearizability and liveness checks; `bugs`: the bug catalog.
//!
//! Not implemented: membership changes, snapshots and log compaction, leadership
//! transfer, batching of client requests beyond what one AppendEntries carries.

pub mod bugs;
pub mod check;
pub mod client;
pub mod host;
pub mod kv;
pub mod machine;
pub mod msg;
pub mod observer;
mod replication;
pub mod storage;
mod vote;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sim::{Nanos, SimHandle};

pub use bugs::{Bug, Bugs};
pub use client::ClientConfig;
pub use machine::{RaftConfig, RaftMachine, Ready, Role};
pub use observer::RaftObserver;

/// A Raft system under test: servers, clients and their settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftSystem {
    pub raft: RaftConfig,
    pub clients: usize,
    pub client: ClientConfig,
    /// After the last fault, a client write must commit within this.
    pub liveness: Option<Nanos>,
    /// Bugs this scenario always switches on (the CLI can add more).
    pub bugs: Bugs,
}

impl Default for RaftSystem {
    fn default() -> Self {
        RaftSystem {
            raft: RaftConfig::default(),
            clients: 3,
            client: ClientConfig::default(),
            liveness: Some(Nanos::from_secs(3)),
            bugs: Bugs::none(),
        }
    }
}

/// Starts `servers` Raft servers (nodes 0..servers) and the clients after them.
pub fn start(
    sim: &SimHandle,
    system: &RaftSystem,
    servers: usize,
    bugs: &Bugs,
) -> Arc<Mutex<RaftObserver>> {
    let obs = Arc::new(Mutex::new(RaftObserver::new(servers)));
    let mut all_bugs = system.bugs.clone();
    all_bugs.0.extend(bugs.0.iter().copied());
    for node in 0..servers {
        let (o, config, b) = (obs.clone(), system.raft, all_bugs.clone());
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

impl RaftSystem {
    /// Draws protocol settings for a swarm run: PreVote, CheckQuorum, lease reads (only
    /// with CheckQuorum, whose leader stickiness the lease relies on) and the batch size.
    /// Returns what it drew, for the run's description.
    pub fn draw_settings(&mut self, rng: &mut impl rand::Rng) -> Vec<String> {
        let r = &mut self.raft;
        r.pre_vote = rng.gen_bool(0.5);
        r.check_quorum = rng.gen_bool(0.5);
        r.lease_reads = r.check_quorum && rng.gen_bool(0.5);
        r.max_batch = [1, 4, 16, 64][rng.gen_range(0..4)];
        let on = |b: bool| if b { "on" } else { "off" };
        vec![format!(
            "PreVote {}, CheckQuorum {}, lease reads {}, batches of {}",
            on(r.pre_vote),
            on(r.check_quorum),
            on(r.lease_reads),
            r.max_batch
        )]
    }
}
