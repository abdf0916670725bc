//! The lease lock service end to end: the correct system passes every built-in lock scenario
//! over a seed sweep, and every case of the seed corpus replays to its recorded verdict.
//!
//! `DST_SEEDS=N` deepens the sweep (the nightly job runs 1,000); `DST_SEED=S` runs one.

use std::path::Path;

use scenarios::corpus;
use scenarios::testing::sweep;

fn corpus_cases() -> Vec<corpus::Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/lock.toml");
    corpus::load(&path).unwrap()
}

#[test]
fn correct_lock_passes_every_builtin_scenario() {
    let names: Vec<String> = scenarios::builtin::of_system("lock")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.len() >= 6);
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
    let uncaught = corpus::uncaught_bugs("lock", &corpus_cases()).unwrap();
    assert!(
        uncaught.is_empty(),
        "bugs without a corpus case that catches them and names the check: {uncaught:?}"
    );
    let none = corpus::uncaught_bugs("lock", &[]).unwrap();
    assert_eq!(
        none.len(),
        nodes::lock::Bug::ALL.len(),
        "an empty corpus catches nothing"
    );
}

/// The picture of lab 7 shows the lease running out: the lock server notes each lease's
/// expiry on its own clock, and under a pause longer than the TTL the next grant comes
/// only after such a note.
#[test]
fn lease_expiry_is_noted_before_the_lock_moves_on_after_a_pause() {
    use scenarios::runner::{run_scenario, RunOptions};
    use sim::EventKind;
    let s = scenarios::builtin::find("lock/pause-holder").unwrap();
    let r = run_scenario(&s, 0, &RunOptions::default());
    let trace = r.trace.expect("a finished run has a trace");
    let notes: Vec<&str> = trace
        .events()
        .iter()
        .filter(|e| e.node == Some(0))
        .filter_map(|e| match &e.kind {
            EventKind::Note { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let expired = notes.iter().filter(|n| n.contains("expired")).count();
    assert!(expired > 0, "no lease expiry noted: {notes:?}");
    // Every grant after the first follows a release or an expiry note; at least one
    // follows an expiry (the paused holder never released).
    let after_expiry = notes
        .windows(2)
        .filter(|w| w[0].contains("expired") && w[1].starts_with("grant token"))
        .count();
    assert!(after_expiry > 0, "{notes:?}");
}
