//! A run past the memory budget ends as `unknown` instead of being killed. Its own test
//! binary: the budget is process-wide, and no other test may run under a budget of a byte.

use scenarios::builtin;
use scenarios::report::Verdict;
use scenarios::runner::{run_scenario, RunOptions};

#[test]
fn a_run_past_the_memory_budget_ends_unknown() {
    let mut s = builtin::find("raft/partition-halves").unwrap();
    s.duration = sim::Nanos::from_millis(60_000);
    // Any process is over a budget of one byte; the check runs every 65,536 events.
    sim::budget::set_memory_budget(1);
    let r = run_scenario(&s, 0, &RunOptions::default());
    sim::budget::set_memory_budget(0);
    assert_eq!(r.report.verdict, Verdict::Unknown, "{:?}", r.report);
    let why = r.report.unknown.unwrap();
    assert!(why.contains("memory budget"), "{why}");
    assert!(r.report.violations.is_empty());
}
