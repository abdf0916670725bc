//! raft-rs's persistent state on the simulated disk: one append-only journal of
//! checksummed records, replayed into a `MemStorage` (the in-memory `Storage` the
//! `RawNode` reads) at start.
//!
//! Records are `[len u32][checksum u64][body]`; a body is either a batch of entries (which
//! replaces every entry from its first index on, as raft-rs's `append` does) or a
//! HardState (term, vote, commit), or a ConfState with the index it was applied at and the
//! number of membership changes applied by then. Recovery starts raft-rs from the last
//! ConfState whose index the log and commit index cover (the initial voters when there is
//! none), with that index as raft-rs's `applied`: the host replays the entries up to it
//! into the state machine, and raft-rs hands out the rest (conf changes included). Every fsync of records is followed by a fsynced marker
//! record, before the node acts on them. Recovery stops at the first record that is short
//! or fails its checksum: with no good record after it, that is the torn or unsynced tail a
//! crash leaves (the node never acted on it) and the file is cut there; with a good record
//! after it, synced data was damaged later, and the node refuses to start rather than
//! forget entries it acknowledged.
//! Not modelled: snapshots, log compaction.

use std::io;

use raft::eraftpb::{ConfState, Entry, EntryType, HardState};
use raft::storage::MemStorage;
use sim::disk::{Disk, File};

use super::observe::LogEntry;
use crate::codec::{checksum, put_bytes, put_u32, put_u64, Cursor};

const JOURNAL: &str = "raftrs.journal";
const ENTRIES: u8 = 1;
const HARD_STATE: u8 = 2;
/// Written and fsynced after every fsync of records: whatever precedes a marker was durable
/// before the node acted on it (sent `persisted_messages`, counted itself, applied).
const MARKER: u8 = 3;
const CONF_STATE: u8 = 4;

/// A ConfState as applied at `index`, after `changes` numbered membership changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfRecord {
    pub index: u64,
    pub changes: u64,
    pub conf: ConfState,
}

/// The journal of a running server.
pub struct Journal {
    file: File,
}

/// What recovery found on disk.
pub struct Recovered {
    pub storage: MemStorage,
    pub hard_state: HardState,
    pub entries: u64,
    /// The recovered log as the checks compare it.
    pub log: Vec<LogEntry>,
    /// The ConfState raft-rs starts from (None: the initial voters at index 0).
    pub conf: Option<ConfRecord>,
    /// The entries up to the ConfState's index, for the host to replay into its state
    /// machine (raft-rs hands out only what follows).
    pub replay: Vec<Entry>,
    /// Bytes of a torn or unsynced tail that recovery cut off.
    pub cut: u64,
}

fn frame(out: &mut Vec<u8>, body: &[u8]) {
    put_u32(out, body.len() as u32);
    put_u64(out, checksum(body));
    out.extend_from_slice(body);
}

fn encode_entries(entries: &[Entry]) -> Vec<u8> {
    let mut body = vec![ENTRIES];
    put_u32(&mut body, entries.len() as u32);
    for e in entries {
        put_u64(&mut body, e.index);
        put_u64(&mut body, e.term);
        body.push(e.get_entry_type() as u8);
        put_bytes(&mut body, &e.data);
        put_bytes(&mut body, &e.context);
    }
    body
}

fn encode_hard_state(hs: &HardState) -> Vec<u8> {
    let mut body = vec![HARD_STATE];
    put_u64(&mut body, hs.term);
    put_u64(&mut body, hs.vote);
    put_u64(&mut body, hs.commit);
    body
}

fn put_ids(out: &mut Vec<u8>, ids: &[u64]) {
    put_u32(out, ids.len() as u32);
    for &id in ids {
        put_u64(out, id);
    }
}

fn encode_conf(r: &ConfRecord) -> Vec<u8> {
    let mut body = vec![CONF_STATE];
    put_u64(&mut body, r.index);
    put_u64(&mut body, r.changes);
    body.push(u8::from(r.conf.auto_leave));
    put_ids(&mut body, &r.conf.voters);
    put_ids(&mut body, &r.conf.voters_outgoing);
    put_ids(&mut body, &r.conf.learners);
    put_ids(&mut body, &r.conf.learners_next);
    body
}

fn ids(c: &mut Cursor<'_>) -> Option<Vec<u64>> {
    let n = c.count(8)?;
    (0..n).map(|_| c.u64()).collect()
}

enum Record {
    Entries(Vec<Entry>),
    HardState(HardState),
    Marker,
    Conf(ConfRecord),
}

fn decode(body: &[u8]) -> Option<Record> {
    let mut c = Cursor(body);
    match c.u8()? {
        ENTRIES => {
            let n = c.count(8 + 8 + 1 + 4 + 4)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let mut e = Entry {
                    index: c.u64()?,
                    term: c.u64()?,
                    ..Default::default()
                };
                e.set_entry_type(match c.u8()? {
                    0 => EntryType::EntryNormal,
                    1 => EntryType::EntryConfChange,
                    2 => EntryType::EntryConfChangeV2,
                    _ => return None,
                });
                e.data = c.bytes()?.to_vec().into();
                e.context = c.bytes()?.to_vec().into();
                v.push(e);
            }
            Some(Record::Entries(v))
        }
        HARD_STATE => Some(Record::HardState(HardState {
            term: c.u64()?,
            vote: c.u64()?,
            commit: c.u64()?,
            ..Default::default()
        })),
        MARKER => Some(Record::Marker),
        CONF_STATE => {
            let index = c.u64()?;
            let changes = c.u64()?;
            let auto_leave = c.bool()?;
            let mut conf = ConfState {
                voters: ids(&mut c)?,
                voters_outgoing: ids(&mut c)?,
                learners: ids(&mut c)?,
                learners_next: ids(&mut c)?,
                ..Default::default()
            };
            conf.auto_leave = auto_leave;
            Some(Record::Conf(ConfRecord {
                index,
                changes,
                conf,
            }))
        }
        _ => None,
    }
}

/// Whether a good record starts anywhere after the bad one at `at`. A torn tail is always
/// last, so a checksummed record after the damage means synced data was damaged later, and
/// cutting there would forget entries the node may have acknowledged. Every offset is
/// tried, not only the one the bad record's length points to: the damage may be in that
/// length. (A damaged last record still passes for a torn tail: the limit of one copy.)
fn damaged_inside(data: &[u8], at: usize) -> bool {
    (at + 1..data.len()).any(|start| {
        let Some(head) = data.get(start..start + 12) else {
            return false;
        };
        let n = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
        n > 0
            && data
                .get(start + 12..start.saturating_add(12).saturating_add(n))
                .is_some_and(|b| checksum(b) == sum && decode(b).is_some())
    })
}

impl Journal {
    /// Opens the journal and replays it; `voters` are the raft ids of the fixed cluster.
    pub async fn open(disk: Disk, voters: Vec<u64>) -> io::Result<(Journal, Recovered)> {
        // A new file's name is durable only once the directory is synced: without that a
        // crash loses the whole journal, fsynced records and all.
        let file = if disk.exists(JOURNAL).await? {
            disk.open(JOURNAL).await?
        } else {
            let f = disk.create(JOURNAL).await?;
            f.sync_all().await?;
            disk.sync_dir().await?;
            f
        };
        let len = file.len().await?;
        let data = file.read_at(0, len).await?;
        let mut log: Vec<Entry> = Vec::new();
        let mut hs = HardState::default();
        let mut confs: Vec<ConfRecord> = Vec::new();
        let mut at = 0usize;
        while let Some(head) = data.get(at..at + 12) {
            let n = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
            let sum = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
            let Some(body) = data.get(at + 12..at + 12 + n) else {
                break;
            };
            if n == 0 || checksum(body) != sum {
                break;
            }
            match decode(body) {
                Some(Record::Entries(es)) => {
                    if let Some(first) = es.first() {
                        log.truncate(first.index.saturating_sub(1) as usize);
                    }
                    log.extend(es);
                }
                Some(Record::HardState(h)) => hs = h,
                Some(Record::Marker) => {}
                Some(Record::Conf(c)) => confs.push(c),
                None => break,
            }
            at += 12 + n;
        }
        if damaged_inside(&data, at) {
            return Err(io::Error::other(format!(
                "the journal is damaged at byte {at} but holds good records after it: corruption, not a torn tail"
            )));
        }
        let cut = data.len() as u64 - at as u64;
        if cut > 0 {
            file.set_len(at as u64).await?;
            file.sync_all().await?;
        }
        let storage = MemStorage::new_with_conf_state(ConfState::from((voters, vec![])));
        // A commit index past the log (it cannot happen when the journal is written in
        // order, but a cut tail must not make raft-rs panic) is clamped.
        let commit = hs.commit.min(log.len() as u64);
        // A ConfState is written after its index is committed; one beyond the recovered
        // commit index is not used (raft-rs hands that change out again).
        let conf = confs.into_iter().rev().find(|c| c.index <= commit);
        {
            let mut w = storage.wl();
            w.append(&log)
                .map_err(|e| io::Error::other(e.to_string()))?;
            let mut h = hs.clone();
            h.commit = commit;
            w.set_hardstate(h);
            if let Some(c) = &conf {
                w.set_conf_state(c.conf.clone());
            }
        }
        let replay = log[..conf.as_ref().map_or(0, |c| c.index as usize)].to_vec();
        let rec = Recovered {
            storage,
            hard_state: hs,
            entries: log.len() as u64,
            log: log
                .iter()
                .map(|e| LogEntry {
                    term: e.term,
                    sum: checksum(&e.data),
                })
                .collect(),
            conf,
            replay,
            cut,
        };
        Ok((Journal { file }, rec))
    }

    /// Appends entries and/or a HardState (not yet synced).
    pub async fn write(&mut self, entries: &[Entry], hs: Option<&HardState>) -> io::Result<()> {
        let mut out = Vec::new();
        if !entries.is_empty() {
            frame(&mut out, &encode_entries(entries));
        }
        if let Some(hs) = hs {
            frame(&mut out, &encode_hard_state(hs));
        }
        if !out.is_empty() {
            self.file.append(&out).await?;
        }
        Ok(())
    }

    /// Appends a ConfState record (not yet synced).
    pub async fn write_conf(&mut self, r: &ConfRecord) -> io::Result<()> {
        let mut out = Vec::new();
        frame(&mut out, &encode_conf(r));
        self.file.append(&out).await?;
        Ok(())
    }

    /// Makes every written record durable, then a marker after them durable too. The
    /// second fsync costs a sync's latency per Ready, and buys recovery the means to tell a
    /// torn tail (nothing good after it) from synced records damaged later (a marker, or any
    /// good record, after them): the node acts on records only once a marker follows them.
    pub async fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data().await?;
        let mut out = Vec::new();
        frame(&mut out, &[MARKER]);
        self.file.append(&out).await?;
        self.file.sync_data().await
    }
}
