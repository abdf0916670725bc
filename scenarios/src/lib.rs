//! Scenarios, the runner, sweeps and the `dst` CLI.
pub mod cli;
