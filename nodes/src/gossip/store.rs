//! The replicated key-value store: per key, a set of sibling versions, each tagged with a
//! version vector. A write at a node supersedes every sibling that node holds; merging two
//! replicas keeps exactly the versions no other version dominates, so concurrent writes
//! survive side by side until a later write that has seen them all replaces them. Deletes
//! are versions without a value (tombstones), kept forever.
//!
//! Not modelled: tombstone garbage collection, dotted version vectors (a coordinator's
//! vector counts per key, which is enough because writers never write blind to a replica),
//! CRDT values.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use super::bugs::{Bug, Bugs};

/// A writer identity in version vectors: a server in one of its lives. A restarted node
/// has lost its counters, so it writes as a new actor rather than reuse old dots.
pub type Actor = u64;

pub fn actor(node: usize, life: u64) -> Actor {
    ((node as u64) << 32) | life
}

/// `n3.1`: node 3 (1-based) in its second life.
pub fn actor_name(a: Actor) -> String {
    format!("n{}.{}", (a >> 32) + 1, a & 0xffff_ffff)
}

pub type Vv = BTreeMap<Actor, u64>;

/// Partial order of two version vectors; `None` when concurrent.
pub use checkers::causality::audit::compare as vv_cmp;

/// A stable digest of a version vector (the checks compare vectors by it).
pub fn vv_digest(vv: &Vv) -> u64 {
    let mut h = sim::digest::StableHasher::new();
    for (&a, &c) in vv {
        h.write_u64(a);
        h.write_u64(c);
    }
    h.finish()
}

/// A client write's identity: the client's node and its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId(pub u64);

impl WriteId {
    pub fn new(client: usize, seq: u64) -> Self {
        WriteId(((client as u64) << 32) | seq)
    }
}

impl fmt::Display for WriteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}.{}", (self.0 >> 32) + 1, self.0 & 0xffff_ffff)
    }
}

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: WriteId,
    pub vv: Vv,
    /// `None`: a tombstone.
    pub value: Option<i64>,
    /// The coordinator's wall clock when it took the write (only the lww bug reads it).
    pub wall: i64,
}

/// The merge of two sibling sets.
pub fn merge(local: &[Version], incoming: &[Version], bugs: &Bugs) -> Vec<Version> {
    let mut all: Vec<Version> = local.to_vec();
    for v in incoming {
        if !all.iter().any(|x| x.id == v.id) {
            all.push(v.clone());
        }
    }
    if bugs.has(Bug::LwwWallClock) {
        // The bug: wall-clock order, whatever the version vectors say.
        let best = all.into_iter().max_by_key(|v| (v.wall, v.id));
        return best.into_iter().collect();
    }
    let mut keep: Vec<Version> = all
        .iter()
        .filter(|v| {
            !all.iter()
                .any(|u| u.id != v.id && vv_cmp(&v.vv, &u.vv) == Some(Ordering::Less))
        })
        .cloned()
        .collect();
    keep.sort_by_key(|v| v.id);
    for (i, a) in keep.iter().enumerate() {
        for b in &keep[i + 1..] {
            // Dots are never reused, so two different writes cannot share a vector.
            assert_ne!(
                a.vv, b.vv,
                "writes {} and {} carry equal version vectors",
                a.id, b.id
            );
        }
    }
    if bugs.has(Bug::MergeDropsSibling) && keep.len() > 1 {
        keep.drain(..keep.len() - 1);
    }
    keep
}

/// A node's replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    pub keys: BTreeMap<String, Vec<Version>>,
}

impl Store {
    /// Takes a write at this replica: the new version supersedes every sibling here.
    /// Returns it and the ids it superseded.
    pub fn write(
        &mut self,
        me: Actor,
        key: &str,
        id: WriteId,
        value: Option<i64>,
        wall: i64,
        bugs: &Bugs,
    ) -> (Version, Vec<WriteId>) {
        let siblings = self.keys.remove(key).unwrap_or_default();
        let mut vv = Vv::new();
        for s in &siblings {
            for (&a, &c) in &s.vv {
                let e = vv.entry(a).or_insert(0);
                *e = (*e).max(c);
            }
        }
        *vv.entry(me).or_insert(0) += 1;
        let version = Version {
            id,
            vv,
            value,
            wall,
        };
        let superseded = siblings.iter().map(|s| s.id).collect();
        let mut now = vec![version.clone()];
        if bugs.has(Bug::LwwWallClock) {
            // The new write must still beat the old one by wall clock.
            now = merge(&siblings, &now, bugs);
        }
        self.keys.insert(key.to_string(), now);
        self.purge(key, bugs);
        (version, superseded)
    }

    /// Merges a peer's versions of one key; true if anything changed.
    pub fn merge_key(&mut self, key: &str, incoming: &[Version], bugs: &Bugs) -> bool {
        let before = self.keys.get(key).cloned();
        let merged = merge(before.as_deref().unwrap_or(&[]), incoming, bugs);
        if merged.is_empty() {
            self.keys.remove(key);
        } else {
            self.keys.insert(key.to_string(), merged);
        }
        self.purge(key, bugs);
        self.keys.get(key) != before.as_ref()
    }

    /// Merges a whole replica; true if anything changed.
    pub fn merge_all(&mut self, other: &Store, bugs: &Bugs) -> bool {
        let mut changed = false;
        for (k, vs) in &other.keys {
            changed |= self.merge_key(k, vs, bugs);
        }
        changed
    }

    /// With the no-tombstones bug, a tombstone is dropped as soon as it has removed what
    /// it covered, so nothing remembers the delete.
    fn purge(&mut self, key: &str, bugs: &Bugs) {
        if !bugs.has(Bug::NoTombstones) {
            return;
        }
        if let Some(vs) = self.keys.get_mut(key) {
            vs.retain(|v| v.value.is_some());
            if vs.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// The live values of a key (tombstones left out).
    pub fn read(&self, key: &str) -> Vec<i64> {
        self.keys
            .get(key)
            .map_or(Vec::new(), |vs| vs.iter().filter_map(|v| v.value).collect())
    }

    /// Whether any version of `key` is the write `id`.
    pub fn holds(&self, key: &str, id: WriteId) -> bool {
        self.keys
            .get(key)
            .is_some_and(|vs| vs.iter().any(|v| v.id == id))
    }

    /// What the checks compare: per key, each version held (id, value, vector digest).
    pub fn summary(&self) -> BTreeMap<String, Vec<(WriteId, Option<i64>, u64)>> {
        self.keys
            .iter()
            .map(|(k, vs)| {
                (
                    k.clone(),
                    vs.iter()
                        .map(|v| (v.id, v.value, vv_digest(&v.vv)))
                        .collect(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u64) -> WriteId {
        WriteId(n)
    }

    #[test]
    fn concurrent_writes_become_siblings_and_a_later_write_replaces_both() {
        let bugs = Bugs::none();
        let (mut a, mut b) = (Store::default(), Store::default());
        a.write(actor(0, 0), "k", w(1), Some(1), 0, &bugs);
        b.write(actor(1, 0), "k", w(2), Some(2), 0, &bugs);
        assert!(a.merge_all(&b, &bugs));
        assert_eq!(a.read("k"), vec![1, 2]);
        assert!(b.merge_all(&a, &bugs));
        assert_eq!(a, b);
        let (_, sup) = b.write(actor(1, 0), "k", w(3), Some(3), 0, &bugs);
        assert_eq!(sup, vec![w(1), w(2)]);
        assert!(a.merge_all(&b, &bugs));
        assert_eq!(a.read("k"), vec![3]);
        assert!(!a.merge_all(&b, &bugs), "merging again changes nothing");
    }

    #[test]
    fn tombstones_stop_an_old_copy_from_coming_back() {
        let bugs = Bugs::none();
        let (mut a, mut b) = (Store::default(), Store::default());
        a.write(actor(0, 0), "k", w(1), Some(1), 0, &bugs);
        b.merge_all(&a, &bugs);
        a.write(actor(0, 0), "k", w(2), None, 0, &bugs);
        a.merge_all(&b, &bugs);
        assert_eq!(a.read("k"), Vec::<i64>::new());
        let buggy = Bugs::none().with(Bug::NoTombstones);
        let (mut a, mut b) = (Store::default(), Store::default());
        a.write(actor(0, 0), "k", w(1), Some(1), 0, &buggy);
        b.merge_all(&a, &buggy);
        a.write(actor(0, 0), "k", w(2), None, 0, &buggy);
        a.merge_all(&b, &buggy);
        assert_eq!(a.read("k"), vec![1], "the bug resurrects the deleted value");
    }

    #[test]
    fn lww_lets_an_earlier_write_with_a_later_clock_win() {
        let bugs = Bugs::none().with(Bug::LwwWallClock);
        let (mut a, mut b) = (Store::default(), Store::default());
        a.write(actor(0, 0), "k", w(1), Some(1), 5_000, &bugs);
        b.merge_all(&a, &bugs);
        // b's clock is behind: its causally later write loses.
        b.write(actor(1, 0), "k", w(2), Some(2), 1_000, &bugs);
        assert_eq!(b.read("k"), vec![1]);
    }

    #[test]
    fn merge_drops_sibling_loses_one_concurrent_write() {
        let bugs = Bugs::none().with(Bug::MergeDropsSibling);
        let (mut a, mut b) = (Store::default(), Store::default());
        a.write(actor(0, 0), "k", w(1), Some(1), 0, &bugs);
        b.write(actor(1, 0), "k", w(2), Some(2), 0, &bugs);
        a.merge_all(&b, &bugs);
        assert_eq!(a.read("k"), vec![2]);
    }

    #[test]
    fn version_vectors_compare_partially() {
        let x: Vv = [(1, 1)].into_iter().collect();
        let y: Vv = [(1, 1), (2, 1)].into_iter().collect();
        let z: Vv = [(2, 2)].into_iter().collect();
        assert_eq!(vv_cmp(&x, &y), Some(Ordering::Less));
        assert_eq!(vv_cmp(&y, &x), Some(Ordering::Greater));
        assert_eq!(vv_cmp(&x, &z), None);
        assert_eq!(vv_cmp(&x, &x), Some(Ordering::Equal));
    }
}
