//! Seed sweeps for `cargo test`: `sweep("relay/halves").seeds(0..50).assert_pass()`.
//!
//! `DST_SEEDS=N` replaces every sweep's seed count with N (a nightly job sets it high);
//! `DST_SEED=S` runs only seed S. A failure lists every failing seed with its violation
//! and the command that replays it.

use std::ops::Range;

use crate::builtin;
use crate::report::Verdict;
use crate::runner::{run_scenario, RunOptions};
use crate::scenario::Scenario;

/// Seeds to run given a default range and the environment.
pub fn seeds_from_env(default: Range<u64>) -> Range<u64> {
    if let Some(seed) = std::env::var("DST_SEED")
        .ok()
        .and_then(|s| crate::sweep::parse_seed(&s).ok())
    {
        return seed..seed + 1;
    }
    match std::env::var("DST_SEEDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => default.start..default.start + n,
        None => default,
    }
}

/// A sweep being set up.
pub struct Sweep {
    scenario: Scenario,
    seeds: Range<u64>,
    opts: RunOptions,
}

/// Starts a sweep of the built-in scenario `name`; panics if there is none (a test typo).
pub fn sweep(name: &str) -> Sweep {
    let scenario = builtin::find(name).unwrap_or_else(|| panic!("no built-in scenario {name:?}"));
    Sweep::of(scenario)
}

impl Sweep {
    /// A sweep of any scenario, built-in or not.
    pub fn of(scenario: Scenario) -> Sweep {
        Sweep {
            scenario,
            seeds: 0..20,
            opts: RunOptions::default(),
        }
    }

    /// The default seed range (the environment may override it).
    pub fn seeds(mut self, seeds: Range<u64>) -> Sweep {
        self.seeds = seeds;
        self
    }

    pub fn options(mut self, opts: RunOptions) -> Sweep {
        self.opts = opts;
        self
    }

    /// Runs every seed; returns `(seed, summary, replay)` for each that did not pass.
    pub fn failures(&self) -> Vec<(u64, String, String)> {
        let mut out = Vec::new();
        for seed in seeds_from_env(self.seeds.clone()) {
            let lean = RunOptions {
                lean_trace: true,
                ..self.opts.clone()
            };
            let r = run_scenario(&self.scenario, seed, &lean).report;
            if r.verdict != Verdict::Pass {
                let what = r
                    .violations
                    .iter()
                    .map(|v| format!("{}: {}", v.check, v.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                out.push((seed, what, r.replay));
            }
        }
        out
    }

    /// Panics, listing every failing seed, unless every seed passes.
    pub fn assert_pass(self) {
        let failures = self.failures();
        if !failures.is_empty() {
            let mut msg = format!(
                "{} of the seeds of {} failed:\n",
                failures.len(),
                self.scenario.name
            );
            for (seed, what, replay) in &failures {
                msg.push_str(&format!("  seed {seed}: {what}\n    replay: {replay}\n"));
            }
            panic!("{msg}");
        }
    }
}
