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

use crate::system::{RunEnd, Running, Start, System, SystemCheck};

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
}

impl Default for GossipSystem {
    fn default() -> Self {
        GossipSystem {
            clients: 2,
            client: ClientConfig::default(),
            gossip: GossipConfig::default(),
            convergence_rounds: 30,
        }
    }
}

impl GossipSystem {
    /// Settings that cannot work, each named by its key in a scenario file.
    pub fn validate(&self) -> Result<(), String> {
        use crate::validate::{percent, positive};
        let (g, c) = (&self.gossip, &self.client);
        positive("gossip.period", g.period)?;
        positive("gossip.gossip_interval", g.gossip_interval)?;
        positive("client.timeout", c.timeout)?;
        percent("client.read_percent", c.read_percent)?;
        percent("client.delete_percent", c.delete_percent)?;
        if c.read_percent + c.delete_percent > 100 {
            return Err(format!(
                "client.delete_percent = {} with client.read_percent = {} is over 100 percent",
                c.delete_percent, c.read_percent
            ));
        }
        Ok(())
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
    for node in 0..servers {
        let (o, config, b) = (obs.clone(), system.gossip, bugs.clone());
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

/// Gossip as a system under test: registered with the harness through the public interface.
pub struct Gossip;

struct GossipRun {
    obs: Arc<Mutex<Observer>>,
    settings: GossipSystem,
}

impl Running for GossipRun {
    fn judge(self: Box<Self>, end: &RunEnd<'_>) -> SystemCheck {
        let mut obs = self.obs.lock().unwrap_or_else(|e| e.into_inner());
        check_run(&mut obs, &self.settings, end)
    }
}

impl System for Gossip {
    type Settings = GossipSystem;
    type Bug = Bug;

    fn name(&self) -> &'static str {
        "gossip"
    }

    fn describe(&self) -> &'static str {
        "SWIM membership and a key-value store spread by push-pull anti-entropy"
    }

    fn clients(&self, s: &GossipSystem) -> usize {
        s.clients
    }

    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "convergence",
                "live servers converge within the bound after the last fault",
            ),
            ("membership", "live servers agree on who is alive"),
            ("lost-write", "an acknowledged write is never lost"),
            ("resurrection", "a deleted key does not come back"),
            ("conflict-audit", "siblings are kept, not silently dropped"),
            (
                "integrity",
                "a server never serves damaged data from its disk",
            ),
            (
                "failure-detection",
                "a server down for long is dead in every live server's view",
            ),
            (
                "copies",
                "an acknowledged write is on as many servers as promised",
            ),
            (
                "client-progress",
                "after the last fault every client completes an operation within a bound",
            ),
            (
                "client-service",
                "while every server is up and no link is cut, a client that asks is answered",
            ),
            (
                "refused-start",
                "no server refuses to start on a disk no fault damaged",
            ),
        ]
    }

    fn bound_keys(&self) -> &'static [&'static str] {
        &["convergence_rounds"]
    }

    fn validate(&self, s: &GossipSystem, _servers: usize) -> Result<(), String> {
        s.validate()
    }

    fn start(&self, st: Start<'_, GossipSystem, Bug>) -> Box<dyn Running> {
        let bugs = Bugs(st.bugs.clone());
        let obs = start(st.sim, st.settings, st.servers, &bugs);
        Box::new(GossipRun {
            obs,
            settings: st.settings.clone(),
        })
    }

    fn fewer_clients(&self, s: &GossipSystem) -> Option<GossipSystem> {
        (s.clients > 1).then(|| GossipSystem {
            clients: s.clients - 1,
            ..s.clone()
        })
    }

    fn fewer_operations(&self, s: &GossipSystem) -> Vec<GossipSystem> {
        let mut out = Vec::new();
        let mut slower = s.clone();
        if crate::system::double_think(&mut slower.client.think) {
            out.push(slower);
        }
        if s.client.until.0 > 10_000_000 {
            let mut shorter = s.clone();
            shorter.client.until.0 /= 2;
            out.push(shorter);
        }
        out
    }

    fn swarm_settings(
        &self,
        settings: &mut GossipSystem,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<String> {
        settings.draw_settings(rng)
    }

    fn swarm_base(&self) -> Option<&'static str> {
        Some("gossip/partition-halves")
    }

    /// Not full disks: a server that cannot persist goes mute, by design.
    fn swarm_disk(&self) -> crate::system::SwarmDisk {
        crate::system::SwarmDisk {
            full_disk: false,
            ..crate::system::SwarmDisk::ALL
        }
    }
}
