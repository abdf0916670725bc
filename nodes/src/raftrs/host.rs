//! The host around raft-rs's `RawNode`: the async server loop (ticks from the node's own
//! clock, messages in, the Ready loop in raft-rs's documented order), the key-value state
//! machine with client sessions, and the clients that record what they saw.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use raft::eraftpb::{
    ConfChangeV2, ConfState, Entry, EntryType, Message as RaftMessage, MessageType,
};
use raft::{Config, RawNode, ReadOnlyOption, StateRole};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sim::{Nanos, NodeCtx};

use super::disk::{ConfRecord, Journal};
use super::membership::{conf_change, Change};
use super::observe::{LogEntry, Observer};
use super::{Bug, Settings};
use crate::codec::{put_str, put_u64, Cursor};
use crate::system::ClientRecorder;

/// A client operation on the key-value store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: i64,
    },
    Append {
        key: String,
        value: i64,
    },
    Cas {
        key: String,
        expect: Option<i64>,
        new: i64,
    },
}

impl Op {
    fn key(&self) -> &str {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Append { key, .. } => key,
            Op::Cas { key, .. } => key,
        }
    }
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Value(Option<Val>),
    Written,
    Cas(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Int(i64),
    List(Vec<i64>),
}

/// What servers and clients send.
#[derive(Debug, Clone)]
pub enum Wire {
    Raft(Box<RaftMessage>),
    Request { seq: u64, op: Op },
    Reply { seq: u64, outcome: Outcome },
    NotLeader { seq: u64, hint: Option<usize> },
}

impl sim::Message for Wire {
    fn name(&self) -> &'static str {
        match self {
            Wire::Raft(m) => match m.get_msg_type() {
                MessageType::MsgAppend => "append",
                MessageType::MsgAppendResponse => "append-resp",
                MessageType::MsgRequestVote => "vote",
                MessageType::MsgRequestVoteResponse => "vote-resp",
                MessageType::MsgRequestPreVote => "prevote",
                MessageType::MsgRequestPreVoteResponse => "prevote-resp",
                MessageType::MsgHeartbeat => "heartbeat",
                MessageType::MsgHeartbeatResponse => "heartbeat-resp",
                MessageType::MsgReadIndex => "read-index",
                MessageType::MsgReadIndexResp => "read-index-resp",
                _ => "raft",
            },
            Wire::Request { .. } => "request",
            Wire::Reply { .. } => "reply",
            Wire::NotLeader { .. } => "not-leader",
        }
    }
}

fn encode_command(client: u64, seq: u64, op: &Op) -> Vec<u8> {
    let mut out = Vec::new();
    put_u64(&mut out, client);
    put_u64(&mut out, seq);
    match op {
        Op::Get { key } => {
            out.push(0);
            put_str(&mut out, key);
        }
        Op::Put { key, value } => {
            out.push(1);
            put_str(&mut out, key);
            put_u64(&mut out, *value as u64);
        }
        Op::Append { key, value } => {
            out.push(2);
            put_str(&mut out, key);
            put_u64(&mut out, *value as u64);
        }
        Op::Cas { key, expect, new } => {
            out.push(3);
            put_str(&mut out, key);
            out.push(u8::from(expect.is_some()));
            put_u64(&mut out, expect.unwrap_or(0) as u64);
            put_u64(&mut out, *new as u64);
        }
    }
    out
}

fn decode_command(b: &[u8]) -> Option<(u64, u64, Op)> {
    let mut c = Cursor(b);
    let client = c.u64()?;
    let seq = c.u64()?;
    let op = match c.u8()? {
        0 => Op::Get { key: c.string()? },
        1 => Op::Put {
            key: c.string()?,
            value: c.i64()?,
        },
        2 => Op::Append {
            key: c.string()?,
            value: c.i64()?,
        },
        3 => {
            let key = c.string()?;
            let has = c.bool()?;
            let e = c.i64()?;
            Op::Cas {
                key,
                expect: has.then_some(e),
                new: c.i64()?,
            }
        }
        _ => return None,
    };
    Some((client, seq, op))
}

/// The replicated key-value store with one session per client: the last sequence number
/// applied and its outcome, so a retried command is answered, not applied twice.
#[derive(Default)]
struct Kv {
    data: BTreeMap<String, Val>,
    sessions: BTreeMap<u64, (u64, Outcome)>,
}

impl Kv {
    fn read(&self, key: &str) -> Outcome {
        Outcome::Value(self.data.get(key).cloned())
    }

    fn apply(&mut self, client: u64, seq: u64, op: &Op, sessions: bool) -> Outcome {
        if sessions {
            if let Some((last, out)) = self.sessions.get(&client) {
                if seq <= *last {
                    return out.clone();
                }
            }
        }
        let out = match op {
            Op::Get { key } => self.read(key),
            Op::Put { key, value } => {
                self.data.insert(key.clone(), Val::Int(*value));
                Outcome::Written
            }
            Op::Append { key, value } => {
                match self.data.entry(key.clone()).or_insert(Val::List(vec![])) {
                    Val::List(l) => l.push(*value),
                    v => *v = Val::List(vec![*value]),
                }
                Outcome::Written
            }
            Op::Cas { key, expect, new } => {
                let cur = match self.data.get(key) {
                    Some(Val::Int(i)) => Some(*i),
                    _ => None,
                };
                if cur == *expect {
                    self.data.insert(key.clone(), Val::Int(*new));
                    Outcome::Cas(true)
                } else {
                    Outcome::Cas(false)
                }
            }
        };
        self.sessions.insert(client, (seq, out.clone()));
        out
    }
}

/// A read waiting for its ReadState and then for the state machine to reach its index.
struct PendingRead {
    client: usize,
    seq: u64,
    key: String,
    index: Option<u64>,
}

struct Server {
    ctx: NodeCtx,
    node: RawNode<raft::storage::MemStorage>,
    journal: Journal,
    kv: Kv,
    applied: u64,
    bugs: super::Bugs,
    obs: Arc<Mutex<Observer>>,
    /// Writes proposed here, by (client, seq): answered when applied.
    writes: BTreeMap<(u64, u64), usize>,
    reads: BTreeMap<u64, PendingRead>,
    next_read: u64,
    role: (StateRole, u64),
    /// Committed entries handed out by raft-rs and not yet applied, each batch with the
    /// time (on this node's clock) the apply stage finishes it.
    unapplied: VecDeque<(u64, Vec<Entry>)>,
    /// The apply stage's time per entry.
    apply_cost: u64,
    /// The membership changes to ask for, and how many are applied.
    changes: Vec<Change>,
    changes_applied: u64,
    /// Whether the applied configuration is joint.
    joint: bool,
    /// ConfStates applied and not yet in the journal.
    confs_to_write: Vec<ConfRecord>,
    /// Replaying entries the recovered ConfState covers: conf changes are skipped.
    replaying: bool,
}

fn raft_id(node: usize) -> u64 {
    node as u64 + 1
}

fn send_all(ctx: &NodeCtx, msgs: Vec<RaftMessage>) {
    for m in msgs {
        let to = m.to as usize - 1;
        ctx.send(to, Wire::Raft(Box::new(m)));
    }
}

/// Polls a future and turns a panic with a message (raft-rs's `fatal!` and assertions)
/// into `Err(message)`; any other payload (the harness's budget stop) keeps unwinding.
struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => match payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            {
                Some(msg) => Poll::Ready(Err(msg)),
                None => std::panic::resume_unwind(payload),
            },
        }
    }
}

/// Runs server `ctx.id()` until it crashes. A panic inside raft-rs (its own assertions:
/// a commit index beyond the log means the node lost entries it acknowledged) is reported
/// to the `raft-rs-asserts` check and stops this server, not the whole run, so the other
/// checks still judge the run.
pub async fn run_server(
    ctx: NodeCtx,
    servers: usize,
    settings: Settings,
    bugs: super::Bugs,
    obs: Arc<Mutex<Observer>>,
) {
    let me = ctx.id();
    let run = serve(ctx.clone(), servers, settings, bugs, obs.clone());
    if let Err(msg) = CatchPanic(Box::pin(run)).await {
        ctx.note(format!("raft-rs panicked: {msg}"));
        let now = ctx.world().now_ns();
        obs.lock()
            .unwrap_or_else(|e| e.into_inner())
            .raft_panicked(me, &msg, now);
        std::future::pending::<()>().await;
    }
}

async fn serve(
    ctx: NodeCtx,
    servers: usize,
    settings: Settings,
    bugs: super::Bugs,
    obs: Arc<Mutex<Observer>>,
) {
    let me = ctx.id();
    let voters: Vec<u64> = settings
        .initial_voters(servers)
        .into_iter()
        .map(raft_id)
        .collect();
    let (journal, rec) = match Journal::open(ctx.disk(), voters.clone()).await {
        Ok(x) => x,
        Err(e) => {
            ctx.note(format!("refusing to run: I/O error during recovery: {e}"));
            return std::future::pending().await;
        }
    };
    if rec.cut > 0 {
        ctx.note(format!("recovery cut a torn tail of {} bytes", rec.cut));
    }
    ctx.note(format!(
        "recovered term {} vote {} commit {} and {} entries",
        rec.hard_state.term, rec.hard_state.vote, rec.hard_state.commit, rec.entries
    ));
    obs.lock().unwrap().recovered(
        me,
        rec.hard_state.commit,
        rec.log.clone(),
        ctx.world().now_ns(),
    );
    // Election timeouts: raft-rs draws them from `rand::thread_rng`, which is seeded once
    // per OS thread and so carries over between runs on one thread. The host draws the
    // timeout from the node's own seeded stream instead (a fresh one per incarnation) and
    // gives raft-rs a one-value range, so its draw cannot change anything.
    let election = ctx
        .rng()
        .gen_range(settings.election_ticks..settings.election_ticks * 2);
    let config = Config {
        id: raft_id(me),
        election_tick: settings.election_ticks,
        heartbeat_tick: settings.heartbeat_ticks,
        min_election_tick: election,
        max_election_tick: election + 1,
        check_quorum: settings.check_quorum || settings.lease_reads,
        pre_vote: settings.pre_vote,
        read_only_option: if settings.lease_reads {
            ReadOnlyOption::LeaseBased
        } else {
            ReadOnlyOption::Safe
        },
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        applied: rec.conf.as_ref().map_or(0, |c| c.index),
        ..Default::default()
    };
    let (conf, changes_applied) = match &rec.conf {
        Some(c) => (c.conf.clone(), c.changes),
        None => (ConfState::from((voters, vec![])), 0),
    };
    obs.lock()
        .unwrap()
        .config(me, &conf.voters, &conf.voters_outgoing, changes_applied);
    let replay = rec.replay;
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let mut node = match RawNode::new(&config, rec.storage, &logger) {
        Ok(n) => n,
        Err(e) => {
            ctx.note(format!("refusing to run: raft-rs rejected the config: {e}"));
            return std::future::pending().await;
        }
    };
    if bugs.has(Bug::LeaseWithoutCheckQuorum) {
        // raft-rs validates the pairing only in `RawNode::new`; the field stays writable.
        node.raft.check_quorum = false;
    }
    let mut s = Server {
        ctx: ctx.clone(),
        node,
        journal,
        kv: Kv::default(),
        applied: 0,
        bugs,
        obs,
        writes: BTreeMap::new(),
        reads: BTreeMap::new(),
        next_read: 0,
        role: (StateRole::Follower, 0),
        unapplied: VecDeque::new(),
        apply_cost: settings.apply_cost.0,
        changes: settings.membership.clone(),
        changes_applied,
        joint: !conf.voters_outgoing.is_empty(),
        confs_to_write: Vec::new(),
        replaying: false,
    };
    // raft-rs starts at the ConfState's index: the state machine catches up to it here
    // (the conf changes up to it are in that ConfState already).
    s.replaying = true;
    s.apply(replay);
    s.replaying = false;
    let tick = settings.tick.0.max(1);
    let mut next_tick = ctx.monotonic() + tick;
    loop {
        let now = ctx.monotonic();
        let wake = s
            .unapplied
            .front()
            .map_or(next_tick, |b| b.0.min(next_tick));
        if now >= next_tick {
            s.node.tick();
            next_tick = now + tick;
        } else if wake <= now {
            // An apply batch is due: `on_ready` applies it.
        } else if let Some(m) = ctx.recv_timeout(Nanos(wake - now)).await {
            let from = m.from;
            match m.take::<Wire>() {
                Some(Wire::Raft(msg)) => {
                    let _ = s.node.step(*msg);
                }
                Some(Wire::Request { seq, op }) => s.request(from, seq, op),
                _ => {}
            }
        }
        if s.on_ready().await.is_err() {
            ctx.note("refusing to run: persisting failed");
            return std::future::pending().await;
        }
    }
}

impl Server {
    fn request(&mut self, from: usize, seq: u64, op: Op) {
        let leader = self.node.raft.leader_id;
        if self.node.raft.state != StateRole::Leader {
            let hint = (leader != 0).then(|| leader as usize - 1);
            self.ctx.send(from, Wire::NotLeader { seq, hint });
            return;
        }
        match op {
            Op::Get { key } => {
                self.next_read += 1;
                let id = self.next_read;
                self.reads.insert(
                    id,
                    PendingRead {
                        client: from,
                        seq,
                        key,
                        index: None,
                    },
                );
                self.node.read_index(id.to_le_bytes().to_vec());
            }
            op => {
                let cmd = encode_command(from as u64, seq, &op);
                if self.node.propose(vec![], cmd).is_ok() {
                    self.writes.insert((from as u64, seq), from);
                } else {
                    self.ctx.send(from, Wire::NotLeader { seq, hint: None });
                }
            }
        }
    }

    async fn persist(
        &mut self,
        entries: &[Entry],
        hs: Option<&raft::eraftpb::HardState>,
    ) -> std::io::Result<()> {
        let hs = if self.bugs.has(Bug::ForgetHardState) {
            None
        } else {
            hs
        };
        if entries.is_empty() && hs.is_none() {
            return Ok(());
        }
        self.journal.write(entries, hs).await?;
        self.journal.sync().await
    }

    async fn on_ready(&mut self) -> std::io::Result<()> {
        self.observe_role();
        if self.node.has_ready() {
            self.handle_ready().await?;
        }
        self.apply_due();
        if !self.confs_to_write.is_empty() {
            for c in std::mem::take(&mut self.confs_to_write) {
                self.journal.write_conf(&c).await?;
            }
            self.journal.sync().await?;
        }
        self.drive_membership();
        self.observe_role();
        Ok(())
    }

    async fn handle_ready(&mut self) -> std::io::Result<()> {
        let mut rd = self.node.ready();
        send_all(&self.ctx, rd.take_messages());
        if !rd.snapshot().is_empty() {
            let snap = rd.snapshot().clone();
            let _ = self.node.mut_store().wl().apply_snapshot(snap);
        }
        for rs in rd.take_read_states() {
            let id = u64::from_le_bytes(rs.request_ctx.as_slice().try_into().unwrap_or([0; 8]));
            if let Some(r) = self.reads.get_mut(&id) {
                r.index = Some(rs.index);
            }
        }
        let early = self.bugs.has(Bug::PersistedBeforeFsync);
        if early {
            send_all(&self.ctx, rd.take_persisted_messages());
        }
        let entries = rd.take_entries();
        let hs = rd.hs().cloned();
        if let Some(first) = entries.first() {
            self.node
                .mut_store()
                .wl()
                .append(&entries)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let log = entries.iter().map(|e| LogEntry {
                term: e.term,
                sum: crate::codec::checksum(&e.data),
            });
            self.obs
                .lock()
                .unwrap()
                .appended(self.ctx.id(), first.index, log);
        }
        if let Some(h) = &hs {
            self.node.mut_store().wl().set_hardstate(h.clone());
        }
        let mut hs_to_write = hs.clone();
        if self.bugs.has(Bug::LoseCommit) {
            // Persist term and vote but keep the commit index as it was on disk.
            if let Some(h) = &mut hs_to_write {
                h.commit = 0;
            }
        }
        self.persist(&entries, hs_to_write.as_ref()).await?;
        if !early {
            send_all(&self.ctx, rd.take_persisted_messages());
        }
        let committed = rd.take_committed_entries();
        self.queue_apply(committed);
        let mut light = self.node.advance_append(rd);
        if let Some(commit) = light.commit_index() {
            let mut h = self.node.store().rl().hard_state().clone();
            h.commit = commit;
            self.node.mut_store().wl().set_hardstate(h.clone());
            if !self.bugs.has(Bug::LoseCommit) {
                self.persist(&[], Some(&h)).await?;
            }
        }
        send_all(&self.ctx, light.take_messages());
        self.queue_apply(light.take_committed_entries());
        Ok(())
    }

    /// Hands committed entries to the apply stage, a worker behind the Ready loop (as in
    /// TiKV) that applies entries in order at `apply_cost` each: a batch is done when the
    /// batches before it are and its own entries took their time. A restarted node replays
    /// its whole log through it.
    fn queue_apply(&mut self, entries: Vec<Entry>) {
        if !entries.is_empty() {
            let start = self
                .unapplied
                .back()
                .map_or(0, |b| b.0)
                .max(self.ctx.monotonic());
            let due = start + self.apply_cost * entries.len() as u64;
            self.unapplied.push_back((due, entries));
        }
    }

    /// Applies the batches that are due, tells raft-rs how far the state machine got, and
    /// answers the reads that waited for it.
    fn apply_due(&mut self) {
        let now = self.ctx.monotonic();
        let before = self.applied;
        while self.unapplied.front().is_some_and(|b| b.0 <= now) {
            let (_, entries) = self.unapplied.pop_front().expect("checked");
            self.apply(entries);
        }
        if self.applied > before {
            self.node.advance_apply_to(self.applied);
        }
        self.answer_reads();
    }

    fn observe_role(&mut self) {
        let role = (self.node.raft.state, self.node.raft.term);
        if role != self.role {
            self.role = role;
            let me = self.ctx.id();
            let leader = role.0 == StateRole::Leader;
            if leader {
                self.ctx.note(format!("became leader of term {}", role.1));
            } else {
                // Pending requests will not be answered here: their clients retry.
                self.writes.clear();
                self.reads.clear();
            }
            let now = self.ctx.world().now_ns();
            self.obs.lock().unwrap().role(me, role.1, leader, now);
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        let me = self.ctx.id();
        let sessions = !self.bugs.has(Bug::NoSession);
        let observer = self.obs.clone();
        let mut obs = observer.lock().unwrap();
        for e in entries {
            obs.applied(me, e.index, e.term, &e.data);
            self.applied = e.index;
            if e.get_entry_type() == EntryType::EntryConfChangeV2 {
                if !self.replaying || self.bugs.has(Bug::ReapplyConfChanges) {
                    self.apply_conf_change(&e, &mut obs);
                }
                continue;
            }
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue;
            }
            let Some((client, seq, op)) = decode_command(&e.data) else {
                continue;
            };
            let out = self.kv.apply(client, seq, &op, sessions);
            if let Some(to) = self.writes.remove(&(client, seq)) {
                self.ctx.send(to, Wire::Reply { seq, outcome: out });
            }
        }
    }

    /// Applies a committed `ConfChangeV2`: a numbered change (its number in the context)
    /// once, in order; an empty one leaves the joint configuration. A change raft-rs
    /// refuses, or one applied already, is rejected (not passed to raft-rs), the same way
    /// on every node since it depends only on the log.
    fn apply_conf_change(&mut self, e: &Entry, obs: &mut Observer) {
        let number = <[u8; 8]>::try_from(e.context.as_ref())
            .ok()
            .map(u64::from_le_bytes);
        let cc = match number {
            Some(k) if k == self.changes_applied + 1 && k as usize <= self.changes.len() => {
                conf_change(&self.changes[k as usize - 1])
            }
            Some(_) => return,
            None => ConfChangeV2::default(),
        };
        let cs = match self.node.apply_conf_change(&cc) {
            Ok(cs) => cs,
            Err(err) => {
                self.ctx
                    .note(format!("rejected the conf change at {}: {err}", e.index));
                return;
            }
        };
        if let Some(k) = number {
            self.changes_applied = k;
        }
        self.joint = !cs.voters_outgoing.is_empty();
        self.ctx.note(format!(
            "applied conf change at {}: voters {:?}{}",
            e.index,
            cs.voters,
            if self.joint {
                format!(" joint with {:?}", cs.voters_outgoing)
            } else {
                String::new()
            }
        ));
        let me = self.ctx.id();
        obs.config(me, &cs.voters, &cs.voters_outgoing, self.changes_applied);
        let leader = self.node.raft.state == StateRole::Leader;
        if leader
            && !cs.voters.contains(&raft_id(me))
            && !cs.voters_outgoing.contains(&raft_id(me))
            && !self.bugs.has(Bug::RemovedLeaderLeads)
        {
            // raft-rs 0.7 keeps a leader that applied its own removal leading (an untested
            // branch of `post_conf_change`), and its next commit unwraps its own missing
            // progress and panics: step down, as raft-rs's TODO there suggests.
            let term = self.node.raft.term;
            self.node.raft.become_follower(term, raft::INVALID_ID);
        }
        self.confs_to_write.push(ConfRecord {
            index: e.index,
            changes: self.changes_applied,
            conf: cs,
        });
    }

    /// The leader asks for the next membership change once its time has come, or leaves a
    /// joint configuration a previous leader did not leave; one conf change at a time.
    fn drive_membership(&mut self) {
        let r = &self.node.raft;
        if r.state != StateRole::Leader || r.pending_conf_index > r.raft_log.applied {
            return;
        }
        if self.joint {
            let _ = self
                .node
                .propose_conf_change(vec![], ConfChangeV2::default());
            return;
        }
        let k = self.changes_applied as usize;
        let Some(c) = self.changes.get(k) else {
            return;
        };
        if self.ctx.world().now_ns() >= c.at.0 {
            let cc = conf_change(c);
            let _ = self
                .node
                .propose_conf_change((k as u64 + 1).to_le_bytes().to_vec(), cc);
        }
    }

    fn answer_reads(&mut self) {
        let early = self.bugs.has(Bug::ReadBeforeApply);
        let applied = self.applied;
        let ready: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.index.is_some_and(|i| early || i <= applied))
            .map(|(&id, _)| id)
            .collect();
        for id in ready {
            let r = self.reads.remove(&id).expect("listed");
            let outcome = self.kv.read(&r.key);
            self.ctx.send(
                r.client,
                Wire::Reply {
                    seq: r.seq,
                    outcome,
                },
            );
        }
    }
}

/// The next operation: like the bundled Raft's clients, reads, puts, compare-and-sets on
/// three registers and appends to four lists, with values unique per client and sequence.
fn next_op(rng: &mut impl Rng, client: usize, seq: u64, read_percent: u32) -> Op {
    let unique = client as i64 * 1_000_000 + seq as i64;
    let (r, l) = (rng.gen_range(0..3i32), rng.gen_range(0..4i32));
    let reg = format!("r{r}");
    let list = format!("l{l}");
    if rng.gen_range(0..100) < read_percent {
        let key = if rng.gen_range(0..100) < 70 {
            reg
        } else {
            list
        };
        return Op::Get { key };
    }
    match rng.gen_range(0..100) {
        0..=39 => Op::Put {
            key: reg,
            value: unique,
        },
        40..=64 => {
            let expect = if rng.gen_bool(0.2) {
                None
            } else {
                Some(client as i64 * 1_000_000 + rng.gen_range(1..=seq as i64))
            };
            Op::Cas {
                key: reg,
                expect,
                new: unique,
            }
        }
        _ => Op::Append {
            key: list,
            value: unique,
        },
    }
}

fn fields(op: &Op) -> (&'static str, checkers::Value) {
    use checkers::Value;
    match op {
        Op::Get { .. } => ("get", Value::Nil),
        Op::Put { value, .. } => ("put", Value::Int(*value)),
        Op::Append { value, .. } => ("append", Value::Int(*value)),
        Op::Cas { expect, new, .. } => (
            "cas",
            Value::List(vec![
                expect.map_or(Value::Nil, Value::Int),
                Value::Int(*new),
            ]),
        ),
    }
}

/// Runs one client forever: one operation at a time, retried with the same sequence
/// number (so the session applies it once), recorded through the harness's recorder.
pub async fn run_client(
    ctx: NodeCtx,
    servers: usize,
    settings: Settings,
    rec: ClientRecorder,
    obs: Arc<Mutex<Observer>>,
) {
    use checkers::Value;
    let mut rng = ctx.rng();
    let me = ctx.id();
    let mut target = rng.gen_range(0..servers);
    let mut seq = 0u64;
    loop {
        if settings.think.0 > 0 {
            ctx.sleep(Nanos(rng.gen_range(0..=settings.think.0))).await;
        }
        seq += 1;
        let op = next_op(&mut rng, me, seq, settings.read_percent);
        let (f, input) = fields(&op);
        let key = Some(Value::Str(op.key().to_string()));
        rec.invoke(f, key.clone(), input.clone());
        let mut outcome = None;
        for _ in 0..settings.attempts {
            ctx.send(
                target,
                Wire::Request {
                    seq,
                    op: op.clone(),
                },
            );
            let reply = ctx
                .recv_matching(settings.client_timeout, |m| match m.get::<Wire>() {
                    Some(w @ Wire::Reply { seq: s, .. })
                    | Some(w @ Wire::NotLeader { seq: s, .. })
                        if *s == seq =>
                    {
                        Some(w.clone())
                    }
                    _ => None,
                })
                .await;
            match reply {
                Some(Wire::Reply { outcome: o, .. }) => {
                    outcome = Some(o);
                    break;
                }
                Some(Wire::NotLeader { hint, .. }) => {
                    target = hint
                        .filter(|&h| h < servers)
                        .unwrap_or_else(|| rng.gen_range(0..servers));
                    ctx.sleep(Nanos::from_millis(10)).await;
                }
                _ => target = (target + 1) % servers,
            }
        }
        // A CAS refused on its compare was decided by the committed state: the client was
        // served as much as by one that applied.
        if outcome.is_some() {
            obs.lock()
                .unwrap()
                .client_answered(me, ctx.world().now_ns());
        }
        match outcome {
            None => rec.info(f, key, input),
            Some(Outcome::Value(v)) => rec.ok(
                f,
                key,
                match v {
                    None => Value::Nil,
                    Some(Val::Int(i)) => Value::Int(i),
                    Some(Val::List(l)) => Value::List(l.into_iter().map(Value::Int).collect()),
                },
            ),
            Some(Outcome::Written) | Some(Outcome::Cas(true)) => {
                if !matches!(op, Op::Get { .. }) {
                    obs.lock().unwrap().write_ok(ctx.world().now_ns());
                }
                rec.ok(f, key, input)
            }
            Some(Outcome::Cas(false)) => rec.fail(f, key, input),
        }
    }
}
