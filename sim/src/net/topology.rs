//! Named partition topologies, with Jepsen's meanings (`jepsen.nemesis`).
//!
//! A partition is a set of cut directed links `(from, to)`: messages from `from` to `to`
//! are dropped. Jepsen describes partitions as a *grudge*, a map from each node to the
//! nodes it drops traffic from; grudge `a -> {b}` is the cut link `(b, a)`.
//!
//! - `halves`: `bisect` the node order, the smaller half first, and cut every link between
//!   the halves (a complete grudge).
//! - `random-halves`: the same after shuffling the node order.
//! - `isolate`: one node (named or random) against the rest.
//! - `majorities-ring`: every node sees a majority, no two see the same majority. For
//!   n <= 5 Jepsen's "perfect" ring: windows of m = n/2+1 consecutive nodes around a
//!   shuffled ring, each window's middle node (index floor(m/2)) seeing exactly its window.
//!   For n = 3 this is one-way. For n > 5 Jepsen's stochastic construction: repeatedly link
//!   a least-connected node to another least-connected node it is not linked to, until
//!   every node (counting itself) reaches m; then cut all unlinked pairs.
//! - `bridge`: bisect, keep the first node of the second half connected to everyone.
//! - `one-way`: cut the links from each node of `from` to each node of `to`, not back.
//! - `links`: an explicit set of directed links.
//!
//! Nodes are indices `0..n` in the scenario's node order.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A set of cut directed links `(from, to)`.
pub type CutSet = BTreeSet<(usize, usize)>;

/// A partition shape; random ones are resolved with the faults stream at the moment they
/// are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "topology", rename_all = "kebab-case")]
pub enum Topology {
    Halves,
    RandomHalves,
    /// `node: None` picks one at random.
    Isolate {
        #[serde(
            default,
            deserialize_with = "crate::node_ref::opt_node",
            serialize_with = "crate::node_ref::ser_opt_node"
        )]
        node: Option<usize>,
    },
    MajoritiesRing,
    Bridge,
    /// `from`/`to` empty: one random node loses all its outbound links.
    OneWay {
        #[serde(
            default,
            deserialize_with = "crate::node_ref::nodes",
            serialize_with = "crate::node_ref::ser_nodes"
        )]
        from: Vec<usize>,
        #[serde(
            default,
            deserialize_with = "crate::node_ref::nodes",
            serialize_with = "crate::node_ref::ser_nodes"
        )]
        to: Vec<usize>,
    },
    Links {
        #[serde(
            deserialize_with = "crate::node_ref::links",
            serialize_with = "crate::node_ref::ser_links"
        )]
        links: Vec<(usize, usize)>,
    },
}

/// A topology that does not fit the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("node index {node} is out of range for a {n}-node cluster")]
    NodeOutOfRange { node: usize, n: usize },
    #[error("a partition needs at least {min} nodes, the cluster has {n}")]
    TooFewNodes { min: usize, n: usize },
    #[error("link ({0}, {0}) is a self-link; only links between two nodes can be cut")]
    SelfLink(usize),
}

impl Topology {
    /// A short name for listings and the trace.
    pub fn name(&self) -> &'static str {
        match self {
            Topology::Halves => "halves",
            Topology::RandomHalves => "random-halves",
            Topology::Isolate { .. } => "isolate",
            Topology::MajoritiesRing => "majorities-ring",
            Topology::Bridge => "bridge",
            Topology::OneWay { .. } => "one-way",
            Topology::Links { .. } => "links",
        }
    }

    /// Checks node indices and sizes against a cluster of `n` nodes.
    pub fn validate(&self, n: usize) -> Result<(), TopologyError> {
        let check = |node: usize| {
            if node < n {
                Ok(())
            } else {
                Err(TopologyError::NodeOutOfRange { node, n })
            }
        };
        let min = match self {
            Topology::Bridge => 3,
            Topology::MajoritiesRing => 3,
            _ => 2,
        };
        if n < min {
            return Err(TopologyError::TooFewNodes { min, n });
        }
        match self {
            Topology::Isolate { node: Some(x) } => check(*x),
            Topology::OneWay { from, to } => from.iter().chain(to).try_for_each(|&x| check(x)),
            Topology::Links { links } => links.iter().try_for_each(|&(a, b)| {
                check(a)?;
                check(b)?;
                if a == b {
                    Err(TopologyError::SelfLink(a))
                } else {
                    Ok(())
                }
            }),
            _ => Ok(()),
        }
    }

    /// The cut links of this topology on `n` nodes; random choices come from `rng`.
    pub fn resolve(&self, n: usize, rng: &mut impl Rng) -> Result<CutSet, TopologyError> {
        self.validate(n)?;
        let order: Vec<usize> = (0..n).collect();
        Ok(match self {
            Topology::Halves => complete_grudge(&bisect(&order)),
            Topology::RandomHalves => {
                let mut o = order;
                o.shuffle(rng);
                complete_grudge(&bisect(&o))
            }
            Topology::Isolate { node } => {
                let loner = node.unwrap_or_else(|| rng.gen_range(0..n));
                complete_grudge(&split_one(loner, &order))
            }
            Topology::MajoritiesRing => {
                let mut o = order;
                o.shuffle(rng);
                if n <= 5 {
                    majorities_ring_perfect(&o)
                } else {
                    majorities_ring_stochastic(&o, rng)
                }
            }
            Topology::Bridge => bridge(&order),
            Topology::OneWay { from, to } => {
                if from.is_empty() && to.is_empty() {
                    let x = rng.gen_range(0..n);
                    one_way(&[x], &order)
                } else {
                    one_way(from, to)
                }
            }
            Topology::Links { links } => links.iter().copied().collect(),
        })
    }
}

/// Jepsen's `bisect`: split at floor(n/2), so the smaller half comes first.
pub fn bisect(order: &[usize]) -> [Vec<usize>; 2] {
    let (a, b) = order.split_at(order.len() / 2);
    [a.to_vec(), b.to_vec()]
}

/// Jepsen's `split-one`: the loner against everyone else.
pub fn split_one(loner: usize, order: &[usize]) -> [Vec<usize>; 2] {
    let rest = order.iter().copied().filter(|&x| x != loner).collect();
    [vec![loner], rest]
}

/// Jepsen's `complete-grudge`: no node talks to any node outside its component.
pub fn complete_grudge(components: &[Vec<usize>]) -> CutSet {
    let mut cut = CutSet::new();
    for (i, a) in components.iter().enumerate() {
        for (j, b) in components.iter().enumerate() {
            if i != j {
                for &x in a {
                    for &y in b {
                        cut.insert((x, y));
                    }
                }
            }
        }
    }
    cut
}

/// Jepsen's `bridge`: halves, but the first node of the second half keeps all its links.
pub fn bridge(order: &[usize]) -> CutSet {
    let halves = bisect(order);
    let bridge_node = halves[1][0];
    complete_grudge(&halves)
        .into_iter()
        .filter(|&(a, b)| a != bridge_node && b != bridge_node)
        .collect()
}

/// Cuts every link from a node of `from` to a node of `to` (self-links skipped).
pub fn one_way(from: &[usize], to: &[usize]) -> CutSet {
    let mut cut = CutSet::new();
    for &a in from {
        for &b in to {
            if a != b {
                cut.insert((a, b));
            }
        }
    }
    cut
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Inverts "who each node sees" into cut links: node `x` drops traffic from everyone it
/// does not see, so `(y, x)` is cut for every unseen `y`.
fn invert_sees(n: usize, sees: &[BTreeSet<usize>]) -> CutSet {
    let mut cut = CutSet::new();
    for (x, seen) in sees.iter().enumerate() {
        for y in 0..n {
            if y != x && !seen.contains(&y) {
                cut.insert((y, x));
            }
        }
    }
    cut
}

/// Jepsen's `majorities-ring-perfect` over the given ring order (n <= 5).
pub fn majorities_ring_perfect(ring: &[usize]) -> CutSet {
    let n = ring.len();
    let m = majority(n);
    let mut sees = vec![BTreeSet::new(); n];
    for start in 0..n {
        let window: Vec<usize> = (0..m).map(|k| ring[(start + k) % n]).collect();
        let owner = window[m / 2];
        sees[owner] = window.into_iter().collect();
    }
    invert_sees(n, &sees)
}

/// Jepsen's `majorities-ring-stochastic`: link least-connected nodes until every node sees
/// a majority (itself included). `ring` only fixes the tie-break order before shuffles.
pub fn majorities_ring_stochastic(ring: &[usize], rng: &mut impl Rng) -> CutSet {
    let n = ring.len();
    let m = majority(n);
    let mut conns: Vec<BTreeSet<usize>> = (0..n).map(|x| BTreeSet::from([x])).collect();
    loop {
        // Nodes by ascending degree, shuffled within each degree.
        let mut by_degree: Vec<(usize, usize)> = Vec::with_capacity(n);
        let mut degrees: Vec<usize> = conns.iter().map(BTreeSet::len).collect();
        degrees.sort_unstable();
        degrees.dedup();
        for d in degrees {
            let mut group: Vec<usize> = ring
                .iter()
                .copied()
                .filter(|&x| conns[x].len() == d)
                .collect();
            group.shuffle(rng);
            by_degree.extend(group.into_iter().map(|x| (d, x)));
        }
        let (a_degree, a) = by_degree[0];
        if a_degree >= m {
            return invert_sees(n, &conns);
        }
        let &(_, b) = by_degree
            .iter()
            .find(|(_, b)| !conns[a].contains(b))
            .expect("a node below majority always has someone left to link to");
        conns[a].insert(b);
        conns[b].insert(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn links(v: &[(usize, usize)]) -> CutSet {
        v.iter().copied().collect()
    }

    fn both_ways(a: &[usize], b: &[usize]) -> CutSet {
        let mut s = one_way(a, b);
        s.extend(one_way(b, a));
        s
    }

    /// Who `x` can hear from (itself included).
    fn sees(n: usize, cut: &CutSet, x: usize) -> BTreeSet<usize> {
        (0..n)
            .filter(|&y| y == x || !cut.contains(&(y, x)))
            .collect()
    }

    #[test]
    fn halves_put_the_smaller_half_first() {
        let mut rng = stream(0, "t");
        let r = |n| Topology::Halves.resolve(n, &mut stream(0, "t")).unwrap();
        assert_eq!(r(3), both_ways(&[0], &[1, 2]));
        assert_eq!(r(4), both_ways(&[0, 1], &[2, 3]));
        assert_eq!(r(5), both_ways(&[0, 1], &[2, 3, 4]));
        assert_eq!(r(7), both_ways(&[0, 1, 2], &[3, 4, 5, 6]));
        // Random halves: same sizes, every link between the halves cut both ways.
        for n in [3, 4, 5, 7] {
            let cut = Topology::RandomHalves.resolve(n, &mut rng).unwrap();
            assert_eq!(cut.len(), 2 * (n / 2) * (n - n / 2));
            for &(a, b) in &cut {
                assert!(cut.contains(&(b, a)));
            }
        }
    }

    #[test]
    fn isolate_cuts_one_node_both_ways() {
        for n in [3, 4, 5, 7] {
            let cut = Topology::Isolate { node: Some(1) }
                .resolve(n, &mut stream(0, "t"))
                .unwrap();
            let others: Vec<usize> = (0..n).filter(|&x| x != 1).collect();
            assert_eq!(cut, both_ways(&[1], &others));
        }
    }

    #[test]
    fn majorities_ring_pinned_for_small_clusters() {
        // n = 3, ring 0-1-2: windows [0 1] [1 2] [2 0], owners 1, 2, 0. Node 1 drops from 2,
        // node 2 drops from 0, node 0 drops from 1: three one-way cuts.
        assert_eq!(
            majorities_ring_perfect(&[0, 1, 2]),
            links(&[(2, 1), (0, 2), (1, 0)])
        );
        // n = 4, m = 3: windows [0 1 2]->1, [1 2 3]->2, [2 3 0]->3, [3 0 1]->0.
        // 1 drops 3, 2 drops 0, 3 drops 1, 0 drops 2: symmetric pairs {0,2}, {1,3}.
        assert_eq!(
            majorities_ring_perfect(&[0, 1, 2, 3]),
            both_ways(&[0], &[2])
                .union(&both_ways(&[1], &[3]))
                .copied()
                .collect()
        );
        // n = 5, m = 3: every node sees its ring neighbours and drops the two across.
        let mut expect = CutSet::new();
        for x in 0..5 {
            expect.insert(((x + 2) % 5, x));
            expect.insert(((x + 3) % 5, x));
        }
        assert_eq!(majorities_ring_perfect(&[0, 1, 2, 3, 4]), expect);
    }

    #[test]
    fn majorities_ring_every_node_sees_a_distinct_majority() {
        for n in [3, 4, 5, 7, 9] {
            for seed in 0..20 {
                let cut = Topology::MajoritiesRing
                    .resolve(n, &mut stream(seed, "t"))
                    .unwrap();
                let views: Vec<BTreeSet<usize>> = (0..n).map(|x| sees(n, &cut, x)).collect();
                for v in &views {
                    assert!(v.len() >= majority(n), "n={n} seed={seed}: {v:?}");
                }
                if n <= 5 {
                    let distinct: BTreeSet<_> = views.iter().collect();
                    assert_eq!(distinct.len(), n, "n={n}: two nodes share a majority");
                }
                // Something must actually be cut, or this is no partition.
                assert!(!cut.is_empty());
            }
        }
    }

    #[test]
    fn bridge_keeps_the_first_node_of_the_second_half() {
        // n = 3: halves [0] [1 2], bridge 1: only 0 <-> 2 is cut.
        assert_eq!(bridge(&[0, 1, 2]), both_ways(&[0], &[2]));
        // n = 4: [0 1] [2 3], bridge 2.
        assert_eq!(bridge(&[0, 1, 2, 3]), both_ways(&[0, 1], &[3]));
        // n = 5: [0 1] [2 3 4], bridge 2.
        assert_eq!(bridge(&[0, 1, 2, 3, 4]), both_ways(&[0, 1], &[3, 4]));
        // n = 7: [0 1 2] [3 4 5 6], bridge 3.
        assert_eq!(
            Topology::Bridge.resolve(7, &mut stream(0, "t")).unwrap(),
            both_ways(&[0, 1, 2], &[4, 5, 6])
        );
    }

    #[test]
    fn one_way_cuts_only_one_direction() {
        let cut = Topology::OneWay {
            from: vec![0],
            to: vec![1, 2],
        }
        .resolve(3, &mut stream(0, "t"))
        .unwrap();
        assert_eq!(cut, links(&[(0, 1), (0, 2)]));
        let random = Topology::OneWay {
            from: vec![],
            to: vec![],
        }
        .resolve(5, &mut stream(3, "t"))
        .unwrap();
        assert_eq!(random.len(), 4);
        let src: BTreeSet<usize> = random.iter().map(|l| l.0).collect();
        assert_eq!(src.len(), 1);
    }

    #[test]
    fn bad_topologies_are_rejected() {
        let mut rng = stream(0, "t");
        assert!(Topology::Isolate { node: Some(9) }
            .resolve(5, &mut rng)
            .is_err());
        assert!(Topology::Links {
            links: vec![(1, 1)]
        }
        .resolve(3, &mut rng)
        .is_err());
        assert!(Topology::Bridge.resolve(2, &mut rng).is_err());
    }
}
