//! Raft's persistent state on the simulated disk.
//!
//! - `raft.meta`: term and vote, one 32-byte record at offset 0 (inside one sector, so a
//!   crash leaves the old or the new record, never a mix) with a checksum.
//! - `raft.log`: append-only records `[len u32][checksum u64][term u64][payload]`, one per
//!   entry, in index order. Truncation cuts the file at a record boundary.
//!
//! Every change is fsynced before the host sends anything that depends on it. Recovery
//! reads both files, stops the log at the first record whose checksum fails (a torn tail
//! from a crash mid-append) and cuts the file there. A bad record followed by good ones is
//! corruption, not a torn tail: the node refuses to start rather than forget entries it
//! may have acknowledged.

use std::io;

use crate::codec::{checksum, put_str, put_u64, Cursor};
use sim::disk::{Disk, File};

use super::bugs::{Bug, Bugs};
use super::machine::{HardState, Ready};
use super::msg::{Command, Entry, Key, KvOp};

const META: &str = "raft.meta";
const LOG: &str = "raft.log";
const META_MAGIC: u32 = 0x5241_4654; // "RAFT"
const HEADER: usize = 4 + 8 + 8;

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
fn encode_record_into(out: &mut Vec<u8>, entry: &Entry) {
    let start = out.len();
    // Length and checksum come first but depend on what follows: reserve, then fill.
    out.extend_from_slice(&[0; 12]);
    put_u64(out, entry.term);
    encode_command(out, &entry.command);
    let payload_len = (out.len() - start - HEADER) as u32;
    let sum = checksum(&out[start + 12..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 12].copy_from_slice(&sum.to_le_bytes());
}

#[cfg(test)]
fn encode_record(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    encode_record_into(&mut out, entry);
    out
}

fn encode_meta(hs: HardState) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&META_MAGIC.to_le_bytes());
    put_u64(&mut out, hs.term);
    put_u64(&mut out, hs.vote.map_or(u64::MAX, |v| v as u64));
    let sum = checksum(&out);
    put_u64(&mut out, sum);
    out.resize(32, 0);
    out
}

fn decode_meta(bytes: &[u8]) -> Option<HardState> {
    if bytes.len() < 28 || bytes[..4] != META_MAGIC.to_le_bytes() {
        return None;
    }
    let sum = u64::from_le_bytes(bytes[20..28].try_into().ok()?);
    if sum != checksum(&bytes[..20]) {
        return None;
    }
    let term = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
    let vote = u64::from_le_bytes(bytes[12..20].try_into().ok()?);
    Some(HardState {
        term,
        vote: (vote != u64::MAX).then_some(vote as usize),
    })
}

/// What recovery found.
pub enum Recovered {
    Ok {
        hard_state: HardState,
        log: Vec<Entry>,
        torn_tail: bool,
    },
    /// The disk holds damage the node cannot safely repair alone.
    Refuse(String),
}

/// Parses the log file. Returns the entries, each record's end offset, and whether the
/// parse stopped early at a bad record (with the offset where it stopped).
fn parse_log(bytes: &[u8], verify: bool) -> (Vec<Entry>, Vec<u64>, Option<u64>) {
    let mut entries = Vec::new();
    let mut ends = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let stop = Some(at as u64);
        let Some(head) = bytes.get(at..at + HEADER) else {
            return (entries, ends, stop);
        };
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
        let body_end = at + 12 + 8 + len;
        let Some(body) = bytes.get(at + 12..body_end) else {
            return (entries, ends, stop);
        };
        if len == 0 && sum == 0 && body.iter().all(|&b| b == 0) {
            // Zeros: space a crash left behind an unsynced append.
            return (entries, ends, stop);
        }
        if verify && checksum(body) != sum {
            return (entries, ends, stop);
        }
        let term = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
        // Without checksums (the apply-torn-tail bug) unreadable payloads become no-ops.
        let command = decode_command(&body[8..]).unwrap_or(Command::Noop);
        entries.push(Entry { term, command });
        at = body_end;
        ends.push(at as u64);
    }
    (entries, ends, None)
}

/// The open files of a running node.
pub struct Storage {
    meta: File,
    log: File,
    /// End offset of each entry's record: entry i (1-based) ends at `ends[i - 1]`.
    ends: Vec<u64>,
    bugs: Bugs,
}

impl Storage {
    /// Opens (creating on first boot) and recovers.
    pub async fn open(disk: Disk, bugs: Bugs) -> io::Result<(Storage, Recovered)> {
        let fresh = !disk.exists(META).await?;
        let meta = disk.open_or_create(META).await?;
        let log = disk.open_or_create(LOG).await?;
        if fresh {
            meta.write_at(0, &encode_meta(HardState::default())).await?;
            meta.sync_all().await?;
            log.sync_all().await?;
            disk.sync_dir().await?;
            // Nothing to recover: reading back what was just written would only add reads
            // that a faulty disk can fail.
            let storage = Storage {
                meta,
                log,
                ends: Vec::new(),
                bugs,
            };
            let recovered = Recovered::Ok {
                hard_state: HardState::default(),
                log: Vec::new(),
                torn_tail: false,
            };
            return Ok((storage, recovered));
        }
        let meta_bytes = meta.read_at(0, 32).await?;
        let log_bytes = log.read_at(0, u64::MAX).await?;
        let verify = !bugs.has(Bug::ApplyTornTail);
        let Some(hard_state) = decode_meta(&meta_bytes) else {
            let storage = Storage {
                meta,
                log,
                ends: Vec::new(),
                bugs,
            };
            return Ok((
                storage,
                Recovered::Refuse("raft.meta fails its checksum".into()),
            ));
        };
        let (entries, ends, stopped) = parse_log(&log_bytes, verify);
        let mut torn_tail = false;
        if let Some(at) = stopped {
            // Anything valid after the bad record means corruption in the middle.
            let rest = &log_bytes[at as usize..];
            let later_valid = (1..rest.len()).any(|skip| {
                let (e, _, _) = parse_log(&rest[skip..], true);
                !e.is_empty() && skip + HEADER < rest.len()
            });
            if later_valid && verify {
                let storage = Storage {
                    meta,
                    log,
                    ends,
                    bugs,
                };
                let why = format!("raft.log is corrupt at offset {at} with valid records after it");
                return Ok((storage, Recovered::Refuse(why)));
            }
            torn_tail = true;
            log.set_len(at).await?;
            log.sync_all().await?;
        }
        let storage = Storage {
            meta,
            log,
            ends,
            bugs,
        };
        Ok((
            storage,
            Recovered::Ok {
                hard_state,
                log: entries,
                torn_tail,
            },
        ))
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
            self.meta.write_at(0, &encode_meta(hs)).await?;
            if sync {
                self.meta.sync_data().await?;
            }
        }
        let mut log_changed = false;
        if let Some(from) = ready.truncate_from {
            let keep = (from as usize - 1).min(self.ends.len());
            self.ends.truncate(keep);
            let cut = self.ends.last().copied().unwrap_or(0);
            self.log.set_len(cut).await?;
            log_changed = true;
        }
        if !ready.append.is_empty() {
            assert_eq!(
                ready.append_at,
                self.ends.len() as u64 + 1,
                "appends follow the persisted log"
            );
            let start = self.ends.last().copied().unwrap_or(0);
            let mut batch = Vec::with_capacity(64 * ready.append.len());
            for e in &ready.append {
                encode_record_into(&mut batch, e);
                self.ends.push(start + batch.len() as u64);
            }
            self.log.write_at(start, &batch).await?;
            log_changed = true;
        }
        if log_changed && sync {
            self.log.sync_data().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                term: 1,
                command: Command::Noop,
            },
            Entry {
                term: 2,
                command: Command::Kv {
                    client: 7,
                    seq: 3,
                    op: KvOp::Cas {
                        key: "x".into(),
                        expect: None,
                        new: 4,
                    },
                },
            },
            Entry {
                term: 2,
                command: Command::Kv {
                    client: 7,
                    seq: 4,
                    op: KvOp::Append {
                        key: "l".into(),
                        value: -1,
                    },
                },
            },
        ]
    }

    #[test]
    fn records_round_trip() {
        let bytes: Vec<u8> = entries().iter().flat_map(encode_record).collect();
        let (parsed, ends, stopped) = parse_log(&bytes, true);
        assert_eq!(parsed, entries());
        assert_eq!(ends.last().copied(), Some(bytes.len() as u64));
        assert_eq!(stopped, None);
        let hs = HardState {
            term: 9,
            vote: Some(2),
        };
        assert_eq!(decode_meta(&encode_meta(hs)), Some(hs));
        assert_eq!(
            decode_meta(&encode_meta(HardState::default())),
            Some(HardState::default())
        );
    }

    #[test]
    fn a_torn_tail_is_cut_with_checksums_and_applied_without() {
        let mut bytes: Vec<u8> = entries().iter().flat_map(encode_record).collect();
        let last_start = bytes.len() - encode_record(&entries()[2]).len();
        // The last record's header landed, its payload did not.
        for b in &mut bytes[last_start + HEADER..] {
            *b = 0;
        }
        let (good, _, stopped) = parse_log(&bytes, true);
        assert_eq!(good.len(), 2);
        assert_eq!(stopped, Some(last_start as u64));
        let (bad, _, _) = parse_log(&bytes, false);
        assert_eq!(
            bad.len(),
            3,
            "without checksums the torn record is accepted"
        );
        assert_ne!(bad[2], entries()[2]);
    }

    #[test]
    fn a_flipped_meta_bit_is_detected() {
        let mut m = encode_meta(HardState {
            term: 3,
            vote: Some(1),
        });
        m[5] ^= 4;
        assert_eq!(decode_meta(&m), None);
    }
}
