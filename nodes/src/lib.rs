//! Systems under test, each a plain state machine driven by a thin async host on the
//! simulator, with the checks that judge its runs and (for real protocols) a bug catalog.
//!
//! - `raft`: a replicated key-value store; `gossip` and `twopc`: membership with an
//!   anti-entropy store, and two-phase commit.
//! - `relay`: nodes forward and acknowledge messages; it exists to prove the world.
//! - `system`: what every system hands the runner at the end of a run; `universal`: the
//!   checks every system gets (client progress, refused starts).

pub mod codec;
pub mod gossip;
pub mod lock;
pub mod raft;
pub mod raftrs;
pub mod relay;
pub mod system;
pub mod twopc;
pub mod universal;
pub mod validate;

/// For `bug_catalog!` in other crates, which need not depend on serde_json themselves.
#[doc(hidden)]
pub use serde_json as __serde_json;
