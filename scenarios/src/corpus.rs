//! The seed corpus: TOML files in `seeds/`, one per system, each a list of cases that
//! once failed or that prove a catalogued bug is caught. Every case names its scenario,
//! seed, bugs, the verdict it must get, and (for violations) the check that must flag it.
//!
//! ```toml
//! [[case]]
//! scenario = "raft/crash-leader"
//! seed = 3
//! bugs = ["raft:no-fsync"]
//! expect = "violation"
//! check = "linearizability"
//! note = "an acknowledged write is lost when the leader forgets its unsynced log"
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::builtin;
use crate::report::Verdict;
use crate::runner::{add_bug, run_scenario, RunOptions};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub scenario: String,
    pub seed: u64,
    #[serde(default)]
    pub bugs: Vec<String>,
    /// "pass" or "violation".
    pub expect: String,
    /// The check that must be among the violations (when `expect = "violation"`).
    #[serde(default)]
    pub check: Option<String>,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[serde(default)]
    case: Vec<Case>,
}

/// Reads one corpus file; errors name the file and what is wrong. A case may name a
/// scenario file (`*.toml`) instead of a built-in, relative to the corpus file.
pub fn load(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: CorpusFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(file
        .case
        .into_iter()
        .map(|mut c| {
            if c.scenario.ends_with(".toml") && Path::new(&c.scenario).is_relative() {
                c.scenario = dir.join(&c.scenario).display().to_string();
            }
            c
        })
        .collect())
}

/// Replays a case; `Err` says how the outcome differs from what the case expects.
pub fn replay(case: &Case) -> Result<(), String> {
    let scenario = match builtin::find(&case.scenario) {
        Some(s) => s,
        None if case.scenario.ends_with(".toml") => crate::file::load(Path::new(&case.scenario))?,
        None => return Err(format!("unknown scenario {}", case.scenario)),
    };
    let mut opts = RunOptions::default();
    for b in &case.bugs {
        add_bug(&mut opts, b)?;
    }
    let r = run_scenario(&scenario, case.seed, &opts).report;
    let checks: Vec<&str> = r.violations.iter().map(|v| v.check.as_str()).collect();
    match case.expect.as_str() {
        "pass" if r.verdict == Verdict::Pass => Ok(()),
        "violation" if r.verdict == Verdict::Violation => match &case.check {
            Some(c) if !checks.contains(&c.as_str()) => Err(format!(
                "expected check {c} to flag it, got {checks:?}; replay: {}",
                r.replay
            )),
            _ => Ok(()),
        },
        other => Err(format!(
            "expected {other}, got {} ({checks:?}); replay: {}",
            r.verdict.as_str(),
            r.replay
        )),
    }
}
