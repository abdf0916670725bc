//! `dst check ...` and `dst bench check`: run the pure history checkers on files.
//!
//! Owned by the checkers work (issue 4); the CLI only dispatches here.

use clap::{Args, Subcommand};

/// Which checker to run over recorded histories.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Linearizability of an operation history (not yet implemented).
    Lin(LinArgs),
}

#[derive(Debug, Args)]
pub struct LinArgs {
    /// History files to check.
    pub files: Vec<std::path::PathBuf>,
}

/// Arguments of `dst bench check`.
#[derive(Debug, Args)]
pub struct BenchCheckArgs {}

/// Runs a check command; returns the process exit code (0 holds, 1 violation, 2 bad input, 3 unknown).
pub fn run(cmd: CheckCommand) -> i32 {
    match cmd {
        CheckCommand::Lin(_) => {
            eprintln!("error: `dst check lin` is not implemented yet");
            2
        }
    }
}

/// Runs `dst bench check`; returns the exit code.
pub fn bench(_args: BenchCheckArgs) -> i32 {
    eprintln!("error: `dst bench check` is not implemented yet");
    2
}
