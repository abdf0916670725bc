//! What the checks see of a two-phase-commit run: every decision as it is made (by the
//! coordinator or a participant), yes votes and how long each voter stayed in doubt holding
//! its locks, each participant's committed balances and in-doubt writes, and the clients'
//! history. Atomicity is checked the moment a decision could break it, and a committed
//! read of every account is checked against the bank total as it completes.
//!
//! The observer is the test oracle, outside the protocol: nodes never read from it.

use std::collections::BTreeMap;

use checkers::history::compact::CompactHistory;
use checkers::history::EventKind as HistKind;
use checkers::Value;
use sim::audit::Violation;

use super::msg::{TxId, Write};

/// At most this many violations of one check are kept; the first is what matters.
const KEEP_PER_CHECK: usize = 3;

/// One participant's state as last reported (its durable state, since a participant
/// reports only after persisting).
#[derive(Debug, Clone, Default)]
pub struct ServerState {
    pub balances: BTreeMap<String, i64>,
    pub in_doubt: BTreeMap<TxId, Vec<Write>>,
    /// Locked keys and the transaction holding each.
    pub locks: BTreeMap<String, TxId>,
}

/// A stretch of time a participant spent in doubt, holding its locks.
#[derive(Debug, Clone, Copy)]
pub struct Blocked {
    pub node: usize,
    pub txid: TxId,
    pub from_ns: u64,
    pub to_ns: u64,
}

/// What the checks read of a transaction's decisions: the first decision of each verdict
/// (who and how, for the atomicity message) and each node's first verdict. Packed into 16
/// bytes and stored in runs of 64 consecutive transaction ids (clients number theirs
/// densely): an hour of simulated transactions is a few hundred thousand of them.
#[derive(Debug, Clone, Copy, Default)]
struct TxDecisions {
    /// (node, how) of the first commit and the first abort; how is `hows` index + 1, 0 none.
    first_commit: (u16, u16),
    first_abort: (u16, u16),
    /// Nodes below 32 that decided, and which of them decided commit first.
    decided: u32,
    committed: u32,
}

/// Transaction ids per stored run.
const RUN: u64 = 64;

#[derive(Debug, Default)]
struct Decisions {
    runs: BTreeMap<u64, Box<[TxDecisions; RUN as usize]>>,
    /// First verdicts of nodes 32 and above (large clusters only).
    wide: BTreeMap<(TxId, usize), bool>,
}

impl Decisions {
    fn get(&self, txid: TxId) -> Option<&TxDecisions> {
        self.runs
            .get(&(txid / RUN))
            .map(|run| &run[(txid % RUN) as usize])
    }

    fn entry(&mut self, txid: TxId) -> &mut TxDecisions {
        let run = self
            .runs
            .entry(txid / RUN)
            .or_insert_with(|| Box::new([TxDecisions::default(); RUN as usize]));
        &mut run[(txid % RUN) as usize]
    }

    /// The first verdict `node` gave on `txid`.
    fn first_of(&self, txid: TxId, node: usize) -> Option<bool> {
        if node < 32 {
            let d = self.get(txid)?;
            (d.decided & (1 << node) != 0).then_some(d.committed & (1 << node) != 0)
        } else {
            self.wide.get(&(txid, node)).copied()
        }
    }
}

#[derive(Debug, Default)]
pub struct Observer {
    pub accounts: usize,
    pub initial_balance: i64,
    /// What the checks need of every decision (see [`TxDecisions`]).
    decisions: Decisions,
    /// How decisions were reached, as [`Decision::how`] numbers them.
    hows: Vec<&'static str>,
    /// Yes votes not yet followed by a decision at the voter: when the first was cast.
    pub in_doubt_since: BTreeMap<(TxId, usize), u64>,
    /// Yes votes whose voter has not decided (the end-of-run check asks only about those:
    /// a voter's decision is forever), and when the first was cast.
    pub voted_yes: BTreeMap<(TxId, usize), u64>,
    pub blocked: Vec<Blocked>,
    pub states: Vec<ServerState>,
    /// The clients' events, encoded as they happen: a transaction's micro-ops are nested
    /// lists of strings, a few hundred bytes each as values.
    pub history: CompactHistory,
    pub refused: Vec<(usize, String)>,
    pub violations: Vec<Violation>,
}

impl Observer {
    pub fn new(servers: usize, accounts: usize, initial_balance: i64) -> Self {
        Observer {
            accounts,
            initial_balance,
            states: vec![ServerState::default(); servers],
            ..Default::default()
        }
    }

    pub fn violate(&mut self, check: &str, message: String) {
        self.violate_at_ops(check, message, Vec::new());
    }

    /// Like `violate`, pointing at client-history operations (line, role).
    pub fn violate_at_ops(&mut self, check: &str, message: String, ops: Vec<(usize, String)>) {
        if self.violations.iter().filter(|v| v.check == check).count() < KEEP_PER_CHECK {
            self.violations
                .push(Violation::new(check, message, None).with_ops(ops));
        }
    }

    pub fn total(&self) -> i64 {
        self.accounts as i64 * self.initial_balance
    }

    /// A decision by `node` (0: the coordinator). Atomicity: nobody decides otherwise.
    pub fn decided(&mut self, node: usize, txid: TxId, commit: bool, how: &'static str, now: u64) {
        let verdict = |c: bool| if c { "commit" } else { "abort" };
        let how_index = match self.hows.iter().position(|h| *h == how) {
            Some(i) => i,
            None => {
                self.hows.push(how);
                self.hows.len() - 1
            }
        } as u16;
        let first_of_node = self.decisions.first_of(txid, node);
        let d = self.decisions.entry(txid);
        // The first decision of the other verdict, if any: (node, how).
        let clash = if commit {
            d.first_abort
        } else {
            d.first_commit
        };
        let mine = if commit {
            &mut d.first_commit
        } else {
            &mut d.first_abort
        };
        if mine.1 == 0 {
            *mine = (node as u16, how_index + 1);
        }
        if first_of_node.is_none() {
            if node < 32 {
                d.decided |= 1 << node;
                if commit {
                    d.committed |= 1 << node;
                }
            } else {
                self.decisions.wide.insert((txid, node), commit);
            }
        }
        if clash.1 != 0 {
            let (other, other_how) = (clash.0, self.hows[clash.1 as usize - 1]);
            self.violate(
                "atomicity",
                format!(
                    "T{txid}: n{} decided {} ({other_how}) but n{} decided {} ({how})",
                    other + 1,
                    verdict(!commit),
                    node + 1,
                    verdict(commit)
                ),
            );
        }
        if node != 0 {
            self.voted_yes.remove(&(txid, node));
            if let Some(from_ns) = self.in_doubt_since.remove(&(txid, node)) {
                self.blocked.push(Blocked {
                    node,
                    txid,
                    from_ns,
                    to_ns: now,
                });
            }
        }
    }

    pub fn voted_yes(&mut self, node: usize, txid: TxId, now: u64) {
        if self.participant_decision(txid, node).is_none() {
            self.voted_yes.entry((txid, node)).or_insert(now);
        }
        self.in_doubt_since.entry((txid, node)).or_insert(now);
    }

    /// The coordinator's decision, if it made one.
    pub fn coordinator_decision(&self, txid: TxId) -> Option<bool> {
        self.participant_decision(txid, 0)
    }

    /// The first decision `node` made on `txid`, if any.
    pub fn participant_decision(&self, txid: TxId, node: usize) -> Option<bool> {
        self.decisions.first_of(txid, node)
    }

    // ---- the client history -----------------------------------------------------------

    pub fn invoke(&mut self, process: usize, f: &str, value: Value, now: u64) {
        self.record(process, HistKind::Invoke, f, value, now);
    }

    pub fn complete(&mut self, process: usize, kind: HistKind, f: &str, value: Value, now: u64) {
        self.record(process, kind, f, value, now);
    }

    fn record(&mut self, process: usize, kind: HistKind, f: &str, value: Value, now: u64) {
        self.history
            .push(process as i64, kind, f, None, &value, Some(now));
    }

    /// A committed read of every account must see the whole bank. Called just before the
    /// read's completion is recorded, so that is the history line it points at.
    pub fn audit_read(&mut self, txid: TxId, balances: &[(String, i64)]) {
        let sum: i64 = balances.iter().map(|(_, b)| b).sum();
        if sum != self.total() {
            let shown: Vec<String> = balances.iter().map(|(k, b)| format!("{k}={b}")).collect();
            let line = self.history.len() + 1;
            self.violate_at_ops(
                "bank-total",
                format!(
                    "committed read T{txid} (history line {line}) saw a total of {sum}, not {}: {}",
                    self.total(),
                    shown.join(" ")
                ),
                vec![(line, "at-fault".to_string())],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_decisions_answer_as_the_decisions_in_order() {
        let mut o = Observer::new(40, 2, 100);
        let txid = 3_000_017;
        o.voted_yes(1, txid, 5);
        o.voted_yes(35, txid, 5);
        o.decided(0, txid, true, "votes", 10);
        o.decided(1, txid, true, "told", 11);
        o.decided(1, txid, true, "told", 12); // a repeat changes nothing
        assert!(o.violations.is_empty());
        assert_eq!(o.coordinator_decision(txid), Some(true));
        assert_eq!(o.participant_decision(txid, 1), Some(true));
        assert_eq!(o.participant_decision(txid, 2), None);
        assert_eq!(o.participant_decision(txid + 1, 0), None);
        // A voter that decided is no longer asked about; one that did not still is.
        assert!(!o.voted_yes.contains_key(&(txid, 1)));
        assert!(o.voted_yes.contains_key(&(txid, 35)));
        // A node past 32 deciding otherwise: atomicity names the first commit.
        o.decided(35, txid, false, "timeout", 20);
        assert_eq!(o.participant_decision(txid, 35), Some(false));
        assert_eq!(o.violations.len(), 1);
        assert_eq!(
            o.violations[0].message,
            format!("T{txid}: n1 decided commit (votes) but n36 decided abort (timeout)")
        );
        // Its later commit keeps its first verdict, and clashes with the first abort.
        o.decided(35, txid, true, "told", 30);
        assert_eq!(o.participant_decision(txid, 35), Some(false));
        assert!(o.violations[1]
            .message
            .contains("n36 decided abort (timeout) but n36 decided commit (told)"));
        assert_eq!(o.blocked.len(), 2);
    }
}
