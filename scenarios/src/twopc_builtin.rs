//! The built-in twopc scenarios (being written).

use crate::scenario::Scenario;

/// The checks every twopc scenario runs, for listings.
pub const TWOPC_CHECKS: &str = "world audit";

/// Every built-in twopc scenario.
pub fn all() -> Vec<Scenario> {
    Vec::new()
}
