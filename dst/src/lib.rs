//! `dst`: deterministic simulation testing for your own distributed system.
//!
//! This is the one crate a system under test depends on. Write the system against the
//! world ([`NodeCtx`]: messages, the node's own clock and timers, its disk), implement
//! [`System`] once (its name, settings, bug catalog, checks and how it starts), register it
//! in a [`Registry`] with its scenario files, and every part of the harness works on it:
//! scenario files, role faults, sweeps in `cargo test` ([`testing`]), shrinking, fuzzing,
//! the corpus, the HTML report and the whole `dst` command line ([`cli::main_with`]).
//!
//! Clients record what they saw through a [`ClientRecorder`] and name a model
//! ([`System::history_model`]): the harness then checks linearizability, writes
//! `--history` and draws the history in reports, with no checker glue in the system.
//!
//! The simulator only exists under `--cfg madsim`: a crate that depends on `dst` needs
//! `rustflags = ["--cfg", "madsim"]` under `[build]` in its `.cargo/config.toml` (see the
//! README's "Test your own system").
//!
//! What this crate does not do: it adds nothing of its own; every item is re-exported
//! from the workspace crates that implement it.

/// Pure history checkers: linearizability, causality, serializability.
pub use checkers;
/// Scenarios, the runner, sweeps, shrinking, fuzzing, reports and the CLI.
pub use scenarios;
/// The world: simulated time, network, clocks, disks, processes and the trace.
pub use sim;
/// TOML, for systems that build settings tables by hand.
pub use toml;

pub use checkers::linearizability::ModelKind;
pub use checkers::Value;
pub use nodes::bug_catalog;
pub use nodes::system::{
    Catalog, ClientHistory, ClientRecorder, NoBugs, Recorder, RunEnd, Running, Start, SwarmDisk,
    System, SystemCheck,
};
pub use scenarios::cli;
pub use scenarios::registry::Registry;
pub use scenarios::report::{RunReport, Verdict};
pub use scenarios::runner::{run_scenario, RunOptions, RunResult};
pub use scenarios::scenario::Scenario;
pub use scenarios::testing;
pub use sim::disk::Disk;
pub use sim::{Incoming, Message, Nanos, NodeCtx, SimHandle, Status, Violation};
