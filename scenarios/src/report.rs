//! What a run reports: the verdict, the violations with their evidence, statistics, the
//! trace digest and the command that replays it.

use serde::{Deserialize, Serialize};
use sim::audit::Violation;
use sim::net::NetStats;

/// The outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Violation,
    /// A checker ran out of time before deciding.
    Unknown,
}

impl Verdict {
    /// The process exit code the CLI uses for this verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Violation => 1,
            Verdict::Unknown => 3,
        }
    }

    /// How bad: when runs are summarised, the worst verdict wins.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Unknown => 1,
            Verdict::Violation => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Violation => "violation",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One run's report; `dst run --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub violations: Vec<Violation>,
    /// Why the verdict is unknown, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// Figures the system reports (convergence rounds, time blocked, ...).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub system_stats: serde_json::Map<String, serde_json::Value>,
    /// 16 hex digits.
    pub trace_digest: String,
    pub events: u64,
    pub sim_time_ns: u64,
    /// The command line that replays this run.
    pub replay: String,
    pub stats: NetStats,
}

/// The first problem of the scenario itself among `violations`: a fault its schedule
/// could not apply at that seed. Such a run says nothing about the system.
pub fn scenario_problem(violations: &[Violation]) -> Option<&Violation> {
    violations
        .iter()
        .find(|v| v.check == crate::shrink::SCENARIO_CHECK)
}

/// The one-line refusal of a scenario that could not run as written at `seed`.
pub fn cannot_run(scenario: &str, seed: u64, problem: &Violation) -> String {
    format!(
        "{scenario}: seed {seed}: {}; the scenario cannot run as written",
        problem.message
    )
}

/// The command that replays `scenario` at `seed` with the given `--bug` flags, starting
/// with the registry's command (the program that runs this CLI).
pub fn replay_command(scenario: &str, seed: u64, bugs: &[String]) -> String {
    let prefix = crate::registry::current().command_prefix();
    let mut cmd = format!("{prefix} replay {scenario} --seed {seed}");
    for b in bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}
