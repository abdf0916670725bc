//! Scenarios, the runner, sweeps, benchmarks and the `dst` CLI.

pub mod bench;
pub mod builtin;
pub mod cli;
pub mod corpus;
pub mod file;
pub mod fuzz;
pub mod html;
pub mod labs;
pub mod registry;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod swarm;
pub mod swarm_draws;
pub mod sweep;
pub mod testing;
pub mod values;
