//! The coordinator as a pure state machine. It splits a client's transaction by the keys'
//! owners, sends prepares, and collects votes: one no, or no full set of votes before the
//! vote timeout, aborts; all yes commits. A commit decision is logged durably before it is
//! sent to anyone (the host persists [`CReady::log`] first). Aborts are not logged:
//! presumed abort, so a coordinator asked about a transaction it has no record of answers
//! abort. Decisions are resent until every participant acknowledges them.
//!
//! Not modelled: coordinator replication (a crashed coordinator blocks its in-doubt
//! participants until it returns, which is the point), forgetting old decisions, client
//! retries of a whole transaction.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::bugs::{Bug, Bugs};
use super::msg::{owner, Op, ReadValue, TwopcMsg, TxId};

/// The coordinator's timers, in its own monotonic nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorConfig {
    /// Votes not all in by then abort the transaction.
    pub vote_timeout: u64,
    /// Prepares and decisions are resent this often until answered.
    pub resend: u64,
}

/// A log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CRecord {
    pub txid: TxId,
    pub commit: bool,
    pub participants: Vec<usize>,
}

/// A decision, for the checks. `presumed`: an abort answered from no record at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEvent {
    pub txid: TxId,
    pub commit: bool,
    pub presumed: bool,
}

/// What one step produced: persist `log`, then send `messages`.
#[derive(Debug, Default)]
pub struct CReady {
    pub log: Vec<CRecord>,
    pub messages: Vec<(usize, TwopcMsg)>,
    pub events: Vec<CEvent>,
}

struct Txn {
    client: usize,
    parts: BTreeMap<usize, Vec<Op>>,
    votes: BTreeMap<usize, Vec<(String, ReadValue)>>,
    deadline: u64,
    last_send: u64,
    decided: Option<bool>,
    acked: BTreeSet<usize>,
}

pub struct Coordinator {
    servers: usize,
    config: CoordinatorConfig,
    bugs: Bugs,
    /// Transactions this incarnation is running or still informing participants of.
    txns: BTreeMap<TxId, Txn>,
    /// Every decision known: from the log and from this incarnation.
    decided: BTreeMap<TxId, bool>,
    ready: CReady,
}

impl Coordinator {
    pub fn recover(
        servers: usize,
        config: CoordinatorConfig,
        bugs: Bugs,
        records: Vec<CRecord>,
    ) -> Self {
        assert!(
            servers >= 2,
            "two-phase commit needs a coordinator and a participant"
        );
        let decided = records.iter().map(|r| (r.txid, r.commit)).collect();
        Coordinator {
            servers,
            config,
            bugs,
            txns: BTreeMap::new(),
            decided,
            ready: CReady::default(),
        }
    }

    pub fn take_ready(&mut self) -> CReady {
        std::mem::take(&mut self.ready)
    }

    pub fn step(&mut self, now: u64, from: usize, msg: TwopcMsg) {
        match msg {
            TwopcMsg::Begin { txid, ops } => self.begin(now, from, txid, ops),
            TwopcMsg::Vote { txid, yes, reads } => {
                let Some(t) = self.txns.get_mut(&txid) else {
                    return;
                };
                if t.decided.is_some() || !t.parts.contains_key(&from) {
                    return;
                }
                if !yes {
                    return self.decide(now, txid, false);
                }
                t.votes.insert(from, reads);
                if t.votes.len() == t.parts.len() {
                    self.decide(now, txid, true);
                }
            }
            TwopcMsg::Ack { txid } => {
                if let Some(t) = self.txns.get_mut(&txid) {
                    t.acked.insert(from);
                    if t.decided.is_some() && t.acked.len() == t.parts.len() {
                        self.txns.remove(&txid);
                    }
                }
            }
            TwopcMsg::Query { txid } => {
                if let Some(&commit) = self.decided.get(&txid) {
                    self.ready
                        .messages
                        .push((from, TwopcMsg::Decision { txid, commit }));
                } else if !self.txns.contains_key(&txid) {
                    // No record: the transaction cannot have committed (commits are logged
                    // before they are sent), so abort it for good.
                    self.decided.insert(txid, false);
                    self.ready.events.push(CEvent {
                        txid,
                        commit: false,
                        presumed: true,
                    });
                    self.ready.messages.push((
                        from,
                        TwopcMsg::Decision {
                            txid,
                            commit: false,
                        },
                    ));
                }
                // Still voting: the decision will come.
            }
            TwopcMsg::Outcome { .. } | TwopcMsg::Prepare { .. } | TwopcMsg::Decision { .. } => {}
        }
    }

    fn begin(&mut self, now: u64, client: usize, txid: TxId, ops: Vec<Op>) {
        if self.txns.contains_key(&txid) || self.decided.contains_key(&txid) || ops.is_empty() {
            return; // a duplicate
        }
        let mut parts: BTreeMap<usize, Vec<Op>> = BTreeMap::new();
        for op in ops {
            parts
                .entry(owner(op.key(), self.servers))
                .or_default()
                .push(op);
        }
        for (&p, ops) in &parts {
            let ops = ops.clone();
            self.ready
                .messages
                .push((p, TwopcMsg::Prepare { txid, ops }));
        }
        let txn = Txn {
            client,
            parts,
            votes: BTreeMap::new(),
            deadline: now + self.config.vote_timeout,
            last_send: now,
            decided: None,
            acked: BTreeSet::new(),
        };
        self.txns.insert(txid, txn);
    }

    fn decide(&mut self, now: u64, txid: TxId, commit: bool) {
        let t = self
            .txns
            .get_mut(&txid)
            .expect("deciding a running transaction");
        assert!(t.decided.is_none(), "T{txid} decided twice");
        assert!(
            !commit || t.votes.len() == t.parts.len(),
            "T{txid} committed without every vote"
        );
        t.decided = Some(commit);
        t.last_send = now;
        self.decided.insert(txid, commit);
        let participants: Vec<usize> = t.parts.keys().copied().collect();
        if commit && !self.bugs.has(Bug::NoDurableDecision) {
            self.ready.log.push(CRecord {
                txid,
                commit,
                participants: participants.clone(),
            });
        }
        for &p in &participants {
            self.ready
                .messages
                .push((p, TwopcMsg::Decision { txid, commit }));
        }
        let reads = commit.then(|| t.votes.values().flatten().cloned().collect());
        self.ready
            .messages
            .push((t.client, TwopcMsg::Outcome { txid, reads }));
        self.ready.events.push(CEvent {
            txid,
            commit,
            presumed: false,
        });
    }

    /// Timers: abort transactions whose votes are late, resend what is unanswered.
    pub fn tick(&mut self, now: u64) {
        let late: Vec<TxId> = self
            .txns
            .iter()
            .filter(|(_, t)| t.decided.is_none() && now >= t.deadline)
            .map(|(&id, _)| id)
            .collect();
        for txid in late {
            self.decide(now, txid, false);
        }
        for (&txid, t) in self.txns.iter_mut() {
            if now.saturating_sub(t.last_send) < self.config.resend {
                continue;
            }
            t.last_send = now;
            for (&p, ops) in &t.parts {
                let msg = match t.decided {
                    None if !t.votes.contains_key(&p) => TwopcMsg::Prepare {
                        txid,
                        ops: ops.clone(),
                    },
                    Some(commit) if !t.acked.contains(&p) => TwopcMsg::Decision { txid, commit },
                    _ => continue,
                };
                self.ready.messages.push((p, msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn coordinator(bugs: Bugs, records: Vec<CRecord>) -> Coordinator {
        let config = CoordinatorConfig {
            vote_timeout: 100 * MS,
            resend: 30 * MS,
        };
        Coordinator::recover(4, config, bugs, records)
    }

    fn transfer() -> Vec<Op> {
        vec![
            Op::Add {
                key: "a0".into(),
                delta: -1,
            },
            Op::Add {
                key: "a1".into(),
                delta: 1,
            },
        ]
    }

    fn yes(txid: TxId) -> TwopcMsg {
        TwopcMsg::Vote {
            txid,
            yes: true,
            reads: vec![],
        }
    }

    fn decisions(r: &CReady) -> Vec<(usize, bool)> {
        r.messages
            .iter()
            .filter_map(|(to, m)| match m {
                TwopcMsg::Decision { commit, .. } => Some((*to, *commit)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn commits_on_all_yes_and_logs_first() {
        let mut c = coordinator(Bugs::none(), vec![]);
        c.step(
            0,
            5,
            TwopcMsg::Begin {
                txid: 7,
                ops: transfer(),
            },
        );
        let r = c.take_ready();
        let prepared: Vec<usize> = r.messages.iter().map(|(to, _)| *to).collect();
        assert_eq!(prepared, vec![1, 2]);
        c.step(1, 1, yes(7));
        assert!(c.take_ready().messages.is_empty());
        c.step(2, 2, yes(7));
        let r = c.take_ready();
        assert_eq!(r.log.len(), 1);
        assert_eq!(decisions(&r), vec![(1, true), (2, true)]);
        assert!(r
            .messages
            .iter()
            .any(|(to, m)| *to == 5 && matches!(m, TwopcMsg::Outcome { reads: Some(_), .. })));
    }

    #[test]
    fn a_no_vote_or_a_timeout_aborts_without_a_log_record() {
        let mut c = coordinator(Bugs::none(), vec![]);
        c.step(
            0,
            5,
            TwopcMsg::Begin {
                txid: 1,
                ops: transfer(),
            },
        );
        c.step(
            0,
            5,
            TwopcMsg::Begin {
                txid: 2,
                ops: transfer(),
            },
        );
        c.take_ready();
        c.step(
            1,
            1,
            TwopcMsg::Vote {
                txid: 1,
                yes: false,
                reads: vec![],
            },
        );
        let r = c.take_ready();
        assert!(r.log.is_empty());
        assert_eq!(decisions(&r), vec![(1, false), (2, false)]);
        c.step(1, 1, yes(2));
        c.tick(100 * MS);
        let r = c.take_ready();
        assert!(r.log.is_empty());
        let aborts_of_2 = r
            .messages
            .iter()
            .filter(|(_, m)| {
                matches!(
                    m,
                    TwopcMsg::Decision {
                        txid: 2,
                        commit: false
                    }
                )
            })
            .count();
        assert_eq!(aborts_of_2, 2);
    }

    #[test]
    fn recovered_decisions_answer_queries_and_unknown_ones_are_presumed_aborted() {
        let rec = CRecord {
            txid: 3,
            commit: true,
            participants: vec![1, 2],
        };
        let mut c = coordinator(Bugs::none(), vec![rec]);
        c.step(0, 2, TwopcMsg::Query { txid: 3 });
        c.step(0, 2, TwopcMsg::Query { txid: 4 });
        let r = c.take_ready();
        assert_eq!(decisions(&r), vec![(2, true), (2, false)]);
        assert!(r.events[0].presumed);
        // A transaction presumed aborted stays aborted.
        c.step(
            0,
            5,
            TwopcMsg::Begin {
                txid: 4,
                ops: transfer(),
            },
        );
        assert!(c.take_ready().messages.is_empty());
    }

    #[test]
    fn resends_decisions_until_acknowledged() {
        let mut c = coordinator(Bugs::none(), vec![]);
        c.step(
            0,
            5,
            TwopcMsg::Begin {
                txid: 1,
                ops: transfer(),
            },
        );
        c.step(0, 1, yes(1));
        c.step(0, 2, yes(1));
        c.step(0, 1, TwopcMsg::Ack { txid: 1 });
        c.take_ready();
        c.tick(30 * MS);
        assert_eq!(decisions(&c.take_ready()), vec![(2, true)]);
        c.step(31 * MS, 2, TwopcMsg::Ack { txid: 1 });
        c.tick(90 * MS);
        assert!(c.take_ready().messages.is_empty());
    }

    #[test]
    fn no_durable_decision_sends_a_commit_it_never_logged() {
        let mut c = coordinator(Bugs([Bug::NoDurableDecision].into()), vec![]);
        c.step(
            0,
            5,
            TwopcMsg::Begin {
                txid: 1,
                ops: transfer(),
            },
        );
        c.step(0, 1, yes(1));
        c.step(0, 2, yes(1));
        let r = c.take_ready();
        assert!(r.log.is_empty());
        assert_eq!(decisions(&r), vec![(1, true), (2, true)]);
    }
}
