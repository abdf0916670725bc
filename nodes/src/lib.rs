//! Systems under test, each a plain state machine driven by a thin async host on the
//! simulator, with the checks that judge its runs and (for real protocols) a bug catalog.
//!
//! - `relay`: nodes forward and acknowledge messages; it exists to prove the world.

pub mod raft;
pub mod relay;
