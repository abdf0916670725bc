//! The classes of mistakes issue 16 found the harness blind to, each proven by a planted
//! instance: the check that names the class catches it within a few seeds, and the
//! correct system passes the seeds the search ran.
//!
//! - wall-clock timers: `raft:timers-wall-clock` (leases and timers on the clock that
//!   `settimeofday` steps), caught by linearizability on `raft/lease-wall-clock`;
//! - duplicate effects: `raft:no-dedup` (a duplicated request executed twice, whatever it
//!   writes) by `duplicate-apply`, `gossip:count-duplicate-acks` (a duplicated ack counted
//!   as a copy) by `copies`;
//! - universal liveness: `twopc:keep-aborted-locks` by `client-progress` and
//!   `locks-released`, `gossip:suspect-never-dead` by `failure-detection`;
//! - refused starts: `twopc:refuse-torn-tail` (an ordinary torn tail taken for damage) by
//!   `refused-start`.
//!
//! The seed corpus (`seeds/`) keeps one case of each at a fixed seed; these tests search a
//! small range instead, so that they say what they prove even when digests move.

use std::ops::Range;

use scenarios::report::Verdict;
use scenarios::runner::{run_scenario, RunOptions};

/// The first seed in `seeds` whose run of `scenario` with `bug` on is flagged by `check`;
/// on the way, every seed tried is also run on the correct system, which must pass.
fn first_catch(scenario: &str, bug: &str, check: &str, seeds: Range<u64>) -> u64 {
    let s = scenarios::builtin::find(scenario).unwrap();
    let buggy = RunOptions {
        lean_trace: true,
        ..RunOptions::with_bugs(&[bug.to_string()]).unwrap()
    };
    let correct = RunOptions {
        lean_trace: true,
        ..RunOptions::default()
    };
    for seed in seeds.clone() {
        let r = run_scenario(&s, seed, &correct).report;
        assert_eq!(
            r.verdict,
            Verdict::Pass,
            "{scenario} seed {seed}, correct system: {:?}",
            r.violations
        );
        let r = run_scenario(&s, seed, &buggy).report;
        if r.violations.iter().any(|v| v.check == check) {
            return seed;
        }
    }
    panic!("{bug}: {check} caught nothing on {scenario} seeds {seeds:?}")
}

#[test]
fn wall_clock_timers_are_caught() {
    first_catch(
        "raft/lease-wall-clock",
        "raft:timers-wall-clock",
        "linearizability",
        0..12,
    );
}

#[test]
fn duplicate_effects_are_caught() {
    first_catch(
        "raft/duplicate-requests",
        "raft:no-dedup",
        "duplicate-apply",
        0..3,
    );
    first_catch(
        "gossip/duplicate-requests",
        "gossip:count-duplicate-acks",
        "copies",
        0..6,
    );
}

#[test]
fn universal_liveness_catches_a_system_that_is_safe_but_stuck() {
    for check in ["client-progress", "locks-released"] {
        first_catch(
            "twopc/partition-halves",
            "twopc:keep-aborted-locks",
            check,
            0..3,
        );
    }
    first_catch(
        "gossip/crash-stay-down",
        "gossip:suspect-never-dead",
        "failure-detection",
        0..3,
    );
}

#[test]
fn a_refused_start_on_an_undamaged_disk_is_caught() {
    first_catch(
        "twopc/disk-windows",
        "twopc:refuse-torn-tail",
        "refused-start",
        0..30,
    );
}
