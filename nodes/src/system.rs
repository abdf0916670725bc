//! What every system under test hands the runner at the end of a run, and gets back.

use serde::Serialize;
use sim::audit::Violation;
use sim::{Status, TraceEvent};

/// The finished run, as a system's checks see it.
pub struct RunEnd<'a> {
    pub events: &'a [TraceEvent],
    pub names: &'a [String],
    /// Every node's status at the end (servers first, then clients).
    pub statuses: &'a [Status],
    /// Servers are nodes `0..servers`.
    pub servers: usize,
    /// Simulated time of the last scheduled fault (0 if none).
    pub last_fault_ns: u64,
    /// Simulated time at which the run ended.
    pub end_ns: u64,
}

/// A system's verdict on a run.
#[derive(Debug, Default, Serialize)]
pub struct SystemCheck {
    pub violations: Vec<Violation>,
    /// Set when a check could not decide (a search ran out of time).
    pub unknown: Option<String>,
    /// Figures the system reports (convergence rounds, blocked time, ...), shown in reports.
    pub stats: serde_json::Map<String, serde_json::Value>,
    /// The client history as native JSON lines, if the system has clients.
    pub history: Option<String>,
}

/// Declares a system's bug catalog: the `Bug` enum (each variant with its `--bug` name
/// and a one-line description), `Bug::ALL`, `name`, `describe`, `parse`, `Display`, and
/// the `Bugs` set a run switches on. One list, so names, serde form and docs cannot drift.
#[macro_export]
macro_rules! bug_catalog {
    ($( $variant:ident = $name:literal : $describe:literal ),+ $(,)?) => {
        /// One catalogued bug.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum Bug {
            $( #[serde(rename = $name)] $variant ),+
        }

        impl Bug {
            const COUNT: usize = [$( Bug::$variant ),+].len();

            pub const ALL: [Bug; Bug::COUNT] = [$( Bug::$variant ),+];

            pub fn name(self) -> &'static str {
                match self { $( Bug::$variant => $name ),+ }
            }

            /// One line on what the bug does.
            pub fn describe(self) -> &'static str {
                match self { $( Bug::$variant => $describe ),+ }
            }

            pub fn parse(name: &str) -> Option<Bug> {
                Bug::ALL.into_iter().find(|b| b.name() == name)
            }
        }

        impl std::fmt::Display for Bug {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// The set of bugs switched on.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct Bugs(pub std::collections::BTreeSet<Bug>);

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
        mod catalog_tests {
            use super::*;
            use std::collections::BTreeSet;

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
    };
}
