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

/// A deterministic slice of a seed range: shard `index` of `count` takes every seed whose
/// position in the range is `index` modulo `count`, so N shards on N machines together run
/// each seed exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn seeds(self, range: SeedRange) -> impl Iterator<Item = u64> {
        (0..self.len(range)).map(move |i| self.nth(range, i))
    }

    /// How many seeds of `range` this shard runs, without walking the range (a range can
    /// hold 2^64 seeds).
    pub fn len(self, range: SeedRange) -> u64 {
        let n = range.end - range.start;
        n / self.count + u64::from(self.index < n % self.count)
    }

    /// The shard's `i`th seed of `range` (`i < len`).
    pub fn nth(self, range: SeedRange, i: u64) -> u64 {
        range.start + self.index + i * self.count
    }
}

/// Parses `I/N` with I < N.
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("'{s}' is not a shard: expected I/N with 0 <= I < N, like 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count) = (
        i.trim().parse::<u64>().map_err(|_| bad())?,
        n.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// One failing seed.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Failure {
    pub seed: u64,
    pub verdict: Verdict,
    pub violations: Vec<Violation>,
    /// Why an `unknown` seed could not be judged (a checker's limit, the memory budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    pub replay: String,
}

/// The result of a sweep; `dst sweep --json` prints it and `dst merge` reads it back.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SweepReport {
    pub scenario: String,
    pub runs: u64,
    pub passed: u64,
    pub failures: Vec<Failure>,
    pub seeds_per_sec: f64,
    pub elapsed_sec: f64,
}

impl SweepReport {
    /// Joins reports of shards of one scenario's sweep: runs add up, failures are merged
    /// by seed; the rate is total runs over the longest shard's time (shards run at once).
    pub fn merge(parts: Vec<SweepReport>) -> Result<Vec<SweepReport>, String> {
        let mut by_name: std::collections::BTreeMap<String, SweepReport> = Default::default();
        for (i, p) in parts.iter().enumerate() {
            if parts[..i].iter().any(|q| q.same_as(p)) {
                return Err(format!(
                    "the same report of {} is given twice: each shard counts once",
                    p.scenario
                ));
            }
        }
        for p in parts {
            match by_name.get_mut(&p.scenario) {
                None => {
                    by_name.insert(p.scenario.clone(), p);
                }
                Some(m) => {
                    if p.failures
                        .iter()
                        .any(|f| m.failures.iter().any(|g| g.seed == f.seed))
                    {
                        return Err(format!(
                            "reports of {} overlap: a seed appears in two shards",
                            p.scenario
                        ));
                    }
                    let overflow = || format!("run counts of {} overflow", p.scenario);
                    m.runs = m.runs.checked_add(p.runs).ok_or_else(overflow)?;
                    m.passed = m.passed.checked_add(p.passed).ok_or_else(overflow)?;
                    m.failures.extend(p.failures);
                    m.failures.sort_by_key(|f| f.seed);
                    m.elapsed_sec = m.elapsed_sec.max(p.elapsed_sec);
                    m.seeds_per_sec = m.runs as f64 / m.elapsed_sec.max(1e-9);
                }
            }
        }
        Ok(by_name.into_values().collect())
    }

    /// What a report written by `dst sweep` always holds: no more passes than runs, and
    /// times and rates that are finite and not negative.
    pub fn check(&self) -> Result<(), String> {
        if self.passed > self.runs {
            return Err(format!(
                "{}: {} passed of {} runs",
                self.scenario, self.passed, self.runs
            ));
        }
        if self.failures.len() as u64 > self.runs - self.passed {
            return Err(format!(
                "{}: {} failures but {} runs that did not pass",
                self.scenario,
                self.failures.len(),
                self.runs - self.passed
            ));
        }
        for (name, x) in [
            ("elapsed_sec", self.elapsed_sec),
            ("seeds_per_sec", self.seeds_per_sec),
        ] {
            if !x.is_finite() || x < 0.0 {
                return Err(format!(
                    "{}: {name} = {x} is not a time or rate",
                    self.scenario
                ));
            }
        }
        Ok(())
    }

    /// Whether two reports are one shard's report given twice.
    fn same_as(&self, other: &SweepReport) -> bool {
        let seeds = |r: &SweepReport| r.failures.iter().map(|f| f.seed).collect::<Vec<_>>();
        self.scenario == other.scenario
            && self.runs == other.runs
            && self.passed == other.passed
            && self.elapsed_sec.to_bits() == other.elapsed_sec.to_bits()
            && seeds(self) == seeds(other)
    }

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
    shard: Shard,
    jobs: usize,
    opts: &RunOptions,
    on_done: &(dyn Fn(&RunReport) + Sync),
) -> SweepReport {
    let started = Instant::now();
    let total = shard.len(seeds);
    let next = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let passed = AtomicU64::new(0);
    let jobs = jobs.clamp(1, total.clamp(1, 256) as usize);
    // Sweeps read only reports: keep no more of each trace than the checks need.
    let lean = RunOptions {
        lean_trace: true,
        ..opts.clone()
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let seed = shard.nth(seeds, i);
                let report = run_scenario(scenario, seed, &lean).report;
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
                            unknown: report.unknown,
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
        runs: total,
        passed: passed.into_inner(),
        failures,
        seeds_per_sec: total as f64 / elapsed.max(1e-9),
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
    fn the_whole_seed_space_is_counted_without_walking_it() {
        let range = parse_seed_range("0..18446744073709551615").unwrap();
        let whole = Shard::WHOLE;
        assert_eq!(whole.len(range), u64::MAX);
        assert_eq!(whole.nth(range, u64::MAX - 1), u64::MAX - 1);
        let last = Shard { index: 2, count: 3 };
        assert_eq!(last.len(range), u64::MAX / 3);
        assert_eq!(last.seeds(range).take(2).collect::<Vec<_>>(), vec![2, 5]);
    }

    #[test]
    fn shards_partition_the_seed_range_exactly() {
        let range = SeedRange { start: 10, end: 47 };
        let all: Vec<u64> = Shard::WHOLE.seeds(range).collect();
        assert_eq!(all, (10..47).collect::<Vec<_>>());
        for n in [1, 2, 3, 5, 40] {
            let mut seen: Vec<u64> = (0..n)
                .flat_map(|i| {
                    Shard { index: i, count: n }
                        .seeds(range)
                        .collect::<Vec<_>>()
                })
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, all, "{n} shards");
        }
        assert_eq!(parse_shard("1/4"), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
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
