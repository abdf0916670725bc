//! Two-phase commit end to end: the correct system passes every built-in twopc scenario
//! over a seed sweep, and every case of the seed corpus replays to its recorded verdict.
//!
//! `DST_SEEDS=N` deepens the sweep (the nightly job runs 1,000); `DST_SEED=S` runs one.

use std::path::Path;

use scenarios::corpus;
use scenarios::testing::sweep;

fn corpus_cases() -> Vec<corpus::Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/twopc.toml");
    corpus::load(&path).unwrap()
}

#[test]
fn correct_twopc_passes_every_builtin_scenario() {
    let names: Vec<String> = scenarios::builtin::of_system("twopc")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.len() >= 10);
    for name in names {
        sweep(&name).seeds(0..3).assert_pass();
    }
}

#[test]
fn the_seed_corpus_replays_to_its_recorded_verdicts() {
    let cases = corpus_cases();
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
    let cases = corpus_cases();
    for bug in nodes::twopc::Bug::ALL {
        let flag = format!("twopc:{bug}");
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

#[test]
fn a_corrupt_log_makes_the_node_refuse_to_run_and_the_run_still_passes() {
    use scenarios::runner::{run_scenario, RunOptions};
    let s = scenarios::builtin::find("twopc/disk-corruption").unwrap();
    let refused: u64 = (0..3)
        .map(|seed| {
            let r = run_scenario(&s, seed, &RunOptions::default()).report;
            assert_eq!(r.violations, vec![], "seed {seed}");
            r.system_stats["refused"].as_u64().unwrap()
        })
        .sum();
    assert!(refused > 0, "no node ever found its log damaged");
}
