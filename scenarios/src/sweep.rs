//! Seed sweeps: run a scenario over a range of seeds on several threads, each run in its
//! own madsim runtime, and collect the failures with the commands that replay them.
//!
//! Runs are independent, so the set of failures does not depend on `--jobs`; only the
//! order in which they complete does, and the report sorts them by seed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use sim::audit::Violation;

use crate::report::{RunReport, Verdict};
use crate::runner::{run_scenario, RunOptions};
use crate::scenario::Scenario;

/// Parses a seed: decimal, or hex with a `0x` prefix.
pub fn parse_seed(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse::<u64>(),
    };
    parsed.map_err(|_| {
        format!("'{s}' is not a seed: expected a decimal or 0x-hex integer below 2^64")
    })
}

/// A half-open range of seeds `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

impl SeedRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Parses `A..B` (B excluded) or `A..=B` (B included); seeds as in [`parse_seed`].
pub fn parse_seed_range(s: &str) -> Result<SeedRange, String> {
    let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = s.split_once("..") {
        (a, b, false)
    } else {
        return Err(format!(
            "'{s}' is not a seed range: expected A..B (B excluded) or A..=B"
        ));
    };
    let start = parse_seed(a)?;
    let last = parse_seed(b)?;
    let end = if inclusive {
        last.checked_add(1)
            .ok_or_else(|| format!("'{s}': the range end overflows"))?
    } else {
        last
    };
    if end <= start {
        return Err(format!(
            "'{s}' is an empty seed range: the end must be above the start"
        ));
    }
    Ok(SeedRange { start, end })
}

/// One failing seed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub seed: u64,
    pub verdict: Verdict,
    pub violations: Vec<Violation>,
    pub replay: String,
}

/// The result of a sweep; `dst sweep --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub scenario: String,
    pub runs: u64,
    pub passed: u64,
    pub failures: Vec<Failure>,
    pub seeds_per_sec: f64,
    pub elapsed_sec: f64,
}

impl SweepReport {
    pub fn verdict(&self) -> Verdict {
        if self
            .failures
            .iter()
            .any(|f| f.verdict == Verdict::Violation)
        {
            Verdict::Violation
        } else if self.failures.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Unknown
        }
    }
}

/// Runs `scenario` at every seed of `seeds` on `jobs` threads. `on_done` is called after
/// each run (for progress display), from the worker threads.
pub fn sweep(
    scenario: &Scenario,
    seeds: SeedRange,
    jobs: usize,
    opts: &RunOptions,
    on_done: &(dyn Fn(&RunReport) + Sync),
) -> SweepReport {
    let started = Instant::now();
    let next = AtomicU64::new(seeds.start);
    let failures = Mutex::new(Vec::new());
    let passed = AtomicU64::new(0);
    let jobs = jobs.clamp(1, seeds.len().min(256) as usize);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    break;
                }
                let report = run_scenario(scenario, seed, opts).report;
                on_done(&report);
                if report.verdict == Verdict::Pass {
                    passed.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Failure {
                            seed,
                            verdict: report.verdict,
                            violations: report.violations,
                            replay: report.replay,
                        });
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|f| f.seed);
    SweepReport {
        scenario: scenario.name.clone(),
        runs: seeds.len(),
        passed: passed.into_inner(),
        failures,
        seeds_per_sec: seeds.len() as f64 / elapsed.max(1e-9),
        elapsed_sec: elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(parse_seed("0x2a"), Ok(42));
        assert_eq!(parse_seed("0XFF"), Ok(255));
        assert!(parse_seed("banana").is_err());
        assert!(parse_seed("-1").is_err());
        assert!(parse_seed("0x").is_err());
        assert!(parse_seed("18446744073709551616").is_err());
    }

    #[test]
    fn ranges_are_half_open_or_inclusive_and_never_empty() {
        assert_eq!(
            parse_seed_range("0..10"),
            Ok(SeedRange { start: 0, end: 10 })
        );
        assert_eq!(
            parse_seed_range("3..=3"),
            Ok(SeedRange { start: 3, end: 4 })
        );
        assert_eq!(parse_seed_range("0x10..0x20").unwrap().len(), 16);
        assert!(parse_seed_range("9..3").is_err());
        assert!(parse_seed_range("5..5").is_err());
        assert!(parse_seed_range("5").is_err());
        assert!(parse_seed_range("a..b").is_err());
    }
}
