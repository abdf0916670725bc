//! raft-rs's persistent state on the simulated disk: one append-only journal of
//! checksummed records, replayed into a `MemStorage` (the in-memory `Storage` the
//! `RawNode` reads) at start, and a small sync-point file saying how much of the journal
//! was fsynced.
//!
//! Records are `[len u32][checksum u64][body]`; a body is either a batch of entries (which
//! replaces every entry from its first index on, as raft-rs's `append` does) or a
//! HardState (term, vote, commit), or a ConfState with the index it was applied at and the
//! number of membership changes applied by then. Recovery starts raft-rs from the last
//! ConfState whose index the log and commit index cover (the initial voters when there is
//! none), with that index as raft-rs's `applied`: the host replays the entries up to it
//! into the state machine, and raft-rs hands out the rest (conf changes included).
//!
//! Every fsync of the journal is followed by writing its length into the sync-point file,
//! twice (each copy checksummed), and fsyncing that, before the node acts on the records
//! (sends `persisted_messages`, counts itself, applies). Recovery reads the journal up to
//! the first record that is short or fails its checksum. Damage at or past the synced
//! length is the torn or unsynced tail a crash leaves: the node never acted on it, and it
//! is cut. Damage inside the synced length is synced data damaged later, and the node
//! refuses to start rather than forget a vote, a commit index or entries it acknowledged
//! (Protocol-Aware Recovery, FAST'18); so it does when no copy of the synced length can be
//! read, or the journal is shorter than it. The sync point lives in its own file so that
//! no damage to the journal's last records, however many bits it flips, can pass for a
//! torn tail (a marker appended after them, the earlier design, is damaged with them).
//! Not modelled: snapshots, log compaction.

use std::io;

use raft::eraftpb::{ConfState, Entry, EntryType, HardState};
use raft::storage::MemStorage;
use sim::disk::{Disk, File};

use super::observe::LogEntry;
use crate::codec::{checksum, put_bytes, put_u32, put_u64, Cursor};

const JOURNAL: &str = "raftrs.journal";
/// The journal's synced length, `[len u64][checksum u64]` twice, rewritten in place and
/// fsynced after every fsync of the journal. Both names become durable in one directory
/// sync at creation.
const SYNCED: &str = "raftrs.synced";
const SYNCED_COPY: usize = 16;
const ENTRIES: u8 = 1;
const HARD_STATE: u8 = 2;
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
    synced: File,
    /// The journal's length with everything written so far.
    end: u64,
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

/// Two checksummed copies of the journal's synced length.
fn encode_synced(len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * SYNCED_COPY);
    for _ in 0..2 {
        put_u64(&mut out, len);
        put_u64(&mut out, checksum(&len.to_le_bytes()));
    }
    out
}

/// What the sync-point file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synced {
    /// Nothing yet: the file is empty (no sync has completed since it was made).
    Never,
    /// The largest length a good copy holds (a crash during a rewrite may leave one copy
    /// old and one new; the journal was fsynced up to either).
    Len(u64),
    /// No copy is readable: only damage does that (one copy is written per sector write,
    /// and a crash keeps or loses a sector whole).
    Unreadable,
}

fn decode_synced(bytes: &[u8]) -> Synced {
    if bytes.is_empty() {
        return Synced::Never;
    }
    bytes
        .chunks_exact(SYNCED_COPY)
        .filter_map(|c| {
            let len = <[u8; 8]>::try_from(&c[..8]).ok()?;
            let sum = u64::from_le_bytes(c[8..].try_into().ok()?);
            (checksum(&len) == sum).then_some(u64::from_le_bytes(len))
        })
        .max()
        .map_or(Synced::Unreadable, Synced::Len)
}

/// The journal replayed: its good records, and how many bytes to keep.
struct Replayed {
    log: Vec<Entry>,
    hs: HardState,
    confs: Vec<ConfRecord>,
    /// The length of the good records; what follows is a torn tail to cut.
    keep: usize,
}

/// Replays the journal `data` given what the sync-point file says; `Err` says why the
/// node must not start on it.
fn replay(data: &[u8], synced: Synced) -> Result<Replayed, String> {
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
            Some(Record::Conf(c)) => confs.push(c),
            None => break,
        }
        at += 12 + n;
    }
    if let Synced::Len(s) = synced {
        if (data.len() as u64) < s {
            return Err(format!(
                "the journal holds {} bytes but {s} were synced: the disk lost synced records",
                data.len()
            ));
        }
    }
    if at < data.len() {
        match synced {
            Synced::Never => {}
            Synced::Len(s) if at as u64 >= s => {}
            Synced::Len(s) => {
                return Err(format!(
                    "the journal is damaged at byte {at}, inside the {s} bytes synced: corruption, not a torn tail"
                ))
            }
            Synced::Unreadable => {
                return Err(format!(
                    "the journal is damaged at byte {at} and no copy of its synced length is readable: it may be corruption, not a torn tail"
                ))
            }
        }
    }
    Ok(Replayed {
        log,
        hs,
        confs,
        keep: at,
    })
}

impl Journal {
    /// Opens the journal and replays it; `voters` are the raft ids of the fixed cluster.
    pub async fn open(disk: Disk, voters: Vec<u64>) -> io::Result<(Journal, Recovered)> {
        // A new file's name is durable only once the directory is synced: without that a
        // crash loses the whole journal, fsynced records and all. Both files are made
        // before one directory sync and no record is written before it, so a missing
        // sync-point file means nothing was ever written.
        let (file, synced) = if disk.exists(SYNCED).await? {
            (disk.open(JOURNAL).await?, disk.open(SYNCED).await?)
        } else {
            let f = disk.create(JOURNAL).await?;
            let s = disk.create(SYNCED).await?;
            disk.sync_dir().await?;
            (f, s)
        };
        let len = file.len().await?;
        let data = file.read_at(0, len).await?;
        // An unreadable sync point matters only if the journal is damaged: the next sync
        // rewrites it (and a rewrite remaps a bad sector).
        let point = match synced.read_at(0, 2 * SYNCED_COPY as u64).await {
            Ok(bytes) => decode_synced(&bytes),
            Err(_) => Synced::Unreadable,
        };
        let Replayed {
            log,
            hs,
            confs,
            keep,
        } = replay(&data, point).map_err(io::Error::other)?;
        let cut = data.len() as u64 - keep as u64;
        if cut > 0 {
            file.set_len(keep as u64).await?;
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
        let journal = Journal {
            file,
            synced,
            end: keep as u64,
        };
        Ok((journal, rec))
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
        self.append(&out).await
    }

    /// Appends a ConfState record (not yet synced).
    pub async fn write_conf(&mut self, r: &ConfRecord) -> io::Result<()> {
        let mut out = Vec::new();
        frame(&mut out, &encode_conf(r));
        self.append(&out).await
    }

    async fn append(&mut self, out: &[u8]) -> io::Result<()> {
        if !out.is_empty() {
            let at = self.file.append(out).await?;
            self.end = at + out.len() as u64;
        }
        Ok(())
    }

    /// Makes every written record durable, then the journal's new length in the sync
    /// point. The second fsync costs a sync's latency per Ready, and buys recovery the
    /// means to tell a torn tail (past the synced length) from synced records damaged
    /// later (inside it): the node acts on records only once the sync point covers them.
    pub async fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data().await?;
        self.synced.write_at(0, &encode_synced(self.end)).await?;
        self.synced.sync_data().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(from: u64, to: u64, term: u64) -> Vec<Entry> {
        (from..=to)
            .map(|index| Entry {
                index,
                term,
                data: format!("put k{index}").into_bytes().into(),
                ..Default::default()
            })
            .collect()
    }

    fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
        HardState {
            term,
            vote,
            commit,
            ..Default::default()
        }
    }

    /// What `Journal::write` appends for one Ready.
    fn batch(es: &[Entry], hs: Option<HardState>) -> Vec<u8> {
        let mut out = Vec::new();
        if !es.is_empty() {
            frame(&mut out, &encode_entries(es));
        }
        if let Some(h) = hs {
            frame(&mut out, &encode_hard_state(&h));
        }
        out
    }

    /// Two synced batches, the last one a HardState alone (a follower learning a commit
    /// index, as in `raft-rs/disk-corrupt-elect` seed 93): the journal and its sync point.
    fn synced_journal() -> (Vec<u8>, Vec<u8>) {
        let mut data = batch(&entries(1, 3, 1), Some(hard_state(1, 2, 2)));
        data.extend(batch(&[], Some(hard_state(1, 2, 3))));
        let point = encode_synced(data.len() as u64);
        (data, point)
    }

    #[test]
    fn a_synced_journal_replays_every_record() {
        let (data, point) = synced_journal();
        let r = replay(&data, decode_synced(&point)).unwrap();
        assert_eq!(r.keep, data.len());
        assert_eq!(r.log.len(), 3);
        assert_eq!(r.hs, hard_state(1, 2, 3));
    }

    #[test]
    fn a_torn_tail_past_the_synced_length_is_cut() {
        let (synced, point) = synced_journal();
        let unsynced = batch(&entries(4, 6, 1), Some(hard_state(1, 2, 4)));
        let first = batch(&entries(4, 6, 1), None).len();
        for cut in 1..unsynced.len() {
            let mut data = synced.clone();
            data.extend(&unsynced[..cut]);
            let r = replay(&data, decode_synced(&point)).unwrap();
            // A whole record that landed stays (it is good, only never acted on).
            let whole = if cut >= first { first } else { 0 };
            assert_eq!(r.keep, synced.len() + whole, "torn after {cut} bytes");
            assert_eq!(r.hs.commit, 3);
        }
        // A lost sector leaves zeros before a record that landed whole: the node never
        // acted on any of it, so it goes too.
        let mut data = synced.clone();
        let mut torn = unsynced.clone();
        torn[..first].fill(0);
        data.extend(&torn);
        assert_eq!(
            replay(&data, decode_synced(&point)).unwrap().keep,
            synced.len()
        );
    }

    /// The regression of `raft-rs/disk-corrupt-elect` seed 93: the last synced record (a
    /// HardState raising the commit index the node then applied up to) and the marker
    /// appended after it were both hit by bit flips, and recovery took the two for a torn
    /// tail, cut them, and the node came back with a lower commit index. Now any flipped
    /// bit, in any record including the last, is damage inside the synced length.
    #[test]
    fn no_flipped_bit_in_synced_records_passes_for_a_torn_tail() {
        let (data, point) = synced_journal();
        for bit in 0..data.len() * 8 {
            let mut bad = data.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let err = replay(&bad, decode_synced(&point))
                .err()
                .unwrap_or_else(|| panic!("bit {bit} flipped and recovery went on"));
            assert!(err.contains("inside the"), "{err}");
        }
        // Two flips, one in the last record and one in its last byte, as in seed 93.
        let mut bad = data.clone();
        let last = bad.len() - 1;
        bad[last - 20] ^= 0x10;
        bad[last] ^= 0x01;
        assert!(replay(&bad, decode_synced(&point)).is_err());
    }

    #[test]
    fn one_readable_copy_of_the_sync_point_is_enough() {
        let (data, point) = synced_journal();
        let mut bad = data.clone();
        bad[data.len() - 3] ^= 0x04;
        for bit in 0..point.len() * 8 {
            let mut p = point.clone();
            p[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(decode_synced(&p), Synced::Len(data.len() as u64));
            assert!(
                replay(&bad, decode_synced(&p)).is_err(),
                "bit {bit} of the sync point"
            );
        }
        // No copy readable: a clean journal still starts, a damaged one does not.
        let mut p = point.clone();
        p[0] ^= 1;
        p[SYNCED_COPY] ^= 1;
        assert_eq!(decode_synced(&p), Synced::Unreadable);
        assert_eq!(replay(&data, decode_synced(&p)).unwrap().keep, data.len());
        let err = replay(&bad, decode_synced(&p)).err().unwrap();
        assert!(err.contains("no copy of its synced length"), "{err}");
    }

    #[test]
    fn a_rewrite_of_the_sync_point_cut_between_its_copies_reads_the_newer() {
        let mut p = encode_synced(200);
        p[SYNCED_COPY..].copy_from_slice(&encode_synced(120)[SYNCED_COPY..]);
        assert_eq!(decode_synced(&p), Synced::Len(200));
        p[..SYNCED_COPY].copy_from_slice(&encode_synced(120)[..SYNCED_COPY]);
        assert_eq!(decode_synced(&p), Synced::Len(120));
        assert_eq!(decode_synced(&[]), Synced::Never);
        assert_eq!(decode_synced(&[0; 2 * SYNCED_COPY]), Synced::Unreadable);
    }

    #[test]
    fn a_journal_shorter_than_its_synced_length_refuses() {
        let (data, point) = synced_journal();
        let first = batch(&entries(1, 3, 1), Some(hard_state(1, 2, 2))).len();
        let err = replay(&data[..first], decode_synced(&point)).err().unwrap();
        assert!(err.contains("lost synced records"), "{err}");
        // Before any sync point was written, a torn journal is all tail.
        assert_eq!(replay(&data[..first / 2], Synced::Never).unwrap().keep, 0);
    }
}
