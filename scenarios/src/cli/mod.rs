//! The `dst` command line.
pub mod check;
