//! A participant as a pure state machine: it owns some keys, locks them for a transaction,
//! executes the operations against its committed state, logs the prepare durably and only
//! then votes yes. A participant that voted yes is in doubt: it holds its locks and asks
//! the coordinator for the outcome until it hears one, however long that takes (this is
//! where two-phase commit blocks). Before voting yes it may refuse at once (a lock is held,
//! or an account would go negative): locking is no-wait, so there are no deadlocks and no
//! lock-wait timeouts. The host persists [`PReady::log`] before it sends anything.
//!
//! Not modelled: shared read locks, lock waiting queues, log truncation.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::bugs::{Bug, Bugs};
use super::msg::{Op, ReadValue, TwopcMsg, TxId, Write};

/// The coordinator's node.
pub const COORDINATOR: usize = 0;

/// A participant's timers, in its own monotonic nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct ParticipantConfig {
    pub initial_balance: i64,
    /// How often an in-doubt participant asks the coordinator for the outcome.
    pub query_interval: u64,
    /// After this long in doubt, the buggy participants decide on their own.
    pub in_doubt_timeout: u64,
}

/// A log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PRecord {
    Prepared {
        txid: TxId,
        writes: Vec<Write>,
        reads: Vec<(String, ReadValue)>,
    },
    Decided {
        txid: TxId,
        commit: bool,
    },
}

/// Something the checks should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PEvent {
    VotedYes {
        txid: TxId,
    },
    /// `how`: "coordinator", "timeout" (only the buggy participants) or "recovery".
    Decided {
        txid: TxId,
        commit: bool,
        how: &'static str,
    },
}

/// What one step produced: persist `log`, then send `messages`.
#[derive(Debug, Default)]
pub struct PReady {
    pub log: Vec<PRecord>,
    pub messages: Vec<(usize, TwopcMsg)>,
    pub events: Vec<PEvent>,
}

#[derive(Debug, Clone)]
struct Pending {
    writes: Vec<Write>,
    reads: Vec<(String, ReadValue)>,
    since: u64,
    last_query: u64,
}

pub struct Participant {
    config: ParticipantConfig,
    bugs: Bugs,
    balances: BTreeMap<String, i64>,
    lists: BTreeMap<String, Vec<i64>>,
    locks: BTreeMap<String, TxId>,
    pending: BTreeMap<TxId, Pending>,
    /// Transactions this incarnation voted no on (it aborted them on its own).
    refused: BTreeSet<TxId>,
    decided: BTreeMap<TxId, bool>,
    ready: PReady,
}

impl Participant {
    /// A participant recovered from its log records, read in order.
    pub fn recover(config: ParticipantConfig, bugs: Bugs, records: Vec<PRecord>, now: u64) -> Self {
        let mut p = Participant {
            config,
            bugs,
            balances: BTreeMap::new(),
            lists: BTreeMap::new(),
            locks: BTreeMap::new(),
            pending: BTreeMap::new(),
            refused: BTreeSet::new(),
            decided: BTreeMap::new(),
            ready: PReady::default(),
        };
        for r in records {
            match r {
                PRecord::Prepared {
                    txid,
                    writes,
                    reads,
                } => {
                    let pending = Pending {
                        writes,
                        reads,
                        since: now,
                        last_query: 0,
                    };
                    p.pending.insert(txid, pending);
                }
                PRecord::Decided { txid, commit } => {
                    if let Some(pend) = p.pending.remove(&txid) {
                        if commit {
                            p.apply(&pend.writes);
                        }
                    }
                    p.decided.insert(txid, commit);
                }
            }
        }
        if !p.bugs.has(Bug::ReleaseLocksBeforeDecision) {
            let held: Vec<(String, TxId)> = p
                .pending
                .iter()
                .flat_map(|(&t, pend)| pend.writes.iter().map(move |w| (w.key().to_string(), t)))
                .chain(
                    p.pending
                        .iter()
                        .flat_map(|(&t, pend)| pend.reads.iter().map(move |(k, _)| (k.clone(), t))),
                )
                .collect();
            p.locks.extend(held);
        }
        p
    }

    pub fn balance(&self, key: &str) -> i64 {
        self.balances
            .get(key)
            .copied()
            .unwrap_or(self.config.initial_balance)
    }

    pub fn balances(&self) -> &BTreeMap<String, i64> {
        &self.balances
    }

    pub fn list(&self, key: &str) -> &[i64] {
        self.lists.get(key).map_or(&[], |l| l.as_slice())
    }

    /// The keys locked and by which transaction.
    pub fn locks(&self) -> &BTreeMap<String, TxId> {
        &self.locks
    }

    /// In-doubt transactions and their staged writes.
    pub fn in_doubt(&self) -> BTreeMap<TxId, Vec<Write>> {
        self.pending
            .iter()
            .map(|(&t, p)| (t, p.writes.clone()))
            .collect()
    }

    pub fn take_ready(&mut self) -> PReady {
        std::mem::take(&mut self.ready)
    }

    fn apply(&mut self, writes: &[Write]) {
        for w in writes {
            match w {
                Write::SetBalance { key, value } => {
                    self.balances.insert(key.clone(), *value);
                }
                Write::Append { key, value } => {
                    self.lists.entry(key.clone()).or_default().push(*value)
                }
            }
        }
    }

    fn vote(&mut self, txid: TxId, yes: bool, reads: Vec<(String, ReadValue)>) {
        let vote = TwopcMsg::Vote { txid, yes, reads };
        self.ready.messages.push((COORDINATOR, vote));
    }

    pub fn step(&mut self, now: u64, _from: usize, msg: TwopcMsg) {
        match msg {
            TwopcMsg::Prepare { txid, ops } => self.prepare(now, txid, ops),
            TwopcMsg::Decision { txid, commit } => {
                self.decide(txid, commit, "coordinator");
                self.ready
                    .messages
                    .push((COORDINATOR, TwopcMsg::Ack { txid }));
            }
            _ => {}
        }
    }

    fn prepare(&mut self, now: u64, txid: TxId, ops: Vec<Op>) {
        if let Some(p) = self.pending.get(&txid) {
            // The vote was lost: say it again.
            let reads = p.reads.clone();
            return self.vote(txid, true, reads);
        }
        if self.refused.contains(&txid) || self.decided.contains_key(&txid) {
            let yes = self.decided.get(&txid) == Some(&true);
            return self.vote(txid, yes, Vec::new());
        }
        if ops.iter().any(|op| self.locks.contains_key(op.key())) {
            self.refused.insert(txid);
            return self.vote(txid, false, Vec::new());
        }
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for op in &ops {
            match op {
                Op::Read { key } => {
                    reads.push((key.clone(), ReadValue::List(self.list(key).to_vec())))
                }
                Op::Balance { key } => {
                    reads.push((key.clone(), ReadValue::Balance(self.balance(key))))
                }
                Op::Append { key, value } => writes.push(Write::Append {
                    key: key.clone(),
                    value: *value,
                }),
                Op::Add { key, delta } => {
                    let value = self.balance(key) + delta;
                    if value < 0 {
                        self.refused.insert(txid);
                        return self.vote(txid, false, Vec::new());
                    }
                    writes.push(Write::SetBalance {
                        key: key.clone(),
                        value,
                    });
                }
            }
        }
        if !self.bugs.has(Bug::ReleaseLocksBeforeDecision) {
            for op in &ops {
                self.locks.insert(op.key().to_string(), txid);
            }
        }
        if !self.bugs.has(Bug::NoDurablePrepare) {
            self.ready.log.push(PRecord::Prepared {
                txid,
                writes: writes.clone(),
                reads: reads.clone(),
            });
        }
        self.pending.insert(
            txid,
            Pending {
                writes,
                reads: reads.clone(),
                since: now,
                last_query: now,
            },
        );
        self.ready.events.push(PEvent::VotedYes { txid });
        self.vote(txid, true, reads);
    }

    fn decide(&mut self, txid: TxId, commit: bool, how: &'static str) {
        let Some(p) = self.pending.remove(&txid) else {
            return;
        };
        self.ready.log.push(PRecord::Decided { txid, commit });
        if commit {
            self.apply(&p.writes);
        }
        if commit || !self.bugs.has(Bug::KeepAbortedLocks) {
            self.locks.retain(|_, t| *t != txid);
        }
        self.decided.insert(txid, commit);
        self.ready
            .events
            .push(PEvent::Decided { txid, commit, how });
    }

    /// Timers: ask about in-doubt transactions (or, with the bugs, give up on them).
    pub fn tick(&mut self, now: u64) {
        let timeout_bug = if self.bugs.has(Bug::PresumeCommitOnTimeout) {
            Some(true)
        } else if self.bugs.has(Bug::UnilateralAbortAfterYes) {
            Some(false)
        } else {
            None
        };
        let mut give_up = Vec::new();
        for (&txid, p) in self.pending.iter_mut() {
            let waited = now.saturating_sub(p.since);
            if let Some(commit) = timeout_bug.filter(|_| waited >= self.config.in_doubt_timeout) {
                give_up.push((txid, commit));
            } else if now.saturating_sub(p.last_query) >= self.config.query_interval
                && !self.bugs.has(Bug::NoInDoubtQuery)
            {
                p.last_query = now;
                self.ready
                    .messages
                    .push((COORDINATOR, TwopcMsg::Query { txid }));
            }
        }
        for (txid, commit) in give_up {
            self.decide(txid, commit, "timeout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn config() -> ParticipantConfig {
        ParticipantConfig {
            initial_balance: 100,
            query_interval: 100 * MS,
            in_doubt_timeout: 300 * MS,
        }
    }

    fn fresh(bugs: Bugs) -> Participant {
        Participant::recover(config(), bugs, Vec::new(), 0)
    }

    fn transfer(from: &str, to: &str, amount: i64) -> Vec<Op> {
        vec![
            Op::Add {
                key: from.into(),
                delta: -amount,
            },
            Op::Add {
                key: to.into(),
                delta: amount,
            },
        ]
    }

    fn votes(r: &PReady) -> Vec<(TxId, bool)> {
        r.messages
            .iter()
            .filter_map(|(_, m)| match m {
                TwopcMsg::Vote { txid, yes, .. } => Some((*txid, *yes)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn logs_the_prepare_before_voting_yes_and_locks() {
        let mut p = fresh(Bugs::none());
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 1,
                ops: transfer("a0", "a1", 10),
            },
        );
        let r = p.take_ready();
        assert_eq!(votes(&r), vec![(1, true)]);
        assert!(matches!(r.log[..], [PRecord::Prepared { txid: 1, .. }]));
        // A second transaction on a locked key is refused at once.
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 2,
                ops: transfer("a1", "a2", 1),
            },
        );
        assert_eq!(votes(&p.take_ready()), vec![(2, false)]);
        p.step(
            0,
            0,
            TwopcMsg::Decision {
                txid: 1,
                commit: true,
            },
        );
        let r = p.take_ready();
        assert!(matches!(
            r.log[..],
            [PRecord::Decided {
                txid: 1,
                commit: true
            }]
        ));
        assert_eq!((p.balance("a0"), p.balance("a1")), (90, 110));
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 3,
                ops: transfer("a1", "a2", 1),
            },
        );
        assert_eq!(votes(&p.take_ready()), vec![(3, true)]);
    }

    #[test]
    fn refuses_an_overdraft() {
        let mut p = fresh(Bugs::none());
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 1,
                ops: transfer("a0", "a1", 101),
            },
        );
        let r = p.take_ready();
        assert_eq!(votes(&r), vec![(1, false)]);
        assert!(r.log.is_empty());
    }

    #[test]
    fn in_doubt_participant_keeps_asking_and_never_decides_alone() {
        let mut p = fresh(Bugs::none());
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 1,
                ops: transfer("a0", "a1", 5),
            },
        );
        p.take_ready();
        let mut queries = 0;
        for t in 1..=100 {
            p.tick(t * 50 * MS);
            let r = p.take_ready();
            assert!(r.events.is_empty(), "decided alone: {:?}", r.events);
            queries += r.messages.len();
        }
        assert!(queries >= 40, "{queries} queries in 5 s");
        assert_eq!(p.in_doubt().len(), 1);
    }

    #[test]
    fn recovery_restores_state_in_doubt_transactions_and_their_locks() {
        let mut p = fresh(Bugs::none());
        let mut log = Vec::new();
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 1,
                ops: transfer("a0", "a1", 5),
            },
        );
        p.step(
            0,
            0,
            TwopcMsg::Decision {
                txid: 1,
                commit: true,
            },
        );
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 2,
                ops: transfer("a1", "a2", 7),
            },
        );
        log.extend(p.take_ready().log);
        let mut q = Participant::recover(config(), Bugs::none(), log, 0);
        assert_eq!((q.balance("a0"), q.balance("a1")), (95, 105));
        assert_eq!(q.in_doubt().keys().copied().collect::<Vec<_>>(), vec![2]);
        q.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 3,
                ops: transfer("a2", "a3", 1),
            },
        );
        assert_eq!(votes(&q.take_ready()), vec![(3, false)]);
        // The lost vote is repeated, not re-executed.
        q.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 2,
                ops: transfer("a1", "a2", 7),
            },
        );
        assert_eq!(votes(&q.take_ready()), vec![(2, true)]);
    }

    #[test]
    fn the_timeout_bugs_decide_alone() {
        for (bug, commit) in [
            (Bug::UnilateralAbortAfterYes, false),
            (Bug::PresumeCommitOnTimeout, true),
        ] {
            let mut p = fresh(Bugs([bug].into()));
            p.step(
                0,
                0,
                TwopcMsg::Prepare {
                    txid: 1,
                    ops: transfer("a0", "a1", 5),
                },
            );
            p.take_ready();
            p.tick(400 * MS);
            let r = p.take_ready();
            assert_eq!(
                r.events,
                vec![PEvent::Decided {
                    txid: 1,
                    commit,
                    how: "timeout"
                }]
            );
        }
    }

    #[test]
    fn no_durable_prepare_votes_yes_without_a_record() {
        let mut p = fresh(Bugs([Bug::NoDurablePrepare].into()));
        p.step(
            0,
            0,
            TwopcMsg::Prepare {
                txid: 1,
                ops: transfer("a0", "a1", 5),
            },
        );
        let r = p.take_ready();
        assert_eq!(votes(&r), vec![(1, true)]);
        assert!(r.log.is_empty());
    }
}
