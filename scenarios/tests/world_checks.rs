//! Built-in scenarios against the world's checks: every topology, skew, crash and pause
//! passes over a seed sweep, runs are deterministic, and the checks catch a world that
//! breaks its own rules.
//!
//! `DST_SEEDS` scales the sweep (default 20 seeds per scenario); `DST_SEED` runs one.

use scenarios::builtin;
use scenarios::report::Verdict;
use scenarios::runner::{check_determinism, run_scenario, RunOptions};
use scenarios::scenario::{Fault, Scenario, Scheduled};
use sim::trace::DropReason;
use sim::{EventKind, Nanos, Topology, WorldFaults};

#[test]
fn every_builtin_passes_a_seed_sweep() {
    for s in builtin::of_system("relay") {
        scenarios::testing::Sweep::of(s).seeds(0..20).assert_pass();
    }
}

#[test]
fn partitions_really_cut_and_nothing_crosses_a_cut_link() {
    for s in builtin::of_system("relay")
        .into_iter()
        .filter(|s| s.name != "relay/majorities-ring-3")
    {
        let has_partition = s
            .faults
            .iter()
            .any(|f| matches!(f.fault, Fault::Partition(_)));
        if !has_partition {
            continue;
        }
        for seed in 0..5 {
            let r = run_scenario(&s, seed, &RunOptions::default());
            let trace = r.trace.expect("run finished");
            let ev = trace.events();
            // The partition took effect: some sends were dropped because of it...
            let cut_drops = ev
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::Drop {
                            reason: DropReason::CutLink,
                            ..
                        }
                    )
                })
                .count();
            assert!(
                cut_drops > 0,
                "{} seed {seed}: partition dropped nothing",
                s.name
            );
            // ...and no delivery happened over a link cut at that moment.
            let mut cut = std::collections::BTreeSet::new();
            for e in ev {
                match &e.kind {
                    EventKind::Partition { cut: links, .. } => cut.extend(links.iter().copied()),
                    EventKind::Heal => cut.clear(),
                    EventKind::Deliver { from, .. } => {
                        assert!(
                            !cut.contains(&(*from, e.node.unwrap())),
                            "{} seed {seed}: {e}",
                            s.name
                        )
                    }
                    _ => {}
                }
            }
            assert_eq!(r.report.verdict, Verdict::Pass);
        }
    }
}

#[test]
fn majorities_ring_of_three_cuts_one_way_only() {
    let s = builtin::find("relay/majorities-ring-3").unwrap();
    let r = run_scenario(&s, 1, &RunOptions::default());
    let trace = r.trace.unwrap();
    let cut = trace
        .events()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Partition { cut, .. } => Some(cut.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(cut.len(), 3);
    for &(a, b) in &cut {
        assert!(!cut.contains(&(b, a)), "link {a}<->{b} cut both ways");
    }
}

#[test]
fn every_builtin_is_deterministic() {
    // Every system's scenarios, not only the relay's: a run is a pure function of its seed.
    for s in builtin::everything() {
        let (a, divergence) = check_determinism(&s, 7, &RunOptions::default());
        assert!(divergence.is_none(), "{}: {divergence:?}", s.name);
        let b = run_scenario(&s, 8, &RunOptions::default());
        assert_ne!(a.report.trace_digest, b.report.trace_digest, "{}", s.name);
    }
}

#[test]
fn audit_catches_a_world_that_delivers_across_cuts() {
    // Long latencies so that many messages are in flight when the partition starts.
    let mut s = builtin::find("relay/halves").unwrap();
    s.net.default.latency = sim::net::Latency::Fixed {
        value: Nanos::from_millis(15),
    };
    let broken = RunOptions {
        world_faults: WorldFaults {
            deliver_across_cuts: true,
        },
        ..RunOptions::default()
    };
    let r = run_scenario(&s, 3, &broken).report;
    assert_eq!(r.verdict, Verdict::Violation);
    assert!(
        r.violations
            .iter()
            .any(|v| v.check == "delivery-over-cut-link"),
        "{:?}",
        r.violations
    );
    // The same scenario with an honest world passes.
    assert_eq!(
        run_scenario(&s, 3, &RunOptions::default()).report.verdict,
        Verdict::Pass
    );
}

#[test]
fn traffic_check_catches_a_partition_that_never_heals() {
    let mut s: Scenario = builtin::find("relay/halves").unwrap();
    s.faults.retain(|f| !matches!(f.fault, Fault::Heal));
    let r = run_scenario(&s, 1, &RunOptions::default()).report;
    assert_eq!(r.verdict, Verdict::Violation);
    // 2 x 3 nodes across the cut, both directions.
    let n = r
        .violations
        .iter()
        .filter(|v| v.check == "traffic-resumes")
        .count();
    assert_eq!(n, 12, "{:?}", r.violations);
}

#[test]
fn a_node_left_crashed_is_not_expected_to_talk() {
    let mut s = builtin::find("relay/crash-restart").unwrap();
    s.faults.push(Scheduled::new(
        Nanos::from_millis(1900),
        Fault::Crash { node: 0 },
    ));
    s.validate().unwrap();
    let r = run_scenario(&s, 2, &RunOptions::default());
    assert_eq!(r.report.verdict, Verdict::Pass, "{:?}", r.report.violations);
    let trace = r.trace.unwrap();
    let last_crash = trace
        .events()
        .iter()
        .rposition(|e| e.kind == EventKind::Crash)
        .unwrap();
    assert!(!trace.events()[last_crash..]
        .iter()
        .any(|e| e.node == Some(0) && !matches!(e.kind, EventKind::Crash)));
}

#[test]
fn an_inconsistent_schedule_is_reported_not_ignored() {
    let mut s = builtin::find("relay/pause").unwrap();
    // Restarting a node that never crashed cannot be applied.
    s.faults.insert(
        0,
        Scheduled::new(Nanos::from_millis(100), Fault::Restart { node: 2 }),
    );
    let r = run_scenario(&s, 0, &RunOptions::default()).report;
    assert!(
        r.violations.iter().any(|v| v.check == "scenario"),
        "{:?}",
        r.violations
    );
}

#[test]
fn isolate_topology_resolves_from_the_faults_stream() {
    // The isolated node is chosen by the seed; over a few seeds more than one is chosen.
    let mut s = builtin::find("relay/isolate").unwrap();
    s.faults[0].fault = Fault::Partition(Topology::Isolate { node: None });
    let mut loners = std::collections::BTreeSet::new();
    for seed in 0..10 {
        let trace = run_scenario(&s, seed, &RunOptions::default())
            .trace
            .unwrap();
        let cut = trace
            .events()
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::Partition { cut, .. } => Some(cut.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(cut.len(), 8);
        let common: Vec<usize> = (0..5)
            .filter(|&x| cut.iter().all(|&(a, b)| a == x || b == x))
            .collect();
        assert_eq!(common.len(), 1);
        loners.insert(common[0]);
    }
    assert!(loners.len() > 1, "always the same node: {loners:?}");
}

#[test]
fn a_partition_that_ends_by_itself_heals_only_its_own_links() {
    // n1 is cut off for 1 s; meanwhile n3 is cut off with no end. When n1's partition
    // ends, n3 must stay cut off: nothing from n3 reaches another server afterwards.
    let text = r#"
name = "overlap"
description = "two partitions, one with a for"
system = "relay"
nodes = 3
duration = "2s"

[[faults]]
at = "100ms"
fault = "partition"
topology = "isolate"
node = "n1"
for = "1s"

[[faults]]
at = "300ms"
fault = "partition"
topology = "isolate"
node = "n3"
"#;
    let s = scenarios::file::parse(text, "overlap.toml").expect("the file parses");
    let r = run_scenario(&s, 1, &RunOptions::default());
    let trace = r.trace.expect("a trace");
    let healed_at = trace
        .events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::HealLinks { .. }))
        .map(|e| e.time_ns)
        .expect("n1's partition ends with a partial heal");
    assert!(
        (1_100_000_000..1_101_000_000).contains(&healed_at),
        "{healed_at}"
    );
    assert!(
        !trace
            .events()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Heal)),
        "no full heal"
    );
    // After the partial heal, n1 and n2 talk again, n3 reaches nobody.
    let after = |from: usize| {
        trace.events().iter().any(|e| {
            e.time_ns > healed_at
                && matches!(e.kind, EventKind::Deliver { from: f, .. } if f == from)
        })
    };
    assert!(after(0), "n1 is back");
    assert!(!after(2), "n3 is still cut off");
    // The world audit agrees with the network about what was cut.
    assert!(
        r.report
            .violations
            .iter()
            .all(|v| v.check == "traffic-resumes"),
        "{:?}",
        r.report.violations
    );
}
