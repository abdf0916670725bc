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
    let shrunk = shrink(&s, 0, &opts, 80).unwrap();
    assert_eq!(shrunk.check, "linearizability");
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
        r.violations.iter().any(|v| v.check == "linearizability"),
        "{:?}",
        r.violations
    );
}

#[test]
fn a_passing_run_has_nothing_to_shrink() {
    let s = builtin::find("relay/halves").unwrap();
    let err = shrink(&s, 1, &RunOptions::default(), 10).unwrap_err();
    assert!(err.contains("does not fail"), "{err}");
}

#[test]
fn a_swarm_run_shrinks_its_drawn_schedule_into_a_standalone_file() {
    let family = builtin::find("swarm/raft").unwrap();
    let mut opts = RunOptions::default();
    add_bug(&mut opts, "raft:no-dedup").unwrap();
    let shrunk = shrink(&family, 1, &opts, 40).unwrap();
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
