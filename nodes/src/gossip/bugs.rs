//! The gossip bug catalog: named switches, off by default, each a mistake real
//! eventually consistent stores and SWIM implementations have made.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One catalogued bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    LwwWallClock,
    NoTombstones,
    NoRefute,
    MergeDropsSibling,
}

impl Bug {
    pub const ALL: [Bug; 4] = [
        Bug::LwwWallClock,
        Bug::NoTombstones,
        Bug::NoRefute,
        Bug::MergeDropsSibling,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::LwwWallClock => "lww-wall-clock",
            Bug::NoTombstones => "no-tombstones",
            Bug::NoRefute => "no-refute",
            Bug::MergeDropsSibling => "merge-drops-sibling",
        }
    }

    /// One line on what the bug does.
    pub fn describe(self) -> &'static str {
        match self {
            Bug::LwwWallClock => {
                "versions are resolved last-writer-wins by the coordinator's wall clock instead of version vectors: a skewed clock loses causally later writes"
            }
            Bug::NoTombstones => {
                "a delete removes the key outright, leaving no tombstone, so anti-entropy brings the deleted value back"
            }
            Bug::NoRefute => {
                "a live node that learns it is suspected does not raise its incarnation, so it is declared dead for good"
            }
            Bug::MergeDropsSibling => {
                "anti-entropy merge keeps one of two concurrent versions (the higher write id) instead of both siblings"
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
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(json, format!("\"{}\"", b.name()));
        }
        assert_eq!(Bug::parse("nope"), None);
    }
}
