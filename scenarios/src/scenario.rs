//! A scenario as data: which system, how many nodes, the network and clocks, and a timed
//! schedule of faults. A run is this plus a seed.
//!
//! Node references are indices into the node order (n1 is 0). The TOML form is in `file`
//! (and documented in `scenarios/FORMAT.md`); the built-ins are such files, in
//! `scenarios/builtin/`.

use std::sync::Arc;

use nodes::system::DynSystem;
use serde::{Deserialize, Serialize};
use sim::disk::DiskConfig;
use sim::{Nanos, NetConfig, Topology};

/// The system under test, as a scenario holds it: a registered system (serialized as its
/// name). Two references are equal when they name the same system.
#[derive(Clone)]
pub struct SystemRef(pub Arc<dyn DynSystem>);

impl SystemRef {
    /// The system's name, as in `system = "NAME"` and `--bug NAME:BUG`.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl std::ops::Deref for SystemRef {
    type Target = dyn DynSystem;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for SystemRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "System({})", self.name())
    }
}

impl PartialEq for SystemRef {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Serialize for SystemRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A node's clock at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    #[serde(
        deserialize_with = "sim::node_ref::node",
        serialize_with = "sim::node_ref::ser_node"
    )]
    pub node: usize,
    #[serde(default)]
    pub offset_ns: i64,
    #[serde(default)]
    pub drift_ppm: i64,
}

/// Something the nemesis does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    Partition(Topology),
    Heal,
    Crash {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
    },
    Restart {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
    },
    Pause {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
    },
    Resume {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
    },
    ClockBump {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
        delta_ns: i64,
    },
    ClockDrift {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
        ppm: i64,
    },
    ClockStrobe {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
        delta_ns: i64,
        period: Nanos,
        duration: Nanos,
    },
    /// Crash the node right after its next `ops` disk operations (writes, syncs, creates,
    /// renames, removes; reads do not count).
    CrashAfterDiskOps {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
        ops: u64,
    },
    /// Crash whichever server is leader now (systems with leaders; otherwise nothing).
    CrashLeader,
    /// Crash a server that is not the leader, chosen by the faults stream.
    CrashFollower,
    /// Cut the current leader off from the other servers.
    IsolateLeader,
    /// Restart every crashed server.
    RestartCrashed,
    /// Crash every server that is up (a power loss).
    CrashAll,
    /// Crash a random server that is up (leader or not).
    CrashRandom,
    /// Set the current leader's clock drift (a nemesis that slows the leader's clock).
    DriftLeader {
        ppm: i64,
    },
    /// Crash the node right after its Nth disk operation from now, N drawn uniformly from
    /// 1..=max_ops by the faults stream: a sweep covers every prefix of a write sequence.
    CrashAfterRandomDiskOps {
        #[serde(
            deserialize_with = "sim::node_ref::node",
            serialize_with = "sim::node_ref::ser_node"
        )]
        node: usize,
        max_ops: u64,
    },
    /// Crash a random minority of the servers: (n-1)/2 of them, drawn among those up.
    CrashMinority,
    /// Crash a random majority of the servers: n/2+1 of them, drawn among those up.
    CrashMajority,
    /// Pause whichever server is leader now (a GC pause of the leader).
    PauseLeader,
    /// Pause a random minority of the servers ((n-1)/2, drawn among those up).
    PauseMinority,
    /// Pause a random majority of the servers (n/2+1, drawn among those up).
    PauseMajority,
    /// Resume every paused server.
    ResumePaused,
    /// Step the current leader's wall clock (its monotonic clock and timers keep going):
    /// lands a clock step inside the period a lease or a timeout decides safety.
    BumpLeader {
        delta_ns: i64,
    },
    /// Strobe the current leader's wall clock (see `clock-strobe`).
    StrobeLeader {
        delta_ns: i64,
        period: Nanos,
        duration: Nanos,
    },
    // Crash triggers (`sim::crash_trigger`): each watches `node`, or every server when
    // `node` is absent (the first to act fires it), and crashes that server, or every
    // server when `power` is set (a power loss). A trigger that never fires does nothing;
    // with a `for` it stays armed that long, then what it crashed restarts.
    /// Crash right after the Nth fsync (file or directory) from now, N drawn uniformly
    /// from 1..=max_syncs by the faults stream.
    CrashAfterSyncs {
        #[serde(
            default,
            deserialize_with = "sim::node_ref::opt_node",
            serialize_with = "sim::node_ref::ser_opt_node",
            skip_serializing_if = "Option::is_none"
        )]
        node: Option<usize>,
        max_syncs: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        power: bool,
    },
    /// Crash right after the Nth message sent from now, N drawn from 1..=max_sends.
    CrashAfterSends {
        #[serde(
            default,
            deserialize_with = "sim::node_ref::opt_node",
            serialize_with = "sim::node_ref::ser_opt_node",
            skip_serializing_if = "Option::is_none"
        )]
        node: Option<usize>,
        max_sends: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        power: bool,
    },
    /// Crash right after the next rename, before a directory sync can make it durable.
    CrashAfterRename {
        #[serde(
            default,
            deserialize_with = "sim::node_ref::opt_node",
            serialize_with = "sim::node_ref::ser_opt_node",
            skip_serializing_if = "Option::is_none"
        )]
        node: Option<usize>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        power: bool,
    },
    /// Crash right after a disk write (or length change, create, rename, remove) leaves
    /// unsynced data: the window between a write and its fsync. With `max_writes`, on
    /// the Nth such write, N drawn from 1..=max_writes.
    CrashOnUnsyncedWrite {
        #[serde(
            default,
            deserialize_with = "sim::node_ref::opt_node",
            serialize_with = "sim::node_ref::ser_opt_node",
            skip_serializing_if = "Option::is_none"
        )]
        node: Option<usize>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        power: bool,
        /// Fire on the Nth such moment, N drawn from 1..=this (1 when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_writes: Option<u64>,
    },
    /// Crash right after a message sent while the disk holds unsynced data: what the
    /// message promised may rest on data the crash loses.
    CrashOnUnsyncedSend {
        #[serde(
            default,
            deserialize_with = "sim::node_ref::opt_node",
            serialize_with = "sim::node_ref::ser_opt_node",
            skip_serializing_if = "Option::is_none"
        )]
        node: Option<usize>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        power: bool,
        /// Fire on the Nth such moment, N drawn from 1..=this (1 when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_sends: Option<u64>,
    },
}

impl Fault {
    fn nodes(&self) -> Vec<usize> {
        match *self {
            Fault::Crash { node }
            | Fault::Restart { node }
            | Fault::Pause { node }
            | Fault::Resume { node }
            | Fault::ClockBump { node, .. }
            | Fault::ClockDrift { node, .. }
            | Fault::ClockStrobe { node, .. }
            | Fault::CrashAfterDiskOps { node, .. }
            | Fault::CrashAfterRandomDiskOps { node, .. } => vec![node],
            Fault::CrashAfterSyncs { node, .. }
            | Fault::CrashAfterSends { node, .. }
            | Fault::CrashAfterRename { node, .. }
            | Fault::CrashOnUnsyncedWrite { node, .. }
            | Fault::CrashOnUnsyncedSend { node, .. } => node.into_iter().collect(),
            Fault::Partition(_)
            | Fault::Heal
            | Fault::CrashLeader
            | Fault::CrashFollower
            | Fault::IsolateLeader
            | Fault::RestartCrashed
            | Fault::CrashAll
            | Fault::CrashRandom
            | Fault::DriftLeader { .. }
            | Fault::BumpLeader { .. }
            | Fault::StrobeLeader { .. }
            | Fault::CrashMinority
            | Fault::CrashMajority
            | Fault::PauseLeader
            | Fault::PauseMinority
            | Fault::PauseMajority
            | Fault::ResumePaused => vec![],
        }
    }

    /// Whether the fault starts something that a `for` duration can end: crashes end in
    /// restarts of what they crashed, pauses in resumes, partitions in a heal.
    pub fn can_last(&self) -> bool {
        matches!(
            self,
            Fault::Partition(_)
                | Fault::Crash { .. }
                | Fault::Pause { .. }
                | Fault::CrashLeader
                | Fault::CrashFollower
                | Fault::IsolateLeader
                | Fault::CrashAll
                | Fault::CrashRandom
                | Fault::CrashMinority
                | Fault::CrashMajority
                | Fault::PauseLeader
                | Fault::PauseMinority
                | Fault::PauseMajority
                | Fault::CrashAfterSyncs { .. }
                | Fault::CrashAfterSends { .. }
                | Fault::CrashAfterRename { .. }
                | Fault::CrashOnUnsyncedWrite { .. }
                | Fault::CrashOnUnsyncedSend { .. }
        )
    }
}

/// A fault at a point in simulated time, optionally lasting a while: `lasting` (`for` in
/// files) ends it by itself, restarting what it crashed, resuming what it paused or
/// healing the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    pub at: Nanos,
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub lasting: Option<Nanos>,
    /// Fire at a moment drawn uniformly from `at..=at + jitter` by the fault's own random
    /// stream (so shrinking other faults away leaves the draw alone); its `for` shifts
    /// with it. A jittered fault never fires before the fault listed ahead of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Nanos>,
}

impl Scheduled {
    pub fn new(at: Nanos, fault: Fault) -> Scheduled {
        Scheduled {
            at,
            fault,
            lasting: None,
            jitter: None,
        }
    }

    /// When the fault's effect ends by itself (its `for`), if it does, without jitter.
    pub fn ends(&self) -> Option<Nanos> {
        self.lasting.map(|d| Nanos(self.at.0 + d.0))
    }

    /// The latest moment the fault or its end can come, with its whole jitter.
    pub fn latest_end(&self) -> Nanos {
        let jitter = self.jitter.map_or(0, |j| j.0);
        Nanos(self.ends().unwrap_or(self.at).0.saturating_add(jitter))
    }
}

/// A fault at `ms` milliseconds of simulated time (a shorthand for tests).
pub fn at(ms: u64, fault: Fault) -> Scheduled {
    Scheduled::new(Nanos::from_millis(ms), fault)
}

/// The checks a scenario runs, by name as reports print them, and their bounds.
///
/// Every check of the system runs unless named in `skip`. The bounds (such as Raft's
/// `liveness`) are system settings in memory, where the system reads them; a file keeps
/// them in its `[checks]` table (`file` moves them), and `bounds` holds them only between
/// reading a file and moving them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Checks {
    /// Checks whose violations are ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
    /// The system's bounds, as a file's `[checks]` gives them.
    #[serde(flatten)]
    pub bounds: toml::Table,
}

/// Where in a scenario a validation error is, so a file can point at the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Whole,
    Nodes,
    Net,
    Clock(usize),
    Fault(usize),
    Checks,
}

/// Servers of a scenario that does not say.
pub(crate) fn default_nodes() -> usize {
    3
}

/// Run length of a scenario that does not say.
pub(crate) fn default_duration() -> Nanos {
    Nanos::from_secs(10)
}

/// A complete scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Omitted in a file: the file's path names it.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub system: SystemRef,
    /// The system's settings, every key spelled out (the system read and normalized them).
    #[serde(flatten)]
    pub settings: toml::Table,
    /// Bugs of the system's catalog this scenario always switches on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bugs: Vec<String>,
    pub nodes: usize,
    /// How long the run lasts in simulated time.
    #[serde(default = "default_duration")]
    pub duration: Nanos,
    #[serde(default)]
    pub net: NetConfig,
    #[serde(default)]
    pub disk: DiskConfig,
    #[serde(default)]
    pub clocks: Vec<ClockSpec>,
    #[serde(default)]
    pub faults: Vec<Scheduled>,
    #[serde(default)]
    pub checks: Checks,
}

impl Scenario {
    /// Checks that the scenario is self-consistent: node indices in range, faults sorted
    /// and inside the run, topologies that fit the cluster, known checks.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_at()
            .map_err(|(_, e)| format!("scenario {}: {e}", self.name))
    }

    /// [`Scenario::validate`], saying where the problem is.
    pub fn validate_at(&self) -> Result<(), (Place, String)> {
        let n = self.nodes;
        if n < 2 {
            return Err((Place::Nodes, format!("needs at least 2 nodes, has {n}")));
        }
        self.net
            .validate(n)
            .map_err(|e| (Place::Net, e.to_string()))?;
        for (i, c) in self.clocks.iter().enumerate() {
            if c.node >= n {
                let msg = format!(
                    "clock for node {} but the servers are n1..n{n}",
                    sim::node_ref::name(c.node)
                );
                return Err((Place::Clock(i), msg));
            }
            if c.drift_ppm <= -1_000_000 {
                let msg = format!("drift {} ppm would stop the clock", c.drift_ppm);
                return Err((Place::Clock(i), msg));
            }
        }
        let mut last = Nanos::ZERO;
        for (i, s) in self.faults.iter().enumerate() {
            let here = |msg: String| (Place::Fault(i), msg);
            if s.at < last {
                return Err(here(format!("faults are not in time order at {}", s.at)));
            }
            let end = s.latest_end();
            if end > self.duration {
                return Err(here(format!(
                    "fault at {} ends at {}, after the end of the run {}",
                    s.at, end, self.duration
                )));
            }
            last = s.at;
            if let Some(bad) = s.fault.nodes().into_iter().find(|&x| x >= n) {
                return Err(here(format!(
                    "fault at {} names node {} but the servers are n1..n{n}",
                    s.at,
                    sim::node_ref::name(bad)
                )));
            }
            if let Fault::Partition(t) = &s.fault {
                t.validate(n).map_err(|e| here(e.to_string()))?;
            }
            if s.lasting.is_some() && !s.fault.can_last() {
                return Err(here(format!(
                    "fault at {}: `for` applies to crashes, pauses and partitions only",
                    s.at
                )));
            }
        }
        if let Some((i, msg)) = self.inapplicable_fault() {
            return Err((Place::Fault(i), msg));
        }
        let system = self.system.name();
        let known: Vec<&str> = self.system.checks().into_iter().map(|(c, _)| c).collect();
        if let Some(bad) = self
            .checks
            .skip
            .iter()
            .find(|c| !known.contains(&c.as_str()))
        {
            return Err((
                Place::Checks,
                format!(
                    "unknown check '{bad}' in skip; {system} runs: {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The first fault that the schedule alone shows cannot apply, whatever the seed: a
    /// restart of a server no earlier fault crashes (or that a `restart-crashed` has
    /// brought back), a crash of a server an earlier crash left down, a resume of a server
    /// no earlier fault pauses, a heal with no earlier partition. Faults apply in schedule
    /// order (a jittered one never fires before the one ahead of it); a server whose state
    /// depends on the seed, the leader or a `for` ending is not judged here (a run that
    /// finds such a fault inapplicable stops with a scenario error instead).
    fn inapplicable_fault(&self) -> Option<(usize, String)> {
        #[derive(Clone, Copy, PartialEq)]
        enum Life {
            Up,
            /// Crashed by the fault at this time.
            Down(Nanos),
            Unknown,
        }
        let n = self.nodes;
        let mut life = vec![Life::Up; n];
        let mut may_pause = vec![false; n];
        // Paused for sure by the pause at this time (no `for`, no resume since).
        let mut paused: Vec<Option<Nanos>> = vec![None; n];
        let mut may_partition = false;
        let name = sim::node_ref::name;
        for (i, s) in self.faults.iter().enumerate() {
            let lasting = s.lasting.is_some();
            let refuse = |what: String| Some((i, format!("fault at {}: {what}", s.at)));
            // What a fault that may crash `nodes` leaves: down for sure only when it
            // crashes them unconditionally and no `for` brings them back; paused no more.
            let crashes = |life: &mut Vec<Life>,
                           paused: &mut Vec<Option<Nanos>>,
                           nodes: &mut dyn Iterator<Item = usize>| {
                for x in nodes {
                    life[x] = Life::Unknown;
                    paused[x] = None;
                }
            };
            match &s.fault {
                Fault::Crash { node } => {
                    if let Life::Down(when) = life[*node] {
                        return refuse(format!(
                            "crash of node {}, which the crash at {when} left down \
                             (restart it first)",
                            name(*node)
                        ));
                    }
                    life[*node] = if lasting {
                        Life::Unknown
                    } else {
                        Life::Down(s.at)
                    };
                    paused[*node] = None;
                }
                Fault::Restart { node } => {
                    if life[*node] == Life::Up {
                        return refuse(format!(
                            "restart of node {}, which is running then: \
                             no earlier fault leaves it crashed",
                            name(*node)
                        ));
                    }
                    life[*node] = Life::Up;
                    paused[*node] = None;
                }
                Fault::Resume { node } if !may_pause[*node] => {
                    return refuse(format!(
                        "resume of node {}, which no earlier fault pauses",
                        name(*node)
                    ));
                }
                Fault::Heal if !may_partition => {
                    return refuse(
                        "heal of the network, but no earlier fault partitions it".into(),
                    );
                }
                Fault::Pause { node } => {
                    if let Some(when) = paused[*node] {
                        return refuse(format!(
                            "pause of node {}, which the pause at {when} left paused \
                             (resume it first)",
                            name(*node)
                        ));
                    }
                    may_pause[*node] = true;
                    paused[*node] = (!lasting).then_some(s.at);
                }
                Fault::PauseLeader | Fault::PauseMinority | Fault::PauseMajority => {
                    may_pause.iter_mut().for_each(|p| *p = true)
                }
                Fault::Partition(_) | Fault::IsolateLeader => may_partition = true,
                Fault::CrashAll => {
                    let to = if lasting {
                        Life::Unknown
                    } else {
                        Life::Down(s.at)
                    };
                    life.iter_mut().for_each(|l| *l = to);
                    paused.iter_mut().for_each(|p| *p = None);
                }
                Fault::RestartCrashed => life.iter_mut().for_each(|l| *l = Life::Up),
                Fault::Resume { node } => paused[*node] = None,
                Fault::ResumePaused => paused.iter_mut().for_each(|p| *p = None),
                Fault::CrashAfterDiskOps { node, .. }
                | Fault::CrashAfterRandomDiskOps { node, .. } => {
                    crashes(&mut life, &mut paused, &mut std::iter::once(*node))
                }
                Fault::CrashAfterSyncs { node, power, .. }
                | Fault::CrashAfterSends { node, power, .. }
                | Fault::CrashAfterRename { node, power }
                | Fault::CrashOnUnsyncedWrite { node, power, .. }
                | Fault::CrashOnUnsyncedSend { node, power, .. } => match node {
                    Some(x) if !*power => crashes(&mut life, &mut paused, &mut std::iter::once(*x)),
                    _ => crashes(&mut life, &mut paused, &mut (0..n)),
                },
                Fault::CrashLeader
                | Fault::CrashFollower
                | Fault::CrashRandom
                | Fault::CrashMinority
                | Fault::CrashMajority => crashes(&mut life, &mut paused, &mut (0..n)),
                Fault::Heal
                | Fault::ClockBump { .. }
                | Fault::ClockDrift { .. }
                | Fault::ClockStrobe { .. }
                | Fault::DriftLeader { .. }
                | Fault::BumpLeader { .. }
                | Fault::StrobeLeader { .. } => {}
            }
        }
        None
    }

    /// How many client processes run beside the servers.
    pub fn clients(&self) -> usize {
        self.system.clients(&self.settings)
    }

    /// When the last fault happens or, for a fault with a `for`, ends (zero if there are
    /// none): the quiet period after it is when liveness and convergence are judged.
    pub fn last_fault(&self) -> Nanos {
        self.faults
            .iter()
            .map(Scheduled::latest_end)
            .max()
            .unwrap_or(Nanos::ZERO)
    }
}
