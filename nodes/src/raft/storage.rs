//! Raft's persistent state on the simulated disk.
//!
//! - `raft.meta`: term, vote and the vote floor (below), one 48-byte record at offset 0
//!   (inside one sector, so a crash leaves the old or the new record, never a mix) with a
//!   checksum.
//! - `raft.log`: append-only frames `[len u32][checksum u64][term u64][payload]`: one
//!   record per entry, in index order, and *sync markers* (term `u64::MAX`, payload the
//!   log's last index and term). Every change to the log is fsynced, then a marker is
//!   appended and fsynced, and only then does the host send anything that depends on it.
//!   So a record before a valid marker was durable before the node acted on it (2PC's
//!   sync markers, `twopc::storage`). Truncation cuts the file at a record boundary.
//!
//! Recovery reads the log until the first frame whose checksum fails, and cuts the file
//! there. What it cut is one of two things, which look alike:
//! - a torn unsynced tail (no valid marker after it): the node never acted on it, so it
//!   is forgotten as if never written;
//! - synced data damaged later (a valid marker after it): the node may have acknowledged
//!   entries it no longer has. It must not vote as if it never had them
//!   (Protocol-Aware Recovery, FAST'18), so recovery records the most up-to-date
//!   (last term, last index) any marker vouches for as the node's *vote floor* in
//!   `raft.meta` before cutting. The node then grants votes only to candidates at least
//!   as up to date as the floor and starts no election while its own log is below it,
//!   until a leader has brought it back past the floor. The floor is exactly the
//!   up-to-date check the lost log would have made, so Raft's election proof holds.
//!
//! Recovery then appends a marker if the log does not end in one, so what it kept is
//! vouched for at the next restart. Two independent corruptions, of a record and of every
//! marker after it, would pass for a torn tail: that is the limit of one copy.

use std::io;

use crate::codec::{checksum, put_str, put_u64, Cursor};
use sim::disk::{Disk, File};

use super::bugs::{Bug, Bugs};
use super::machine::{HardState, LogPos, Ready};
use super::msg::{Command, Entry, Key, KvOp};

const META: &str = "raft.meta";
const LOG: &str = "raft.log";
const META_MAGIC: u32 = 0x5241_4654; // "RAFT"
const META_LEN: usize = 48;
const HEADER: usize = 4 + 8 + 8;
/// The term field of a sync marker (no entry has it).
const MARKER_TERM: u64 = u64::MAX;

// ---- encoding -------------------------------------------------------------------------

/// Appends a command's bytes to `out`. An all-zero payload decodes as a no-op, which is
/// exactly what a node without checksums would apply from a torn record.
fn encode_command(out: &mut Vec<u8>, c: &Command) {
    match c {
        Command::Noop => out.push(0),
        Command::Kv { client, seq, op } => {
            out.push(1);
            put_u64(out, *client);
            put_u64(out, *seq);
            match op {
                KvOp::Get { key } => {
                    out.push(0);
                    put_str(out, key);
                }
                KvOp::Put { key, value } => {
                    out.push(1);
                    put_str(out, key);
                    put_u64(out, *value as u64);
                }
                KvOp::Append { key, value } => {
                    out.push(2);
                    put_str(out, key);
                    put_u64(out, *value as u64);
                }
                KvOp::Cas { key, expect, new } => {
                    out.push(3);
                    put_str(out, key);
                    out.push(u8::from(expect.is_some()));
                    put_u64(out, expect.unwrap_or(0) as u64);
                    put_u64(out, *new as u64);
                }
            }
        }
    }
}

fn decode_command(bytes: &[u8]) -> Option<Command> {
    let mut c = Cursor(bytes);
    match c.u8()? {
        0 => Some(Command::Noop),
        1 => {
            let client = c.u64()?;
            let seq = c.u64()?;
            let op = match c.u8()? {
                0 => KvOp::Get {
                    key: c.str().map(Key::from)?,
                },
                1 => KvOp::Put {
                    key: c.str().map(Key::from)?,
                    value: c.u64()? as i64,
                },
                2 => KvOp::Append {
                    key: c.str().map(Key::from)?,
                    value: c.u64()? as i64,
                },
                3 => {
                    let key = c.str().map(Key::from)?;
                    let has = c.u8()? == 1;
                    let expect = c.u64()? as i64;
                    KvOp::Cas {
                        key,
                        expect: has.then_some(expect),
                        new: c.u64()? as i64,
                    }
                }
                _ => return None,
            };
            Some(Command::Kv { client, seq, op })
        }
        _ => None,
    }
}

/// Appends one entry's record to `out`, in place (a batch of records is one buffer).
/// Appends one frame to `out`, in place (a batch of records is one buffer).
fn encode_frame_into(out: &mut Vec<u8>, term: u64, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    // Length and checksum come first but depend on what follows: reserve, then fill.
    out.extend_from_slice(&[0; 12]);
    put_u64(out, term);
    payload(out);
    let payload_len = (out.len() - start - HEADER) as u32;
    let sum = checksum(&out[start + 12..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 12].copy_from_slice(&sum.to_le_bytes());
}

/// Appends one entry's record to `out`.
fn encode_record_into(out: &mut Vec<u8>, entry: &Entry) {
    encode_frame_into(out, entry.term, |out| encode_command(out, &entry.command));
}

#[cfg(test)]
fn encode_record(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    encode_record_into(&mut out, entry);
    out
}

/// A sync marker: everything before it, up to the log's last entry `last`, is durable.
fn encode_marker(last: LogPos) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + 16);
    encode_frame_into(&mut out, MARKER_TERM, |out| {
        put_u64(out, last.index);
        put_u64(out, last.term);
    });
    out
}

fn encode_meta(hs: HardState, floor: LogPos) -> Vec<u8> {
    let mut out = Vec::with_capacity(META_LEN);
    out.extend_from_slice(&META_MAGIC.to_le_bytes());
    put_u64(&mut out, hs.term);
    put_u64(&mut out, hs.vote.map_or(u64::MAX, |v| v as u64));
    put_u64(&mut out, floor.term);
    put_u64(&mut out, floor.index);
    let sum = checksum(&out);
    put_u64(&mut out, sum);
    out.resize(META_LEN, 0);
    out
}

fn decode_meta(bytes: &[u8]) -> Option<(HardState, LogPos)> {
    let mut c = Cursor(bytes);
    if c.take(4)? != META_MAGIC.to_le_bytes() {
        return None;
    }
    let (term, vote, floor_term, floor_index) = (c.u64()?, c.u64()?, c.u64()?, c.u64()?);
    if c.u64()? != checksum(&bytes[..36]) {
        return None;
    }
    let hs = HardState {
        term,
        vote: (vote != u64::MAX).then_some(vote as usize),
    };
    let floor = LogPos {
        term: floor_term,
        index: floor_index,
    };
    Some((hs, floor))
}

/// What recovery found.
pub enum Recovered {
    Ok {
        hard_state: HardState,
        log: Vec<Entry>,
        /// The vote floor: no vote for a candidate less up to date than this.
        floor: LogPos,
        /// What recovery cut from the log, if anything.
        cut: Option<Cut>,
    },
    /// The disk holds damage the node cannot safely repair alone.
    Refuse(String),
}

/// Why recovery cut the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// An unsynced tail: nothing the node acted on.
    TornTail { at: u64 },
    /// Synced records damaged later; a marker vouched for the log up to `vouched`.
    Damaged { at: u64, vouched: LogPos },
}

/// What reading the log found.
#[derive(Debug, Default, PartialEq)]
struct ParsedLog {
    entries: Vec<Entry>,
    /// Each entry's record end offset.
    ends: Vec<u64>,
    /// End of the last good frame.
    tail: u64,
    /// Whether the last good frame is a marker (or the log is empty).
    ends_marked: bool,
    /// Where reading stopped at a bad frame, if it did.
    stopped: Option<u64>,
    /// The most up-to-date position a valid marker after the bad frame vouches for: the
    /// bad frame had been synced, so the disk damaged it.
    damaged: Option<LogPos>,
}

enum Frame {
    Record(Entry),
    Marker(LogPos),
}

/// The frame at `at` and where it ends, if it is whole and (with `verify`) its checksum
/// holds. Without `verify` (the apply-torn-tail bug) unreadable payloads become no-ops.
fn frame_at(bytes: &[u8], at: usize, verify: bool) -> Option<(Frame, usize)> {
    let head = bytes.get(at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let sum = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
    let body_end = (at + 12 + 8).checked_add(len)?;
    let body = bytes.get(at + 12..body_end)?;
    if len == 0 && sum == 0 && body.iter().all(|&b| b == 0) {
        // Zeros: space a crash left behind an unsynced append.
        return None;
    }
    if verify && checksum(body) != sum {
        return None;
    }
    let term = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
    if term == MARKER_TERM {
        let mut c = Cursor(&body[8..]);
        let (index, term) = (c.u64()?, c.u64()?);
        return c
            .0
            .is_empty()
            .then_some((Frame::Marker(LogPos { term, index }), body_end));
    }
    let command = decode_command(&body[8..]).unwrap_or(Command::Noop);
    Some((Frame::Record(Entry::new(term, command)), body_end))
}

fn parse_log(bytes: &[u8], verify: bool) -> ParsedLog {
    let mut p = ParsedLog {
        ends_marked: true,
        ..ParsedLog::default()
    };
    let mut at = 0usize;
    while at < bytes.len() {
        let Some((frame, end)) = frame_at(bytes, at, verify) else {
            p.stopped = Some(at as u64);
            // Only a checksummed marker vouches for anything (never under the bug).
            p.damaged = (at + 1..bytes.len())
                .filter_map(|s| match frame_at(bytes, s, true) {
                    Some((Frame::Marker(pos), _)) => Some(pos),
                    _ => None,
                })
                .max()
                .filter(|_| verify);
            return p;
        };
        match frame {
            Frame::Record(e) => {
                p.entries.push(e);
                p.ends.push(end as u64);
                p.ends_marked = false;
            }
            Frame::Marker(_) => p.ends_marked = true,
        }
        at = end;
        p.tail = at as u64;
    }
    p
}

/// The open files of a running node.
pub struct Storage {
    meta: File,
    log: File,
    /// End offset of each entry's record: entry i (1-based) ends at `ends[i - 1]`.
    ends: Vec<u64>,
    /// Each entry's term (for the markers).
    terms: Vec<u64>,
    /// End of the file: appends go here, after the last marker.
    tail: u64,
    floor: LogPos,
    bugs: Bugs,
}

impl Storage {
    /// Opens (creating on first boot) and recovers.
    pub async fn open(disk: Disk, bugs: Bugs) -> io::Result<(Storage, Recovered)> {
        let fresh = !disk.exists(META).await?;
        let meta = disk.open_or_create(META).await?;
        let log = disk.open_or_create(LOG).await?;
        let mut storage = Storage {
            meta,
            log,
            ends: Vec::new(),
            terms: Vec::new(),
            tail: 0,
            floor: LogPos::default(),
            bugs,
        };
        if fresh {
            let hs = HardState::default();
            storage
                .meta
                .write_at(0, &encode_meta(hs, storage.floor))
                .await?;
            storage.meta.sync_all().await?;
            storage.log.sync_all().await?;
            disk.sync_dir().await?;
            // Nothing to recover: reading back what was just written would only add reads
            // that a faulty disk can fail.
            let recovered = Recovered::Ok {
                hard_state: hs,
                log: Vec::new(),
                floor: storage.floor,
                cut: None,
            };
            return Ok((storage, recovered));
        }
        let meta_bytes = storage.meta.read_at(0, META_LEN as u64).await?;
        let log_bytes = storage.log.read_at(0, u64::MAX).await?;
        let verify = !storage.bugs.has(Bug::ApplyTornTail);
        let Some((hard_state, floor)) = decode_meta(&meta_bytes) else {
            return Ok((
                storage,
                Recovered::Refuse("raft.meta fails its checksum".into()),
            ));
        };
        let parsed = parse_log(&log_bytes, verify);
        storage.floor = floor;
        storage.ends = parsed.ends;
        storage.terms = parsed.entries.iter().map(|e| e.term).collect();
        storage.tail = parsed.tail;
        let mut cut = None;
        if let Some(at) = parsed.stopped {
            let damaged = parsed
                .damaged
                .filter(|_| !storage.bugs.has(Bug::DamageAsTornTail));
            cut = Some(match damaged {
                Some(vouched) => {
                    // The floor is durable before the entries go, so a crash in between
                    // finds either the damage again or the floor.
                    storage.floor = storage.floor.max(vouched);
                    let meta_rec = encode_meta(hard_state, storage.floor);
                    storage.meta.write_at(0, &meta_rec).await?;
                    storage.meta.sync_data().await?;
                    Cut::Damaged { at, vouched }
                }
                None => Cut::TornTail { at },
            });
            storage.log.set_len(at).await?;
            storage.tail = at;
        }
        if !(parsed.ends_marked && cut.is_none()) {
            storage.log.sync_data().await?;
            storage.append_marker(true).await?;
        }
        let recovered = Recovered::Ok {
            hard_state,
            log: parsed.entries,
            floor: storage.floor,
            cut,
        };
        Ok((storage, recovered))
    }

    /// Appends a marker for the log as it is now, and fsyncs it when `sync`.
    async fn append_marker(&mut self, sync: bool) -> io::Result<()> {
        let last = LogPos {
            term: self.terms.last().copied().unwrap_or(0),
            index: self.terms.len() as u64,
        };
        let m = encode_marker(last);
        self.log.write_at(self.tail, &m).await?;
        self.tail += m.len() as u64;
        if sync {
            self.log.sync_data().await?;
        }
        Ok(())
    }

    /// Persists what `ready` asks for; fsyncs unless the `no-fsync` bug is on.
    pub async fn persist(&mut self, ready: &Ready) -> io::Result<()> {
        let sync = !self.bugs.has(Bug::NoFsync);
        if let Some(hs) = ready.hard_state {
            let hs = if self.bugs.has(Bug::NoPersistVote) {
                HardState { vote: None, ..hs }
            } else {
                hs
            };
            self.meta.write_at(0, &encode_meta(hs, self.floor)).await?;
            if sync {
                self.meta.sync_data().await?;
            }
        }
        let mut log_changed = false;
        if let Some(from) = ready.truncate_from {
            let keep = (from as usize - 1).min(self.ends.len());
            self.ends.truncate(keep);
            self.terms.truncate(keep);
            self.tail = self.ends.last().copied().unwrap_or(0);
            self.log.set_len(self.tail).await?;
            log_changed = true;
        }
        if !ready.append.is_empty() {
            assert_eq!(
                ready.append_at,
                self.ends.len() as u64 + 1,
                "appends follow the persisted log"
            );
            // After the last marker: rewriting a marker in place could destroy the only
            // proof that the records before it were synced.
            let start = self.tail;
            let mut batch = Vec::with_capacity(64 * ready.append.len());
            for e in &ready.append {
                encode_record_into(&mut batch, e);
                self.ends.push(start + batch.len() as u64);
                self.terms.push(e.term);
            }
            self.log.write_at(start, &batch).await?;
            self.tail = start + batch.len() as u64;
            log_changed = true;
        }
        if log_changed {
            if sync {
                self.log.sync_data().await?;
            }
            // Only after the records are durable may the marker vouch for them.
            self.append_marker(sync).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry::new(1, Command::Noop),
            Entry {
                term: 2,
                command: std::sync::Arc::new(Command::Kv {
                    client: 7,
                    seq: 3,
                    op: KvOp::Cas {
                        key: "x".into(),
                        expect: None,
                        new: 4,
                    },
                }),
            },
            Entry {
                term: 2,
                command: std::sync::Arc::new(Command::Kv {
                    client: 7,
                    seq: 4,
                    op: KvOp::Append {
                        key: "l".into(),
                        value: -1,
                    },
                }),
            },
        ]
    }

    /// Two synced batches: [e1] marker [e2, e3] marker.
    fn two_batches() -> (Vec<u8>, usize) {
        let e = entries();
        let mut bytes = encode_record(&e[0]);
        bytes.extend(encode_marker(LogPos { term: 1, index: 1 }));
        let second = bytes.len();
        bytes.extend(encode_record(&e[1]));
        bytes.extend(encode_record(&e[2]));
        bytes.extend(encode_marker(LogPos { term: 2, index: 3 }));
        (bytes, second)
    }

    #[test]
    fn records_and_markers_round_trip() {
        let (bytes, _) = two_batches();
        let p = parse_log(&bytes, true);
        assert_eq!(p.entries, entries());
        assert_eq!(p.stopped, None);
        assert!(p.ends_marked);
        assert_eq!(p.tail, bytes.len() as u64);
        let marker_len = encode_marker(LogPos::default()).len() as u64;
        assert_eq!(
            p.ends.last().copied(),
            Some(bytes.len() as u64 - marker_len)
        );
        let hs = HardState {
            term: 9,
            vote: Some(2),
        };
        let floor = LogPos { term: 4, index: 17 };
        assert_eq!(decode_meta(&encode_meta(hs, floor)), Some((hs, floor)));
        let zero = (HardState::default(), LogPos::default());
        assert_eq!(decode_meta(&encode_meta(zero.0, zero.1)), Some(zero));
        assert!(LogPos { term: 2, index: 1 } > LogPos { term: 1, index: 9 });
    }

    #[test]
    fn a_torn_tail_is_cut_with_checksums_and_applied_without() {
        let (mut bytes, _) = two_batches();
        // A third batch was written but not synced: its header landed, its payload not.
        let e3 = Entry {
            term: 3,
            ..entries()[2].clone()
        };
        let start = bytes.len();
        bytes.extend(encode_record(&e3));
        for b in &mut bytes[start + HEADER..] {
            *b = 0;
        }
        let p = parse_log(&bytes, true);
        assert_eq!(p.entries, entries());
        assert_eq!(p.stopped, Some(start as u64));
        assert_eq!(p.damaged, None, "nothing vouches for the torn record");
        let bad = parse_log(&bytes, false);
        assert_eq!(
            bad.entries.len(),
            4,
            "without checksums the torn record is accepted"
        );
        assert_ne!(bad.entries[3], e3);
    }

    #[test]
    fn any_flipped_bit_in_a_synced_record_is_damage_not_a_torn_tail() {
        let (bytes, second) = two_batches();
        let last_marker = bytes.len() - encode_marker(LogPos::default()).len();
        for bit in 0..last_marker * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let p = parse_log(&b, true);
            let Some(at) = p.stopped else {
                panic!("bit {bit}: the flip went unnoticed")
            };
            // Wherever the flip is, the last marker still vouches for the whole log.
            assert_eq!(p.damaged, Some(LogPos { term: 2, index: 3 }), "bit {bit}");
            assert!(p.entries.len() <= if (at as usize) < second { 1 } else { 3 });
        }
    }

    #[test]
    fn a_flipped_last_marker_is_cut_and_loses_nothing() {
        let (bytes, _) = two_batches();
        let mut b = bytes.clone();
        let n = b.len();
        b[n - 3] ^= 1;
        let p = parse_log(&b, true);
        assert_eq!(p.entries, entries());
        assert_eq!(p.damaged, None);
        assert!(p.stopped.is_some());
    }

    #[test]
    fn a_flipped_meta_bit_is_detected() {
        let hs = HardState {
            term: 3,
            vote: Some(1),
        };
        let good = encode_meta(hs, LogPos { term: 2, index: 5 });
        for bit in 0..44 * 8 {
            let mut m = good.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(decode_meta(&m), None, "bit {bit}");
        }
    }
}
