//! What the checks see of a Raft run: leaders per term, entries as they commit and apply,
//! every node's log, and the clients' history. Nodes report here as they go; the safety
//! properties of Raft's Figure 3 are checked at the moment they could first break, so a
//! violation names the event that broke it.
//!
//! The observer is the test oracle, outside the protocol: nodes never read from it.

use std::collections::{BTreeMap, VecDeque};

use checkers::history::compact::CompactHistory;
use checkers::history::EventKind as HistKind;
use checkers::Value;
use sim::audit::Violation;

use super::msg::{Entry, KvOp, KvResult, KvValue};

/// At most this many violations of one check are kept; the first is what matters.
const KEEP_PER_CHECK: usize = 3;

#[derive(Debug, Default)]
pub struct RaftObserver {
    leaders: BTreeMap<u64, usize>,
    /// Entry applied at each index, and by whom first.
    applied: BTreeMap<u64, (Entry, usize)>,
    /// Highest commit index per (node, incarnation).
    commits: BTreeMap<(usize, u64), u64>,
    /// Commit reports: index -> lowest term any node was in when it saw that index commit.
    commit_terms: BTreeMap<u64, u64>,
    pub logs: Vec<Vec<Entry>>,
    /// The clients' events, encoded as they happen (an hour of simulated clients is a few
    /// hundred thousand operations).
    history: CompactHistory,
    /// Simulated times at which writes completed ok.
    pub write_oks: Vec<u64>,
    /// Simulated times at which a leader was elected.
    pub elections: Vec<u64>,
    pub refused: Vec<(usize, String)>,
    /// Per (node, incarnation, client): at which log index the state machine executed the
    /// client's request `seq`, at position `seq - 1` (0: not executed). Clients number
    /// their requests 1, 2, 3, ..., so this is dense, and a fraction of a map's size.
    executed: BTreeMap<(usize, u64, u64), Vec<u64>>,
    pub violations: Vec<Violation>,
    /// (time, index) each time the highest index any node saw committed rose, oldest
    /// first, kept for the catch-up check: only the rises of the last `catch_up_bound`
    /// (and the one before them) are kept, so it does not grow with the run.
    commit_rises: VecDeque<(u64, u64)>,
    /// The catch-up check's bound; without one no rises are kept.
    pub catch_up_bound: Option<u64>,
}

impl RaftObserver {
    pub fn new(servers: usize) -> Self {
        RaftObserver {
            logs: vec![Vec::new(); servers],
            ..Default::default()
        }
    }

    fn violate(&mut self, check: &str, message: String) {
        if self.violations.iter().filter(|v| v.check == check).count() < KEEP_PER_CHECK {
            self.violations.push(Violation::new(check, message, None));
        }
    }

    /// Election safety and leader completeness, checked when a leader is elected.
    pub fn became_leader(&mut self, node: usize, term: u64, now: u64) {
        self.elections.push(now);
        match self.leaders.get(&term) {
            Some(&other) if other != node => self.violate(
                "election-safety",
                format!(
                    "n{} and n{} were both leader in term {term}",
                    other + 1,
                    node + 1
                ),
            ),
            _ => {
                self.leaders.insert(term, node);
            }
        }
        // Only entries committed in an earlier term must be there. A report of index c in
        // term t says every index up to c committed in term t or before.
        let log = &self.logs[node];
        let committed_before = |i: u64| self.commit_terms.range(i..).any(|(_, &t)| t < term);
        let missing = self
            .applied
            .iter()
            .filter(|(i, _)| committed_before(**i))
            .find(|(i, (e, _))| log.get(**i as usize - 1) != Some(e))
            .map(|(i, (e, _))| (*i, e.clone()));
        if let Some((index, entry)) = missing {
            self.violate(
                "leader-completeness",
                format!(
                    "n{} became leader of term {term} without committed entry {index} ({entry:?})",
                    node + 1
                ),
            );
        }
    }

    /// The commit index of one incarnation never goes back, and what it commits is on a
    /// majority of the servers' logs (as persisted) at that moment: checked directly, so an
    /// over-eager commit shows at once rather than when a later crash loses the entry.
    pub fn committed(&mut self, node: usize, incarnation: u64, index: u64, term: u64, now: u64) {
        if let Some(entry) = self.logs[node].get(index as usize - 1) {
            let holders: Vec<usize> = (0..self.logs.len())
                .filter(|&j| self.logs[j].get(index as usize - 1) == Some(entry))
                .collect();
            let majority = self.logs.len() / 2 + 1;
            if holders.len() < majority {
                let names: Vec<String> = holders.iter().map(|&j| format!("n{}", j + 1)).collect();
                let msg = format!(
                    "n{} saw entry {index} (term {}) committed at {} ms in term {term}, but only {} of {} logs held it: {}",
                    node + 1,
                    entry.term,
                    now / 1_000_000,
                    holders.len(),
                    self.logs.len(),
                    names.join(", ")
                );
                self.violate("commit-majority", msg);
            }
        }
        self.commit_rose(index, now);
        let t = self.commit_terms.entry(index).or_insert(term);
        *t = (*t).min(term);
        let prev = self.commits.entry((node, incarnation)).or_insert(0);
        if index < *prev {
            let msg = format!(
                "n{}'s commit index went from {prev} back to {index}",
                node + 1
            );
            self.violate("commit-monotonic", msg);
        } else {
            *prev = index;
        }
    }

    fn commit_rose(&mut self, index: u64, now: u64) {
        let Some(bound) = self.catch_up_bound else {
            return;
        };
        if self
            .commit_rises
            .back()
            .is_some_and(|&(_, top)| top >= index)
        {
            return;
        }
        self.commit_rises.push_back((now, index));
        // What a check at the end (time >= now) can ask for is the index at end - bound.
        let horizon = now.saturating_sub(bound);
        while self.commit_rises.get(1).is_some_and(|&(t, _)| t <= horizon) {
            self.commit_rises.pop_front();
        }
    }

    /// Catch-up: once the servers and the network have been quiet since `quiet_from`, a
    /// server that can serve must hold, at the `end`, every entry committed `bound` before
    /// it. A follower that the leader never manages to repair (a conflict it keeps
    /// answering wrongly, a reply it drops) leaves the cluster one failure from a stall,
    /// and no client notices until then.
    pub fn check_catch_up(&mut self, serving: &[bool], quiet_from: u64, bound: u64, end: u64) {
        let Some(at) = end.checked_sub(bound).filter(|&t| t >= quiet_from) else {
            return;
        };
        let Some(&(when, index)) = self.commit_rises.iter().rev().find(|(t, _)| *t <= at) else {
            return;
        };
        let held: Vec<usize> = self.logs.iter().map(Vec::len).collect();
        for (n, len) in held.into_iter().enumerate() {
            if serving.get(n) == Some(&true) && (len as u64) < index {
                let msg = format!(
                    "n{} holds {} log entries at {} ms, but entry {index} was committed at {} ms, more than {} ms before, with no fault since {} ms",
                    n + 1,
                    len,
                    end / 1_000_000,
                    when / 1_000_000,
                    bound / 1_000_000,
                    quiet_from / 1_000_000
                );
                self.violate("catch-up", msg);
            }
        }
    }

    /// State machine safety: no two nodes apply different entries at one index.
    pub fn applied(&mut self, node: usize, index: u64, entry: &Entry) {
        match self.applied.get(&index) {
            Some((first, by)) if first != entry => {
                let msg = format!(
                    "at index {index} n{} applied {first:?} but n{} applied {entry:?}",
                    by + 1,
                    node + 1
                );
                self.violate("state-machine-safety", msg);
            }
            Some(_) => {}
            None => {
                self.applied.insert(index, (entry.clone(), node));
            }
        }
    }

    /// A client write executed by a node's state machine: executing the same request
    /// twice in one life is a duplicate effect, whatever value it wrote.
    pub fn executed(&mut self, node: usize, incarnation: u64, index: u64, client: u64, seq: u64) {
        let done = self
            .executed
            .entry((node, incarnation, client))
            .or_default();
        // Sequence numbers start at 1; a 0 (never sent by the bundled clients) shares the
        // first slot rather than being lost.
        let slot = seq.saturating_sub(1) as usize;
        if done.len() <= slot {
            done.resize(slot + 1, 0);
        }
        match done[slot] {
            0 => done[slot] = index,
            first if first != index => {
                let msg = format!(
                    "n{} executed request {seq} of client {} twice: at index {first} and again at {index}",
                    node + 1,
                    sim::node_ref::name(client as usize)
                );
                self.violate("duplicate-apply", msg);
            }
            _ => {}
        }
    }

    pub fn truncated_committed(&mut self, node: usize, index: u64, commit: u64) {
        let msg = format!(
            "n{} removed entry {index} although it had committed up to {commit}",
            node + 1
        );
        self.violate("leader-completeness", msg);
    }

    /// Log matching over the final logs: where two logs agree on an entry's term, they agree
    /// on everything before it.
    pub fn check_log_matching(&mut self) {
        // Taken, not cloned, so `violate` can borrow self meanwhile; put back below.
        let logs = std::mem::take(&mut self.logs);
        for a in 0..logs.len() {
            for b in a + 1..logs.len() {
                let common = logs[a].len().min(logs[b].len());
                let Some(last_same) = (0..common)
                    .rev()
                    .find(|&i| logs[a][i].term == logs[b][i].term)
                else {
                    continue;
                };
                if let Some(i) = (0..=last_same).find(|&i| logs[a][i] != logs[b][i]) {
                    let msg = format!(
                        "n{} and n{} agree on the term of entry {} but differ at entry {}",
                        a + 1,
                        b + 1,
                        last_same + 1,
                        i + 1
                    );
                    self.violate("log-matching", msg);
                }
            }
        }
        self.logs = logs;
    }

    /// Drops the logs, the per-index and the per-request records once the checks that read
    /// them are done.
    pub fn forget_logs(&mut self) {
        self.logs = Vec::new();
        self.applied = BTreeMap::new();
        self.commit_terms = BTreeMap::new();
        self.commits = BTreeMap::new();
        self.executed = BTreeMap::new();
    }

    // ---- the client history -----------------------------------------------------------

    pub fn invoke(&mut self, process: usize, op: &KvOp, now: u64) {
        self.record(process, HistKind::Invoke, op, None, now);
    }

    /// Records how an operation ended: `Some(result)` from a reply, `None` if the client
    /// gave up (indeterminate).
    pub fn complete(&mut self, process: usize, op: &KvOp, result: Option<&KvResult>, now: u64) {
        let (kind, read) = match result {
            None => (HistKind::Info, None),
            Some(KvResult::Value(v)) => (HistKind::Ok, Some(v.as_ref())),
            Some(KvResult::Written) | Some(KvResult::Cas(true)) => (HistKind::Ok, None),
            Some(KvResult::Cas(false)) | Some(KvResult::Invalid) => (HistKind::Fail, None),
        };
        if kind == HistKind::Ok && !op.is_read() {
            self.write_oks.push(now);
        }
        self.record(process, kind, op, read, now);
    }

    /// One history event: the operation's own value, or what an ok reply carried
    /// (`Some(None)`: a read of a missing key).
    fn record(
        &mut self,
        process: usize,
        kind: HistKind,
        op: &KvOp,
        read: Option<Option<&KvValue>>,
        now: u64,
    ) {
        let (f, input) = op_fields(op);
        let value = match read {
            Some(v) => v.map_or(Value::Nil, kv_value),
            None => input,
        };
        let key = Value::Str(op.key().to_string());
        self.history
            .push(process as i64, kind, f, Some(&key), &value, Some(now));
    }

    /// The clients' history (and the observer's record of it is gone).
    pub fn take_history(&mut self) -> CompactHistory {
        std::mem::take(&mut self.history)
    }
}

fn kv_value(v: &KvValue) -> Value {
    match v {
        KvValue::Int(i) => Value::Int(*i),
        KvValue::List(l) => Value::List(l.iter().map(|&i| Value::Int(i)).collect()),
    }
}

fn op_fields(op: &KvOp) -> (&'static str, Value) {
    match op {
        KvOp::Get { .. } => ("get", Value::Nil),
        KvOp::Put { value, .. } => ("put", Value::Int(*value)),
        KvOp::Append { value, .. } => ("append", Value::Int(*value)),
        KvOp::Cas { expect, new, .. } => (
            "cas",
            Value::List(vec![
                expect.map_or(Value::Nil, Value::Int),
                Value::Int(*new),
            ]),
        ),
    }
}

impl RaftObserver {
    /// The leader of the highest term seen so far.
    pub fn current_leader(&self) -> Option<usize> {
        self.leaders.iter().next_back().map(|(_, &node)| node)
    }
}
