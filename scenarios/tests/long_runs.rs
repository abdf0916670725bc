//! Long runs: a lean trace (landmark events only) gives exactly the report of a complete
//! one.

use scenarios::builtin;
use scenarios::report::Verdict;
use scenarios::runner::{run_scenario, RunOptions};

fn report_json(r: &scenarios::runner::RunResult) -> String {
    serde_json::to_string(&r.report).unwrap()
}

#[test]
fn lean_and_complete_traces_give_the_same_reports() {
    let cases: [(&str, &[&str], u64); 6] = [
        ("raft/figure-8", &["raft:commit-previous-term"], 1),
        ("raft/mixed", &[], 1),
        ("gossip/disk-torn", &[], 2),
        ("twopc/mixed", &[], 3),
        ("twopc/power-loss", &["twopc:no-durable-decision"], 1),
        ("relay/crash-restart", &[], 0),
    ];
    let mut violations = 0;
    for (name, bugs, seed) in cases {
        let s = builtin::find(name).unwrap();
        let bugs: Vec<String> = bugs.iter().map(|b| b.to_string()).collect();
        let full = RunOptions::with_bugs(&bugs).unwrap();
        let lean = RunOptions {
            lean_trace: true,
            ..full.clone()
        };
        let (a, b) = (run_scenario(&s, seed, &full), run_scenario(&s, seed, &lean));
        assert_eq!(report_json(&a), report_json(&b), "{name} seed {seed}");
        assert!(a.trace.as_ref().unwrap().is_complete());
        let lean_trace = b.trace.as_ref().unwrap();
        if !name.starts_with("relay/") {
            assert!(!lean_trace.is_complete());
            assert!((lean_trace.events().len() as u64) < lean_trace.len() / 10);
        }
        violations += usize::from(a.report.verdict == Verdict::Violation);
    }
    assert!(
        violations >= 2,
        "the planted bugs were caught in both modes"
    );
}
