//! What the checks see of a gossip run: every write as its coordinator took it, what
//! clients were told, each server's replica and membership view as they change, and
//! suspicions judged against the world's truth (was the suspect really down?).
//!
//! The observer is the test oracle, outside the protocol: servers never read from it.

use std::collections::{BTreeMap, BTreeSet};

use super::msg::MemberState;
use super::store::{Vv, WriteId};

/// A replica as the checks compare it: per key, (write, its value or `None` for a
/// tombstone, a digest of its version vector).
pub type Summary = BTreeMap<String, Vec<(WriteId, Option<i64>, u64)>>;

/// A server's view of the others: state, incarnation, and since when (true ns).
pub type View = BTreeMap<usize, (MemberState, u64, u64)>;

/// A write as its coordinator took it.
#[derive(Debug, Clone)]
pub struct WriteRec {
    pub key: String,
    pub node: usize,
    pub vv: Vv,
    /// `None`: a delete.
    pub value: Option<i64>,
    pub delete: bool,
    /// The versions this write replaced at its coordinator.
    pub superseded: Vec<WriteId>,
}

/// A write a client was told had reached enough replicas.
#[derive(Debug, Clone)]
pub struct Acked {
    pub key: String,
    pub delete: bool,
    pub at: u64,
    /// The client history line of the operation's invocation.
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct Observer {
    pub history: Vec<serde_json::Value>,
    pub writes: BTreeMap<WriteId, WriteRec>,
    pub acked: BTreeMap<WriteId, Acked>,
    /// Per server: its replica and when it last changed (true ns).
    pub stores: Vec<(Summary, u64)>,
    /// Per server: its own incarnation and its view of the others, each entry with the
    /// time (true ns) it took its current state.
    pub views: Vec<(u64, View)>,
    /// (node, incarnation) suspected while the node was up (partitioned or not).
    pub false_suspicions: BTreeSet<(usize, u64)>,
    /// (node, incarnation) declared dead while the node was up.
    pub live_declared_dead: BTreeSet<(usize, u64)>,
    /// Every (node, incarnation) suspected.
    pub suspicions: BTreeSet<(usize, u64)>,
    pub refutations: u64,
    /// When the last client operation completed (true ns).
    pub workload_end: u64,
    /// Restarts that found a snapshot and loaded it.
    pub snapshots_restored: u64,
    /// Restarts that found a damaged snapshot and threw it away.
    pub snapshots_discarded: u64,
    /// Acknowledged writes found on fewer servers than promised at the moment of the ack:
    /// (write, servers holding it or a version that supersedes it, copies promised, time).
    pub short_acks: Vec<(WriteId, Vec<usize>, usize, u64)>,
}

impl Observer {
    pub fn new(servers: usize) -> Self {
        Observer {
            stores: vec![(Summary::new(), 0); servers],
            views: vec![(0, BTreeMap::new()); servers],
            ..Default::default()
        }
    }

    /// A server started a new life (its replica is reported once loaded from disk).
    pub fn restarted(&mut self, node: usize, now: u64) {
        self.stores[node] = (Summary::new(), now);
        self.views[node] = (0, BTreeMap::new());
    }

    pub fn store(&mut self, node: usize, summary: Summary, now: u64) {
        if self.stores[node].0 != summary {
            self.stores[node] = (summary, now);
        }
    }

    pub fn view(
        &mut self,
        node: usize,
        incarnation: u64,
        view: BTreeMap<usize, (MemberState, u64)>,
        now: u64,
    ) {
        let old = &self.views[node].1;
        let next = view
            .into_iter()
            .map(|(n, (state, inc))| {
                let since = match old.get(&n) {
                    Some(&(s, i, t)) if s == state && i == inc => t,
                    _ => now,
                };
                (n, (state, inc, since))
            })
            .collect();
        self.views[node] = (incarnation, next);
    }

    /// A coordinator acknowledged write `id` as held by `copies` servers: count them in
    /// the servers' replicas as last reported (a version whose vector dominates the
    /// write's stands for it: it was merged over it).
    pub fn acked_write(&mut self, id: WriteId, copies: usize, now: u64) {
        let Some(rec) = self.writes.get(&id) else {
            return;
        };
        let holds = |summary: &Summary| {
            summary.get(&rec.key).is_some_and(|vs| {
                vs.iter().any(|(other, _, _)| {
                    *other == id
                        || self.writes.get(other).is_some_and(|o| {
                            matches!(
                                checkers::causality::audit::compare(&o.vv, &rec.vv),
                                Some(std::cmp::Ordering::Greater)
                            )
                        })
                })
            })
        };
        let holders: Vec<usize> = (0..self.stores.len())
            .filter(|&n| holds(&self.stores[n].0))
            .collect();
        if holders.len() < copies {
            self.short_acks.push((id, holders, copies, now));
        }
    }

    pub fn record(&mut self, line: serde_json::Value) {
        self.history.push(line);
    }
}
