//! Raft's bug catalog: named switches, off by default, each a mistake real
//! implementations have made. A scenario or `--bug raft:NAME` turns them on.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One catalogued bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    CommitPreviousTerm,
    NoPersistVote,
    NoFsync,
    NoTruncateConflict,
    VoteWithoutLogCheck,
    StaleRead,
    LeaseWithoutSkewMargin,
    NoDedup,
    AcceptStaleReply,
    ApplyTornTail,
}

impl Bug {
    pub const ALL: [Bug; 10] = [
        Bug::CommitPreviousTerm,
        Bug::NoPersistVote,
        Bug::NoFsync,
        Bug::NoTruncateConflict,
        Bug::VoteWithoutLogCheck,
        Bug::StaleRead,
        Bug::LeaseWithoutSkewMargin,
        Bug::NoDedup,
        Bug::AcceptStaleReply,
        Bug::ApplyTornTail,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::CommitPreviousTerm => "commit-previous-term",
            Bug::NoPersistVote => "no-persist-vote",
            Bug::NoFsync => "no-fsync",
            Bug::NoTruncateConflict => "no-truncate-conflict",
            Bug::VoteWithoutLogCheck => "vote-without-log-check",
            Bug::StaleRead => "stale-read",
            Bug::LeaseWithoutSkewMargin => "lease-without-skew-margin",
            Bug::NoDedup => "no-dedup",
            Bug::AcceptStaleReply => "accept-stale-reply",
            Bug::ApplyTornTail => "apply-torn-tail",
        }
    }

    /// One line on what the bug does.
    pub fn describe(self) -> &'static str {
        match self {
            Bug::CommitPreviousTerm => {
                "a leader commits entries of earlier terms by counting replicas, so it appends no no-op at election (Raft paper, Figure 8)"
            }
            Bug::NoPersistVote => "the vote is not persisted, so a restarted node can vote twice in a term",
            Bug::NoFsync => "log and vote are written but never fsynced before replies that depend on them",
            Bug::NoTruncateConflict => "a follower keeps its conflicting entries instead of truncating them",
            Bug::VoteWithoutLogCheck => "votes are granted without checking that the candidate's log is up to date",
            Bug::StaleRead => "any node that believes it is leader serves reads locally, without ReadIndex",
            Bug::LeaseWithoutSkewMargin => "lease reads trust the local clock with no margin for skew or drift",
            Bug::NoDedup => "retried client requests are applied again instead of answered from the session",
            Bug::AcceptStaleReply => "replies from an older term are acted on (votes counted, progress updated)",
            Bug::ApplyTornTail => "recovery skips checksums and applies a torn or corrupt log tail",
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

/// The set of bugs switched on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bugs(pub BTreeSet<Bug>);

impl Bugs {
    pub fn none() -> Self {
        Bugs::default()
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }

    pub fn with(mut self, bug: Bug) -> Self {
        self.0.insert(bug);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let names: BTreeSet<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        assert_eq!(names.len(), Bug::ALL.len());
        for b in Bug::ALL {
            assert_eq!(Bug::parse(b.name()), Some(b));
            assert!(!b.describe().is_empty());
        }
        assert_eq!(Bug::parse("nope"), None);
    }
}
