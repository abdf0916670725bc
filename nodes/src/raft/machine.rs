//! The Raft node as a pure state machine. Inputs: a tick, a message, each with the node's
//! monotonic clock reading. Output: a [`Ready`] batch of what to persist (and fsync)
//! *before* sending its messages, which is how replies that depend on persisted state
//! never leave early. Vote logic lives in `vote`, log replication and commitment in
//! `replication`; client requests, reads and applying committed entries live here.
//!
//! Not implemented: membership changes, snapshots and log compaction, leadership transfer.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim::Nanos;

use super::bugs::{Bug, Bugs};
use super::kv::Kv;
use super::msg::{Command, Entry, Key, KvOp, RaftMsg, Refusal};

/// Protocol settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    pub election_min: Nanos,
    pub election_max: Nanos,
    pub heartbeat: Nanos,
    pub pre_vote: bool,
    pub check_quorum: bool,
    /// Serve reads from a leader lease instead of a ReadIndex round.
    pub lease_reads: bool,
    /// How much of the lease to give up for clock skew and drift.
    pub lease_margin: Nanos,
    /// Most entries in one AppendEntries.
    pub max_batch: usize,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            election_min: Nanos::from_millis(150),
            election_max: Nanos::from_millis(300),
            heartbeat: Nanos::from_millis(50),
            pre_vote: false,
            check_quorum: false,
            lease_reads: false,
            lease_margin: Nanos::from_millis(60),
            max_batch: 16,
        }
    }
}

/// What a node recovered from its disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurableState {
    pub hard_state: HardState,
    pub log: Vec<Entry>,
    /// The most up-to-date log this node is known to have had durable (its vote floor):
    /// above its log only when recovery cut synced entries the disk damaged.
    pub vote_floor: LogPos,
}

/// A log position in Raft's up-to-date order (section 5.4.1): by last term, then by
/// last index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPos {
    pub term: u64,
    pub index: u64,
}

/// Term and vote: what must survive a crash besides the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub vote: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// Something the checks want to know about (not part of the protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    BecameLeader {
        term: u64,
    },
    /// A committed entry was removed from this node's log (only a bug can cause it).
    TruncatedCommitted {
        index: u64,
        commit: u64,
    },
    /// Everything up to `index` is committed; this node is in `term` (an upper bound on
    /// the term the entries were committed in).
    Committed {
        index: u64,
        term: u64,
    },
    Applied {
        index: u64,
        entry: Entry,
    },
    /// The state machine executed client `client`'s write `seq` (a retry answered from the
    /// session is applied but not executed).
    Executed {
        index: u64,
        client: u64,
        seq: u64,
    },
}

/// What the host must do, in order: persist the hard state and log changes (and fsync),
/// then send the messages.
#[derive(Debug, Default)]
pub struct Ready {
    pub hard_state: Option<HardState>,
    /// Remove log entries from this index on (before appending).
    pub truncate_from: Option<u64>,
    /// Entries to append, the first at `append_at`.
    pub append_at: u64,
    pub append: Vec<Entry>,
    pub messages: Vec<(usize, RaftMsg)>,
    pub observations: Vec<Observation>,
}

impl Ready {
    pub fn needs_persist(&self) -> bool {
        self.hard_state.is_some() || self.truncate_from.is_some() || !self.append.is_empty()
    }
}

pub(super) struct PendingRead {
    pub client: usize,
    pub seq: u64,
    pub key: Key,
    pub read_index: u64,
    /// The broadcast round a majority must acknowledge.
    pub probe: u64,
}

/// The `k`-th largest (counting from 1) of `value(0..n)`: what a majority of `n` servers
/// has reached when `k` is the majority. Sorts on the stack for clusters of up to 16,
/// since it runs on every append reply.
pub(super) fn kth_largest(n: usize, k: usize, value: impl Fn(usize) -> u64) -> u64 {
    const ON_STACK: usize = 16;
    let mut stack = [0u64; ON_STACK];
    let mut heap = Vec::new();
    let values: &mut [u64] = if n <= ON_STACK {
        &mut stack[..n]
    } else {
        heap.resize(n, 0);
        &mut heap
    };
    for (i, v) in values.iter_mut().enumerate() {
        *v = value(i);
    }
    values.sort_unstable_by(|a, b| b.cmp(a));
    values[k - 1]
}

/// One Raft node.
pub struct RaftMachine {
    pub(super) id: usize,
    /// Server count; servers are nodes 0..n, clients come after.
    pub(super) n: usize,
    pub(super) config: RaftConfig,
    pub(super) bugs: Bugs,
    pub(super) rng: ChaCha8Rng,
    // Persistent state.
    pub(super) term: u64,
    pub(super) vote: Option<usize>,
    pub(super) log: Vec<Entry>,
    /// Votes are judged as if the log were at least this up to date (see `storage`).
    pub(super) vote_floor: LogPos,
    // Volatile state.
    pub(super) role: Role,
    pub(super) leader: Option<usize>,
    pub(super) commit: u64,
    pub(super) applied: u64,
    pub(super) kv: Kv,
    pub(super) election_deadline: u64,
    /// When this node last heard from a live leader (for check-quorum vote rejection).
    pub(super) leader_contact: Option<u64>,
    pub(super) votes: BTreeSet<usize>,
    // Leader state.
    pub(super) next_index: Vec<u64>,
    pub(super) match_index: Vec<u64>,
    pub(super) heartbeat_deadline: u64,
    pub(super) probe: u64,
    /// Local send time of each recent broadcast round.
    pub(super) probe_sent: BTreeMap<u64, u64>,
    pub(super) acked_probe: Vec<u64>,
    pub(super) quorum_check_deadline: u64,
    pub(super) heard_since_check: BTreeSet<usize>,
    pub(super) lease_until: u64,
    pub(super) pending_writes: BTreeMap<u64, (usize, u64)>,
    pub(super) pending_reads: Vec<PendingRead>,
    pub(super) ready: Ready,
}

impl RaftMachine {
    /// A node recovered with `hard_state` and `log` from its disk, at local time `now`.
    pub fn new(
        id: usize,
        n: usize,
        config: RaftConfig,
        bugs: Bugs,
        rng: ChaCha8Rng,
        durable: DurableState,
        now: u64,
    ) -> Self {
        let DurableState {
            hard_state,
            log,
            vote_floor,
        } = durable;
        assert!(id < n, "servers are nodes 0..n");
        let dedup = !bugs.has(Bug::NoDedup);
        let mut m = RaftMachine {
            id,
            n,
            config,
            bugs,
            rng,
            term: hard_state.term,
            vote: hard_state.vote,
            log,
            vote_floor,
            role: Role::Follower,
            leader: None,
            commit: 0,
            applied: 0,
            kv: Kv::new(dedup),
            election_deadline: 0,
            leader_contact: None,
            votes: BTreeSet::new(),
            next_index: vec![1; n],
            match_index: vec![0; n],
            heartbeat_deadline: 0,
            probe: 0,
            probe_sent: BTreeMap::new(),
            acked_probe: vec![0; n],
            quorum_check_deadline: 0,
            heard_since_check: BTreeSet::new(),
            lease_until: 0,
            pending_writes: BTreeMap::new(),
            pending_reads: Vec::new(),
            ready: Ready::default(),
        };
        m.reset_election_timer(now);
        m
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> u64 {
        self.term
    }

    pub fn commit_index(&self) -> u64 {
        self.commit
    }

    pub fn log(&self) -> &[Entry] {
        &self.log
    }

    /// The other servers, in order.
    pub(super) fn peers(&self) -> Vec<usize> {
        (0..self.n).filter(|&p| p != self.id).collect()
    }

    pub(super) fn majority(&self) -> usize {
        self.n / 2 + 1
    }

    pub(super) fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    /// Where this node's log ends, in the up-to-date order.
    pub(super) fn last_pos(&self) -> LogPos {
        LogPos {
            term: self.term_at(self.last_index()),
            index: self.last_index(),
        }
    }

    /// Whether recovery lost synced entries that a leader has not yet replaced: the
    /// node may have acknowledged them, so it must not run for leader.
    pub fn behind_vote_floor(&self) -> bool {
        self.last_pos() < self.vote_floor
    }

    pub(super) fn term_at(&self, index: u64) -> u64 {
        if index == 0 {
            0
        } else {
            self.log.get(index as usize - 1).map_or(0, |e| e.term)
        }
    }

    pub(super) fn send(&mut self, to: usize, msg: RaftMsg) {
        self.ready.messages.push((to, msg));
    }

    pub(super) fn persist_hard_state(&mut self) {
        self.ready.hard_state = Some(HardState {
            term: self.term,
            vote: self.vote,
        });
    }

    /// Appends to the in-memory log and schedules the same append on disk.
    pub(super) fn append_entries(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        if self.ready.append.is_empty() {
            self.ready.append_at = self.last_index() + 1;
        }
        debug_assert_eq!(
            self.ready.append_at + self.ready.append.len() as u64,
            self.last_index() + 1,
            "pending appends are contiguous with the log"
        );
        self.log.extend(entries.iter().cloned());
        self.ready.append.extend(entries);
    }

    /// Drops entries from `index` on, in memory and (scheduled) on disk.
    pub(super) fn truncate_log(&mut self, index: u64) {
        if index <= self.commit {
            self.ready
                .observations
                .push(Observation::TruncatedCommitted {
                    index,
                    commit: self.commit,
                });
            self.commit = index - 1;
        }
        self.log.truncate(index as usize - 1);
        // Appends not yet persisted past the cut are simply dropped.
        if !self.ready.append.is_empty() && self.ready.append_at >= index {
            self.ready.append.clear();
        } else if !self.ready.append.is_empty() {
            let keep = (index - self.ready.append_at) as usize;
            self.ready.append.truncate(keep);
        }
        self.ready.truncate_from = Some(self.ready.truncate_from.map_or(index, |t| t.min(index)));
        if self.ready.append.is_empty() {
            self.ready.append_at = self.last_index() + 1;
        }
    }

    pub(super) fn reset_election_timer(&mut self, now: u64) {
        let (lo, hi) = (self.config.election_min.0, self.config.election_max.0);
        self.election_deadline = now + self.rng.gen_range(lo..=hi.max(lo));
    }

    /// When the host must call `tick` next, on the local monotonic clock.
    pub fn next_deadline(&self) -> u64 {
        match self.role {
            Role::Leader => self.heartbeat_deadline.min(self.quorum_check_deadline),
            // Candidates resend unanswered vote requests every heartbeat interval.
            Role::Candidate | Role::PreCandidate => {
                self.election_deadline.min(self.heartbeat_deadline)
            }
            Role::Follower => self.election_deadline,
        }
    }

    /// Takes what the host must do now.
    pub fn take_ready(&mut self) -> Ready {
        let mut r = std::mem::take(&mut self.ready);
        if r.append.is_empty() {
            r.append_at = 0;
        }
        r
    }

    /// Time passed: elections, heartbeats, quorum checks.
    pub fn tick(&mut self, now: u64) {
        match self.role {
            Role::Leader => {
                if now >= self.quorum_check_deadline {
                    self.check_quorum(now);
                }
                if self.role == Role::Leader && now >= self.heartbeat_deadline {
                    self.broadcast(now);
                }
            }
            _ => {
                if now >= self.election_deadline {
                    self.start_election(now);
                } else if self.role != Role::Follower && now >= self.heartbeat_deadline {
                    self.request_votes(now);
                }
            }
        }
    }

    /// A message arrived.
    pub fn step(&mut self, now: u64, from: usize, msg: RaftMsg) {
        match msg {
            RaftMsg::Vote { .. } => self.on_vote_request(now, from, msg),
            RaftMsg::VoteReply { .. } => self.on_vote_reply(now, from, msg),
            RaftMsg::Append { .. } => self.on_append(now, from, msg),
            RaftMsg::AppendReply { .. } => self.on_append_reply(now, from, msg),
            RaftMsg::Request { seq, op } => self.on_client_request(now, from, seq, op),
            RaftMsg::Reply { .. } => {}
        }
    }

    /// Becomes a follower of `term` (persisting the new term and a cleared vote).
    pub(super) fn become_follower(&mut self, now: u64, term: u64, leader: Option<usize>) {
        if term > self.term {
            self.term = term;
            self.vote = None;
            self.persist_hard_state();
        }
        if self.role != Role::Follower {
            self.reset_election_timer(now);
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.drop_pending_clients();
    }

    fn drop_pending_clients(&mut self) {
        let writes = std::mem::take(&mut self.pending_writes);
        let reads = std::mem::take(&mut self.pending_reads);
        let hint = self.leader;
        for (client, seq) in writes
            .into_values()
            .chain(reads.into_iter().map(|r| (r.client, r.seq)))
        {
            self.send(
                client,
                RaftMsg::Reply {
                    seq,
                    result: Err(Refusal::NotLeader { hint }),
                },
            );
        }
    }

    fn on_client_request(&mut self, now: u64, client: usize, seq: u64, op: KvOp) {
        if self.role != Role::Leader {
            let hint = self.leader;
            self.send(
                client,
                RaftMsg::Reply {
                    seq,
                    result: Err(Refusal::NotLeader { hint }),
                },
            );
            return;
        }
        if let KvOp::Get { key } = op {
            self.on_read(now, client, seq, key);
            return;
        }
        if let Some(result) = self.kv.session_result(client as u64, seq) {
            let result = result.clone();
            self.send(
                client,
                RaftMsg::Reply {
                    seq,
                    result: Ok(result),
                },
            );
            return;
        }
        self.append_entries(vec![Entry::new(
            self.term,
            Command::Kv {
                client: client as u64,
                seq,
                op,
            },
        )]);
        self.pending_writes.insert(self.last_index(), (client, seq));
        self.match_index[self.id] = self.last_index();
        if self.n == 1 {
            self.advance_commit();
        }
    }

    fn on_read(&mut self, now: u64, client: usize, seq: u64, key: Key) {
        if self.bugs.has(Bug::StaleRead) {
            let result = self.kv.read(&key);
            self.send(
                client,
                RaftMsg::Reply {
                    seq,
                    result: Ok(result),
                },
            );
            return;
        }
        // Until an entry of this term commits, the commit index may lag what earlier
        // leaders committed; reads wait for it (Raft section 8).
        let current_term_committed = self.term_at(self.commit) == self.term;
        if self.config.lease_reads && current_term_committed && now < self.lease_until {
            self.serve_when_applied(client, seq, key, self.commit, 0);
            return;
        }
        let probe = self.probe + 1;
        self.pending_reads.push(PendingRead {
            client,
            seq,
            key,
            read_index: 0,
            probe,
        });
        if current_term_committed {
            // Confirm leadership with a fresh round of heartbeats.
            self.broadcast(now);
        }
        self.fix_read_indices();
    }

    /// Reads waiting for this term's first commit get their read index once it exists.
    pub(super) fn fix_read_indices(&mut self) {
        if self.term_at(self.commit) != self.term {
            return;
        }
        let commit = self.commit;
        for r in self.pending_reads.iter_mut().filter(|r| r.read_index == 0) {
            r.read_index = commit.max(1);
        }
    }

    fn serve_when_applied(
        &mut self,
        client: usize,
        seq: u64,
        key: Key,
        read_index: u64,
        probe: u64,
    ) {
        self.pending_reads.push(PendingRead {
            client,
            seq,
            key,
            read_index,
            probe,
        });
        self.serve_reads();
    }

    /// Answers reads whose leadership round is confirmed and whose index is applied.
    pub(super) fn serve_reads(&mut self) {
        if self.role != Role::Leader || self.pending_reads.is_empty() {
            return;
        }
        let confirmed = self.confirmed_probe();
        let applied = self.applied;
        let servable =
            |r: &PendingRead| r.read_index > 0 && r.read_index <= applied && r.probe <= confirmed;
        // Called after every append reply and apply: usually nothing is servable yet.
        if !self.pending_reads.iter().any(servable) {
            return;
        }
        let (ready, waiting): (Vec<PendingRead>, Vec<PendingRead>) =
            std::mem::take(&mut self.pending_reads)
                .into_iter()
                .partition(servable);
        self.pending_reads = waiting;
        for r in ready {
            let result = self.kv.read(&r.key);
            self.send(
                r.client,
                RaftMsg::Reply {
                    seq: r.seq,
                    result: Ok(result),
                },
            );
        }
    }

    /// The highest broadcast round a majority (this node included) has acknowledged.
    pub(super) fn confirmed_probe(&self) -> u64 {
        kth_largest(self.n, self.majority(), |p| {
            if p == self.id {
                self.probe
            } else {
                self.acked_probe[p]
            }
        })
    }

    /// Applies newly committed entries to the key-value store and answers their clients.
    pub(super) fn apply_committed(&mut self) {
        while self.applied < self.commit {
            self.applied += 1;
            let index = self.applied;
            let entry = self.log[index as usize - 1].clone();
            if let Some((client, seq)) = self.kv.executes(&entry.command) {
                self.ready
                    .observations
                    .push(Observation::Executed { index, client, seq });
            }
            let result = self.kv.apply(&entry.command);
            self.ready.observations.push(Observation::Applied {
                index,
                entry: entry.clone(),
            });
            if let Some((client, seq)) = self.pending_writes.remove(&index) {
                let matches = matches!(&*entry.command, Command::Kv { client: c, seq: s, .. } if *c == client as u64 && *s == seq);
                let result = match (matches, result) {
                    (true, Some(r)) => Ok(r),
                    _ => Err(Refusal::NotLeader { hint: self.leader }),
                };
                self.send(client, RaftMsg::Reply { seq, result });
            }
        }
        self.serve_reads();
    }
}

#[cfg(test)]
mod tests {
    use super::kth_largest;

    #[test]
    fn kth_largest_is_what_a_majority_reached() {
        let values = [3u64, 9, 1, 7, 5];
        // Five servers, majority three: three of them are at 5 or beyond.
        assert_eq!(kth_largest(5, 3, |i| values[i]), 5);
        assert_eq!(kth_largest(5, 1, |i| values[i]), 9);
        assert_eq!(kth_largest(5, 5, |i| values[i]), 1);
        // Beyond the stack buffer the answer is the same.
        let many: Vec<u64> = (0..40).map(|i| (i * 7) % 40).collect();
        assert_eq!(kth_largest(40, 21, |i| many[i]), 19);
    }
}
