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

#[test]
fn client_histories_are_kept_encoded_and_render_back_whole() {
    use scenarios::runner::ClientHistory;
    // Raft's and 2PC's observers and the harness's Recorder (raft-rs) keep their clients'
    // events encoded, not as events with their own strings and lists: a few dozen bytes an
    // event (an hour of simulated clients is a few hundred thousand operations).
    for (name, most_bytes_per_event) in [
        ("raft/partition-halves", 40),
        ("raft-rs/partition-halves", 40),
        ("twopc/partition-halves", 120),
    ] {
        let s = builtin::find(name).unwrap();
        let opts = RunOptions {
            lean_trace: true,
            ..RunOptions::default()
        };
        let r = run_scenario(&s, 1, &opts);
        let Some(ClientHistory::Compact(h)) = &r.history else {
            panic!("{name}: the history is not kept encoded");
        };
        assert!(
            h.invocations() > 100,
            "{name}: {} operations",
            h.invocations()
        );
        let per_event = h.encoded_bytes() / h.len();
        assert!(
            per_event <= most_bytes_per_event,
            "{name}: {per_event} bytes an event"
        );
        // What `--history` writes reads back as the same events.
        let text = r.history.as_ref().unwrap().json_lines();
        let back = checkers::history::parse_str("h", &text, None).unwrap();
        assert_eq!(back.events, h.to_events(), "{name}");
    }
}
