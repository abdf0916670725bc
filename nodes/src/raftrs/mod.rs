//! tikv's raft-rs (crate `raft` 0.7) hosted as the system `raft-rs`, written only against
//! the public system interface (`crate::system`, `sim`, `checkers`), as a user would.
//!
//! - `host`: servers each drive a `RawNode` through raft-rs's Ready loop (messages at
//!   once; snapshot; append and HardState; fsync; then the persisted messages; apply;
//!   advance; the light ready), with ticks from the node's own clock, a key-value state
//!   machine with client sessions, ReadIndex reads (`ReadOnlySafe`, or `LeaseBased` with
//!   `lease_reads`), and clients that record through the harness's recorder (model kv).
//! - `disk`: entries and HardState in a checksummed journal on the simulated disk;
//!   recovery cuts a torn or unsynced tail.
//! - `observe`: election safety, state machine safety, commit monotonicity, liveness; the
//!   judge adds the checks every system gets (`client-progress`, `refused-start`).
//!
//! Not modelled: snapshots and log compaction, membership changes (ConfChangeV2),
//! leadership transfer. Election timeouts are drawn by the host from the node's seeded
//! stream (see `host::run_server`): raft-rs's own draw uses `rand::thread_rng`.

mod bytes;
mod disk;
mod host;
mod observe;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sim::{Nanos, SimHandle, Status};

use crate::system::{RunEnd, Running, Start, System, SystemCheck};
use observe::Observer;

crate::bug_catalog! {
    PersistedBeforeFsync = "persisted-before-fsync":
        "sends the Ready's persisted_messages (votes, append acks) before the entries and HardState are written and fsynced",
    ForgetHardState = "forget-hard-state":
        "never writes the HardState (term, vote, commit) to disk: a restarted node forgets its vote",
    LoseCommit = "lose-commit":
        "never persists the commit index: a node that applied entries recovers a lower commit after a crash",
    ReadBeforeApply = "read-before-apply":
        "answers a read as soon as its ReadState arrives, before the state machine has applied the read index",
    NoSession = "no-session":
        "applies a retried command again instead of answering it from the client's session",
}

/// The settings of a `raft-rs` scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub clients: usize,
    /// One raft-rs tick on the node's own clock.
    pub tick: Nanos,
    pub heartbeat_ticks: usize,
    /// raft-rs's `election_tick`; each incarnation's timeout is drawn from
    /// `election_ticks..2 * election_ticks`.
    pub election_ticks: usize,
    pub pre_vote: bool,
    pub check_quorum: bool,
    /// `ReadOnlyOption::LeaseBased` (which raft-rs allows only with check_quorum, so it is
    /// switched on too) instead of `Safe`.
    pub lease_reads: bool,
    /// Pause between a client's operations, uniform up to this.
    pub think: Nanos,
    /// How long one attempt waits for a reply.
    pub client_timeout: Nanos,
    /// Attempts before a client gives up on an operation (recorded as unknown).
    pub attempts: u32,
    pub read_percent: u32,
    /// After the last fault, a client write must be acknowledged within this.
    pub liveness: Option<Nanos>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            clients: 3,
            tick: Nanos::from_millis(10),
            heartbeat_ticks: 3,
            election_ticks: 15,
            pre_vote: true,
            check_quorum: true,
            lease_reads: false,
            think: Nanos::from_millis(40),
            client_timeout: Nanos::from_millis(250),
            attempts: 12,
            read_percent: 35,
            liveness: Some(Nanos::from_secs(3)),
        }
    }
}

/// raft-rs as a system under test.
pub struct RaftRs;

struct Run {
    obs: Arc<Mutex<Observer>>,
    liveness: Option<Nanos>,
    clients: usize,
}

impl Running for Run {
    fn leader(&self, sim: &SimHandle) -> Option<usize> {
        self.obs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current_leader()
            .filter(|&l| sim.status(l) == Status::Up)
    }

    fn judge(self: Box<Self>, end: &RunEnd<'_>) -> SystemCheck {
        let mut obs = self.obs.lock().unwrap_or_else(|e| e.into_inner());
        // Liveness and client progress are judged, like raft's, only where a majority can
        // serve at the end (failing fsyncs and full disks may stop more servers than Raft
        // can lose).
        let serving = crate::universal::serving(end);
        let live = self
            .liveness
            .filter(|_| serving.iter().filter(|&&s| s).count() > end.servers / 2);
        if let Some(bound) = live {
            obs.check_liveness(end.last_fault_ns, bound.0, end.end_ns);
        }
        let mut violations = obs.judged(end);
        // The checks every system gets.
        violations.extend(crate::universal::refused_start(end));
        if let Some(bound) = live {
            violations.extend(crate::universal::client_progress(
                end.servers..end.servers + self.clients,
                obs.oks.iter().copied(),
                end.last_fault_ns,
                bound.0,
                end.end_ns,
            ));
        }
        SystemCheck {
            violations,
            ..Default::default()
        }
    }
}

impl System for RaftRs {
    type Settings = Settings;
    type Bug = Bug;

    fn name(&self) -> &'static str {
        "raft-rs"
    }

    fn describe(&self) -> &'static str {
        "tikv's raft-rs RawNode hosted on the simulator: a replicated key-value store with ReadIndex reads"
    }

    fn clients(&self, s: &Settings) -> usize {
        s.clients
    }

    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "election-safety",
                "at most one leader per term (raft-rs's own role and term)",
            ),
            (
                "state-machine-safety",
                "no two nodes apply different entries at one index",
            ),
            (
                "commit-monotonic",
                "a restarted node recovers a commit index no lower than it had applied",
            ),
            (
                "liveness",
                "after the last fault a client write is acknowledged within the bound",
            ),
            (
                "client-progress",
                "after the last fault every client completes an operation within the bound",
            ),
            (
                "refused-start",
                "no server refuses to start on a disk no fault damaged",
            ),
        ]
    }

    fn bound_keys(&self) -> &'static [&'static str] {
        &["liveness"]
    }

    fn history_model(&self) -> Option<checkers::linearizability::ModelKind> {
        Some(checkers::linearizability::ModelKind::Kv)
    }

    fn validate(&self, s: &Settings, servers: usize) -> Result<(), String> {
        if s.read_percent > 100 {
            return Err(format!("read_percent: {} is over 100", s.read_percent));
        }
        if s.heartbeat_ticks == 0 || s.heartbeat_ticks >= s.election_ticks {
            return Err("heartbeat_ticks: must be above 0 and below election_ticks".into());
        }
        if s.tick.0 == 0 {
            return Err("tick: must be above 0".into());
        }
        if s.attempts == 0 {
            return Err("attempts: must be at least 1".into());
        }
        if servers == 0 {
            return Err("nodes: raft-rs needs at least one server".into());
        }
        Ok(())
    }

    fn start(&self, st: Start<'_, Settings, Bug>) -> Box<dyn Running> {
        let obs = Arc::new(Mutex::new(Observer::new(st.servers)));
        let bugs = Bugs(st.bugs.clone());
        let servers = st.servers;
        for node in 0..servers {
            let (o, s, b) = (obs.clone(), st.settings.clone(), bugs.clone());
            st.sim.start_node(node, move |ctx| {
                host::run_server(ctx, servers, s.clone(), b.clone(), o.clone())
            });
        }
        for c in 0..st.settings.clients {
            let (o, s, rec) = (obs.clone(), st.settings.clone(), st.recorder.clone());
            st.sim.start_node(servers + c, move |ctx| {
                host::run_client(ctx.clone(), servers, s.clone(), rec.client(&ctx), o.clone())
            });
        }
        Box::new(Run {
            obs,
            liveness: st.settings.liveness,
            clients: st.settings.clients,
        })
    }

    fn fewer_clients(&self, s: &Settings) -> Option<Settings> {
        (s.clients > 1).then(|| Settings {
            clients: s.clients - 1,
            ..s.clone()
        })
    }

    fn fewer_operations(&self, s: &Settings) -> Vec<Settings> {
        let mut slower = s.clone();
        if crate::system::double_think(&mut slower.think) {
            vec![slower]
        } else {
            vec![]
        }
    }

    fn swarm_base(&self) -> Option<&'static str> {
        Some("raft-rs/partition-halves")
    }

    fn runs_schedules_of(&self) -> Option<&'static str> {
        Some("raft")
    }

    /// Not lying fsyncs: raft-rs panics when a leader's commit index reaches past a
    /// follower's log that a lying fsync cut short (storage must be durable, its
    /// documented assumption).
    fn swarm_disk(&self) -> crate::system::SwarmDisk {
        crate::system::SwarmDisk {
            lying_fsync: false,
            ..crate::system::SwarmDisk::ALL
        }
    }

    fn has_leader(&self) -> bool {
        true
    }
}
