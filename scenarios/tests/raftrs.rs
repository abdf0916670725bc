//! raft-rs (tikv's `raft` crate) hosted as the system `raft-rs`: the correct host passes
//! every raft-rs scenario over a few seeds, runs are deterministic, and seeds differ.
//!
//! `DST_SEEDS=N` deepens the sweep.

use scenarios::runner::{run_scenario, RunOptions};
use scenarios::testing::{seeds_from_env, sweep};

/// A lying fsync loses entries a node acknowledged: raft-rs then asserts (the host reports
/// it as `raft-rs-asserts`) or the node's commit index goes back. No host can pass that
/// schedule, so it is left out here.
const NOT_SURVIVABLE: &[&str] = &["raft-rs/disk-lying-fsync"];

#[test]
fn correct_raft_rs_passes_every_scenario_it_can_survive() {
    let names: Vec<String> = scenarios::builtin::of_system("raft-rs")
        .into_iter()
        .map(|s| s.name)
        .filter(|n| !NOT_SURVIVABLE.contains(&n.as_str()))
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        sweep(&name).seeds(seeds_from_env(0..3)).assert_pass();
    }
}

#[test]
fn runs_are_deterministic_and_seeds_differ() {
    let s = scenarios::builtin::find("raft-rs/partition-halves").unwrap();
    let opts = RunOptions::default();
    let a = run_scenario(&s, 1, &opts).report;
    let b = run_scenario(&s, 1, &opts).report;
    let c = run_scenario(&s, 2, &opts).report;
    assert_eq!(a.violations, vec![]);
    assert_eq!(a.trace_digest, b.trace_digest);
    assert_ne!(a.trace_digest, c.trace_digest);
}

fn corpus_cases() -> Vec<scenarios::corpus::Case> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/raft-rs.toml");
    scenarios::corpus::load(&path).unwrap()
}

#[test]
fn every_catalogued_host_mistake_has_a_corpus_case_that_names_its_check() {
    let uncaught = scenarios::corpus::uncaught_bugs("raft-rs", &corpus_cases()).unwrap();
    assert!(
        uncaught.is_empty(),
        "bugs without a corpus case that catches them and names the check: {uncaught:?}"
    );
    let none = scenarios::corpus::uncaught_bugs("raft-rs", &[]).unwrap();
    assert_eq!(
        none.len(),
        nodes::raftrs::Bug::ALL.len(),
        "an empty corpus catches nothing"
    );
}

#[test]
fn the_seed_corpus_replays_to_its_recorded_verdicts() {
    let cases = corpus_cases();
    assert!(cases.iter().any(|c| c.expect == "violation"));
    let failures = scenarios::corpus::failures(&cases);
    assert!(
        failures.is_empty(),
        "corpus cases that no longer hold:\n{}",
        failures.join("\n")
    );
}
