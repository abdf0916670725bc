//! A checksummed append-only record log on the simulated disk, shared by the coordinator
//! (its decisions) and the participants (prepares and decisions).
//!
//! Frames are `[len u32][checksum u64][payload]`; a payload is a kind byte and then a
//! record in a compact binary form, or a *sync marker*. A batch of records is appended
//! and fsynced, then a marker is appended and fsynced, and only then does the host send
//! anything that depends on the batch. So a frame before a valid marker was on disk, synced,
//! before the node acted on it.
//!
//! That is what recovery needs to tell a torn tail from silent corruption, which look
//! alike (a frame whose checksum fails). Recovery reads frames until the first bad one:
//! - a valid marker somewhere after it: the bad frame had been synced, so the disk damaged
//!   it. The log is the node's only copy of its votes and decisions, so the node refuses
//!   to run (it stays down and says why) rather than forget or invent a promise;
//! - no marker after it: the bad frame and everything after it were never acted on (a
//!   crash came before their marker was durable), so they are cut off, whether a crash
//!   tore them or a bit flipped in them.
//!
//! Recovery then appends a fresh marker if the log does not end in one, so that what it
//! kept is vouched for at the next restart too. Two independent corruptions, of a frame and
//! of the marker after it, would pass for a torn tail: that is the limit of one copy.
//! Not modelled: compaction (the log grows for the whole run).

use std::io;

pub use crate::codec::Cursor;
use crate::codec::{checksum, put_str, put_u32, put_u64};
use sim::disk::{Disk, File};

use super::coordinator::CRecord;
use super::msg::{ReadValue, Write};
use super::participant::PRecord;

const HEADER: usize = 4 + 8;
const MARKER: u8 = 0;
const RECORD: u8 = 1;

// ---- the binary form of records ---------------------------------------------------------

/// A log record's binary form.
pub trait Record: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn get(c: &mut Cursor<'_>) -> Option<Self>;
}

impl Record for CRecord {
    fn put(&self, out: &mut Vec<u8>) {
        put_u64(out, self.txid);
        out.push(u8::from(self.commit));
        put_u32(out, self.participants.len() as u32);
        for &p in &self.participants {
            put_u64(out, p as u64);
        }
    }
    fn get(c: &mut Cursor<'_>) -> Option<Self> {
        let txid = c.u64()?;
        let commit = c.bool()?;
        let n = c.count(8)?;
        let participants = (0..n)
            .map(|_| c.u64().map(|p| p as usize))
            .collect::<Option<_>>()?;
        Some(CRecord {
            txid,
            commit,
            participants,
        })
    }
}

impl Record for PRecord {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            PRecord::Prepared {
                txid,
                writes,
                reads,
            } => {
                out.push(1);
                put_u64(out, *txid);
                put_u32(out, writes.len() as u32);
                for w in writes {
                    let (tag, key, value) = match w {
                        Write::SetBalance { key, value } => (0, key, value),
                        Write::Append { key, value } => (1, key, value),
                    };
                    out.push(tag);
                    put_str(out, key);
                    put_u64(out, *value as u64);
                }
                put_u32(out, reads.len() as u32);
                for (key, r) in reads {
                    put_str(out, key);
                    match r {
                        ReadValue::List(xs) => {
                            out.push(0);
                            put_u32(out, xs.len() as u32);
                            for &x in xs {
                                put_u64(out, x as u64);
                            }
                        }
                        ReadValue::Balance(b) => {
                            out.push(1);
                            put_u64(out, *b as u64);
                        }
                    }
                }
            }
            PRecord::Decided { txid, commit } => {
                out.push(2);
                put_u64(out, *txid);
                out.push(u8::from(*commit));
            }
        }
    }
    fn get(c: &mut Cursor<'_>) -> Option<Self> {
        match c.u8()? {
            1 => {
                let txid = c.u64()?;
                let mut writes = Vec::new();
                for _ in 0..c.count(13)? {
                    let tag = c.u8()?;
                    let key = c.string()?;
                    let value = c.i64()?;
                    writes.push(match tag {
                        0 => Write::SetBalance { key, value },
                        1 => Write::Append { key, value },
                        _ => return None,
                    });
                }
                let mut reads = Vec::new();
                for _ in 0..c.count(5)? {
                    let key = c.string()?;
                    let r = match c.u8()? {
                        0 => {
                            let n = c.count(8)?;
                            ReadValue::List((0..n).map(|_| c.i64()).collect::<Option<_>>()?)
                        }
                        1 => ReadValue::Balance(c.i64()?),
                        _ => return None,
                    };
                    reads.push((key, r));
                }
                Some(PRecord::Prepared {
                    txid,
                    writes,
                    reads,
                })
            }
            2 => {
                let txid = c.u64()?;
                let commit = c.bool()?;
                Some(PRecord::Decided { txid, commit })
            }
            _ => None,
        }
    }
}

// ---- frames -----------------------------------------------------------------------------

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    put_u32(&mut out, payload.len() as u32);
    put_u64(&mut out, checksum(payload));
    out.extend_from_slice(payload);
    out
}

/// Frames one record.
pub fn encode<R: Record>(record: &R) -> Vec<u8> {
    let mut payload = vec![RECORD];
    record.put(&mut payload);
    frame(&payload)
}

fn marker() -> Vec<u8> {
    frame(&[MARKER])
}

/// One frame as recovery reads it.
enum Frame<R> {
    Marker,
    Record(R),
}

/// The frame at `at` and where it ends, if it is whole and (with `verify`) its checksum
/// holds. Without `verify` (the no-record-checksum bug) whatever decodes is taken.
fn frame_at<R: Record>(bytes: &[u8], at: usize, verify: bool) -> Option<(Frame<R>, usize)> {
    let head = bytes.get(at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(head[4..12].try_into().ok()?);
    let body = bytes.get(at + HEADER..(at + HEADER).checked_add(len)?)?;
    if len == 0 || (verify && checksum(body) != sum) {
        return None;
    }
    let end = at + HEADER + len;
    let mut c = Cursor(&body[1..]);
    match body[0] {
        MARKER if c.0.is_empty() => Some((Frame::Marker, end)),
        RECORD => {
            let r = R::get(&mut c)?;
            c.0.is_empty().then_some((Frame::Record(r), end))
        }
        _ => None,
    }
}

/// What reading a log found.
#[derive(Debug, PartialEq)]
pub struct Parsed<R> {
    pub records: Vec<R>,
    /// Where reading stopped at a bad frame, if it did.
    pub stopped: Option<usize>,
    /// A valid marker after the bad frame: synced data was damaged.
    pub damaged: bool,
    /// Whether the last good frame is a marker (or the log is empty).
    pub ends_marked: bool,
}

pub fn parse<R: Record>(bytes: &[u8], verify: bool) -> Parsed<R> {
    let mut records = Vec::new();
    let mut at = 0;
    let mut ends_marked = true;
    while at < bytes.len() {
        match frame_at::<R>(bytes, at, verify) {
            Some((f, end)) => {
                ends_marked = matches!(f, Frame::Marker);
                if let Frame::Record(r) = f {
                    records.push(r);
                }
                at = end;
            }
            None => {
                let damaged = (at + 1..bytes.len())
                    .any(|s| matches!(frame_at::<R>(bytes, s, verify), Some((Frame::Marker, _))));
                return Parsed {
                    records,
                    stopped: Some(at),
                    damaged,
                    ends_marked,
                };
            }
        }
    }
    Parsed {
        records,
        stopped: None,
        damaged: false,
        ends_marked,
    }
}

/// What recovery found.
pub enum Recovered<R> {
    Ok {
        records: Vec<R>,
        torn_tail: bool,
    },
    /// Damage the node cannot repair alone.
    Refuse(String),
}

/// An open log.
pub struct Log {
    file: File,
}

impl Log {
    /// Opens (creating on first boot) and recovers `name`. `verify: false` skips the
    /// checksums (the no-record-checksum bug).
    pub async fn open<R: Record>(
        disk: Disk,
        name: &str,
        verify: bool,
    ) -> io::Result<(Log, Recovered<R>)> {
        if !disk.exists(name).await? {
            let file = disk.create(name).await?;
            file.sync_all().await?;
            disk.sync_dir().await?;
            let ok = Recovered::Ok {
                records: Vec::new(),
                torn_tail: false,
            };
            return Ok((Log { file }, ok));
        }
        let file = disk.open(name).await?;
        let bytes = file.read_at(0, u64::MAX).await?;
        let p = parse::<R>(&bytes, verify);
        let log = Log { file };
        if p.damaged {
            let at = p.stopped.expect("damage is found where reading stopped");
            let why = format!(
                "{name} is corrupt at offset {at}: a synced record fails its checksum and its \
                 sync marker follows it"
            );
            return Ok((log, Recovered::Refuse(why)));
        }
        if let Some(at) = p.stopped {
            log.file.set_len(at as u64).await?;
        }
        if !p.ends_marked {
            log.file.append(&marker()).await?;
        }
        if p.stopped.is_some() || !p.ends_marked {
            log.file.sync_all().await?;
        }
        let torn_tail = p.stopped.is_some();
        Ok((
            log,
            Recovered::Ok {
                records: p.records,
                torn_tail,
            },
        ))
    }

    /// Appends records; with `sync` they are durable, and vouched for by a durable sync
    /// marker, when this returns.
    pub async fn append(&mut self, records: &[Vec<u8>], sync: bool) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = records.concat();
        self.file.append(&bytes).await?;
        if sync {
            self.file.sync_all().await?;
            self.file.append(&marker()).await?;
            self.file.sync_all().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(txid: u64, commit: bool) -> PRecord {
        PRecord::Decided { txid, commit }
    }

    fn prepared(txid: u64) -> PRecord {
        PRecord::Prepared {
            txid,
            writes: vec![
                Write::SetBalance {
                    key: "a1".into(),
                    value: 90,
                },
                Write::Append {
                    key: "l2".into(),
                    value: 7,
                },
            ],
            reads: vec![
                ("a1".into(), ReadValue::Balance(100)),
                ("l2".into(), ReadValue::List(vec![3, 5])),
            ],
        }
    }

    /// Two synced batches: [prepared(1)] marker [prepared(2), decided(1)] marker.
    fn two_batches() -> (Vec<u8>, usize) {
        let mut bytes = encode(&prepared(1));
        bytes.extend(marker());
        let second = bytes.len();
        bytes.extend(encode(&prepared(2)));
        bytes.extend(encode(&decided(1, true)));
        bytes.extend(marker());
        (bytes, second)
    }

    #[test]
    fn records_round_trip() {
        let (bytes, _) = two_batches();
        let p = parse::<PRecord>(&bytes, true);
        assert_eq!(p.records, vec![prepared(1), prepared(2), decided(1, true)]);
        assert_eq!((p.stopped, p.damaged, p.ends_marked), (None, false, true));
        let c = CRecord {
            txid: 9,
            commit: true,
            participants: vec![1, 3],
        };
        let p = parse::<CRecord>(&encode(&c), true);
        assert_eq!(p.records, vec![c]);
        assert!(!p.ends_marked);
    }

    #[test]
    fn a_torn_unmarked_tail_is_cut_off() {
        let (mut bytes, _) = two_batches();
        let whole = bytes.len();
        bytes.extend(encode(&prepared(3)));
        bytes.extend(encode(&decided(2, false)));
        // The crash tore the first record of the unsynced batch; the second survived.
        bytes[whole + HEADER + 3] ^= 0xff;
        let p = parse::<PRecord>(&bytes, true);
        assert_eq!(p.records.len(), 3);
        assert_eq!((p.stopped, p.damaged), (Some(whole), false));
    }

    #[test]
    fn any_flipped_bit_before_the_last_marker_is_damage_not_a_torn_tail() {
        let (bytes, second) = two_batches();
        let last_marker = bytes.len() - marker().len();
        for bit in 0..last_marker * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let p = parse::<PRecord>(&b, true);
            assert!(p.damaged, "bit {bit} passed for a torn tail");
            assert!(p.stopped.unwrap() < second || bit / 8 >= second);
        }
    }

    #[test]
    fn a_flipped_last_marker_is_cut_and_loses_nothing() {
        let (mut bytes, _) = two_batches();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        let p = parse::<PRecord>(&bytes, true);
        assert_eq!(p.records.len(), 3);
        assert!(!p.damaged && !p.ends_marked);
    }

    #[test]
    fn without_checksums_a_flipped_decision_is_believed() {
        let mut bytes = encode(&decided(4, true));
        bytes.extend(marker());
        let commit_byte = HEADER + 1 + 1 + 8;
        bytes[commit_byte] ^= 1;
        assert!(parse::<PRecord>(&bytes, true).damaged);
        let p = parse::<PRecord>(&bytes, false);
        assert_eq!(p.records, vec![decided(4, false)]);
    }
}
