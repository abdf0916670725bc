//! Fault placement across replicas: with `protect_majority`, a given (file, sector) may
//! be corrupted or unreadable on at most a minority of the nodes, (n - 1) / 2 of them.
//!
//! Replicas of a replicated system name their files alike, so a file name and a sector
//! index identify "the same data" across nodes. Faults on different sectors are
//! independent; a node that already has a fault on a sector may get another there.

use std::collections::{BTreeMap, BTreeSet};

use super::model::FaultGate;

/// Which nodes have had a corruption or latent error on each (file, sector).
#[derive(Debug, Clone, Default)]
pub struct Placement {
    faulty: BTreeMap<(String, u64), BTreeSet<usize>>,
}

impl Placement {
    /// A gate for `node`'s disk in a cluster of `n`; `protect: false` allows everything.
    pub fn gate(&mut self, node: usize, n: usize, protect: bool) -> PlacementGate<'_> {
        PlacementGate {
            placement: self,
            node,
            limit: if protect { (n - 1) / 2 } else { usize::MAX },
        }
    }
}

pub struct PlacementGate<'a> {
    placement: &'a mut Placement,
    node: usize,
    limit: usize,
}

impl FaultGate for PlacementGate<'_> {
    fn allow(&mut self, file: &str, sector: u64) -> bool {
        let set = self
            .placement
            .faulty
            .entry((file.to_string(), sector))
            .or_default();
        if set.contains(&self.node) || set.len() < self.limit {
            set.insert(self.node);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_a_minority_per_sector() {
        let mut p = Placement::default();
        // n = 5: two nodes may have a fault on ("log", 3), the third may not.
        assert!(p.gate(0, 5, true).allow("log", 3));
        assert!(p.gate(1, 5, true).allow("log", 3));
        assert!(!p.gate(2, 5, true).allow("log", 3));
        assert!(
            p.gate(0, 5, true).allow("log", 3),
            "a faulty node may be hit again"
        );
        assert!(
            p.gate(2, 5, true).allow("log", 4),
            "other sectors are independent"
        );
        assert!(
            p.gate(2, 5, true).allow("meta", 3),
            "other files are independent"
        );
        // n = 3: one node; n = 1: none.
        let mut q = Placement::default();
        assert!(q.gate(0, 3, true).allow("f", 0));
        assert!(!q.gate(1, 3, true).allow("f", 0));
        assert!(!Placement::default().gate(0, 1, true).allow("f", 0));
        // Unprotected: anything goes.
        let mut r = Placement::default();
        for node in 0..5 {
            assert!(r.gate(node, 5, false).allow("f", 0));
        }
    }
}
