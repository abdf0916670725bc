//! The built-in scenarios. Relay scenarios prove the world: each partition topology, clock
//! skew, crash and restart, pause and resume, and a lossy, duplicating network. Each one
//! ends with a quiet period long enough for the traffic check to judge recovery.

use nodes::relay::RelayConfig;
use sim::net::Latency;
use sim::{LinkConfig, Nanos, NetConfig, Topology};

use crate::scenario::{at, ClockSpec, Fault, Scenario, Scheduled, SystemSpec};

fn relay(name: &str, description: &str, nodes: usize, faults: Vec<Scheduled>) -> Scenario {
    Scenario {
        name: name.to_string(),
        description: description.to_string(),
        system: SystemSpec::Relay(RelayConfig::default()),
        nodes,
        duration: Nanos::from_secs(3),
        net: NetConfig {
            default: LinkConfig {
                latency: Latency::Uniform {
                    min: Nanos::from_millis(1),
                    max: Nanos::from_millis(10),
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

/// A partition at 0.5 s healed at 1.5 s.
fn partition_then_heal(t: Topology) -> Vec<Scheduled> {
    vec![at(500, Fault::Partition(t)), at(1500, Fault::Heal)]
}

/// Every built-in relay scenario, in listing order.
pub fn all() -> Vec<Scenario> {
    let mut lossy = relay(
        "relay/lossy",
        "relay on a network that loses 5% and duplicates 5% of messages, exponential latency",
        5,
        vec![],
    );
    lossy.net.default = LinkConfig {
        latency: Latency::Exponential {
            floor: Nanos::from_millis(1),
            mean: Nanos::from_millis(4),
        },
        loss: 0.05,
        duplicate: 0.05,
    };
    let mut skew = relay(
        "relay/clock-skew",
        "relay with clocks offset and drifting, then a bump back, a bump forward and a strobe",
        3,
        vec![
            at(
                500,
                Fault::ClockBump {
                    node: 0,
                    delta_ns: -2_000_000_000,
                },
            ),
            at(
                800,
                Fault::ClockBump {
                    node: 1,
                    delta_ns: 5_000_000_000,
                },
            ),
            at(
                1000,
                Fault::ClockDrift {
                    node: 2,
                    ppm: 50_000,
                },
            ),
            at(
                1200,
                Fault::ClockStrobe {
                    node: 2,
                    delta_ns: 200_000_000,
                    period: Nanos::from_millis(10),
                    duration: Nanos::from_millis(500),
                },
            ),
        ],
    );
    skew.clocks = vec![
        ClockSpec {
            node: 0,
            offset_ns: 30_000_000,
            drift_ppm: 1000,
        },
        ClockSpec {
            node: 1,
            offset_ns: -45_000_000,
            drift_ppm: -1000,
        },
    ];
    vec![
        relay(
            "relay/halves",
            "relay, 5 nodes, network cut into halves [n1 n2] | [n3 n4 n5] for 1 s, then healed",
            5,
            partition_then_heal(Topology::Halves),
        ),
        relay(
            "relay/random-halves",
            "relay, 5 nodes, network cut into random halves for 1 s, then healed",
            5,
            partition_then_heal(Topology::RandomHalves),
        ),
        relay(
            "relay/isolate",
            "relay, 5 nodes, one random node isolated for 1 s, then healed",
            5,
            partition_then_heal(Topology::Isolate { node: None }),
        ),
        relay(
            "relay/majorities-ring",
            "relay, 5 nodes, each sees a different majority for 1 s, then healed",
            5,
            partition_then_heal(Topology::MajoritiesRing),
        ),
        relay(
            "relay/majorities-ring-3",
            "relay, 3 nodes, one-way majorities ring for 1 s, then healed",
            3,
            partition_then_heal(Topology::MajoritiesRing),
        ),
        relay(
            "relay/bridge",
            "relay, 5 nodes, two halves joined only through a bridge node for 1 s, then healed",
            5,
            partition_then_heal(Topology::Bridge),
        ),
        relay(
            "relay/one-way",
            "relay, 5 nodes, one random node can receive but not send for 1 s, then healed",
            5,
            partition_then_heal(Topology::OneWay { from: vec![], to: vec![] }),
        ),
        skew,
        relay(
            "relay/crash-restart",
            "relay, 3 nodes, n2 crashes at 0.5 s and restarts at 1.2 s; n3 crashes and restarts twice",
            3,
            vec![
                at(500, Fault::Crash { node: 1 }),
                at(700, Fault::Crash { node: 2 }),
                at(900, Fault::Restart { node: 2 }),
                at(1200, Fault::Restart { node: 1 }),
                at(1300, Fault::Crash { node: 2 }),
                at(1400, Fault::Restart { node: 2 }),
            ],
        ),
        relay(
            "relay/pause",
            "relay, 3 nodes, n1 paused for 0.8 s (a long GC pause) while others keep sending",
            3,
            vec![at(500, Fault::Pause { node: 0 }), at(1300, Fault::Resume { node: 0 })],
        ),
        lossy,
    ]
}

/// Every built-in scenario of every system.
pub fn everything() -> Vec<Scenario> {
    let mut v = all();
    v.extend(crate::raft_builtin::all());
    v.extend(crate::gossip_builtin::all());
    v.extend(crate::twopc_builtin::all());
    // One swarm family per system that has a built-in scenario to take settings from.
    let mut families = Vec::new();
    for system in ["raft", "gossip", "twopc"] {
        if let Some(base) = v.iter().find(|s| s.system.name() == system) {
            families.push(crate::swarm::template(system, base));
        }
    }
    v.extend(families);
    v
}

/// The built-in scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    everything().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_and_uniquely_named() {
        let all = everything();
        let mut names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for s in &all {
            s.validate().unwrap();
            assert!(
                s.last_fault().0 + Nanos::from_secs(1).0 <= s.duration.0,
                "{} has no quiet tail",
                s.name
            );
        }
    }
}
