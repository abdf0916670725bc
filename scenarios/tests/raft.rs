//! Raft end to end: the correct node passes every built-in Raft scenario over a seed
//! sweep, and every case of the seed corpus replays to its recorded verdict.
//!
//! `DST_SEEDS=N` deepens the sweep (the nightly job runs 1,000); `DST_SEED=S` runs one.

use std::path::Path;

use scenarios::corpus;
use scenarios::testing::sweep;

fn raft_scenarios() -> Vec<String> {
    scenarios::builtin::of_system("raft")
        .into_iter()
        .map(|s| s.name)
        .collect()
}

#[test]
fn correct_raft_passes_every_builtin_scenario() {
    for name in raft_scenarios() {
        sweep(&name).seeds(0..4).assert_pass();
    }
}

#[test]
fn the_seed_corpus_replays_to_its_recorded_verdicts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/raft.toml");
    let cases = corpus::load(&path).unwrap();
    assert!(!cases.is_empty());
    let failures = corpus::failures(&cases);
    assert!(
        failures.is_empty(),
        "corpus cases that no longer hold:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_catalogued_bug_has_a_corpus_case_that_names_its_check() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/raft.toml");
    let cases = corpus::load(&path).unwrap();
    for bug in nodes::raft::Bug::ALL {
        let flag = format!("raft:{bug}");
        let case = cases
            .iter()
            .find(|c| c.bugs == [flag.clone()] && c.expect == "violation")
            .unwrap_or_else(|| panic!("no corpus case catches {flag}"));
        assert!(
            case.check.is_some(),
            "{flag}: the case must name the check that flags it"
        );
    }
}
