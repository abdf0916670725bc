//! What servers report while a run goes on, and the checks over it at the end: election
//! safety (from raft-rs's own role and term), leader completeness (a new leader's log holds
//! every entry any node has applied), state machine safety (the entries applied at an index
//! agree), log matching over the logs the nodes hold at the end, commit monotonicity (a
//! restarted node recovers a commit index no lower than what it had applied), raft-rs's own
//! assertions (the host catches raft-rs's panics and reports them here) and liveness after
//! the last fault.
//! Not checked here: linearizability (the harness checks the recorded history).

use std::collections::{BTreeMap, BTreeSet};

use sim::audit::Violation;

/// One log entry as the checks compare it: its term and a checksum of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntry {
    pub term: u64,
    pub sum: u64,
}

#[derive(Default)]
pub struct Observer {
    /// Leaders seen per term.
    leaders: BTreeMap<u64, BTreeSet<usize>>,
    /// Who leads now, per server, and since which term.
    pub leading: Vec<Option<u64>>,
    /// The first entry applied at each index: (term, checksum of its data, node).
    applied: BTreeMap<u64, (u64, u64, usize)>,
    /// The highest index each server applied, across its incarnations.
    applied_max: Vec<u64>,
    /// Each server's log as it holds it now (index 1 first): replaced on recovery, cut and
    /// extended as the server appends.
    logs: Vec<Vec<LogEntry>>,
    /// Each server's configuration as it last applied it: voters (raft ids), outgoing
    /// voters (non-empty while joint) and how many numbered membership changes it applied.
    configs: Vec<(Vec<u64>, Vec<u64>, u64)>,
    pub violations: Vec<Violation>,
    /// Commit regressions found at restarts: (node, when, violation), judged at the end.
    regressions: Vec<(usize, u64, Violation)>,
    /// When a client write was acknowledged.
    write_oks: Vec<u64>,
    /// When a node became leader.
    elections: Vec<u64>,
    /// Every client operation the cluster answered: (client node, completion time), for
    /// the universal `client-progress` check.
    pub answers: Vec<(usize, u64)>,
}

impl Observer {
    pub fn new(servers: usize) -> Self {
        Observer {
            leading: vec![None; servers],
            applied_max: vec![0; servers],
            logs: vec![Vec::new(); servers],
            configs: vec![Default::default(); servers],
            ..Default::default()
        }
    }

    fn once(&mut self, check: &str, msg: String) {
        if !self.violations.iter().any(|v| v.check == check) {
            self.violations.push(Violation::new(check, msg, None));
        }
    }

    pub fn recovered(&mut self, node: usize, commit: u64, log: Vec<LogEntry>, now: u64) {
        self.leading[node] = None;
        self.logs[node] = log;
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

    /// `node` appended `entries` starting at index `first`, replacing any it held from there.
    pub fn appended(
        &mut self,
        node: usize,
        first: u64,
        entries: impl IntoIterator<Item = LogEntry>,
    ) {
        let log = &mut self.logs[node];
        log.truncate(first.saturating_sub(1) as usize);
        log.extend(entries);
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

    /// `node` now leads in `term`, or follows. A new leader's log is the one it reported
    /// (`recovered`, `appended`): raft-rs's no-op of the new term is not in it yet.
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
        let (voters, outgoing, _) = &self.configs[node];
        let id = node as u64 + 1;
        if !voters.contains(&id) && !outgoing.contains(&id) {
            let msg = format!(
                "{} became leader of term {term} at {} ms without being a voter of its configuration {voters:?}",
                sim::node_ref::name(node),
                now / 1_000_000
            );
            self.once("election-safety", msg);
        }
        // Every applied entry is committed, and a leader must hold every committed entry.
        let log = &self.logs[node];
        let missing = self
            .applied
            .iter()
            .find(|(&i, &(t, sum, _))| log.get(i as usize - 1) != Some(&LogEntry { term: t, sum }));
        if let Some((&i, &(t, _, by))) = missing {
            let msg: String = format!(
                "{} became leader of term {term} at {} ms without the entry of term {t} at index {i}, which {} had applied",
                sim::node_ref::name(node),
                now / 1_000_000,
                sim::node_ref::name(by)
            );
            self.once("leader-completeness", msg);
        }
    }

    pub fn applied(&mut self, node: usize, index: u64, term: u64, data: &[u8]) {
        self.applied_max[node] = self.applied_max[node].max(index);
        let sum = crate::codec::checksum(data);
        match self.applied.get(&index) {
            None => {
                self.applied.insert(index, (term, sum, node));
            }
            Some((t, s, first)) => {
                if *t != term || *s != sum {
                    let msg = format!(
                        "{} applied an entry of term {term} at index {index}, where {} applied one of term {t}{}",
                        sim::node_ref::name(node),
                        sim::node_ref::name(*first),
                        if *t == term { " with other contents" } else { "" }
                    );
                    self.once("state-machine-safety", msg);
                }
            }
        }
    }

    /// `node` applied a configuration (or started from one).
    pub fn config(&mut self, node: usize, voters: &[u64], outgoing: &[u64], changes: u64) {
        self.configs[node] = (voters.to_vec(), outgoing.to_vec(), changes);
    }

    /// Membership progress: a majority of the final voters applied all `changes` and is
    /// out of any joint configuration.
    pub fn check_membership(&mut self, final_voters: &[usize], changes: u64) {
        let done = final_voters
            .iter()
            .filter(|&&n| {
                let (_, outgoing, applied) = &self.configs[n];
                *applied == changes && outgoing.is_empty()
            })
            .count();
        if done <= final_voters.len() / 2 {
            let states: Vec<String> = final_voters
                .iter()
                .map(|&n| {
                    let (v, o, a) = &self.configs[n];
                    format!(
                        "{} applied {a} of {changes} changes, voters {v:?}{}",
                        sim::node_ref::name(n),
                        if o.is_empty() {
                            String::new()
                        } else {
                            format!(" joint with {o:?}")
                        }
                    )
                })
                .collect();
            let msg = format!(
                "the membership changes did not finish on a majority of the final voters: {}",
                states.join("; ")
            );
            self.once("membership", msg);
        }
    }

    /// raft-rs panicked inside `node`: its own assertion found the node's state impossible
    /// (for instance a commit index beyond its log: entries it acknowledged are gone).
    pub fn raft_panicked(&mut self, node: usize, message: &str, now: u64) {
        let msg = format!(
            "raft-rs panicked in {} at {} ms: {message}",
            sim::node_ref::name(node),
            now / 1_000_000
        );
        self.once("raft-rs-asserts", msg);
    }

    pub fn write_ok(&mut self, now: u64) {
        self.write_oks.push(now);
    }

    /// Log matching over the logs the servers hold at the end: where two logs hold an entry
    /// of the same term at one index, they hold the same entry there and agree before it.
    pub fn check_log_matching(&mut self) {
        for a in 0..self.logs.len() {
            for b in a + 1..self.logs.len() {
                if let Some(msg) = log_mismatch(&self.logs[a], &self.logs[b]) {
                    let msg = format!(
                        "{} and {}: {msg}",
                        sim::node_ref::name(a),
                        sim::node_ref::name(b)
                    );
                    self.once("log-matching", msg);
                }
            }
        }
    }

    /// A client's operation got an answer the cluster decided: a read, a write, or a CAS
    /// that applied or was refused on its compare.
    pub fn client_answered(&mut self, client: usize, now: u64) {
        self.answers.push((client, now));
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

/// Where two logs break log matching: the highest index at which both hold an entry of the
/// same term must have the same entry there and the same entries before it.
pub fn log_mismatch(a: &[LogEntry], b: &[LogEntry]) -> Option<String> {
    let n = a.len().min(b.len());
    let top = (0..n).rev().find(|&i| a[i].term == b[i].term)?;
    let bad = (0..=top).find(|&i| a[i] != b[i])?;
    Some(if bad == top {
        format!(
            "both hold an entry of term {} at index {} with different contents",
            a[top].term,
            top + 1
        )
    } else {
        let how = if a[bad].term == b[bad].term {
            format!("two entries of term {}", a[bad].term)
        } else {
            format!("terms {} and {}", a[bad].term, b[bad].term)
        };
        format!(
            "they agree on the term ({}) at index {} but differ at index {} ({how})",
            a[top].term,
            top + 1,
            bad + 1
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(terms: &[(u64, u64)]) -> Vec<LogEntry> {
        terms
            .iter()
            .map(|&(term, sum)| LogEntry { term, sum })
            .collect()
    }

    #[test]
    fn log_matching_flags_a_prefix_that_differs_under_a_matching_entry() {
        let a = log(&[(1, 1), (1, 2), (2, 3)]);
        assert_eq!(log_mismatch(&a, &log(&[(1, 1), (1, 2)])), None);
        assert_eq!(log_mismatch(&a, &log(&[(1, 1), (3, 9), (4, 4)])), None);
        let e = log_mismatch(&a, &log(&[(1, 1), (1, 7), (2, 3)])).unwrap();
        assert!(e.contains("differ at index 2"), "{e}");
        let e = log_mismatch(&a, &log(&[(1, 1), (1, 2), (2, 8)])).unwrap();
        assert!(
            e.contains("term 2 at index 3 with different contents"),
            "{e}"
        );
    }

    #[test]
    fn a_leader_without_an_applied_entry_breaks_leader_completeness() {
        let mut o = Observer::new(2);
        o.config(1, &[1, 2], &[], 0);
        o.applied(0, 1, 1, b"x");
        o.recovered(1, 0, log(&[(1, crate::codec::checksum(b"x"))]), 0);
        o.role(1, 2, true, 0);
        assert!(o.violations.is_empty());
        o.appended(1, 1, log(&[(1, 0)]));
        o.role(1, 3, true, 0);
        assert_eq!(o.violations[0].check, "leader-completeness");
    }

    #[test]
    fn a_leader_outside_its_configuration_and_unfinished_changes_are_flagged() {
        let mut o = Observer::new(3);
        o.config(0, &[2, 3], &[], 1);
        o.role(0, 1, true, 0);
        assert_eq!(o.violations[0].check, "election-safety");
        o.config(1, &[2, 3], &[1, 2], 1);
        o.config(2, &[2, 3], &[], 2);
        o.check_membership(&[1, 2], 2);
        assert_eq!(o.violations.last().unwrap().check, "membership");
        let mut o = Observer::new(3);
        o.config(1, &[2, 3], &[], 2);
        o.config(2, &[2, 3], &[], 2);
        o.check_membership(&[1, 2], 2);
        assert!(o.violations.is_empty());
    }
}
