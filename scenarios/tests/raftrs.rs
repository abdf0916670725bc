//! raft-rs (tikv's `raft` crate) hosted as the system `raft-rs`: the correct host passes
//! every raft-rs scenario over a few seeds, runs are deterministic, and seeds differ.
//!
//! `DST_SEEDS=N` deepens the sweep.

use scenarios::runner::{run_scenario, RunOptions};
use scenarios::testing::{seeds_from_env, sweep};

#[test]
fn correct_raft_rs_passes_every_scenario() {
    let names: Vec<String> = scenarios::builtin::of_system("raft-rs")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        sweep(&name).seeds(seeds_from_env(0..3)).assert_pass();
    }
}

/// raft-rs runs every Raft schedule but the ones with disk faults it does not claim to
/// survive (`System::swarm_disk`): a lying fsync loses entries a node acknowledged, and
/// with one copy of them raft-rs then asserts or the commit index goes back. Swarm runs
/// never draw it for raft-rs either.
#[test]
fn raft_rs_borrows_every_raft_schedule_it_claims_to_survive() {
    let raft: Vec<String> = scenarios::builtin::of_system("raft")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(raft.contains(&"raft/disk-lying-fsync".to_string()));
    for name in raft {
        let borrowed = name.replacen("raft/", "raft-rs/", 1);
        let lying = name == "raft/disk-lying-fsync";
        assert_eq!(
            scenarios::builtin::find(&borrowed).is_none(),
            lying,
            "{borrowed}"
        );
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

/// When each membership change of a raft-rs scenario is asked for (ns).
fn change_times(s: &scenarios::scenario::Scenario) -> Vec<u64> {
    let settings: nodes::raftrs::Settings =
        toml::Value::Table(s.settings.clone()).try_into().unwrap();
    settings.membership.iter().map(|c| c.at.0).collect()
}

/// The client events of a run before `until` (ns): what a check that stopped at the last
/// membership change would see.
fn history_before(r: scenarios::runner::RunResult, until: u64) -> Vec<checkers::history::Event> {
    let events = match r.history {
        Some(nodes::system::ClientHistory::Events(events)) => events,
        Some(nodes::system::ClientHistory::Compact(h)) => h.to_events(),
        _ => panic!("raft-rs records its client history as events"),
    };
    events
        .into_iter()
        .filter(|e| e.time.is_some_and(|t| t < until))
        .collect()
}

/// Clients keep working while the voters change, and the checks judge their history
/// during the changes, not only the liveness after the last fault: a planted host mistake
/// (`no-session`, a retried write applied twice) shows up as a linearizability violation
/// in the part of the history before the last change.
#[test]
fn membership_changes_keep_clients_working_and_their_history_checked() {
    use checkers::history::EventKind;
    use checkers::linearizability::ModelKind;
    for name in [
        "raft-rs/membership-partitions",
        "raft-rs/membership-crashes",
    ] {
        let s = scenarios::builtin::find(name).unwrap();
        let at = change_times(&s);
        let (first, last) = (at[0], *at.last().unwrap());
        assert!(first < last, "{name}: {at:?}");
        let r = run_scenario(&s, 1, &RunOptions::default());
        assert_eq!(r.report.violations, vec![], "{name}");
        let during = history_before(r, last)
            .into_iter()
            .filter(|e| e.kind == EventKind::Ok && e.time.is_some_and(|t| t > first))
            .count();
        assert!(
            during > 10,
            "{name}: {during} operations completed during the changes"
        );
    }
    let s = scenarios::builtin::find("raft-rs/membership-partitions").unwrap();
    let last = *change_times(&s).last().unwrap();
    let opts = RunOptions::with_bugs(&["raft-rs:no-session".to_string()]).unwrap();
    let caught = (0..5).any(|seed| {
        let r = run_scenario(&s, seed, &opts);
        let flagged = r
            .report
            .violations
            .iter()
            .any(|v| v.check == "linearizability");
        let early = nodes::system::check_history(history_before(r, last), ModelKind::Kv, "t");
        flagged
            && early
                .violations
                .iter()
                .any(|v| v.check == "linearizability")
    });
    assert!(
        caught,
        "no-session went unflagged during the membership changes over seeds 0..5"
    );
}
