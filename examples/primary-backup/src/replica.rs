//! The primary-backup register as a plain state machine: no simulator, no async.
//!
//! Servers hold one register. The primary of an epoch orders writes, replicates each to
//! the backups and answers the client once a majority holds it. Backups that stop hearing
//! the primary elect a new one Paxos-style: a candidate asks for promises for a higher
//! epoch, takes the newest value among a majority, and becomes active once a majority has
//! accepted its view. Reads are answered by the primary after a majority confirms that it
//! still leads its epoch (the bug `local-reads` answers them from its own copy at once).
//!
//! State is volatile: a restarted server has lost the register, so it neither promises nor
//! campaigns until a primary has sent it the current value. Not modelled: persistence,
//! membership changes, more than one register.

use std::collections::{BTreeMap, BTreeSet};

/// A value's version: the epoch that wrote it and its sequence number there.
pub type Version = (u64, u64);

/// What servers and clients send each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Write {
        req: u64,
        value: i64,
    },
    Read {
        req: u64,
    },
    WriteOk {
        req: u64,
    },
    ReadOk {
        req: u64,
        value: Option<i64>,
    },
    /// Not the (active) primary; `hint` is who might be.
    NotPrimary {
        req: u64,
        hint: Option<usize>,
    },
    Heartbeat {
        epoch: u64,
        value: Option<i64>,
        version: Version,
    },
    Replicate {
        epoch: u64,
        value: Option<i64>,
        version: Version,
    },
    ReplicateAck {
        epoch: u64,
        seq: u64,
    },
    ReadCheck {
        epoch: u64,
        id: u64,
    },
    ReadCheckAck {
        epoch: u64,
        id: u64,
    },
    Prepare {
        epoch: u64,
    },
    Promise {
        epoch: u64,
        value: Option<i64>,
        version: Version,
    },
    NewView {
        epoch: u64,
        value: Option<i64>,
        version: Version,
    },
    NewViewAck {
        epoch: u64,
    },
    /// The sender has promised a newer epoch: step down.
    Newer {
        epoch: u64,
    },
}

impl dst::Message for Msg {
    fn name(&self) -> &'static str {
        match self {
            Msg::Write { .. } => "write",
            Msg::Read { .. } => "read",
            Msg::WriteOk { .. } => "write-ok",
            Msg::ReadOk { .. } => "read-ok",
            Msg::NotPrimary { .. } => "not-primary",
            Msg::Heartbeat { .. } => "heartbeat",
            Msg::Replicate { .. } => "replicate",
            Msg::ReplicateAck { .. } => "replicate-ack",
            Msg::ReadCheck { .. } => "read-check",
            Msg::ReadCheckAck { .. } => "read-check-ack",
            Msg::Prepare { .. } => "prepare",
            Msg::Promise { .. } => "promise",
            Msg::NewView { .. } => "new-view",
            Msg::NewViewAck { .. } => "new-view-ack",
            Msg::Newer { .. } => "newer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Backup,
    Candidate,
    /// Elected; `active` once a majority accepted the new view.
    Primary {
        active: bool,
    },
}

/// Timing and the bug switch.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub servers: usize,
    pub heartbeat: u64,
    /// A backup that hears nothing from a primary this long (plus its own jitter) campaigns.
    pub election_timeout: u64,
    pub local_reads: bool,
}

struct PendingWrite {
    client: usize,
    req: u64,
    value: i64,
    acks: BTreeSet<usize>,
}

struct PendingRead {
    client: usize,
    req: u64,
    acks: BTreeSet<usize>,
}

pub struct Replica {
    id: usize,
    cfg: Config,
    /// Highest epoch promised or joined.
    promised: u64,
    pub role: Role,
    primary: Option<usize>,
    /// Newest value this server holds (a backup's may not be committed yet).
    value: Option<i64>,
    version: Version,
    /// A restarted server until a primary sends it the current value.
    recovering: bool,
    last_heard: u64,
    jitter: u64,
    next_heartbeat: u64,
    promises: BTreeMap<usize, (Option<i64>, Version)>,
    view_acks: BTreeSet<usize>,
    seq: u64,
    writes: BTreeMap<u64, PendingWrite>,
    reads: BTreeMap<u64, PendingRead>,
    next_read: u64,
}

pub type Out = Vec<(usize, Msg)>;

impl Replica {
    /// A server at `now`; `fresh` for the first boot (the register starts empty on every
    /// server, so nothing needs recovering), `jitter` spreads election timeouts.
    pub fn new(id: usize, cfg: Config, fresh: bool, now: u64, jitter: u64) -> Self {
        Replica {
            id,
            cfg,
            promised: 0,
            role: if fresh && id == 0 {
                Role::Primary { active: true }
            } else {
                Role::Backup
            },
            primary: fresh.then_some(0),
            value: None,
            version: (0, 0),
            recovering: !fresh,
            last_heard: now,
            jitter,
            next_heartbeat: now,
            promises: BTreeMap::new(),
            view_acks: BTreeSet::new(),
            seq: 0,
            writes: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 0,
        }
    }

    fn majority(&self) -> usize {
        self.cfg.servers / 2 + 1
    }

    fn others(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.cfg.servers).filter(move |&s| s != self.id)
    }

    fn broadcast(&self, msg: Msg) -> Out {
        self.others().map(|s| (s, msg.clone())).collect()
    }

    /// When `on_tick` next has something to do.
    pub fn next_deadline(&self) -> u64 {
        match self.role {
            Role::Primary { .. } => self.next_heartbeat,
            _ => self.last_heard + self.cfg.election_timeout + self.jitter,
        }
    }

    /// Heartbeats for a primary; a campaign for a backup that heard no primary in time.
    pub fn on_tick(&mut self, now: u64) -> Out {
        match self.role {
            Role::Primary { .. } if now >= self.next_heartbeat => {
                self.next_heartbeat = now + self.cfg.heartbeat;
                self.broadcast(Msg::Heartbeat {
                    epoch: self.promised,
                    value: self.value,
                    version: self.version,
                })
            }
            Role::Backup | Role::Candidate if !self.recovering && now >= self.next_deadline() => {
                self.promised += 1;
                self.role = Role::Candidate;
                self.primary = None;
                self.last_heard = now;
                self.promises.clear();
                self.promises.insert(self.id, (self.value, self.version));
                self.broadcast(Msg::Prepare {
                    epoch: self.promised,
                })
            }
            // A restarted server waits for a primary to bring it up to date; look again
            // one timeout later instead of spinning on a deadline in the past.
            Role::Backup | Role::Candidate if now >= self.next_deadline() => {
                self.last_heard = now;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Joins `epoch` under `from` if it is current; false if it is older than promised.
    fn follow(&mut self, epoch: u64, from: usize, now: u64) -> bool {
        if epoch < self.promised {
            return false;
        }
        if epoch > self.promised || self.role != Role::Backup {
            self.step_down(epoch);
        }
        self.primary = Some(from);
        self.last_heard = now;
        true
    }

    fn step_down(&mut self, epoch: u64) {
        self.promised = self.promised.max(epoch);
        self.role = Role::Backup;
        // Clients of abandoned operations time out and record them as indeterminate.
        self.writes.clear();
        self.reads.clear();
    }

    fn adopt(&mut self, value: Option<i64>, version: Version) {
        if version > self.version || self.recovering {
            self.value = value;
            self.version = version;
        }
        self.recovering = false;
    }

    pub fn on_message(&mut self, now: u64, from: usize, msg: Msg) -> Out {
        let mut out = Vec::new();
        match msg {
            Msg::Write { req, value } => match self.role {
                Role::Primary { active: true } => {
                    self.seq += 1;
                    let version = (self.promised, self.seq);
                    let acks = BTreeSet::from([self.id]);
                    let pending = PendingWrite {
                        client: from,
                        req,
                        value,
                        acks,
                    };
                    self.writes.insert(self.seq, pending);
                    out = self.broadcast(Msg::Replicate {
                        epoch: self.promised,
                        value: Some(value),
                        version,
                    });
                    out.extend(self.commit());
                }
                _ => out.push((from, self.not_primary(req))),
            },
            Msg::Read { req } => match self.role {
                Role::Primary { active: true } if self.cfg.local_reads => {
                    out.push((
                        from,
                        Msg::ReadOk {
                            req,
                            value: self.value,
                        },
                    ));
                }
                Role::Primary { active: true } => {
                    self.next_read += 1;
                    let id = self.next_read;
                    let acks = BTreeSet::from([self.id]);
                    let pending = PendingRead {
                        client: from,
                        req,
                        acks,
                    };
                    self.reads.insert(id, pending);
                    out = self.broadcast(Msg::ReadCheck {
                        epoch: self.promised,
                        id,
                    });
                    out.extend(self.answer_reads());
                }
                _ => out.push((from, self.not_primary(req))),
            },
            Msg::Heartbeat {
                epoch,
                value,
                version,
            } => {
                if self.follow(epoch, from, now) {
                    self.adopt(value, version);
                } else {
                    out.push((
                        from,
                        Msg::Newer {
                            epoch: self.promised,
                        },
                    ));
                }
            }
            Msg::Replicate {
                epoch,
                value,
                version,
            } => {
                if self.follow(epoch, from, now) {
                    self.adopt(value, version);
                    let seq = version.1;
                    out.push((from, Msg::ReplicateAck { epoch, seq }));
                } else {
                    out.push((
                        from,
                        Msg::Newer {
                            epoch: self.promised,
                        },
                    ));
                }
            }
            Msg::ReplicateAck { epoch, seq } => {
                if self.leads(epoch) {
                    if let Some(w) = self.writes.get_mut(&seq) {
                        w.acks.insert(from);
                    }
                    out = self.commit();
                }
            }
            Msg::ReadCheck { epoch, id } => {
                if !self.recovering && self.follow(epoch, from, now) {
                    out.push((from, Msg::ReadCheckAck { epoch, id }));
                } else if epoch < self.promised {
                    out.push((
                        from,
                        Msg::Newer {
                            epoch: self.promised,
                        },
                    ));
                }
            }
            Msg::ReadCheckAck { epoch, id } => {
                if self.leads(epoch) {
                    if let Some(r) = self.reads.get_mut(&id) {
                        r.acks.insert(from);
                    }
                    out = self.answer_reads();
                }
            }
            Msg::Prepare { epoch } => {
                if !self.recovering && epoch > self.promised {
                    self.step_down(epoch);
                    self.primary = None;
                    self.last_heard = now;
                    out.push((
                        from,
                        Msg::Promise {
                            epoch,
                            value: self.value,
                            version: self.version,
                        },
                    ));
                }
            }
            Msg::Promise {
                epoch,
                value,
                version,
            } => {
                if self.role == Role::Candidate && epoch == self.promised {
                    self.promises.insert(from, (value, version));
                    if self.promises.len() >= self.majority() {
                        let (value, version) = *self
                            .promises
                            .values()
                            .max_by_key(|(_, v)| *v)
                            .expect("a majority is not empty");
                        self.value = value;
                        self.version = version;
                        self.seq = 0;
                        self.role = Role::Primary { active: false };
                        self.primary = Some(self.id);
                        self.view_acks = BTreeSet::from([self.id]);
                        self.next_heartbeat = now + self.cfg.heartbeat;
                        out = self.broadcast(Msg::NewView {
                            epoch,
                            value,
                            version,
                        });
                    }
                }
            }
            Msg::NewView {
                epoch,
                value,
                version,
            } => {
                if self.follow(epoch, from, now) {
                    // The new primary's value wins, even over a newer uncommitted one.
                    self.value = value;
                    self.version = version;
                    self.recovering = false;
                    out.push((from, Msg::NewViewAck { epoch }));
                }
            }
            Msg::NewViewAck { epoch } => {
                if self.role == (Role::Primary { active: false }) && epoch == self.promised {
                    self.view_acks.insert(from);
                    if self.view_acks.len() >= self.majority() {
                        self.role = Role::Primary { active: true };
                    }
                }
            }
            Msg::Newer { epoch } => {
                if epoch > self.promised {
                    self.step_down(epoch);
                    self.primary = None;
                    self.last_heard = now;
                }
            }
            Msg::WriteOk { .. } | Msg::ReadOk { .. } | Msg::NotPrimary { .. } => {}
        }
        out
    }

    fn leads(&self, epoch: u64) -> bool {
        matches!(self.role, Role::Primary { .. }) && epoch == self.promised
    }

    fn not_primary(&self, req: u64) -> Msg {
        Msg::NotPrimary {
            req,
            hint: self.primary.filter(|&p| p != self.id),
        }
    }

    /// Commits writes in order once a majority holds each; answers their clients.
    fn commit(&mut self) -> Out {
        let mut out = Vec::new();
        let majority = self.majority();
        while let Some(entry) = self.writes.first_entry() {
            if entry.get().acks.len() < majority {
                break;
            }
            let (seq, w) = entry.remove_entry();
            if (self.promised, seq) > self.version {
                self.value = Some(w.value);
                self.version = (self.promised, seq);
            }
            out.push((w.client, Msg::WriteOk { req: w.req }));
        }
        out
    }

    /// Answers the reads a majority confirmed, with the committed value.
    fn answer_reads(&mut self) -> Out {
        let majority = self.majority();
        let done: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.acks.len() >= majority)
            .map(|(&id, _)| id)
            .collect();
        done.into_iter()
            .filter_map(|id| self.reads.remove(&id))
            .map(|r| {
                let value = self.value;
                (r.client, Msg::ReadOk { req: r.req, value })
            })
            .collect()
    }
}
