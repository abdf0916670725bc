//! A lease lock service with fencing tokens: the textbook answer to split brain, and the
//! place where process pauses and clock faults do their worst (Kleppmann, "How to do
//! distributed locking", 2016; Chubby's sequencers).
//!
//! - n1, the lock server, grants one lease at a time for `ttl`, each with a token one above
//!   the last. The counter is written and fsynced before the grant leaves, and a restarted
//!   server grants nothing for one `ttl` (it has forgotten who holds the lease). Leases are
//!   timed on its monotonic clock: wall-clock jumps do not reach them, drift does.
//! - n2, the storage server, holds one register and accepts a write only if its token is
//!   at least the highest it has seen: a holder whose lease ran out while it was paused is
//!   fenced off there, whatever it believes.
//! - Clients (n3 and on: every node after the two servers, so that scenarios can pause,
//!   cut and skew them by name) acquire the lock, then a few times check the lease on their own
//!   monotonic clock (ending `margin` before `ttl`, counted from before the request left),
//!   do some work and write through the storage with the token; they release at the end.
//!
//! The checks read what the nodes report to an [`Observer`] at true time: mutual exclusion
//! as the storage saw it, lost writes, growing tokens, lease overlap and liveness, and the
//! universal `refused-start` (the lock server stops serving only on a damaged disk).
//!
//! Built only on the public system interface (`crate::system`), `sim` and `checkers`, as a
//! user's system is. Not modelled: a replicated lock server, lease renewal, more than one
//! lock or register, a crashing storage server (it keeps its state in memory).

pub mod host;
pub mod observer;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sim::{Nanos, SimHandle, Status};

use crate::system::{RunEnd, Running, Start, System, SystemCheck};

pub use observer::Observer;

/// The system's settings: the top-level keys of its scenario files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockSettings {
    /// How long a lease lasts on the lock server's clock.
    pub ttl: Nanos,
    /// A holder stops trusting its lease this long before `ttl` on its own clock.
    pub margin: Nanos,
    /// Work before each write, uniform up to this.
    pub work: Nanos,
    /// Writes a holder makes under one lease (each after checking the lease).
    pub writes_per_lease: usize,
    /// Pause between a client's leases, uniform up to this.
    pub think: Nanos,
    /// How long a client waits for the lock server or the storage.
    pub client_timeout: Nanos,
    /// After the last fault, a write must be accepted within this.
    pub liveness: Option<Nanos>,
}

impl Default for LockSettings {
    fn default() -> Self {
        LockSettings {
            ttl: Nanos::from_millis(300),
            margin: Nanos::from_millis(60),
            work: Nanos::from_millis(60),
            writes_per_lease: 20,
            think: Nanos::from_millis(30),
            client_timeout: Nanos::from_millis(100),
            liveness: Some(Nanos::from_secs(2)),
        }
    }
}

crate::bug_catalog! {
    NoFencing = "no-fencing":
        "the storage accepts every write, whatever its token",
    FenceByEquality = "fence-by-equality":
        "the storage compares lease ids for equality, taking an id it has not seen as a new holder's, instead of keeping the highest",
    CheckBeforePause = "check-before-pause":
        "the storage checks the token before the holder's work; the write after it carries no check",
    HolderWallClock = "holder-wall-clock":
        "a holder judges its lease on its wall clock, which bumps and strobes move",
    ForgetToken = "forget-token":
        "the lock server keeps its token counter in memory only: after a restart it hands out old tokens again",
    UnsyncedToken = "unsynced-token":
        "the lock server writes its token counter but grants before an fsync: a crash that loses the write hands out old tokens again",
}

/// The lease lock service as a system under test.
pub struct Lock;

struct LockRun {
    obs: Arc<Mutex<Observer>>,
    liveness: Option<Nanos>,
}

impl Running for LockRun {
    /// The current holder, so that `pause-leader` pauses it and `isolate-leader` cuts it.
    fn leader(&self, sim: &SimHandle) -> Option<usize> {
        self.obs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .holder()
            .filter(|&h| sim.status(h) == Status::Up)
    }

    fn judge(self: Box<Self>, end: &RunEnd<'_>) -> SystemCheck {
        let obs = self.obs.lock().unwrap_or_else(|e| e.into_inner());
        let liveness = self.liveness.map(|b| (end.last_fault_ns, b.0, end.end_ns));
        let mut stats = serde_json::Map::new();
        stats.insert("grants".into(), obs.grants.len().into());
        stats.insert("accepted_writes".into(), obs.accepted.len().into());
        stats.insert("acknowledged_writes".into(), obs.acked.len().into());
        let mut violations = obs.judge(liveness);
        // The lock's own `liveness` is its progress check (one lock, so no client is
        // promised a turn within a bound); `refused-start` is the universal one that fits.
        violations.extend(crate::universal::refused_start(end));
        SystemCheck {
            violations,
            stats,
            ..SystemCheck::default()
        }
    }
}

impl System for Lock {
    type Settings = LockSettings;
    type Bug = Bug;

    fn name(&self) -> &'static str {
        "lock"
    }

    fn describe(&self) -> &'static str {
        "a lease lock service with fencing tokens, a fenced storage server and clients"
    }

    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "mutual-exclusion",
                "the storage never accepts a holder's write after a later holder's (accepted tokens never decrease)",
            ),
            (
                "lost-writes",
                "an acknowledged write is in the storage and no older holder overwrites it",
            ),
            (
                "fencing-tokens",
                "every grant's token is above every earlier grant's",
            ),
            (
                "lease-overlap",
                "no holder judges its lease valid after the lock went to someone else",
            ),
            (
                "liveness",
                "after the last fault the lock is granted again and a write accepted within the bound",
            ),
            (
                "refused-start",
                "the lock server never stops serving on a disk no fault damaged",
            ),
        ]
    }

    fn bound_keys(&self) -> &'static [&'static str] {
        &["liveness"]
    }

    fn validate(&self, s: &LockSettings, servers: usize) -> Result<(), String> {
        if servers < 3 {
            return Err(format!(
                "nodes: a lock server, a storage server and at least one client need 3, not {servers}"
            ));
        }
        if s.margin >= s.ttl {
            return Err("margin: must be below ttl".into());
        }
        if s.writes_per_lease == 0 {
            return Err("writes_per_lease: at least one".into());
        }
        Ok(())
    }

    fn start(&self, st: Start<'_, LockSettings, Bug>) -> Box<dyn Running> {
        let nodes = st.servers;
        let obs = Arc::new(Mutex::new(Observer::new(nodes)));
        {
            let (o, s, b) = (obs.clone(), st.settings.clone(), st.bugs.clone());
            st.sim.start_node(host::LOCK, move |ctx| {
                host::lock_server(ctx, s.clone(), b.clone(), o.clone())
            });
        }
        {
            let (o, b) = (obs.clone(), st.bugs.clone());
            st.sim.start_node(host::STORAGE, move |ctx| {
                host::storage(ctx, b.clone(), o.clone())
            });
        }
        for c in 2..st.servers {
            let (o, s, b) = (obs.clone(), st.settings.clone(), st.bugs.clone());
            st.sim.start_node(c, move |ctx| {
                host::client(ctx, s.clone(), b.clone(), o.clone())
            });
        }
        Box::new(LockRun {
            obs,
            liveness: st.settings.liveness,
        })
    }

    fn fewer_operations(&self, s: &LockSettings) -> Vec<LockSettings> {
        let mut slower = s.clone();
        if crate::system::double_think(&mut slower.think) {
            vec![slower]
        } else {
            vec![]
        }
    }

    /// The "leader" is the current holder (see [`Running::leader`]).
    fn has_leader(&self) -> bool {
        true
    }

    fn swarm_base(&self) -> Option<&'static str> {
        Some("lock/pause-holder")
    }
}
