//! The built-in Raft scenarios: every partition topology, crashes of followers and
//! leaders, crash points on every early disk operation, pauses, clock skew, lossy links,
//! disk faults, and a mix. Every Raft scenario runs the same checks: election safety,
//! leader completeness, state machine safety, commit monotonicity, log matching,
//! linearizability of the client history, and liveness after the last fault.

use nodes::raft::{RaftConfig, RaftSystem};
use sim::disk::{DiskConfig, DiskFaults};
use sim::net::Latency;
use sim::{LinkConfig, Nanos, NetConfig, Topology};

use crate::scenario::{at, ClockSpec, Fault, Scenario, Scheduled, SystemSpec};

/// The checks every Raft scenario runs, for listings.
pub const RAFT_CHECKS: &str = "election-safety, leader-completeness, state-machine-safety, \
commit-monotonic, log-matching, linearizability, liveness, world audit";

fn raft(name: &str, description: &str, faults: Vec<Scheduled>) -> Scenario {
    let end = faults.last().map_or(0, |f| f.at.0 / 1_000_000);
    Scenario {
        name: format!("raft/{name}"),
        description: description.to_string(),
        system: SystemSpec::Raft(RaftSystem::default()),
        nodes: 5,
        duration: Nanos::from_millis(end + 4000),
        net: NetConfig {
            default: LinkConfig {
                latency: Latency::Uniform {
                    min: Nanos::from_millis(1),
                    max: Nanos::from_millis(8),
                },
                loss: 0.0,
                duplicate: 0.0,
            },
            links: vec![],
        },
        disk: DiskConfig::default(),
        clocks: vec![],
        faults,
    }
}

fn with_raft(mut s: Scenario, f: impl FnOnce(&mut RaftSystem)) -> Scenario {
    if let SystemSpec::Raft(sys) = &mut s.system {
        f(sys);
    }
    s
}

fn partition(t: Topology) -> Vec<Scheduled> {
    vec![
        at(1000, Fault::Partition(t.clone())),
        at(2500, Fault::Heal),
        at(3000, Fault::Partition(t)),
        at(4000, Fault::Heal),
    ]
}

/// Every built-in Raft scenario.
pub fn all() -> Vec<Scenario> {
    let mut v = vec![
        raft("partition-halves", "5 servers cut into halves [n1 n2] | [n3 n4 n5] twice", partition(Topology::Halves)),
        raft("partition-random-halves", "random halves, twice", partition(Topology::RandomHalves)),
        raft(
            "isolate-leader",
            "the leader is cut off from the other servers, three times",
            vec![
                at(1000, Fault::IsolateLeader),
                at(2000, Fault::Heal),
                at(2500, Fault::IsolateLeader),
                at(3200, Fault::Heal),
                at(3600, Fault::IsolateLeader),
                at(4500, Fault::Heal),
            ],
        ),
        raft("majorities-ring", "every server sees a different majority, twice", partition(Topology::MajoritiesRing)),
        raft("bridge", "two halves joined only through one bridge server, twice", partition(Topology::Bridge)),
        raft(
            "one-way",
            "a random server can hear but not be heard, twice",
            partition(Topology::OneWay { from: vec![], to: vec![] }),
        ),
        raft(
            "crash-follower",
            "followers crash and restart from their disks",
            vec![
                at(1000, Fault::CrashFollower),
                at(1400, Fault::CrashFollower),
                at(2000, Fault::RestartCrashed),
                at(2600, Fault::CrashFollower),
                at(3200, Fault::RestartCrashed),
            ],
        ),
        raft(
            "crash-leader",
            "the leader crashes and restarts, three times",
            vec![
                at(1000, Fault::CrashLeader),
                at(1600, Fault::RestartCrashed),
                at(2400, Fault::CrashLeader),
                at(2700, Fault::RestartCrashed),
                at(3300, Fault::CrashLeader),
                at(3500, Fault::RestartCrashed),
            ],
        ),
        raft(
            "crash-disk-ops",
            "n1 crashes right after one of its first 40 disk operations, then again later",
            vec![
                at(0, Fault::CrashAfterRandomDiskOps { node: 0, max_ops: 40 }),
                at(1500, Fault::RestartCrashed),
                at(1600, Fault::CrashAfterRandomDiskOps { node: 0, max_ops: 40 }),
                at(3000, Fault::RestartCrashed),
            ],
        ),
        raft(
            "pause",
            "the leader pauses for 1 s (a long GC pause), then a follower",
            vec![
                at(1000, Fault::Pause { node: 0 }),
                at(2000, Fault::Resume { node: 0 }),
                at(2500, Fault::Pause { node: 3 }),
                at(3500, Fault::Resume { node: 3 }),
            ],
        ),
        raft(
            "slow-network",
            "latency with a long tail (mean 40 ms) so replies from old terms arrive late, plus leader crashes",
            vec![
                at(1500, Fault::CrashLeader),
                at(1800, Fault::RestartCrashed),
                at(3000, Fault::CrashLeader),
                at(3300, Fault::RestartCrashed),
            ],
        ),
        raft("lossy", "links lose 10% and duplicate 10% of messages, with a long latency tail", vec![]),
        raft("disk-torn", "unsynced writes are lost or torn as servers crash and restart", vec![
            at(800, Fault::CrashLeader),
            at(900, Fault::CrashFollower),
            at(1300, Fault::RestartCrashed),
            at(1900, Fault::CrashFollower),
            at(2000, Fault::CrashLeader),
            at(2400, Fault::RestartCrashed),
            at(3000, Fault::CrashFollower),
            at(3100, Fault::RestartCrashed),
        ]),
        raft(
            "disk-lying-fsync",
            "a fifth of fsyncs lie; followers crash and restart (PreVote and CheckQuorum on)",
            vec![
                at(1000, Fault::CrashFollower),
                at(1300, Fault::RestartCrashed),
                at(2200, Fault::CrashFollower),
                at(2500, Fault::RestartCrashed),
            ],
        ),
        raft(
            "disk-corruption",
            "bits flip and sectors fail in durable data read on restart, never on a majority of \
             copies; n4 and n5 crash and restart, and refuse to run on a damaged log",
            vec![
                at(1000, Fault::Crash { node: 3 }),
                at(1500, Fault::Restart { node: 3 }),
                at(2000, Fault::Crash { node: 4 }),
                at(2500, Fault::Restart { node: 4 }),
                at(3000, Fault::Crash { node: 3 }),
                at(3400, Fault::Restart { node: 3 }),
            ],
        ),
        raft(
            "clock-skew",
            "clocks offset and drifting, then bumped back and forth and strobed",
            vec![
                at(1000, Fault::ClockBump { node: 0, delta_ns: -3_000_000_000 }),
                at(1500, Fault::ClockBump { node: 1, delta_ns: 4_000_000_000 }),
                at(2000, Fault::ClockDrift { node: 2, ppm: 20_000 }),
                at(
                    2500,
                    Fault::ClockStrobe {
                        node: 3,
                        delta_ns: 250_000_000,
                        period: Nanos::from_millis(20),
                        duration: Nanos::from_millis(800),
                    },
                ),
            ],
        ),
        raft(
            "lease-skew",
            "lease reads; every clock runs 30% fast, then each leader's is slowed to 30% slow and it is isolated",
            {
                let mut v = Vec::new();
                for round in 0..8u64 {
                    let t = 800 + round * 500;
                    v.push(at(t, Fault::DriftLeader { ppm: -300_000 }));
                    v.push(at(t + 5, Fault::IsolateLeader));
                    v.push(at(t + 350, Fault::Heal));
                }
                v
            },
        ),
        raft(
            "churn",
            "leaders crash and the network splits over and over; short election timeouts",
            vec![
                at(600, Fault::CrashLeader),
                at(700, Fault::Partition(Topology::RandomHalves)),
                at(900, Fault::RestartCrashed),
                at(1000, Fault::Heal),
                at(1100, Fault::CrashLeader),
                at(1200, Fault::Partition(Topology::MajoritiesRing)),
                at(1450, Fault::RestartCrashed),
                at(1500, Fault::Heal),
                at(1600, Fault::CrashLeader),
                at(1700, Fault::CrashFollower),
                at(1900, Fault::RestartCrashed),
                at(2100, Fault::CrashLeader),
                at(2200, Fault::Partition(Topology::RandomHalves)),
                at(2400, Fault::RestartCrashed),
                at(2500, Fault::Heal),
                at(2600, Fault::CrashLeader),
                at(2800, Fault::RestartCrashed),
            ],
        ),
        raft("figure-8", "3 servers; leaders are isolated and crash in quick succession (Raft paper, Figure 8)", {
            let mut v = Vec::new();
            for round in 0..6u64 {
                let t = 600 + round * 700;
                v.push(at(t, Fault::IsolateLeader));
                v.push(at(t + 150, Fault::Heal));
                v.push(at(t + 151, Fault::IsolateLeader));
                v.push(at(t + 300, Fault::CrashLeader));
                v.push(at(t + 301, Fault::Heal));
                v.push(at(t + 420, Fault::RestartCrashed));
                v.push(at(t + 500, Fault::CrashLeader));
                v.push(at(t + 600, Fault::RestartCrashed));
            }
            v
        }),
        raft(
            "power-loss",
            "every server loses power at once, twice; the page cache is gone, synced data stays",
            vec![
                at(1500, Fault::CrashAll),
                at(1600, Fault::RestartCrashed),
                at(3000, Fault::CrashAll),
                at(3100, Fault::RestartCrashed),
            ],
        ),
        raft("vote-storm", "leaders crash and come back at once while servers bounce (crash, restart 2 ms later)", {
            let mut v = Vec::new();
            for round in 0..14u64 {
                let t = 800 + round * 200;
                v.push(at(t, Fault::CrashLeader));
                v.push(at(t + 3, Fault::RestartCrashed));
                for k in 0..12u64 {
                    v.push(at(t + 10 + k * 14, Fault::CrashRandom));
                    v.push(at(t + 12 + k * 14, Fault::RestartCrashed));
                }
            }
            v
        }),
        raft(
            "mixed",
            "a bit of everything: partitions, crashes, a pause, skew, loss and torn writes",
            vec![
                at(700, Fault::Partition(Topology::RandomHalves)),
                at(1200, Fault::CrashLeader),
                at(1500, Fault::Heal),
                at(1700, Fault::RestartCrashed),
                at(1900, Fault::Pause { node: 2 }),
                at(2100, Fault::ClockBump { node: 1, delta_ns: 2_000_000_000 }),
                at(2400, Fault::Resume { node: 2 }),
                at(2600, Fault::Partition(Topology::MajoritiesRing)),
                at(3000, Fault::CrashFollower),
                at(3200, Fault::Heal),
                at(3500, Fault::RestartCrashed),
            ],
        ),
    ];
    for s in &mut v {
        let name = s.name.clone();
        match name.as_str() {
            "raft/slow-network" => {
                s.net.default.latency = Latency::Exponential {
                    floor: Nanos::from_millis(1),
                    mean: Nanos::from_millis(40),
                };
                s.net.default.duplicate = 0.05;
                *s = with_raft(s.clone(), |r| {
                    r.raft.election_min = Nanos::from_millis(80);
                    r.raft.election_max = Nanos::from_millis(160);
                    r.raft.heartbeat = Nanos::from_millis(25);
                });
            }
            "raft/lossy" => {
                s.net.default = LinkConfig {
                    latency: Latency::Exponential {
                        floor: Nanos::from_millis(1),
                        mean: Nanos::from_millis(6),
                    },
                    loss: 0.1,
                    duplicate: 0.1,
                };
                s.duration = Nanos::from_secs(5);
            }
            "raft/vote-storm" => {
                // A narrow timeout spread makes candidates collide and votes split.
                *s = with_raft(s.clone(), |r| {
                    r.raft.election_min = Nanos::from_millis(100);
                    r.raft.election_max = Nanos::from_millis(112);
                    r.raft.heartbeat = Nanos::from_millis(30);
                });
            }
            "raft/figure-8" => {
                s.nodes = 3;
                *s = with_raft(s.clone(), |r| {
                    r.raft = RaftConfig {
                        election_min: Nanos::from_millis(60),
                        election_max: Nanos::from_millis(120),
                        heartbeat: Nanos::from_millis(20),
                        max_batch: 1,
                        ..RaftConfig::default()
                    };
                });
            }
            "raft/power-loss" => {
                // A sudden power cut: nothing unsynced reaches the disk.
                s.disk.faults.crash_keep = 0.0;
            }
            "raft/disk-torn" | "raft/mixed" => {
                s.disk.faults = DiskFaults {
                    torn_write: 0.5,
                    ..DiskFaults::none()
                };
                if name == "raft/mixed" {
                    s.net.default.loss = 0.02;
                }
            }
            "raft/disk-lying-fsync" => {
                s.disk.faults.lying_fsync = 0.2;
                *s = with_raft(s.clone(), |r| {
                    r.raft.pre_vote = true;
                    r.raft.check_quorum = true;
                });
            }
            "raft/disk-corruption" => {
                s.disk.faults.corruption = 0.05;
                s.disk.faults.latent_error = 0.02;
                s.disk.protect_majority = true;
            }
            "raft/clock-skew" => {
                s.clocks = vec![
                    ClockSpec {
                        node: 0,
                        offset_ns: 40_000_000,
                        drift_ppm: 2_000,
                    },
                    ClockSpec {
                        node: 1,
                        offset_ns: -25_000_000,
                        drift_ppm: -2_000,
                    },
                ];
            }
            "raft/lease-skew" => {
                *s = with_raft(s.clone(), |r| {
                    r.raft.lease_reads = true;
                    r.raft.pre_vote = true;
                    r.raft.check_quorum = true;
                    // Covers +-30% drift: a slowed leader's 75 ms lease lasts 107 ms of true
                    // time; a fast follower's 150 ms timeout, 115 ms.
                    r.raft.lease_margin = Nanos::from_millis(75);
                    r.raft.election_max = Nanos::from_millis(165);
                    r.raft.heartbeat = Nanos::from_millis(20);
                    r.clients = 5;
                    r.client.think = Nanos::from_millis(10);
                    // Clients give up on the old leader quickly and find the new one while
                    // the old one still serves reads.
                    r.client.timeout = Nanos::from_millis(60);
                    r.client.attempts = 50;
                    // Read-heavy, as lease reads are meant for.
                    r.client.read_percent = 85;
                });
                s.clocks = (0..5)
                    .map(|node| ClockSpec {
                        node,
                        offset_ns: 0,
                        drift_ppm: 300_000,
                    })
                    .collect();
            }
            "raft/churn" => {
                *s = with_raft(s.clone(), |r| {
                    r.raft = RaftConfig {
                        election_min: Nanos::from_millis(60),
                        election_max: Nanos::from_millis(120),
                        heartbeat: Nanos::from_millis(20),
                        max_batch: 1,
                        ..RaftConfig::default()
                    };
                });
            }
            _ => {}
        }
    }
    v
}
