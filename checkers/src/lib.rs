//! Pure history checkers. No simulator here: these judge histories recorded anywhere.
//!
//! - [`history`]: reading native JSON-lines, Jepsen/Knossos EDN and Jepsen log histories,
//!   and pairing invocations with completions.
//! - [`linearizability`]: Wing-Gong-Lowe search with P-compositionality and readable witnesses.
//! - [`serializability`]: Elle-style dependency graphs and anomaly classification.
//! - [`causality`]: vector-clock trace validation, causal delivery, conflict audits, ShiViz.
//! - [`siblings`]: multi-value (sibling) stores: phantoms, dominated siblings, resurrections
//!   and lost acknowledged writes, judged by the guarantee the store gives.
//! - [`generate`]: deterministic generators of histories and traces, for tests and benches.

pub mod causality;
pub mod error;
mod fxhash;
pub mod generate;
pub mod history;
pub mod linearizability;
pub mod serializability;
pub mod siblings;
pub mod value;

pub use error::InputError;
pub use value::Value;
