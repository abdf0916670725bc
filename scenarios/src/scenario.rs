//! A scenario as data: which system, how many nodes, the network and clocks, and a timed
//! schedule of faults. A run is this plus a seed.
//!
//! Node references are indices into the node order (n1 is 0). The TOML form of scenarios
//! comes with the scenarios-as-data work; built-ins are constructed in `builtin`.

use serde::{Deserialize, Serialize};
use sim::disk::DiskConfig;
use sim::{Nanos, NetConfig, Topology};

use nodes::gossip::GossipSystem;
use nodes::raft::RaftSystem;
use nodes::relay::RelayConfig;
use nodes::twopc::TwopcSystem;

/// The system under test and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "kebab-case")]
pub enum SystemSpec {
    Relay(RelayConfig),
    Raft(RaftSystem),
    Gossip(GossipSystem),
    Twopc(TwopcSystem),
}

impl SystemSpec {
    /// The system's name, as in `--bug SYSTEM:NAME`.
    pub fn name(&self) -> &'static str {
        match self {
            SystemSpec::Relay(_) => "relay",
            SystemSpec::Raft(_) => "raft",
            SystemSpec::Gossip(_) => "gossip",
            SystemSpec::Twopc(_) => "twopc",
        }
    }

    /// Client processes that run beside the servers.
    pub fn clients(&self) -> usize {
        match self {
            SystemSpec::Relay(_) => 0,
            SystemSpec::Raft(r) => r.clients,
            SystemSpec::Gossip(g) => g.clients,
            SystemSpec::Twopc(t) => t.clients,
        }
    }
}

/// A node's clock at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSpec {
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
        node: usize,
    },
    Restart {
        node: usize,
    },
    Pause {
        node: usize,
    },
    Resume {
        node: usize,
    },
    ClockBump {
        node: usize,
        delta_ns: i64,
    },
    ClockDrift {
        node: usize,
        ppm: i64,
    },
    ClockStrobe {
        node: usize,
        delta_ns: i64,
        period: Nanos,
        duration: Nanos,
    },
    /// Crash the node right after its next `ops` disk operations (writes, syncs, creates,
    /// renames, removes; reads do not count).
    CrashAfterDiskOps {
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
        node: usize,
        max_ops: u64,
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
            Fault::Partition(_)
            | Fault::Heal
            | Fault::CrashLeader
            | Fault::CrashFollower
            | Fault::IsolateLeader
            | Fault::RestartCrashed
            | Fault::CrashAll
            | Fault::CrashRandom
            | Fault::DriftLeader { .. } => vec![],
        }
    }
}

/// A fault at a point in simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    pub at: Nanos,
    #[serde(flatten)]
    pub fault: Fault,
}

/// A fault at `ms` milliseconds of simulated time (the built-in scenarios' shorthand).
pub fn at(ms: u64, fault: Fault) -> Scheduled {
    Scheduled {
        at: Nanos::from_millis(ms),
        fault,
    }
}

/// A complete scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    #[serde(flatten)]
    pub system: SystemSpec,
    pub nodes: usize,
    /// How long the run lasts in simulated time.
    pub duration: Nanos,
    #[serde(default)]
    pub net: NetConfig,
    #[serde(default)]
    pub disk: DiskConfig,
    #[serde(default)]
    pub clocks: Vec<ClockSpec>,
    #[serde(default)]
    pub faults: Vec<Scheduled>,
}

impl Scenario {
    /// Checks that the scenario is self-consistent: node indices in range, faults sorted
    /// and inside the run, topologies that fit the cluster.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.nodes;
        if n < 2 {
            return Err(format!(
                "scenario {}: needs at least 2 nodes, has {n}",
                self.name
            ));
        }
        self.net
            .validate(n)
            .map_err(|e| format!("scenario {}: {e}", self.name))?;
        for c in &self.clocks {
            if c.node >= n {
                return Err(format!(
                    "scenario {}: clock for node {} outside 0..{n}",
                    self.name, c.node
                ));
            }
            if c.drift_ppm <= -1_000_000 {
                return Err(format!(
                    "scenario {}: drift {} ppm would stop the clock",
                    self.name, c.drift_ppm
                ));
            }
        }
        let mut last = Nanos::ZERO;
        for s in &self.faults {
            if s.at < last {
                return Err(format!(
                    "scenario {}: faults are not in time order at {}",
                    self.name, s.at
                ));
            }
            if s.at > self.duration {
                return Err(format!(
                    "scenario {}: fault at {} is after the end {}",
                    self.name, s.at, self.duration
                ));
            }
            last = s.at;
            if let Some(bad) = s.fault.nodes().into_iter().find(|&x| x >= n) {
                return Err(format!(
                    "scenario {}: fault at {} names node {bad} outside 0..{n}",
                    self.name, s.at
                ));
            }
            if let Fault::Partition(t) = &s.fault {
                t.validate(n)
                    .map_err(|e| format!("scenario {}: {e}", self.name))?;
            }
        }
        Ok(())
    }

    /// When the last fault happens (zero if there are none).
    pub fn last_fault(&self) -> Nanos {
        self.faults.last().map_or(Nanos::ZERO, |s| s.at)
    }
}
