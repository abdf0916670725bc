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

#[derive(Debug, Default)]
pub struct Observer {
    pub accounts: usize,
    pub initial_balance: i64,
    /// Decisions per transaction: (node, commit, how).
    pub decisions: BTreeMap<TxId, Vec<(usize, bool, &'static str)>>,
    /// Yes votes not yet followed by a decision at the voter: when the first was cast.
    pub in_doubt_since: BTreeMap<(TxId, usize), u64>,
    /// Every yes vote ever cast.
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
        let earlier = self.decisions.entry(txid).or_default();
        let clash = earlier.iter().find(|(_, c, _)| *c != commit).copied();
        earlier.push((node, commit, how));
        if let Some((other, c, other_how)) = clash {
            self.violate(
                "atomicity",
                format!(
                    "T{txid}: n{} decided {} ({other_how}) but n{} decided {} ({how})",
                    other + 1,
                    verdict(c),
                    node + 1,
                    verdict(commit)
                ),
            );
        }
        if node != 0 {
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
        self.voted_yes.entry((txid, node)).or_insert(now);
        self.in_doubt_since.entry((txid, node)).or_insert(now);
    }

    /// The coordinator's decision, if it made one.
    pub fn coordinator_decision(&self, txid: TxId) -> Option<bool> {
        self.decisions
            .get(&txid)?
            .iter()
            .find(|(n, _, _)| *n == 0)
            .map(|(_, c, _)| *c)
    }

    pub fn participant_decision(&self, txid: TxId, node: usize) -> Option<bool> {
        self.decisions
            .get(&txid)?
            .iter()
            .find(|(n, _, _)| *n == node)
            .map(|(_, c, _)| *c)
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
