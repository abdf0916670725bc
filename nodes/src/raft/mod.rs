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
use sim::{Nanos, SimHandle, Status};

use crate::system::{ClientHistory, RunEnd, Running, Start, System, SystemCheck};

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
}

impl Default for RaftSystem {
    fn default() -> Self {
        RaftSystem {
            raft: RaftConfig::default(),
            clients: 3,
            client: ClientConfig::default(),
            liveness: Some(Nanos::from_secs(3)),
        }
    }
}

impl RaftSystem {
    /// Settings that cannot work, each named by its key in a scenario file.
    pub fn validate(&self) -> Result<(), String> {
        use crate::validate::{at_least, percent, positive};
        let (r, c) = (&self.raft, &self.client);
        positive("raft.election_min", r.election_min)?;
        if r.election_min > r.election_max {
            return Err(format!(
                "raft.election_min = {} is above raft.election_max = {}",
                r.election_min, r.election_max
            ));
        }
        positive("raft.heartbeat", r.heartbeat)?;
        at_least(
            "raft.max_batch",
            r.max_batch,
            1,
            "a leader could send no entries",
        )?;
        positive("client.timeout", c.timeout)?;
        if c.attempts == 0 {
            return Err("client.attempts = 0 is below 1: no request would be sent".into());
        }
        percent("client.read_percent", c.read_percent)
    }
}

/// Starts `servers` Raft servers (nodes 0..servers) and the clients after them.
pub fn start(
    sim: &SimHandle,
    system: &RaftSystem,
    servers: usize,
    bugs: &Bugs,
) -> Arc<Mutex<RaftObserver>> {
    let mut observer = RaftObserver::new(servers);
    observer.catch_up_bound = system.liveness.map(|b| b.0);
    let obs = Arc::new(Mutex::new(observer));
    for node in 0..servers {
        let (o, config, b) = (obs.clone(), system.raft, bugs.clone());
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

/// Raft as a system under test: registered with the harness through the public interface.
pub struct Raft;

/// A running Raft cluster: the observer tells who leads and judges the run.
struct RaftRun {
    obs: Arc<Mutex<RaftObserver>>,
    settings: RaftSystem,
}

impl Running for RaftRun {
    fn leader(&self, sim: &SimHandle) -> Option<usize> {
        self.obs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current_leader()
            .filter(|&l| sim.status(l) == Status::Up)
    }

    fn judge(self: Box<Self>, end: &RunEnd<'_>) -> SystemCheck {
        let mut obs = self.obs.lock().unwrap_or_else(|e| e.into_inner());
        let liveness = self
            .settings
            .liveness
            .filter(|_| check::majority_serving(end))
            .map(|b| (end.last_fault_ns, b.0));
        if let Some((quiet_from, bound)) = liveness {
            let serving = crate::universal::serving(end);
            obs.check_catch_up(&serving, quiet_from, bound, end.end_ns);
        }
        let mut check = check::check_run(&mut obs, liveness);
        check
            .violations
            .extend(check::check_end(&check.history, &self.settings, end));
        SystemCheck {
            violations: check.violations,
            unknown: check.unknown,
            stats: Default::default(),
            history: Some(ClientHistory::Compact(Arc::new(check.history))),
        }
    }
}

impl System for Raft {
    type Settings = RaftSystem;
    type Bug = Bug;

    fn name(&self) -> &'static str {
        "raft"
    }

    fn describe(&self) -> &'static str {
        "Raft: a replicated key-value store with PreVote, CheckQuorum, ReadIndex and lease reads"
    }

    fn clients(&self, s: &RaftSystem) -> usize {
        s.clients
    }

    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("election-safety", "at most one leader per term"),
            (
                "leader-completeness",
                "a new leader holds every committed entry",
            ),
            (
                "state-machine-safety",
                "no two nodes apply different entries at one index",
            ),
            ("commit-monotonic", "a node's commit index never goes back"),
            (
                "log-matching",
                "logs that agree at an index agree before it",
            ),
            (
                "linearizability",
                "the clients' key-value history is linearizable",
            ),
            (
                "liveness",
                "after the last fault a write commits within the bound",
            ),
            (
                "client-progress",
                "after the last fault every client gets an answer within the bound",
            ),
            (
                "catch-up",
                "after the last fault every serving server's log holds what was committed a bound before the end",
            ),
            (
                "refused-start",
                "no server refuses to start on a disk no fault damaged",
            ),
            (
                "commit-majority",
                "an entry is on a majority of logs when it commits",
            ),
            ("duplicate-apply", "no node executes a client request twice"),
        ]
    }

    fn has_leader(&self) -> bool {
        true
    }

    fn bound_keys(&self) -> &'static [&'static str] {
        &["liveness"]
    }

    fn validate(&self, s: &RaftSystem, _servers: usize) -> Result<(), String> {
        s.validate()
    }

    fn start(&self, st: Start<'_, RaftSystem, Bug>) -> Box<dyn Running> {
        let bugs = Bugs(st.bugs.clone());
        let obs = start(st.sim, st.settings, st.servers, &bugs);
        Box::new(RaftRun {
            obs,
            settings: st.settings.clone(),
        })
    }

    fn fewer_clients(&self, s: &RaftSystem) -> Option<RaftSystem> {
        (s.clients > 1).then(|| RaftSystem {
            clients: s.clients - 1,
            ..s.clone()
        })
    }

    fn fewer_operations(&self, s: &RaftSystem) -> Vec<RaftSystem> {
        let mut slower = s.clone();
        if crate::system::double_think(&mut slower.client.think) {
            vec![slower]
        } else {
            vec![]
        }
    }

    fn swarm_settings(
        &self,
        settings: &mut RaftSystem,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<String> {
        settings.draw_settings(rng)
    }

    fn swarm_base(&self) -> Option<&'static str> {
        Some("raft/partition-halves")
    }

    fn swarm_disk(&self) -> crate::system::SwarmDisk {
        crate::system::SwarmDisk::ALL
    }
}
