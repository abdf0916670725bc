//! Process lifecycle: a node is up, crashed or paused, and each restart is a new
//! incarnation that runs the node's init function again.
//!
//! A crash loses everything volatile: the node's tasks, its timers, and messages that
//! arrived but were not yet read. What survives a crash is decided by components that
//! register a [`ProcessHook`] (the simulated disk does, keeping only what its fault model
//! keeps). A pause freezes the node's tasks; messages addressed to it wait and are
//! delivered, in arrival order, when it resumes.
//!
//! Not modelled: partial failures inside a process (one thread dying), slow processes
//! other than a full pause.

use serde::Serialize;

/// Where a node is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Up,
    Paused,
    Crashed,
}

/// A component that keeps per-node state across crashes (a disk, say) and must decide
/// what of it survives. Hooks run inside the world's lock: they must not call back into
/// the world.
pub trait ProcessHook: Send {
    /// The node crashed: drop volatile state. Random decisions (which unsynced writes
    /// survive, say) draw from the hook's own seed stream, never from another's.
    fn on_crash(&mut self, node: usize, time_ns: u64);
    /// The node is about to run its init function again.
    fn on_restart(&mut self, _node: usize, _time_ns: u64) {}
}

/// A lifecycle operation that does not fit the node's current status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {op} node {node}: it is {status:?}")]
pub struct LifecycleError {
    pub op: &'static str,
    pub node: String,
    pub status: Status,
}
