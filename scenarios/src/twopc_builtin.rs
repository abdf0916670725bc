//! The built-in two-phase-commit scenarios: partitions between the coordinator and the
//! participants, coordinator crashes at random moments and right after each of its early
//! disk operations (each protocol step logs, so this covers a crash at every step),
//! participant crashes, pauses, clock skew, lossy links and disk faults. Node n1 is the
//! coordinator, n2..n4 the participants. Every scenario runs the same checks.
//!
//! Silent corruption is here (`disk-corruption`): a lone coordinator or participant has no
//! replica to repair from, so a correct node detects it (checksums, and sync markers that
//! tell a damaged synced record from a torn unsynced tail) and refuses to run. Lying fsync
//! is not: with one copy of each log, a decision the disk said was durable and then lost
//! is gone without a trace, and no single node can fail safe on that.

use nodes::twopc::TwopcSystem;
use sim::disk::{DiskConfig, DiskFaults};
use sim::net::Latency;
use sim::{LinkConfig, Nanos, NetConfig, Topology};

use crate::scenario::{at, ClockSpec, Fault, Scenario, Scheduled, SystemSpec};

/// The checks every twopc scenario runs, for listings.
pub const TWOPC_CHECKS: &str =
    "atomicity, bank-total, serializability (list-append, strict), world audit; reports blocked time";

fn twopc(name: &str, description: &str, faults: Vec<Scheduled>) -> Scenario {
    let end = faults.last().map_or(1000, |f| f.at.0 / 1_000_000);
    Scenario {
        name: format!("twopc/{name}"),
        description: description.to_string(),
        system: SystemSpec::Twopc(TwopcSystem::default()),
        nodes: 4,
        duration: Nanos::from_millis(end + 3000),
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

fn lossy(mut s: Scenario) -> Scenario {
    s.net.default = LinkConfig {
        latency: Latency::Exponential {
            floor: Nanos::from_millis(1),
            mean: Nanos::from_millis(6),
        },
        loss: 0.1,
        duplicate: 0.1,
    };
    s
}

fn partition(t: Topology, rounds: u64) -> Vec<Scheduled> {
    let mut v = Vec::new();
    for r in 0..rounds {
        let t0 = 800 + r * 900;
        v.push(at(t0, Fault::Partition(t.clone())));
        v.push(at(t0 + 500, Fault::Heal));
    }
    v
}

fn crash_coordinator(rounds: u64) -> Vec<Scheduled> {
    let mut v = Vec::new();
    for r in 0..rounds {
        let t0 = 800 + r * 1100;
        v.push(at(t0, Fault::CrashLeader));
        v.push(at(t0 + 600, Fault::RestartCrashed));
    }
    v
}

/// Every built-in twopc scenario.
pub fn all() -> Vec<Scenario> {
    let mut v = vec![
        twopc(
            "partition-halves",
            "[n1 n2] | [n3 n4]: the coordinator loses two participants, four times",
            partition(Topology::Halves, 4),
        ),
        twopc(
            "partition-random-halves",
            "random halves of the servers, four times",
            partition(Topology::RandomHalves, 4),
        ),
        twopc(
            "isolate-participant",
            "a random participant is cut off from every server, six times",
            {
                let mut v = Vec::new();
                for r in 0..6u64 {
                    let node = 1 + (r as usize % 3);
                    v.push(at(700 + r * 600, Fault::Partition(Topology::Isolate { node: Some(node) })));
                    v.push(at(1000 + r * 600, Fault::Heal));
                }
                v
            },
        ),
        twopc(
            "crash-coordinator",
            "the coordinator crashes at a random moment and stays down 600 ms, four times: \
             participants in doubt block, holding their locks",
            crash_coordinator(4),
        ),
        twopc(
            "crash-coordinator-disk-ops",
            "the coordinator crashes right after one of its first 40 disk operations (every \
             commit decision is an append, an fsync, a sync-marker append and an fsync), twice",
            vec![
                at(0, Fault::CrashAfterRandomDiskOps { node: 0, max_ops: 40 }),
                at(1500, Fault::RestartCrashed),
                at(1600, Fault::CrashAfterRandomDiskOps { node: 0, max_ops: 40 }),
                at(3000, Fault::RestartCrashed),
            ],
        ),
        twopc(
            "crash-coordinator-partition",
            "a participant is cut off, then the coordinator crashes; it restarts before the heal, four times",
            {
                let mut v = Vec::new();
                for r in 0..4u64 {
                    let t0 = 800 + r * 1000;
                    let node = 1 + (r as usize % 3);
                    v.push(at(t0, Fault::Partition(Topology::Isolate { node: Some(node) })));
                    v.push(at(t0 + 30, Fault::CrashLeader));
                    v.push(at(t0 + 400, Fault::RestartCrashed));
                    v.push(at(t0 + 600, Fault::Heal));
                }
                v
            },
        ),
        lossy(twopc(
            "crash-coordinator-lossy",
            "links lose and duplicate 10% of messages; the coordinator crashes five times",
            {
                let mut v = Vec::new();
                for r in 0..5u64 {
                    v.push(at(700 + r * 700, Fault::CrashLeader));
                    v.push(at(1000 + r * 700, Fault::RestartCrashed));
                }
                v
            },
        )),
        twopc(
            "crash-participant",
            "participants crash and restart from their logs, in doubt or not",
            {
                let mut v = Vec::new();
                for r in 0..6u64 {
                    v.push(at(700 + r * 500, Fault::CrashFollower));
                    v.push(at(900 + r * 500, Fault::RestartCrashed));
                }
                v
            },
        ),
        twopc(
            "crash-participant-disk-ops",
            "n2 and then n3 crash right after one of their first 40 disk operations",
            vec![
                at(0, Fault::CrashAfterRandomDiskOps { node: 1, max_ops: 40 }),
                at(1200, Fault::RestartCrashed),
                at(1300, Fault::CrashAfterRandomDiskOps { node: 2, max_ops: 40 }),
                at(2600, Fault::RestartCrashed),
            ],
        ),
        twopc(
            "pause",
            "the coordinator pauses for 1 s (a long GC pause), then a participant",
            vec![
                at(800, Fault::Pause { node: 0 }),
                at(1800, Fault::Resume { node: 0 }),
                at(2300, Fault::Pause { node: 2 }),
                at(3300, Fault::Resume { node: 2 }),
            ],
        ),
        twopc(
            "clock-skew",
            "clocks offset and drifting, then bumped and strobed: timeouts fire early and late",
            vec![
                at(800, Fault::ClockBump { node: 0, delta_ns: -3_000_000_000 }),
                at(1200, Fault::ClockDrift { node: 1, ppm: 200_000 }),
                at(1600, Fault::ClockDrift { node: 0, ppm: -200_000 }),
                at(
                    2000,
                    Fault::ClockStrobe {
                        node: 3,
                        delta_ns: 250_000_000,
                        period: Nanos::from_millis(20),
                        duration: Nanos::from_millis(800),
                    },
                ),
            ],
        ),
        lossy(twopc(
            "lossy",
            "links lose 10% and duplicate 10% of messages, with a long latency tail",
            vec![],
        )),
        twopc(
            "disk-torn",
            "unsynced writes are lost or torn as random servers crash and restart",
            {
                let mut v = Vec::new();
                for r in 0..5u64 {
                    v.push(at(700 + r * 600, Fault::CrashRandom));
                    v.push(at(1000 + r * 600, Fault::RestartCrashed));
                }
                v
            },
        ),
        twopc(
            "disk-corruption",
            "reads flip bits in durable log sectors and unsynced writes tear as random servers \
             crash and restart: torn tails are cut, damaged synced records make the node \
             refuse to run (blocked, never deciding differently)",
            {
                let mut v = Vec::new();
                for r in 0..5u64 {
                    v.push(at(700 + r * 600, Fault::CrashRandom));
                    v.push(at(1000 + r * 600, Fault::RestartCrashed));
                }
                v
            },
        ),
        twopc(
            "power-loss",
            "every server loses power at once (nothing unsynced survives), three times",
            vec![
                at(800, Fault::CrashAll),
                at(1200, Fault::RestartCrashed),
                at(2000, Fault::CrashAll),
                at(2300, Fault::RestartCrashed),
                at(3000, Fault::CrashAll),
                at(3500, Fault::RestartCrashed),
            ],
        ),
        twopc(
            "disk-errors",
            "sectors fail on read; servers crash and restart, and refuse to run on a log they cannot read",
            {
                let mut v = Vec::new();
                for r in 0..4u64 {
                    v.push(at(700 + r * 700, Fault::CrashRandom));
                    v.push(at(1000 + r * 700, Fault::RestartCrashed));
                }
                v
            },
        ),
        twopc(
            "mixed",
            "partitions, coordinator and participant crashes, a pause and lossy links together",
            vec![
                at(600, Fault::Partition(Topology::RandomHalves)),
                at(900, Fault::CrashLeader),
                at(1100, Fault::Heal),
                at(1400, Fault::RestartCrashed),
                at(1700, Fault::CrashFollower),
                at(1900, Fault::Pause { node: 0 }),
                at(2300, Fault::Resume { node: 0 }),
                at(2400, Fault::RestartCrashed),
                at(2800, Fault::Partition(Topology::Isolate { node: None })),
                at(2850, Fault::CrashLeader),
                at(3300, Fault::RestartCrashed),
                at(3500, Fault::Heal),
            ],
        ),
    ];
    for s in &mut v {
        match s.name.as_str() {
            "twopc/clock-skew" => {
                s.clocks = vec![
                    ClockSpec {
                        node: 1,
                        offset_ns: 5_000_000_000,
                        drift_ppm: 50_000,
                    },
                    ClockSpec {
                        node: 2,
                        offset_ns: -2_000_000_000,
                        drift_ppm: -50_000,
                    },
                ];
            }
            "twopc/disk-torn" => {
                s.disk.faults = DiskFaults {
                    torn_write: 0.5,
                    crash_keep: 0.5,
                    ..DiskFaults::none()
                };
            }
            "twopc/power-loss" => s.disk.faults.crash_keep = 0.0,
            "twopc/disk-corruption" => {
                s.disk.faults = DiskFaults {
                    torn_write: 0.5,
                    corruption: 0.5,
                    ..DiskFaults::none()
                };
            }
            "twopc/disk-errors" => s.disk.faults.latent_error = 0.02,
            "twopc/mixed" => s.net.default.loss = 0.03,
            _ => {}
        }
    }
    v
}
