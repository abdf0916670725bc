//! Gossip end to end: the correct system passes every built-in gossip scenario over a seed
//! sweep, every corpus case replays to its recorded verdict, and convergence rounds for 5,
//! 17 and 65 servers grow slowly.
//!
//! `DST_SEEDS=N` deepens the sweep (the nightly job runs 1,000); `DST_SEED=S` runs one.

use std::path::Path;

use scenarios::builtin;
use scenarios::corpus;
use scenarios::runner::{run_scenario, RunOptions};
use scenarios::testing::sweep;

#[test]
fn correct_gossip_passes_every_builtin_scenario() {
    for s in scenarios::builtin::of_system("gossip") {
        // 65 servers are slow in a debug build; the release sweep covers them.
        let seeds = if s.nodes > 20 { 0..1 } else { 0..3 };
        sweep(&s.name).seeds(seeds).assert_pass();
    }
}

#[test]
fn the_seed_corpus_replays_to_its_recorded_verdicts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/gossip.toml");
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/gossip.toml");
    let cases = corpus::load(&path).unwrap();
    for bug in nodes::gossip::Bug::ALL {
        let flag = format!("gossip:{bug}");
        let case = cases
            .iter()
            .find(|c| c.bugs == [flag.clone()] && c.expect == "violation")
            .unwrap_or_else(|| panic!("no corpus case catches {flag}"));
        assert!(case.check.is_some(), "{flag}: the case must name its check");
    }
}

#[test]
fn convergence_rounds_are_reported_and_grow_slowly_with_the_cluster() {
    let rounds = |name: &str| {
        let s = builtin::find(name).unwrap();
        let r = run_scenario(&s, 0, &RunOptions::default()).report;
        assert_eq!(r.violations, vec![], "{name}");
        r.system_stats["convergence_rounds"].as_u64().unwrap()
    };
    let (r5, r17, r65) = (
        rounds("gossip/scale-5"),
        rounds("gossip/scale-17"),
        rounds("gossip/scale-65"),
    );
    assert!(r5 >= 1 && r5 <= r65, "rounds {r5} {r17} {r65}");
    assert!(r65 <= 12, "65 servers took {r65} rounds");
}

/// Sums a stat over the first `seeds` seeds of a built-in scenario (which must pass).
fn stat_over_seeds(name: &str, stat: &str, seeds: u64) -> u64 {
    let s = builtin::find(name).unwrap();
    (0..seeds)
        .map(|seed| {
            let r = run_scenario(&s, seed, &RunOptions::default()).report;
            assert_eq!(r.violations, vec![], "{name} seed {seed}");
            r.system_stats[stat].as_u64().unwrap()
        })
        .sum()
}

#[test]
fn after_a_power_loss_every_server_restores_its_snapshot() {
    // Five servers, two power losses: ten restarts, each finding a snapshot.
    assert_eq!(
        stat_over_seeds("gossip/power-loss", "snapshots_restored", 2),
        20
    );
}

#[test]
fn damaged_snapshots_are_discarded_and_the_run_still_passes() {
    assert!(stat_over_seeds("gossip/disk-torn", "snapshots_discarded", 3) > 0);
    assert!(stat_over_seeds("gossip/disk-corruption", "snapshots_discarded", 3) > 0);
}

#[test]
fn a_lost_write_points_at_the_client_operation_that_was_acknowledged() {
    let s = builtin::find("gossip/clock-skew").expect("built-in");
    let mut opts = RunOptions::default();
    scenarios::runner::add_bug(&mut opts, "gossip:lww-wall-clock").unwrap();
    let r = run_scenario(&s, 0, &opts);
    let lost = r
        .report
        .violations
        .iter()
        .find(|v| v.check == "lost-write")
        .expect("the bug loses a write at seed 0");
    let history = r
        .history
        .expect("gossip records a history")
        .json_lines()
        .to_string();
    let lines: Vec<&str> = history.lines().collect();
    let at_fault = lost
        .ops
        .iter()
        .find(|o| o.role == "at-fault")
        .expect("the lost write's operation");
    let op: serde_json::Value = serde_json::from_str(lines[at_fault.line - 1]).unwrap();
    assert_eq!(op["type"], "invoke");
    assert_eq!(op["f"], "put", "{op}");
    // The message names the same line.
    assert!(
        lost.message.contains(&format!("(line {})", at_fault.line)),
        "{}",
        lost.message
    );
}
