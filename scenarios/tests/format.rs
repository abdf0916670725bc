//! The scenario format's faults and checks at work: role targets pick the right number of
//! servers, a fault with `for` ends by itself, `[checks]` bounds and skips change verdicts.

use scenarios::builtin;
use scenarios::report::Verdict;
use scenarios::runner::{add_bug, run_scenario, RunOptions};
use scenarios::scenario::{at, Fault, Scenario};
use sim::{EventKind, Nanos};

/// The server nodes the trace shows `kind` events for within a millisecond after `ms`
/// (the nemesis wakes a few nanoseconds after a fault's time).
fn nodes_with(s: &Scenario, seed: u64, ms: u64, kind: fn(&EventKind) -> bool) -> Vec<usize> {
    let (from, to) = (ms * 1_000_000, (ms + 1) * 1_000_000);
    let r = run_scenario(s, seed, &RunOptions::default());
    assert_eq!(r.report.verdict, Verdict::Pass, "{:?}", r.report.violations);
    let mut v: Vec<usize> = r
        .trace
        .unwrap()
        .events()
        .iter()
        .filter(|e| e.time_ns >= from && e.time_ns < to && kind(&e.kind))
        .filter_map(|e| e.node)
        .filter(|&n| n < s.nodes)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn minority_and_majority_targets_crash_that_many_servers_and_for_restarts_them() {
    let mut s = builtin::find("relay/crash-restart").unwrap();
    s.nodes = 5;
    let mut minority = at(500, Fault::CrashMinority);
    minority.lasting = Some(Nanos::from_millis(300));
    let mut majority = at(1000, Fault::CrashMajority);
    majority.lasting = Some(Nanos::from_millis(200));
    s.faults = vec![minority, majority];
    s.validate().unwrap();
    let crash = |k: &EventKind| matches!(k, EventKind::Crash);
    let restart = |k: &EventKind| matches!(k, EventKind::Restart { .. });
    let mut picks = Vec::new();
    for seed in 0..4 {
        let first = nodes_with(&s, seed, 500, crash);
        assert_eq!(first.len(), 2, "seed {seed}: a minority of 5 is 2");
        assert_eq!(nodes_with(&s, seed, 800, restart), first);
        let second = nodes_with(&s, seed, 1000, crash);
        assert_eq!(second.len(), 3, "seed {seed}: a majority of 5 is 3");
        assert_eq!(nodes_with(&s, seed, 1200, restart), second);
        picks.push(first);
    }
    picks.dedup();
    assert!(
        picks.len() > 1,
        "the minority is drawn from the seed: {picks:?}"
    );
}

#[test]
fn a_pause_with_for_resumes_by_itself() {
    let mut s = builtin::find("relay/pause").unwrap();
    s.faults = vec![at(500, Fault::PauseMajority)];
    s.faults[0].lasting = Some(Nanos::from_millis(400));
    let resume = |k: &EventKind| matches!(k, EventKind::Resume);
    let resumed = nodes_with(&s, 1, 900, resume);
    assert_eq!(resumed.len(), 2, "a majority of 3 is 2: {resumed:?}");
}

#[test]
fn a_blocked_time_bound_flags_long_blocking_and_skip_hides_a_check() {
    let mut s = builtin::find("twopc/crash-coordinator").unwrap();
    let r = run_scenario(&s, 0, &RunOptions::default()).report;
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.violations);
    let blocked = r.system_stats["blocked_max_ms"].as_u64().unwrap();
    assert!(blocked > 1, "the coordinator's crashes block participants");
    s.settings.insert(
        "max_blocked".into(),
        toml::Value::try_from(Nanos::from_millis(blocked - 1)).unwrap(),
    );
    let r = run_scenario(&s, 0, &RunOptions::default()).report;
    assert!(
        r.violations.iter().any(|v| v.check == "blocked-time"),
        "{:?}",
        r.violations
    );
    s.settings.insert(
        "max_blocked".into(),
        toml::Value::try_from(Nanos::from_millis(blocked)).unwrap(),
    );
    let r = run_scenario(&s, 0, &RunOptions::default()).report;
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.violations);

    let s = builtin::find("raft/crash-leader").unwrap();
    let mut opts = RunOptions::default();
    add_bug(&mut opts, "raft:no-dedup").unwrap();
    let caught = run_scenario(&s, 0, &opts).report;
    assert!(caught
        .violations
        .iter()
        .any(|v| v.check == "linearizability"));
    let mut skipping = s.clone();
    skipping.checks.skip = vec!["linearizability".into()];
    let r = run_scenario(&skipping, 0, &opts).report;
    assert!(
        !r.violations.iter().any(|v| v.check == "linearizability"),
        "{:?}",
        r.violations
    );
    assert_eq!(
        r.trace_digest, caught.trace_digest,
        "skipping a check changes no event"
    );
}
