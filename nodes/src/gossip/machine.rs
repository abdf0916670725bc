//! A gossip server as a pure state machine: SWIM membership (a probe per period, indirect
//! probes through k peers, suspicion with incarnation numbers that a live node refutes,
//! updates piggybacked on pings and acks) and a key-value replica kept in step by
//! push-pull anti-entropy with a random peer each round. Client writes are taken here,
//! sent to `copies - 1` peers, and acknowledged once they hold them (each host persists
//! its replica before it sends anything, so "hold" means "on disk").
//!
//! Time comes in as the node's monotonic clock (timers) and wall clock (only the lww bug
//! looks at it); every random choice draws from the rng it is given. Not modelled:
//! SWIM's Lifeguard extensions (awareness, dynamic suspicion), joining by address (the
//! servers are known up front), digests instead of full state in push-pull.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim::Nanos;

use super::bugs::{Bug, Bugs};
use super::msg::{ClientOp, ClientResult, GossipMsg, MemberState, Update};
use super::persist::Snapshot;
use super::store::{actor, Actor, Store, Version, Vv, WriteId};

/// Protocol settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipConfig {
    /// SWIM protocol period: one probe each.
    pub period: Nanos,
    /// How long a direct ping waits before indirect probes go out.
    pub ping_timeout: Nanos,
    /// Peers asked to probe indirectly.
    pub indirect: usize,
    /// How long a suspect has to refute before it is declared dead.
    pub suspicion: Nanos,
    /// One anti-entropy round: a push-pull with one random peer.
    pub gossip_interval: Nanos,
    /// Replicas (the coordinator included) that hold a write before it is acknowledged.
    pub copies: usize,
    /// How long a coordinator waits for replicas before answering "unsure".
    pub replicate_timeout: Nanos,
    /// Membership updates piggybacked on one message.
    pub piggyback: usize,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            period: Nanos::from_millis(100),
            ping_timeout: Nanos::from_millis(40),
            indirect: 3,
            suspicion: Nanos::from_millis(500),
            gossip_interval: Nanos::from_millis(100),
            copies: 3,
            replicate_timeout: Nanos::from_millis(150),
            piggyback: 6,
        }
    }
}

/// What the host reports to the observer and the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A client write taken here (its trace note carries the write's vector clock).
    Wrote {
        id: WriteId,
        key: String,
        vv: Vv,
        /// `None`: a delete.
        value: Option<i64>,
        superseded: Vec<WriteId>,
    },
    Suspected {
        node: usize,
        incarnation: u64,
    },
    DeclaredDead {
        node: usize,
        incarnation: u64,
    },
    Refuted {
        incarnation: u64,
    },
    /// The coordinator told the client that write `id` is on enough replicas.
    Acked {
        id: WriteId,
    },
}

/// Output of one step.
#[derive(Debug, Default)]
pub struct Ready {
    pub messages: Vec<(usize, GossipMsg)>,
    pub observations: Vec<Observation>,
    pub store_changed: bool,
    pub members_changed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub state: MemberState,
    pub incarnation: u64,
    /// When a suspect is declared dead (monotonic ns).
    pub suspect_until: u64,
}

struct Probe {
    target: usize,
    seq: u64,
    started: u64,
    indirect_sent: bool,
    acked: bool,
}

struct Pending {
    client: usize,
    seq: u64,
    id: WriteId,
    /// Replicas whose ack is still awaited: a duplicated ack from one replica must not
    /// count as a second copy.
    waiting: BTreeSet<usize>,
    /// Acks counted so far (what the count-duplicate-acks bug goes by).
    acks: usize,
    /// The live values the write replaced at this coordinator, told to the client.
    superseded: Vec<i64>,
    need: usize,
    deadline: u64,
}

pub struct GossipMachine {
    /// Ignores clients (only with the bug `deaf-after-restart`, after a restart).
    deaf: bool,
    me: usize,
    servers: usize,
    actor: Actor,
    config: GossipConfig,
    bugs: Bugs,
    rng: ChaCha8Rng,
    incarnation: u64,
    members: BTreeMap<usize, Member>,
    /// Updates still to piggyback, with retransmissions left.
    broadcast: BTreeMap<usize, (Update, u32)>,
    retransmit: u32,
    store: Store,
    next_seq: u64,
    probe: Option<Probe>,
    probe_order: Vec<usize>,
    next_period: u64,
    next_gossip: u64,
    /// Indirect probes run for others: our seq -> (origin, origin's seq, expiry).
    forwards: BTreeMap<u64, (usize, u64, u64)>,
    pending: BTreeMap<u64, Pending>,
    /// Client writes taken in this life: the network may deliver a request twice, and
    /// taking it again would revive a write that a later one superseded.
    taken: BTreeSet<WriteId>,
    ready: Ready,
}

impl GossipMachine {
    /// A server in life `life`, resuming from `restored` (what its disk kept) or empty.
    /// Either way it writes as a new actor: a snapshot may be older than the dots its
    /// last life handed out, and a dot must never be reused.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: usize,
        servers: usize,
        life: u64,
        restored: Option<Snapshot>,
        config: GossipConfig,
        bugs: Bugs,
        mut rng: ChaCha8Rng,
        now: u64,
    ) -> Self {
        let Snapshot { incarnation, store } = restored.unwrap_or_default();
        assert!(me < servers);
        let members = (0..servers)
            .filter(|&m| m != me)
            .map(|m| {
                let member = Member {
                    state: MemberState::Alive,
                    incarnation: 0,
                    suspect_until: 0,
                };
                (m, member)
            })
            .collect();
        let log_n = usize::BITS - servers.leading_zeros();
        // Spread the first rounds so servers do not gossip in lockstep.
        let first = rng.gen_range(0..config.period.0.max(1));
        let mut m = GossipMachine {
            me,
            servers,
            actor: actor(me, life),
            config,
            bugs,
            rng,
            incarnation,
            members,
            broadcast: BTreeMap::new(),
            retransmit: 3 * log_n.max(1),
            store,
            next_seq: 1,
            probe: None,
            probe_order: Vec::new(),
            next_period: now + first,
            next_gossip: now + first / 2,
            forwards: BTreeMap::new(),
            pending: BTreeMap::new(),
            taken: BTreeSet::new(),
            ready: Ready::default(),
            deaf: false,
        };
        if life > 0 && m.bugs.has(Bug::DeafAfterRestart) {
            m.deaf = true;
        }
        if life > 0 {
            // Rejoin at once: a push-pull tells us what others think of us, which we refute.
            let peer = m.random_peer();
            m.push_pull(peer);
        }
        m
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the host writes to disk.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            incarnation: self.incarnation,
            store: self.store.clone(),
        }
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn members(&self) -> &BTreeMap<usize, Member> {
        &self.members
    }

    pub fn take_ready(&mut self) -> Ready {
        std::mem::take(&mut self.ready)
    }

    /// The earliest monotonic time at which `tick` has work.
    pub fn next_deadline(&self) -> u64 {
        let mut d = self.next_period.min(self.next_gossip);
        if let Some(p) = &self.probe {
            if !p.acked && !p.indirect_sent {
                d = d.min(p.started + self.config.ping_timeout.0);
            }
        }
        for m in self.members.values() {
            if m.state == MemberState::Suspect && !self.bugs.has(Bug::SuspectNeverDead) {
                d = d.min(m.suspect_until);
            }
        }
        for p in self.pending.values() {
            d = d.min(p.deadline);
        }
        d
    }

    pub fn tick(&mut self, now: u64) {
        // Suspects that did not refute in time are dead.
        let expired: Vec<usize> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.state == MemberState::Suspect
                    && m.suspect_until <= now
                    && !self.bugs.has(Bug::SuspectNeverDead)
            })
            .map(|(&n, _)| n)
            .collect();
        for n in expired {
            let inc = self.members[&n].incarnation;
            self.set_member(n, MemberState::Dead, inc, now);
            self.ready.observations.push(Observation::DeclaredDead {
                node: n,
                incarnation: inc,
            });
        }
        if let Some(p) = &mut self.probe {
            if !p.acked && !p.indirect_sent && now >= p.started + self.config.ping_timeout.0 {
                p.indirect_sent = true;
                let (target, seq) = (p.target, p.seq);
                let mut helpers: Vec<usize> = self
                    .members
                    .iter()
                    .filter(|(&n, m)| n != target && m.state != MemberState::Dead)
                    .map(|(&n, _)| n)
                    .collect();
                helpers.shuffle(&mut self.rng);
                helpers.truncate(self.config.indirect);
                for h in helpers {
                    let updates = self.piggyback();
                    self.send(
                        h,
                        GossipMsg::PingReq {
                            seq,
                            target,
                            updates,
                        },
                    );
                }
            }
        }
        if now >= self.next_period {
            self.next_period = now + self.config.period.0;
            self.end_probe(now);
            self.start_probe(now);
            self.forwards.retain(|_, f| f.2 > now);
        }
        if now >= self.next_gossip {
            self.next_gossip = now + self.config.gossip_interval.0;
            let peer = self.random_peer();
            self.push_pull(peer);
        }
        let late: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&r, _)| r)
            .collect();
        for rid in late {
            let p = self.pending.remove(&rid).expect("listed above");
            self.send(
                p.client,
                GossipMsg::Reply {
                    seq: p.seq,
                    result: ClientResult::Unsure {
                        superseded: p.superseded,
                    },
                },
            );
        }
    }

    /// Any other server, dead or alive: anti-entropy with the "dead" is what heals a
    /// partition in which both sides declared the other dead.
    fn random_peer(&mut self) -> usize {
        let others: Vec<usize> = (0..self.servers).filter(|&n| n != self.me).collect();
        *others.choose(&mut self.rng).expect("at least 2 servers")
    }

    fn push_pull(&mut self, peer: usize) {
        let msg = GossipMsg::PushPull {
            members: self.member_table(),
            store: self.store.clone(),
            reply: true,
        };
        self.send(peer, msg);
    }

    fn member_table(&self) -> Vec<Update> {
        let mut v: Vec<Update> = self
            .members
            .iter()
            .map(|(&node, m)| Update {
                node,
                state: m.state,
                incarnation: m.incarnation,
            })
            .collect();
        v.push(Update {
            node: self.me,
            state: MemberState::Alive,
            incarnation: self.incarnation,
        });
        v
    }

    fn end_probe(&mut self, now: u64) {
        let Some(p) = self.probe.take() else { return };
        if p.acked {
            return;
        }
        let Some(m) = self.members.get(&p.target).copied() else {
            return;
        };
        if m.state == MemberState::Alive {
            self.set_member(p.target, MemberState::Suspect, m.incarnation, now);
            self.ready.observations.push(Observation::Suspected {
                node: p.target,
                incarnation: m.incarnation,
            });
        }
    }

    fn start_probe(&mut self, now: u64) {
        // SWIM's round robin over a shuffled list bounds the time to first detection.
        let target = loop {
            if self.probe_order.is_empty() {
                let mut order: Vec<usize> = self.members.keys().copied().collect();
                order.shuffle(&mut self.rng);
                self.probe_order = order;
            }
            let candidate = self.probe_order.pop().expect("refilled above");
            if self.members[&candidate].state != MemberState::Dead {
                break Some(candidate);
            }
            if self.members.values().all(|m| m.state == MemberState::Dead) {
                break None;
            }
        };
        let Some(target) = target else { return };
        let seq = self.fresh_seq();
        self.probe = Some(Probe {
            target,
            seq,
            started: now,
            indirect_sent: false,
            acked: false,
        });
        let updates = self.piggyback();
        self.send(target, GossipMsg::Ping { seq, updates });
    }

    fn fresh_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn send(&mut self, to: usize, msg: GossipMsg) {
        self.ready.messages.push((to, msg));
    }

    /// The updates with the most retransmissions left, each counted down.
    fn piggyback(&mut self) -> Vec<Update> {
        let mut order: Vec<(u32, usize)> = self
            .broadcast
            .iter()
            .map(|(&n, (_, left))| (*left, n))
            .collect();
        order.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        for (_, n) in order.into_iter().take(self.config.piggyback) {
            let e = self.broadcast.get_mut(&n).expect("listed above");
            out.push(e.0);
            e.1 -= 1;
            if e.1 == 0 {
                self.broadcast.remove(&n);
            }
        }
        out
    }

    fn enqueue(&mut self, u: Update) {
        self.broadcast.insert(u.node, (u, self.retransmit));
    }

    fn set_member(&mut self, node: usize, state: MemberState, incarnation: u64, now: u64) {
        let m = self.members.get_mut(&node).expect("a known server");
        m.state = state;
        m.incarnation = incarnation;
        if state == MemberState::Suspect {
            m.suspect_until = now + self.config.suspicion.0;
        }
        self.ready.members_changed = true;
        self.enqueue(Update {
            node,
            state,
            incarnation,
        });
    }

    /// SWIM's precedence rules, and refutation of rumours about ourselves.
    fn apply_update(&mut self, u: Update, now: u64) {
        if u.node >= self.servers {
            return;
        }
        if u.node == self.me {
            if u.state != MemberState::Alive && u.incarnation >= self.incarnation {
                if self.bugs.has(Bug::NoRefute) {
                    return;
                }
                self.incarnation = u.incarnation + 1;
                self.ready.observations.push(Observation::Refuted {
                    incarnation: self.incarnation,
                });
                self.ready.members_changed = true;
                self.enqueue(Update {
                    node: self.me,
                    state: MemberState::Alive,
                    incarnation: self.incarnation,
                });
            } else if u.state == MemberState::Alive && u.incarnation > self.incarnation {
                // A previous life of ours announced a higher incarnation: outbid it.
                if !self.bugs.has(Bug::NoRefute) {
                    self.incarnation = u.incarnation + 1;
                    self.ready.members_changed = true;
                    self.enqueue(Update {
                        node: self.me,
                        state: MemberState::Alive,
                        incarnation: self.incarnation,
                    });
                }
            }
            return;
        }
        let m = self.members[&u.node];
        let accept = match u.state {
            MemberState::Alive if self.bugs.has(Bug::DeadIsFinal) => {
                u.incarnation > m.incarnation && m.state != MemberState::Dead
            }
            MemberState::Alive => u.incarnation > m.incarnation,
            MemberState::Suspect => match m.state {
                MemberState::Alive => u.incarnation >= m.incarnation,
                _ => u.incarnation > m.incarnation,
            },
            MemberState::Dead => match m.state {
                MemberState::Dead => u.incarnation > m.incarnation,
                _ => u.incarnation >= m.incarnation,
            },
        };
        if accept {
            self.set_member(u.node, u.state, u.incarnation, now);
            match u.state {
                MemberState::Suspect => self.ready.observations.push(Observation::Suspected {
                    node: u.node,
                    incarnation: u.incarnation,
                }),
                MemberState::Dead if m.state != MemberState::Dead => {
                    self.ready.observations.push(Observation::DeclaredDead {
                        node: u.node,
                        incarnation: u.incarnation,
                    })
                }
                _ => {}
            }
        }
    }

    fn apply_updates(&mut self, updates: &[Update], now: u64) {
        for &u in updates {
            self.apply_update(u, now);
        }
    }

    /// A message from `from`. `wall` is this node's wall clock (for the lww bug).
    pub fn step(&mut self, now: u64, wall: i64, from: usize, msg: GossipMsg) {
        match msg {
            GossipMsg::Ping { seq, updates } => {
                self.apply_updates(&updates, now);
                let updates = self.piggyback();
                self.send(from, GossipMsg::Ack { seq, updates });
            }
            GossipMsg::Ack { seq, updates } => {
                self.apply_updates(&updates, now);
                if let Some(p) = &mut self.probe {
                    if p.seq == seq {
                        p.acked = true;
                    }
                }
                if let Some((origin, oseq, _)) = self.forwards.remove(&seq) {
                    let updates = self.piggyback();
                    self.send(origin, GossipMsg::Ack { seq: oseq, updates });
                }
            }
            GossipMsg::PingReq {
                seq,
                target,
                updates,
            } => {
                self.apply_updates(&updates, now);
                if target < self.servers && target != self.me {
                    let ours = self.fresh_seq();
                    let expiry = now + self.config.period.0;
                    self.forwards.insert(ours, (from, seq, expiry));
                    let updates = self.piggyback();
                    self.send(target, GossipMsg::Ping { seq: ours, updates });
                }
            }
            GossipMsg::PushPull {
                members,
                store,
                reply,
            } => {
                self.apply_updates(&members, now);
                if self.store.merge_all(&store, &self.bugs) {
                    self.ready.store_changed = true;
                }
                if reply {
                    let msg = GossipMsg::PushPull {
                        members: self.member_table(),
                        store: self.store.clone(),
                        reply: false,
                    };
                    self.send(from, msg);
                }
            }
            GossipMsg::Replicate { rid, key, versions } => {
                if self.store.merge_key(&key, &versions, &self.bugs) {
                    self.ready.store_changed = true;
                }
                self.send(from, GossipMsg::ReplicateAck { rid });
            }
            GossipMsg::ReplicateAck { rid } => {
                let count_all = self.bugs.has(Bug::CountDuplicateAcks);
                if let Some(p) = self.pending.get_mut(&rid) {
                    if p.waiting.remove(&from) || count_all {
                        p.acks += 1;
                    }
                    if p.acks >= p.need {
                        let p = self.pending.remove(&rid).expect("just seen");
                        self.ready
                            .observations
                            .push(Observation::Acked { id: p.id });
                        self.send(
                            p.client,
                            GossipMsg::Reply {
                                seq: p.seq,
                                result: ClientResult::Written {
                                    superseded: p.superseded,
                                },
                            },
                        );
                    }
                }
            }
            GossipMsg::Request { .. } if self.deaf => {}
            GossipMsg::Request { seq, op } => self.client_op(now, wall, from, seq, op),
            GossipMsg::Reply { .. } => {}
        }
    }

    fn client_op(&mut self, now: u64, wall: i64, client: usize, seq: u64, op: ClientOp) {
        let (key, id, value) = match op {
            ClientOp::Get { key } => {
                let values = self.store.read(&key);
                let result = ClientResult::Values(values);
                self.send(client, GossipMsg::Reply { seq, result });
                return;
            }
            ClientOp::Put { key, id, value } => (key, id, Some(value)),
            ClientOp::Delete { key, id } => (key, id, None),
        };
        if !self.taken.insert(id) || self.store.holds(&key, id) {
            return; // a duplicate; the first copy's reply answers the client
        }
        // The values this write replaces: its siblings here (tombstones have none).
        let replaced = self.store.read(&key);
        let (version, superseded) = self
            .store
            .write(self.actor, &key, id, value, wall, &self.bugs);
        self.ready.store_changed = true;
        self.ready.observations.push(Observation::Wrote {
            id,
            key: key.clone(),
            vv: version.vv.clone(),
            value,
            superseded,
        });
        // Hand the replicas what we now hold for the key (with the lww bug the new
        // version may already have lost), so they converge on our view.
        let versions: Vec<Version> = self.store.keys.get(&key).cloned().unwrap_or_default();
        let mut peers: Vec<usize> = self
            .members
            .iter()
            .filter(|(_, m)| m.state != MemberState::Dead)
            .map(|(&n, _)| n)
            .collect();
        peers.shuffle(&mut self.rng);
        let want = self.config.copies.saturating_sub(1).min(self.servers - 1);
        peers.truncate(want);
        if want == 0 {
            self.ready.observations.push(Observation::Acked { id });
            self.send(
                client,
                GossipMsg::Reply {
                    seq,
                    result: ClientResult::Written {
                        superseded: replaced,
                    },
                },
            );
            return;
        }
        let rid = self.fresh_seq();
        for &p in &peers {
            let msg = GossipMsg::Replicate {
                rid,
                key: key.clone(),
                versions: versions.clone(),
            };
            self.send(p, msg);
        }
        // Too few peers believed alive: the write cannot reach `copies` and times out.
        self.pending.insert(
            rid,
            Pending {
                client,
                seq,
                id,
                waiting: peers.iter().copied().collect(),
                acks: 0,
                superseded: replaced,
                need: want,
                deadline: now + self.config.replicate_timeout.0,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cluster(n: usize, bugs: &Bugs) -> Vec<GossipMachine> {
        (0..n)
            .map(|i| {
                let rng = ChaCha8Rng::seed_from_u64(i as u64);
                GossipMachine::new(i, n, 0, None, GossipConfig::default(), bugs.clone(), rng, 0)
            })
            .collect()
    }

    /// Delivers every message at once, forever reachable unless `down` says otherwise,
    /// ticking every ms until `until`.
    fn run(ms: &mut [GossipMachine], from_ms: u64, until_ms: u64, down: &dyn Fn(usize) -> bool) {
        for t in from_ms..until_ms {
            let now = t * 1_000_000;
            let mut queue = Vec::new();
            for (i, m) in ms.iter_mut().enumerate() {
                if down(i) {
                    continue;
                }
                if m.next_deadline() <= now {
                    m.tick(now);
                }
                for (to, msg) in m.take_ready().messages {
                    queue.push((i, to, msg));
                }
            }
            while let Some((from, to, msg)) = queue.pop() {
                if to >= ms.len() || down(to) || down(from) {
                    continue;
                }
                ms[to].step(now, 0, from, msg);
                for (t2, m2) in ms[to].take_ready().messages {
                    queue.push((to, t2, m2));
                }
            }
        }
    }

    #[test]
    fn a_dead_node_is_detected_and_a_suspected_live_one_refutes() {
        let mut ms = cluster(5, &Bugs::none());
        run(&mut ms, 0, 2000, &|i| i == 4);
        for m in &ms[..4] {
            assert_eq!(m.members()[&4].state, MemberState::Dead);
        }
        // Node 4 comes back: it hears it is dead and refutes with a higher incarnation.
        run(&mut ms, 2000, 3000, &|_| false);
        assert!(ms[4].incarnation() > 0);
        for m in &ms[..4] {
            assert_eq!(m.members()[&4].state, MemberState::Alive);
        }
    }

    #[test]
    fn without_refutation_a_live_node_stays_dead() {
        let mut ms = cluster(5, &Bugs::none().with(Bug::NoRefute));
        run(&mut ms, 0, 2000, &|i| i == 4);
        run(&mut ms, 2000, 3000, &|_| false);
        assert_eq!(ms[4].incarnation(), 0);
        assert_eq!(ms[0].members()[&4].state, MemberState::Dead);
    }

    #[test]
    fn writes_spread_by_anti_entropy() {
        let mut ms = cluster(5, &Bugs::none());
        let put = ClientOp::Put {
            key: "k".into(),
            id: WriteId::new(9, 1),
            value: 7,
        };
        ms[0].step(0, 0, 9, GossipMsg::Request { seq: 1, op: put });
        let out = ms[0].take_ready();
        assert_eq!(out.observations.len(), 1);
        run(&mut ms, 1, 1500, &|_| false);
        for m in &ms {
            assert_eq!(m.store().read("k"), vec![7]);
        }
    }
}
