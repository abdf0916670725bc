//! The two-phase-commit bug catalog: named switches, off by default, each a mistake that
//! real transaction managers have shipped. A scenario or `--bug twopc:NAME` turns them on.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One catalogued bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    NoDurableDecision,
    NoDurablePrepare,
    UnilateralAbortAfterYes,
    ReleaseLocksBeforeDecision,
    PresumeCommitOnTimeout,
}

impl Bug {
    pub const ALL: [Bug; 5] = [
        Bug::NoDurableDecision,
        Bug::NoDurablePrepare,
        Bug::UnilateralAbortAfterYes,
        Bug::ReleaseLocksBeforeDecision,
        Bug::PresumeCommitOnTimeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::NoDurableDecision => "no-durable-decision",
            Bug::NoDurablePrepare => "no-durable-prepare",
            Bug::UnilateralAbortAfterYes => "unilateral-abort-after-yes",
            Bug::ReleaseLocksBeforeDecision => "release-locks-before-decision",
            Bug::PresumeCommitOnTimeout => "presume-commit-on-timeout",
        }
    }

    /// One line on what the bug does.
    pub fn describe(self) -> &'static str {
        match self {
            Bug::NoDurableDecision => {
                "the coordinator sends its commit decision without logging it, so after a crash it presumes abort for a transaction it committed"
            }
            Bug::NoDurablePrepare => {
                "a participant votes yes without logging the prepare, so after a crash it forgets the transaction and its writes"
            }
            Bug::UnilateralAbortAfterYes => {
                "a participant that voted yes aborts on its own when the decision is slow to come"
            }
            Bug::ReleaseLocksBeforeDecision => {
                "a participant releases its locks as soon as it votes yes, before the decision"
            }
            Bug::PresumeCommitOnTimeout => {
                "an in-doubt participant that hears nothing from the coordinator for a while commits on its own"
            }
        }
    }

    pub fn parse(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The bugs switched on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bugs(pub BTreeSet<Bug>);

impl Bugs {
    pub fn none() -> Bugs {
        Bugs::default()
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }
}
