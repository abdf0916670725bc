//! The simulated world: time, network links, per-node clocks, processes and the trace,
//! built on madsim's deterministic runtime.
//!
//! One seed fixes everything. Node code talks to the world through [`NodeCtx`]; a scenario
//! drives faults through [`SimHandle`]; [`run`] returns the trace and its digest.

#[cfg(not(madsim))]
compile_error!(
    "the `sim` crate must be built with `--cfg madsim`, or madsim silently becomes real tokio. \
     The repository's .cargo/config.toml sets it; a RUSTFLAGS environment variable replaces \
     that setting. Unset RUSTFLAGS, or add the flag to it: RUSTFLAGS=\"--cfg madsim ...\""
);

pub mod audit;
pub mod budget;
pub mod clock;
pub mod crash_trigger;
pub mod digest;
pub mod disk;
pub mod duration;
pub mod net;
#[cfg(madsim)]
pub mod node;
pub mod node_ref;
pub mod process;
pub mod rng;
#[cfg(madsim)]
pub mod run;
pub mod trace;
#[cfg(madsim)]
pub mod world;

pub use audit::Violation;
pub use duration::{parse_duration, Nanos};
pub use net::{LinkConfig, NetConfig, Topology};
#[cfg(madsim)]
pub use node::{Incoming, Message, NodeCtx};
pub use process::Status;
#[cfg(madsim)]
pub use run::{run, NodeSpec, RunOutput, SimConfig, SimHandle};
pub use trace::{EventKind, Trace, TraceEvent, VectorClock};
#[cfg(madsim)]
pub use world::{InitialClock, World, WorldFaults};
