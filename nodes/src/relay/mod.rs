//! The relay system: the smallest system that exercises every part of the world.
//!
//! Every node, on each tick of its own clock, sends a `Relay` to the next peer in
//! round-robin order. A node that receives a `Relay` acknowledges it to the sender and, if
//! hops remain, forwards it to its own next peer. Counters are volatile: a crash loses them
//! and the restarted incarnation starts from zero (it persists nothing).
//!
//! Not a protocol anyone would deploy: there are no retries and no ordering guarantees.
//! What it offers is traffic on every link, which is what the world's checks need.

pub mod check;
pub mod host;
pub mod machine;

pub use check::check_traffic_resumes;
pub use host::{start, RelayConfig};
pub use machine::{RelayMachine, RelayMsg};
