//! The built-in gossip scenarios (being written).

use crate::scenario::Scenario;

/// The checks every gossip scenario runs, for listings.
pub const GOSSIP_CHECKS: &str = "world audit";

/// Every built-in gossip scenario.
pub fn all() -> Vec<Scenario> {
    Vec::new()
}
