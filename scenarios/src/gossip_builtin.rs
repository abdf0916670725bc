//! The built-in gossip scenarios: partitions, crashes with restarts from the servers'
//! snapshots, power loss, crashes at each step of a snapshot, torn writes behind lying
//! fsyncs, silent corruption, pauses, clock skew, lossy links, a mix, and fault-free
//! clusters of 5, 17 and 65 servers that measure how many anti-entropy rounds convergence
//! takes. Clients write until the last fault (unless a scenario says otherwise); the rest
//! of the run is the quiet phase in which live servers must converge.

use nodes::gossip::GossipSystem;
use sim::disk::DiskFaults;
use sim::net::Latency;
use sim::{LinkConfig, Nanos, NetConfig, Topology};

use crate::scenario::{at, ClockSpec, Fault, Scenario, Scheduled, SystemSpec};

/// The checks every gossip scenario runs, for listings.
pub const GOSSIP_CHECKS: &str =
    "convergence, membership, lost-write, resurrection, conflict-audit, integrity, world audit";

fn gossip(name: &str, description: &str, nodes: usize, faults: Vec<Scheduled>) -> Scenario {
    let last = faults.last().map_or(0, |f| f.at.0 / 1_000_000);
    let until = last.max(2000);
    let mut system = GossipSystem::default();
    system.client.until = Nanos::from_millis(until);
    Scenario {
        name: format!("gossip/{name}"),
        description: description.to_string(),
        system: SystemSpec::Gossip(system),
        nodes,
        duration: Nanos::from_millis(until + 3000),
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
        disk: Default::default(),
        clocks: vec![],
        faults,
    }
}

fn partition(t: Topology) -> Vec<Scheduled> {
    vec![
        at(800, Fault::Partition(t.clone())),
        at(2000, Fault::Heal),
        at(2500, Fault::Partition(t)),
        at(3500, Fault::Heal),
    ]
}

/// Random servers crash and restart one at a time, `rounds` times, 700 ms apart.
fn crash_one_at_a_time(rounds: u64) -> Vec<Scheduled> {
    let mut v = Vec::new();
    for r in 0..rounds {
        v.push(at(800 + r * 700, Fault::CrashRandom));
        v.push(at(1100 + r * 700, Fault::RestartCrashed));
    }
    v
}

/// Every built-in gossip scenario.
pub fn all() -> Vec<Scenario> {
    let mut v =
        vec![
        gossip(
            "partition-halves",
            "5 servers cut into halves twice; each side writes and suspects the other",
            5,
            partition(Topology::Halves),
        ),
        gossip(
            "partition-random-halves",
            "random halves, twice",
            5,
            partition(Topology::RandomHalves),
        ),
        gossip(
            "isolate",
            "one random server cut off from the others, twice (long enough to be declared dead)",
            5,
            partition(Topology::Isolate { node: None }),
        ),
        gossip(
            "bridge",
            "two halves joined only through one bridge server, twice",
            5,
            partition(Topology::Bridge),
        ),
        gossip(
            "crash-restart",
            "servers crash and restart from their snapshots, catching up from their peers",
            5,
            vec![
                at(800, Fault::CrashRandom),
                at(1400, Fault::RestartCrashed),
                at(1800, Fault::CrashRandom),
                at(2000, Fault::CrashRandom),
                at(2800, Fault::RestartCrashed),
                at(3200, Fault::CrashRandom),
            ],
        ),
        gossip(
            "power-loss",
            "every server loses power at once, twice: nothing unsynced survives, and every \
             acknowledged write must come back from the servers' snapshots",
            5,
            vec![
                at(1200, Fault::CrashAll),
                at(1500, Fault::RestartCrashed),
                at(2400, Fault::CrashAll),
                at(2700, Fault::RestartCrashed),
            ],
        ),
        gossip(
            "crash-disk-ops",
            "n1 and then n3 crash right after one of their first 60 disk operations: a crash \
             at each step of writing a snapshot (create, write, fsync, rename, directory fsync)",
            5,
            vec![
                at(0, Fault::CrashAfterRandomDiskOps { node: 0, max_ops: 60 }),
                at(1200, Fault::RestartCrashed),
                at(1300, Fault::CrashAfterRandomDiskOps { node: 2, max_ops: 60 }),
                at(2600, Fault::RestartCrashed),
            ],
        ),
        gossip(
            "disk-torn",
            "fsyncs lie and unsynced writes are torn or lost as servers crash one at a time: \
             restarted servers find torn or empty snapshots, discard them by checksum and \
             rebuild from their peers",
            5,
            crash_one_at_a_time(4),
        ),
        gossip(
            "disk-corruption",
            "reads flip bits and hit bad sectors (never on a majority of the servers for the \
             same sector) as servers crash and restart, the last two after the writes stop",
            5,
            crash_one_at_a_time(4),
        ),
        gossip(
            "pause",
            "n1 pauses for 1.5 s (declared dead meanwhile), then n4 for 1 s: both must refute",
            5,
            vec![
                at(800, Fault::Pause { node: 0 }),
                at(2300, Fault::Resume { node: 0 }),
                at(2600, Fault::Pause { node: 3 }),
                at(3600, Fault::Resume { node: 3 }),
            ],
        ),
        gossip(
            "clock-skew",
            "wall clocks seconds apart, drifting, bumped and strobed",
            5,
            vec![
                at(
                    1000,
                    Fault::ClockBump {
                        node: 0,
                        delta_ns: -3_000_000_000,
                    },
                ),
                at(
                    1500,
                    Fault::ClockBump {
                        node: 1,
                        delta_ns: 4_000_000_000,
                    },
                ),
                at(
                    2000,
                    Fault::ClockDrift {
                        node: 2,
                        ppm: 20_000,
                    },
                ),
                at(
                    2500,
                    Fault::ClockStrobe {
                        node: 3,
                        delta_ns: 2_000_000_000,
                        period: Nanos::from_millis(20),
                        duration: Nanos::from_millis(800),
                    },
                ),
            ],
        ),
        gossip(
            "lossy",
            "links lose 10% and duplicate 10% of messages, with a long latency tail",
            5,
            vec![],
        ),
        gossip(
            "mixed",
            "partitions, a crash, a pause, a clock bump and 2% loss",
            5,
            vec![
                at(700, Fault::Partition(Topology::RandomHalves)),
                at(1200, Fault::CrashRandom),
                at(1500, Fault::Heal),
                at(1700, Fault::RestartCrashed),
                at(1900, Fault::Pause { node: 2 }),
                at(
                    2100,
                    Fault::ClockBump {
                        node: 1,
                        delta_ns: 2_000_000_000,
                    },
                ),
                at(2900, Fault::Resume { node: 2 }),
                at(3000, Fault::Partition(Topology::MajoritiesRing)),
                at(3500, Fault::Heal),
            ],
        ),
        gossip(
            "scale-5",
            "5 servers, no faults: convergence rounds for N = 5",
            5,
            vec![],
        ),
        gossip(
            "scale-17",
            "17 servers, no faults: convergence rounds for N = 17",
            17,
            vec![],
        ),
        gossip(
            "scale-65",
            "65 servers, no faults: convergence rounds for N = 65",
            65,
            vec![],
        ),
    ];
    for s in &mut v {
        match s.name.as_str() {
            "gossip/lossy" => {
                s.net.default = LinkConfig {
                    latency: Latency::Exponential {
                        floor: Nanos::from_millis(1),
                        mean: Nanos::from_millis(6),
                    },
                    loss: 0.1,
                    duplicate: 0.1,
                };
            }
            "gossip/mixed" => s.net.default.loss = 0.02,
            "gossip/power-loss" => s.disk.faults.crash_keep = 0.0,
            "gossip/disk-torn" => {
                s.disk.faults = DiskFaults {
                    torn_write: 0.6,
                    lying_fsync: 0.3,
                    ..DiskFaults::none()
                };
            }
            "gossip/disk-corruption" => {
                s.disk.faults = DiskFaults {
                    corruption: 0.5,
                    latent_error: 0.1,
                    ..DiskFaults::none()
                };
                s.disk.protect_majority = true;
                // The last two restarts load their snapshots in the quiet phase, where no
                // later write would paper over what a damaged one brought back.
                if let SystemSpec::Gossip(g) = &mut s.system {
                    g.client.until = Nanos::from_millis(2000);
                }
            }
            "gossip/scale-5" | "gossip/scale-17" | "gossip/scale-65" => {
                // Acknowledge on one replica: the rounds measured are anti-entropy alone.
                if let SystemSpec::Gossip(g) = &mut s.system {
                    g.gossip.copies = 1;
                }
            }
            "gossip/clock-skew" => {
                s.clocks = vec![
                    ClockSpec {
                        node: 0,
                        offset_ns: 1_500_000_000,
                        drift_ppm: 2_000,
                    },
                    ClockSpec {
                        node: 4,
                        offset_ns: -2_000_000_000,
                        drift_ppm: -2_000,
                    },
                ];
            }
            _ => {}
        }
    }
    v
}
