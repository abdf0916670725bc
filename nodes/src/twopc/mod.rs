//! Two-phase commit: a coordinator and participants over partitions of a key space (under construction).
//!
//! This stub fixes the interface the runner uses; the protocol is being written.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sim::SimHandle;

use crate::system::{RunEnd, SystemCheck};

/// The system's settings, as a scenario gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwopcSystem {
    /// Client processes, nodes `servers..servers + clients`.
    pub clients: usize,
}

impl Default for TwopcSystem {
    fn default() -> Self {
        TwopcSystem { clients: 2 }
    }
}

/// The bug catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {}

impl Bug {
    pub const ALL: [Bug; 0] = [];

    pub fn name(self) -> &'static str {
        match self {}
    }

    pub fn describe(self) -> &'static str {
        match self {}
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
    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }
}

/// What the checks learn while the system runs.
#[derive(Debug, Default)]
pub struct Observer {}

/// Starts the servers (nodes `0..servers`) and the clients after them.
pub fn start(
    _sim: &SimHandle,
    _system: &TwopcSystem,
    _servers: usize,
    _bugs: &Bugs,
) -> Arc<Mutex<Observer>> {
    Arc::new(Mutex::new(Observer::default()))
}

/// The checks at the end of a run.
pub fn check_run(_obs: &mut Observer, _system: &TwopcSystem, _end: &RunEnd<'_>) -> SystemCheck {
    SystemCheck::default()
}
