//! What servers report while a run goes on, and the checks over it at the end: election
//! safety (from raft-rs's own role and term), state machine safety (the entries applied
//! at an index agree), commit monotonicity (a restarted node recovers a commit index no
//! lower than what it had applied) and liveness after the last fault.
//! Not checked here: linearizability (the harness checks the recorded history).

use std::collections::{BTreeMap, BTreeSet};

use sim::audit::Violation;

#[derive(Default)]
pub struct Observer {
    /// Leaders seen per term.
    leaders: BTreeMap<u64, BTreeSet<usize>>,
    /// Who leads now, per server, and since which term.
    pub leading: Vec<Option<u64>>,
    /// The first entry applied at each index: (term, data, node).
    applied: BTreeMap<u64, (u64, Vec<u8>, usize)>,
    /// The highest index each server applied, across its incarnations.
    applied_max: Vec<u64>,
    pub violations: Vec<Violation>,
    /// Commit regressions found at restarts: (node, when, violation), judged at the end.
    regressions: Vec<(usize, u64, Violation)>,
    /// When a client write was acknowledged.
    write_oks: Vec<u64>,
    /// When a node became leader.
    elections: Vec<u64>,
    /// Every successful client operation: (client node, completion time), for the
    /// universal `client-progress` check.
    pub oks: Vec<(usize, u64)>,
}

impl Observer {
    pub fn new(servers: usize) -> Self {
        Observer {
            leading: vec![None; servers],
            applied_max: vec![0; servers],
            ..Default::default()
        }
    }

    pub fn recovered(&mut self, node: usize, commit: u64, now: u64) {
        self.leading[node] = None;
        let had = self.applied_max[node];
        if commit < had {
            self.regressions.push((
                node,
                now,
                Violation::new(
                    "commit-monotonic",
                    format!(
                    "{} recovered commit index {commit} at {} ms after it had applied up to {had}",
                    sim::node_ref::name(node),
                    now / 1_000_000
                ),
                    None,
                ),
            ));
        }
    }

    /// The violations found, with commit regressions judged against the trace: a disk
    /// whose fsync lied before the restart excuses one (it lost what it promised to keep,
    /// and no node can recover what its disk threw away).
    pub fn judged(&mut self, end: &crate::system::RunEnd<'_>) -> Vec<Violation> {
        let mut v = std::mem::take(&mut self.violations);
        for (node, at, violation) in std::mem::take(&mut self.regressions) {
            let lied = end.events.iter().any(|e| {
                e.time_ns <= at
                    && matches!(
                        &e.kind,
                        sim::EventKind::DiskFault {
                            node: n,
                            fault: sim::disk::DiskFault::LyingFsync { .. },
                        } if *n == node
                    )
            });
            if !lied {
                v.push(violation);
            }
        }
        v
    }

    pub fn role(&mut self, node: usize, term: u64, leader: bool, now: u64) {
        self.leading[node] = leader.then_some(term);
        if !leader {
            return;
        }
        self.elections.push(now);
        let set = self.leaders.entry(term).or_default();
        set.insert(node);
        if set.len() == 2 {
            let names: Vec<String> = set.iter().map(|&n| sim::node_ref::name(n)).collect();
            self.violations.push(Violation::new(
                "election-safety",
                format!(
                    "two leaders in term {term}: {} (at {} ms)",
                    names.join(" and "),
                    now / 1_000_000
                ),
                None,
            ));
        }
    }

    pub fn applied(&mut self, node: usize, index: u64, term: u64, data: &[u8]) {
        self.applied_max[node] = self.applied_max[node].max(index);
        match self.applied.get(&index) {
            None => {
                self.applied.insert(index, (term, data.to_vec(), node));
            }
            Some((t, d, first)) => {
                if *t != term || d.as_slice() != data {
                    let msg = format!(
                        "{} applied an entry of term {term} at index {index}, where {} applied one of term {t}{}",
                        sim::node_ref::name(node),
                        sim::node_ref::name(*first),
                        if *t == term { " with other contents" } else { "" }
                    );
                    if !self
                        .violations
                        .iter()
                        .any(|v| v.check == "state-machine-safety")
                    {
                        self.violations
                            .push(Violation::new("state-machine-safety", msg, None));
                    }
                }
            }
        }
    }

    pub fn write_ok(&mut self, now: u64) {
        self.write_oks.push(now);
    }

    /// A client's operation completed successfully (a read, a write or a CAS that applied).
    pub fn client_ok(&mut self, client: usize, now: u64) {
        self.oks.push((client, now));
    }

    /// Liveness: a leader and an acknowledged write within `bound` after `quiet_from`.
    pub fn check_liveness(&mut self, quiet_from: u64, bound: u64, end: u64) {
        let deadline = quiet_from + bound;
        if end < deadline {
            return;
        }
        let wrote = self
            .write_oks
            .iter()
            .any(|&t| t > quiet_from && t <= deadline);
        if !wrote {
            self.violations.push(Violation::new(
                "liveness",
                format!(
                    "no client write was acknowledged within {} ms after the last fault at {} ms",
                    bound / 1_000_000,
                    quiet_from / 1_000_000
                ),
                None,
            ));
        }
    }

    pub fn current_leader(&self) -> Option<usize> {
        let best = self.leading.iter().flatten().max()?;
        self.leading.iter().position(|l| l.as_ref() == Some(best))
    }
}
