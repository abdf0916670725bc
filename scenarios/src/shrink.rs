//! Shrinking a failing run to a smaller fault schedule that still fails the same way.
//!
//! A delta-debugging pass of our own over the scenario as data: remove chunks of fault
//! events (halves, then quarters, down to single events), shorten the run, and drop
//! clients, keeping a change only if the run at the same seed still fails with the same
//! violation kind (the check that flagged it). Every candidate is re-run, so the result
//! always fails; it is a local minimum, not a global one.
//!
//! Not yet done: narrowing partitions to fewer nodes, dropping individual client
//! operations, and per-event random streams (removing an event that draws from the faults
//! stream can change later random choices; re-running each candidate keeps this sound but
//! can hide a smaller schedule).

use serde::Serialize;

use crate::report::Verdict;
use crate::runner::{run_scenario, RunOptions};
use crate::scenario::{Scenario, SystemSpec};

/// Size figures of a scenario's run, for the before/after summary.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Size {
    pub fault_events: usize,
    pub sim_time_ns: u64,
    pub trace_events: u64,
    pub clients: usize,
}

/// What `dst shrink` found.
#[derive(Debug, Clone, Serialize)]
pub struct Shrunk {
    /// The check whose violation was preserved.
    pub check: String,
    pub before: Size,
    pub after: Size,
    pub runs: u64,
    #[serde(skip)]
    pub scenario: Scenario,
}

fn clients_of(s: &Scenario) -> usize {
    s.system.clients()
}

/// Runs `s`; returns the size if it fails with `check`.
fn fails_with(
    s: &Scenario,
    seed: u64,
    opts: &RunOptions,
    check: &str,
    runs: &mut u64,
) -> Option<Size> {
    if s.validate().is_err() {
        return None;
    }
    *runs += 1;
    let r = run_scenario(s, seed, opts).report;
    let hit = r.verdict == Verdict::Violation && r.violations.iter().any(|v| v.check == check);
    hit.then_some(Size {
        fault_events: s.faults.len(),
        sim_time_ns: r.sim_time_ns,
        trace_events: r.events,
        clients: clients_of(s),
    })
}

/// Shrinks `s` at `seed`; `Err` if the run does not fail to begin with. A swarm family is
/// first drawn at the seed: it is the drawn schedule that shrinks.
pub fn shrink(s: &Scenario, seed: u64, opts: &RunOptions, max_runs: u64) -> Result<Shrunk, String> {
    let drawn;
    let s = if crate::swarm::is_swarm(s) {
        let (mut d, _) = crate::swarm::materialize(s, seed);
        d.name = format!("{}-seed-{seed}", s.name.replace('/', "-"));
        drawn = d;
        &drawn
    } else {
        s
    };
    let first = run_scenario(s, seed, opts).report;
    if first.verdict != Verdict::Violation {
        return Err(format!(
            "{} seed {seed} does not fail ({}): nothing to shrink",
            s.name,
            first.verdict.as_str()
        ));
    }
    let check = first.violations[0].check.clone();
    let before = Size {
        fault_events: s.faults.len(),
        sim_time_ns: first.sim_time_ns,
        trace_events: first.events,
        clients: clients_of(s),
    };
    let mut best = s.clone();
    let mut best_size = before;
    let mut runs = 1u64;
    let mut improved = true;
    while improved && runs < max_runs {
        improved = false;
        // Shorten the run first: every later candidate then runs faster. Halve the time
        // after the last fault while it still fails.
        loop {
            if runs >= max_runs {
                break;
            }
            let last = best.last_fault().0;
            let tail = best.duration.0.saturating_sub(last);
            if tail < 200_000_000 {
                break;
            }
            let mut cand = best.clone();
            cand.duration = sim::Nanos(last + tail / 2);
            match fails_with(&cand, seed, opts, &check, &mut runs) {
                Some(size) => {
                    best = cand;
                    best_size = size;
                    improved = true;
                }
                None => break,
            }
        }
        // Remove chunks of faults, largest chunks first.
        let mut chunk = best.faults.len().div_ceil(2).max(1);
        while chunk >= 1 && !best.faults.is_empty() && runs < max_runs {
            let mut start = 0;
            let mut removed_any = false;
            while start < best.faults.len() && runs < max_runs {
                let mut cand = best.clone();
                let end = (start + chunk).min(cand.faults.len());
                cand.faults.drain(start..end);
                if let Some(size) = fails_with(&cand, seed, opts, &check, &mut runs) {
                    best = cand;
                    best_size = size;
                    removed_any = true;
                    improved = true;
                } else {
                    start += chunk;
                }
            }
            if !removed_any {
                if chunk == 1 {
                    break;
                }
                chunk = chunk.div_ceil(2);
            }
        }
        // Fewer clients.
        while clients_of(&best) > 1 && runs < max_runs {
            let mut cand = best.clone();
            match &mut cand.system {
                SystemSpec::Raft(r) => r.clients -= 1,
                SystemSpec::Gossip(g) => g.clients -= 1,
                SystemSpec::Twopc(t) => t.clients -= 1,
                SystemSpec::Relay(_) => break,
            }
            match fails_with(&cand, seed, opts, &check, &mut runs) {
                Some(size) => {
                    best = cand;
                    best_size = size;
                    improved = true;
                }
                None => break,
            }
        }
    }
    // The file must fail on its own: write the bugs into it.
    if let SystemSpec::Raft(r) = &mut best.system {
        r.bugs.0.extend(opts.raft_bugs.0.iter().copied());
    }
    best.name = format!("{}-shrunk", s.name.trim_end_matches(".toml"));
    best.description = format!(
        "{} shrunk at seed {seed}: {} -> {} fault events, still fails {check}",
        s.name, before.fault_events, best_size.fault_events
    );
    Ok(Shrunk {
        check,
        before,
        after: best_size,
        runs,
        scenario: best,
    })
}
