//! `dst shrink` as a library: the shrunk scenario still fails the same way on its own.

use scenarios::builtin;
use scenarios::report::Verdict;
use scenarios::runner::{add_bug, run_scenario, RunOptions};
use scenarios::shrink::shrink;

#[test]
fn a_shrunk_schedule_is_smaller_and_still_fails_the_same_check() {
    let s = builtin::find("raft/crash-leader").unwrap();
    let mut opts = RunOptions::default();
    add_bug(&mut opts, "raft:no-dedup").unwrap();
    let shrunk = shrink(&s, 0, &opts, 80, None).unwrap();
    // `duplicate-apply` sees the twice-executed request before linearizability does.
    assert_eq!(shrunk.check, "duplicate-apply");
    assert!(
        shrunk.after.fault_events < shrunk.before.fault_events,
        "{:?}",
        shrunk.after
    );
    assert!(shrunk.after.sim_time_ns <= shrunk.before.sim_time_ns);
    // The file form carries the bug, so it fails with no options at all.
    let r = run_scenario(&shrunk.scenario, 0, &RunOptions::default()).report;
    assert_eq!(r.verdict, Verdict::Violation);
    assert!(
        r.violations.iter().any(|v| v.check == "duplicate-apply"),
        "{:?}",
        r.violations
    );
}

#[test]
fn a_passing_run_has_nothing_to_shrink() {
    let s = builtin::find("relay/halves").unwrap();
    let err = shrink(&s, 1, &RunOptions::default(), 10, None).unwrap_err();
    assert!(err.contains("does not fail"), "{err}");
}

#[test]
fn a_swarm_run_shrinks_its_drawn_schedule_into_a_standalone_file() {
    let family = builtin::find("swarm/raft").unwrap();
    let mut opts = RunOptions::default();
    add_bug(&mut opts, "raft:no-dedup").unwrap();
    let shrunk = shrink(&family, 1, &opts, 40, None).unwrap();
    assert!(
        !scenarios::swarm::is_swarm(&shrunk.scenario),
        "{}",
        shrunk.scenario.name
    );
    let r = run_scenario(&shrunk.scenario, 1, &RunOptions::default()).report;
    assert!(
        r.violations.iter().any(|v| v.check == shrunk.check),
        "{:?}",
        r.violations
    );
}

#[test]
fn shrunk_corpus_cases_keep_their_violation_kind_as_files() {
    // One catalogued bug per system, shrunk keeping the check its corpus case names; the
    // shrunk scenario, printed as a file and read back, fails that check on its own.
    let cases = [
        ("raft/crash-leader", 0, "raft:no-dedup", "linearizability"),
        ("gossip/pause", 0, "gossip:no-refute", "membership"),
        (
            "twopc/crash-participant",
            0,
            "twopc:no-durable-prepare",
            "bank-total",
        ),
    ];
    for (name, seed, bug, check) in cases {
        let s = builtin::find(name).unwrap();
        let mut opts = RunOptions::default();
        add_bug(&mut opts, bug).unwrap();
        let shrunk = shrink(&s, seed, &opts, 150, Some(check)).unwrap();
        assert_eq!(shrunk.check, check);
        assert!(
            shrunk.after.fault_events < shrunk.before.fault_events,
            "{name}: {:?}",
            shrunk.after
        );
        assert!(
            shrunk.after.sim_time_ns < shrunk.before.sim_time_ns,
            "{name}"
        );
        let text = scenarios::file::to_toml(&shrunk.scenario);
        let back = scenarios::file::parse(&text, "shrunk.toml").unwrap();
        let r = run_scenario(&back, seed, &RunOptions::default()).report;
        assert!(
            r.violations.iter().any(|v| v.check == check),
            "{name}: {:?}",
            r.violations
        );
    }
}

#[test]
fn a_check_the_run_does_not_violate_is_refused() {
    let s = builtin::find("raft/crash-leader").unwrap();
    let mut opts = RunOptions::default();
    add_bug(&mut opts, "raft:no-dedup").unwrap();
    let err = shrink(&s, 0, &opts, 10, Some("election-safety")).unwrap_err();
    assert!(err.contains("not election-safety"), "{err}");
}
