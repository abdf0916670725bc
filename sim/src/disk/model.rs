//! One node's disk as a pure model: no simulator, no time, only state and a random stream.
//!
//! Files live in one flat directory. Each file has a *durable* image (what survives power
//! loss) and a *cached* image (what reads see: the durable image plus every write since the
//! last sync, the page cache). Unsynced writes and length changes are kept in order as
//! pending operations. The directory has a cached and a durable map from names to files;
//! create, rename and remove change the cached map, and only a directory sync makes them
//! durable.
//!
//! On a crash each pending operation independently survives, vanishes or (writes spanning
//! two or more sectors) is torn at sector granularity; survivors are applied in order to
//! the durable image, the directory reverts to its durable map, and the cache is rebuilt
//! from what is durable.
//!
//! An fsync is not atomic. A sync takes simulated time, and a crash that lands while one
//! is in flight (with probability `sync_reorder`) persists the sectors written since the
//! file's last completed sync as an arbitrary subset, each sector its final cached
//! content or its old durable one, as a drive writing pages back in any order would
//! (the crash states ALICE, OSDI'14, and CrashMonkey, OSDI'18, enumerate). A commit
//! marker written in the same sync as its records can survive without them. Pages are
//! modelled as sectors: a page larger than a sector torn at sector granularity is one
//! such subset.
//!
//! The durable image is stored as the sectors where it differs from the cache (see
//! [`Durable`]): a file synced after every append, the common case, is held once, not
//! twice. This is representation only: every read, crash and fault sees the same bytes.
//!
//! Not modelled: subdirectories, hard links, sparse-file holes as distinct from zeros,
//! metadata-only fsync differences (`sync_data` and `sync_all` behave alike), and the
//! ordering guarantees of particular file systems (ext4's data=ordered, say).

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::DiskConfig;
use super::event::DiskFault;

/// Why a disk operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    #[error("no such file: {0}")]
    NotFound(String),
    #[error("file already exists: {0}")]
    AlreadyExists(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("no space left on device")]
    NoSpace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PendingOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen { len: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    op: PendingOp,
    /// Marked by a failed fsync: still visible in the cache, never durable.
    doomed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Inode {
    durable: Durable,
    cache: Vec<u8>,
    pending: Vec<Pending>,
}

/// A file's durable image, relative to its cache. Invariant: sector `k` of the image
/// (its bytes below `len`) is `diff[k]` if present, and otherwise the cache's bytes there,
/// which the cache then covers. Every change to the cache first moves the sectors it would
/// disturb into `diff` ([`Inode::preserve`]); a sync that makes a sector equal to the cache
/// again drops it from `diff` ([`Inode::settle`]). Logs that append and sync hold almost
/// nothing here, where two full images would double the memory of a long run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Durable {
    len: usize,
    diff: BTreeMap<usize, Vec<u8>>,
}

impl Inode {
    /// The durable bytes of sector `sec` (those below the image's length).
    fn durable_sector(&self, sec: usize, s: usize) -> Vec<u8> {
        let lo = sec * s;
        let hi = ((sec + 1) * s).min(self.durable.len);
        if lo >= hi {
            return Vec::new();
        }
        match self.durable.diff.get(&sec) {
            Some(d) => d.clone(),
            None => self.cache[lo..hi].to_vec(),
        }
    }

    /// The whole durable image.
    fn durable_vec(&self, s: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.durable.len);
        for sec in 0..self.durable.len.div_ceil(s) {
            match self.durable.diff.get(&sec) {
                Some(d) => out.extend_from_slice(d),
                None => {
                    let hi = ((sec + 1) * s).min(self.durable.len);
                    out.extend_from_slice(&self.cache[sec * s..hi]);
                }
            }
        }
        out
    }

    /// Before the cache changes at `lo..hi`: keeps the durable bytes of the sectors there
    /// that only the cache held.
    fn preserve(&mut self, lo: usize, hi: usize, s: usize) {
        let end = hi.min(self.durable.len);
        if lo >= end {
            return;
        }
        for sec in lo / s..=(end - 1) / s {
            if !self.durable.diff.contains_key(&sec) {
                let bytes = self.durable_sector(sec, s);
                self.durable.diff.insert(sec, bytes);
            }
        }
    }

    /// Records `bytes` as sector `sec`'s durable content, shared with the cache if equal.
    fn settle(&mut self, sec: usize, bytes: Vec<u8>, s: usize) {
        let lo = sec * s;
        let same =
            self.cache.len() >= lo + bytes.len() && self.cache[lo..lo + bytes.len()] == bytes;
        if same {
            self.durable.diff.remove(&sec);
        } else {
            self.durable.diff.insert(sec, bytes);
        }
    }

    fn cache_write(&mut self, offset: u64, data: &[u8], s: usize) {
        let lo = offset as usize;
        self.preserve(lo, lo + data.len(), s);
        write_into(&mut self.cache, offset, data);
    }

    fn cache_set_len(&mut self, len: usize, s: usize) {
        if len < self.cache.len() {
            self.preserve(len, self.cache.len(), s);
        }
        self.cache.resize(len, 0);
    }

    fn durable_set_len(&mut self, len: usize, s: usize) {
        let old = self.durable.len;
        if len < old {
            self.durable.diff.split_off(&len.div_ceil(s));
            // The sector the new end falls inside (gone already if the end is aligned).
            if let Some(d) = self.durable.diff.get_mut(&(len / s)) {
                d.truncate(len % s);
            }
            self.durable.len = len;
        } else if len > old {
            let first = old / s;
            let mut head = self.durable_sector(first, s);
            // Sectors not yet in `diff` still name the cache, which may now differ.
            self.durable.diff.remove(&first);
            self.durable.len = len;
            for sec in first..=(len - 1) / s {
                let n = ((sec + 1) * s).min(len) - sec * s;
                let mut bytes = std::mem::take(&mut head);
                bytes.resize(n, 0);
                self.settle(sec, bytes, s);
            }
        }
    }

    fn durable_write(&mut self, offset: u64, data: &[u8], s: usize) {
        let (off, end) = (offset as usize, offset as usize + data.len());
        // Even an empty write extends the file to its offset, as `write_into` does.
        if end > self.durable.len {
            self.durable_set_len(end, s);
        }
        if data.is_empty() {
            return;
        }
        for sec in off / s..=(end - 1) / s {
            let lo = sec * s;
            let mut bytes = self.durable_sector(sec, s);
            let (a, b) = (off.max(lo), end.min(lo + bytes.len()));
            bytes[a - lo..b - lo].copy_from_slice(&data[a - off..b - off]);
            self.settle(sec, bytes, s);
        }
    }

    fn durable_apply(&mut self, op: &PendingOp, s: usize) {
        match op {
            PendingOp::Write { offset, data } => self.durable_write(*offset, data, s),
            PendingOp::SetLen { len } => self.durable_set_len(*len as usize, s),
        }
    }
}

/// A file identity that survives renames.
pub type InodeId = u64;

/// Decides whether a corruption or latent error may land on `(file, sector)`; the fault
/// placement rule across replicas lives behind it.
pub trait FaultGate {
    fn allow(&mut self, file: &str, sector: u64) -> bool;
}

/// A gate that allows everything.
pub struct AllowAll;
impl FaultGate for AllowAll {
    fn allow(&mut self, _: &str, _: u64) -> bool {
        true
    }
}

fn write_into(buf: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let end = offset as usize + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset as usize..end].copy_from_slice(data);
}

/// One node's disk.
#[derive(Debug, Clone)]
pub struct NodeDisk {
    config: DiskConfig,
    rng: ChaCha8Rng,
    dir: BTreeMap<String, InodeId>,
    durable_dir: BTreeMap<String, InodeId>,
    inodes: BTreeMap<InodeId, Inode>,
    next_inode: InodeId,
    latent: BTreeSet<(InodeId, u64)>,
    /// Files with an fsync in flight (begun, not yet completed).
    syncing: BTreeSet<InodeId>,
}

/// What one crash found on a disk (for the run's statistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashFound {
    /// Unsynced writes, length changes or directory changes were pending.
    pub unsynced: bool,
    /// Some of them were lost or torn (rather than all kept intact).
    pub damaged: bool,
    /// An fsync was in flight.
    pub in_sync: bool,
}

impl NodeDisk {
    pub fn new(config: DiskConfig, rng: ChaCha8Rng) -> Self {
        assert!(config.sector_size > 0, "sector size must be positive");
        NodeDisk {
            config,
            rng,
            dir: BTreeMap::new(),
            durable_dir: BTreeMap::new(),
            inodes: BTreeMap::new(),
            next_inode: 1,
            latent: BTreeSet::new(),
            syncing: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &DiskConfig {
        &self.config
    }

    pub(crate) fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p.min(1.0))
    }

    fn inode(&self, ino: InodeId) -> &Inode {
        self.inodes
            .get(&ino)
            .expect("file handles always name a live inode")
    }

    fn inode_mut(&mut self, ino: InodeId) -> &mut Inode {
        self.inodes
            .get_mut(&ino)
            .expect("file handles always name a live inode")
    }

    /// Bytes the disk holds: the larger of each file's durable and cached size.
    pub fn used_bytes(&self) -> u64 {
        self.inodes
            .values()
            .map(|i| i.durable.len.max(i.cache.len()) as u64)
            .sum()
    }

    fn has_room(&self, ino: InodeId, new_len: u64) -> bool {
        let Some(cap) = self.config.capacity else {
            return true;
        };
        let i = self.inode(ino);
        let now = i.durable.len.max(i.cache.len()) as u64;
        let grow = new_len.saturating_sub(now);
        self.used_bytes() + grow <= cap
    }

    /// Opens `name`; with `create`, makes it if missing; with `truncate`, empties it.
    pub fn open(
        &mut self,
        name: &str,
        create: bool,
        truncate: bool,
    ) -> Result<(InodeId, bool), DiskError> {
        let (ino, created) = match self.dir.get(name) {
            Some(&ino) => (ino, false),
            None if create => {
                let ino = self.next_inode;
                self.next_inode += 1;
                self.inodes.insert(ino, Inode::default());
                self.dir.insert(name.to_string(), ino);
                (ino, true)
            }
            None => return Err(DiskError::NotFound(name.to_string())),
        };
        if truncate && !created {
            self.set_len(ino, name, 0, &mut Vec::new())?;
        }
        Ok((ino, created))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.dir.contains_key(name)
    }

    pub fn len(&self, ino: InodeId) -> u64 {
        self.inode(ino).cache.len() as u64
    }

    /// Names in the directory, sorted.
    pub fn list(&self) -> Vec<String> {
        self.dir.keys().cloned().collect()
    }

    fn sectors(&self, offset: u64, len: u64) -> std::ops::Range<u64> {
        let s = self.config.sector_size;
        if len == 0 {
            return offset / s..offset / s;
        }
        offset / s..(offset + len - 1) / s + 1
    }

    /// Whether any pending write of `ino` touches `sector` (then the cache, not the
    /// durable image, decides what a read sees there).
    fn sector_is_pending(&self, ino: InodeId, sector: u64) -> bool {
        let s = self.config.sector_size;
        self.inode(ino).pending.iter().any(|p| match &p.op {
            PendingOp::Write { offset, data } => {
                let r = self.sectors(*offset, data.len() as u64);
                r.contains(&sector)
            }
            PendingOp::SetLen { len } => *len <= (sector + 1) * s,
        })
    }

    /// Reads up to `len` bytes at `offset` (fewer at the end of the file). May inject
    /// silent corruption or a latent sector error into the range first.
    pub fn read_at(
        &mut self,
        ino: InodeId,
        name: &str,
        offset: u64,
        len: u64,
        gate: &mut dyn FaultGate,
        faults: &mut Vec<DiskFault>,
    ) -> Result<Vec<u8>, DiskError> {
        let file_len = self.len(ino);
        let end = (offset.saturating_add(len)).min(file_len);
        if offset >= end {
            return Ok(Vec::new());
        }
        let range = self.sectors(offset, end - offset);
        let durable_len = self.inode(ino).durable.len as u64;
        let s = self.config.sector_size;
        // Faults strike durable sectors only: data still in the page cache is not on disk.
        let candidates: Vec<u64> = range
            .clone()
            .filter(|&sec| sec * s < durable_len && !self.sector_is_pending(ino, sec))
            .collect();
        if !candidates.is_empty() && self.chance(self.config.faults.corruption) {
            let sector = candidates[self.rng.gen_range(0..candidates.len())];
            if gate.allow(name, sector) {
                let sec_end = ((sector + 1) * s).min(durable_len);
                let bit = self.rng.gen_range(0..(sec_end - sector * s) * 8);
                let byte = (sector * s + bit / 8) as usize;
                let mask = 1u8 << (bit % 8);
                let i = self.inode_mut(ino);
                // A sector the two images share flips in both at once.
                if let Some(d) = i.durable.diff.get_mut(&(byte / s as usize)) {
                    d[byte % s as usize] ^= mask;
                }
                i.cache[byte] ^= mask;
                faults.push(DiskFault::Corruption {
                    file: name.to_string(),
                    sector,
                    bit: bit % 8 + byte as u64 * 8,
                });
            }
        }
        if !candidates.is_empty() && self.chance(self.config.faults.latent_error) {
            let sector = candidates[self.rng.gen_range(0..candidates.len())];
            if gate.allow(name, sector) && self.latent.insert((ino, sector)) {
                faults.push(DiskFault::LatentError {
                    file: name.to_string(),
                    sector,
                });
            }
        }
        if let Some(bad) = range.clone().find(|&sec| self.latent.contains(&(ino, sec))) {
            return Err(DiskError::Io(format!("{name}: unreadable sector {bad}")));
        }
        Ok(self.inode(ino).cache[offset as usize..end as usize].to_vec())
    }

    /// Writes `data` at `offset` into the cache; it becomes durable at the next sync.
    pub fn write_at(
        &mut self,
        ino: InodeId,
        name: &str,
        offset: u64,
        data: &[u8],
        faults: &mut Vec<DiskFault>,
    ) -> Result<(), DiskError> {
        let len = data.len() as u64;
        let file_len = self.len(ino);
        if !self.has_room(ino, file_len.max(offset + len)) {
            faults.push(DiskFault::NoSpace {
                file: name.to_string(),
            });
            return Err(DiskError::NoSpace);
        }
        let mut target = offset;
        let s = self.config.sector_size;
        // A misdirected write lands at another sector-aligned offset inside the file.
        let slots = file_len.max(offset + len) / s;
        if len > 0 && slots > 1 && self.chance(self.config.faults.misdirected) {
            let other = self.rng.gen_range(0..slots - 1);
            let aligned = offset / s;
            let slot = if other >= aligned { other + 1 } else { other };
            target = slot * s + offset % s;
            faults.push(DiskFault::Misdirected {
                file: name.to_string(),
                intended: offset,
                actual: target,
                len,
            });
        }
        // Rewriting a sector clears its latent error (the drive remaps it).
        for sec in self.sectors(target, len) {
            self.latent.remove(&(ino, sec));
        }
        let sector = s as usize;
        let i = self.inode_mut(ino);
        i.cache_write(target, data, sector);
        i.pending.push(Pending {
            op: PendingOp::Write {
                offset: target,
                data: data.to_vec(),
            },
            doomed: false,
        });
        Ok(())
    }

    pub fn set_len(
        &mut self,
        ino: InodeId,
        name: &str,
        len: u64,
        faults: &mut Vec<DiskFault>,
    ) -> Result<(), DiskError> {
        if !self.has_room(ino, len) {
            faults.push(DiskFault::NoSpace {
                file: name.to_string(),
            });
            return Err(DiskError::NoSpace);
        }
        let s = self.config.sector_size as usize;
        let i = self.inode_mut(ino);
        i.cache_set_len(len as usize, s);
        i.pending.push(Pending {
            op: PendingOp::SetLen { len },
            doomed: false,
        });
        Ok(())
    }

    /// An fsync of `ino` has started: until `sync` completes it, a crash may persist any
    /// subset of its unsynced sectors.
    pub fn begin_sync(&mut self, ino: InodeId) {
        if self.inodes.contains_key(&ino) {
            self.syncing.insert(ino);
        }
    }

    /// Whether anything written, resized, created, renamed or removed is not yet durable.
    pub fn has_unsynced(&self) -> bool {
        self.dir != self.durable_dir
            || self
                .inodes
                .values()
                .any(|i| i.pending.iter().any(|p| !p.doomed))
    }

    /// fsync of one file. May lie (success, nothing durable) or fail (error, and the
    /// pending writes are doomed: visible until a crash, never durable).
    pub fn sync(
        &mut self,
        ino: InodeId,
        name: &str,
        faults: &mut Vec<DiskFault>,
    ) -> Result<(), DiskError> {
        self.syncing.remove(&ino);
        if self.inode(ino).pending.is_empty() {
            return Ok(());
        }
        if self.chance(self.config.faults.fsync_failure) {
            let i = self.inode_mut(ino);
            let mut lost = 0;
            for p in i.pending.iter_mut().filter(|p| !p.doomed) {
                p.doomed = true;
                lost += 1;
            }
            faults.push(DiskFault::FsyncFailed {
                file: name.to_string(),
                lost_writes: lost,
            });
            return Err(DiskError::Io(format!("{name}: fsync failed")));
        }
        if self.chance(self.config.faults.lying_fsync) {
            faults.push(DiskFault::LyingFsync {
                file: name.to_string(),
            });
            return Ok(());
        }
        let s = self.config.sector_size as usize;
        let i = self.inode_mut(ino);
        let mut pending = std::mem::take(&mut i.pending);
        for p in pending.iter().filter(|p| !p.doomed) {
            i.durable_apply(&p.op, s);
        }
        // Emptied in place: the list keeps its room for the next writes.
        pending.clear();
        i.pending = pending;
        Ok(())
    }

    /// Makes the directory's current entries durable.
    pub fn sync_dir(&mut self) {
        self.durable_dir = self.dir.clone();
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        let ino = self
            .dir
            .remove(from)
            .ok_or_else(|| DiskError::NotFound(from.to_string()))?;
        self.dir.insert(to.to_string(), ino);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), DiskError> {
        self.dir
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| DiskError::NotFound(name.to_string()))
    }

    /// A crash during an fsync of `ino`: each sector written since the last completed
    /// sync holds its new (cached) content or its old durable one, independently; a
    /// pending length change lands or not. Returns whether anything was lost.
    fn crash_in_sync(&mut self, ino: InodeId, name: &str, faults: &mut Vec<DiskFault>) -> bool {
        let s = self.config.sector_size;
        let pending = std::mem::take(&mut self.inode_mut(ino).pending);
        let live: Vec<&Pending> = pending.iter().filter(|p| !p.doomed).collect();
        let resized = live
            .iter()
            .any(|p| matches!(p.op, PendingOp::SetLen { .. }));
        let mut touched = BTreeSet::new();
        for p in &live {
            if let PendingOp::Write { offset, data } = &p.op {
                touched.extend(self.sectors(*offset, data.len() as u64));
            }
        }
        // The cache is the final content of every page; doomed writes never reach the
        // disk, so rebuild it from the live operations alone.
        let mut fin = self.inode(ino).cache.clone();
        for p in &live {
            apply(&mut fin, &p.op);
        }
        let mut lost_any = false;
        if resized {
            if self.rng.gen_bool(0.5) {
                self.inode_mut(ino).cache.resize(fin.len(), 0);
            } else {
                lost_any = true;
            }
        }
        let (mut kept, mut lost) = (Vec::new(), Vec::new());
        for sec in touched {
            let lo = sec * s;
            if lo >= fin.len() as u64 {
                continue; // cut off by a later length change
            }
            if self.rng.gen_bool(0.5) {
                let hi = ((sec + 1) * s).min(fin.len() as u64);
                let part = fin[lo as usize..hi as usize].to_vec();
                write_into(&mut self.inode_mut(ino).cache, lo, &part);
                kept.push(sec);
            } else {
                lost.push(sec);
            }
        }
        lost_any |= !lost.is_empty();
        faults.push(DiskFault::SyncInterrupted {
            file: name.to_string(),
            kept_sectors: kept,
            lost_sectors: lost,
        });
        lost_any
    }

    /// Power loss: decides each pending operation's fate, reverts the directory to its
    /// durable entries, and rebuilds every cache from durable data.
    pub fn crash(&mut self, faults: &mut Vec<DiskFault>) -> CrashFound {
        let mut found = CrashFound {
            unsynced: self.has_unsynced(),
            in_sync: !self.syncing.is_empty(),
            ..CrashFound::default()
        };
        let first_fault = faults.len();
        let syncing = std::mem::take(&mut self.syncing);
        let names: BTreeMap<InodeId, String> = self
            .dir
            .iter()
            .chain(self.durable_dir.iter())
            .map(|(n, &i)| (i, n.clone()))
            .collect();
        let s = self.config.sector_size;
        // The crash works on the durable images: each cache becomes its file's durable image
        // first (the cache is rebuilt from it below anyway), and what survives is applied
        // to it.
        for i in self.inodes.values_mut() {
            i.cache = i.durable_vec(s as usize);
            i.durable = Durable {
                len: i.cache.len(),
                diff: BTreeMap::new(),
            };
        }
        let (keep_p, torn_p) = (self.config.faults.crash_keep, self.config.faults.torn_write);
        let inos: Vec<InodeId> = self.inodes.keys().copied().collect();
        for ino in inos {
            let name = names
                .get(&ino)
                .cloned()
                .unwrap_or_else(|| format!("inode-{ino}"));
            if syncing.contains(&ino)
                && !self.inode(ino).pending.is_empty()
                && self.chance(self.config.faults.sync_reorder)
            {
                found.damaged |= self.crash_in_sync(ino, &name, faults);
                continue;
            }
            let pending = std::mem::take(&mut self.inode_mut(ino).pending);
            for p in pending {
                if p.doomed {
                    continue;
                }
                match p.op {
                    PendingOp::Write { offset, data } => {
                        let len = data.len() as u64;
                        let sectors: Vec<u64> = self.sectors(offset, len).collect();
                        if sectors.len() >= 2 && self.chance(torn_p) {
                            // A random non-empty proper subset of the sectors lands.
                            let mut kept: Vec<u64> = Vec::new();
                            while kept.is_empty() || kept.len() == sectors.len() {
                                kept = sectors
                                    .iter()
                                    .copied()
                                    .filter(|_| self.rng.gen_bool(0.5))
                                    .collect();
                            }
                            let i = self.inode_mut(ino);
                            for &sec in &kept {
                                let lo = offset.max(sec * s);
                                let hi = (offset + len).min((sec + 1) * s);
                                let part = &data[(lo - offset) as usize..(hi - offset) as usize];
                                write_into(&mut i.cache, lo, part);
                            }
                            faults.push(DiskFault::TornWrite {
                                file: name.clone(),
                                offset,
                                len,
                                kept_sectors: kept,
                            });
                        } else if self.chance(keep_p) {
                            write_into(&mut self.inode_mut(ino).cache, offset, &data);
                        } else {
                            faults.push(DiskFault::LostWrite {
                                file: name.clone(),
                                offset,
                                len,
                            });
                        }
                    }
                    PendingOp::SetLen { len } => {
                        if self.chance(keep_p) {
                            self.inode_mut(ino).cache.resize(len as usize, 0);
                        } else {
                            faults.push(DiskFault::LostSetLen {
                                file: name.clone(),
                                len,
                            });
                        }
                    }
                }
            }
        }
        // Directory entries that were never synced are undone.
        let changed: BTreeSet<&String> = self
            .dir
            .iter()
            .filter(|(n, i)| self.durable_dir.get(*n) != Some(i))
            .map(|(n, _)| n)
            .chain(
                self.durable_dir
                    .keys()
                    .filter(|n| !self.dir.contains_key(*n)),
            )
            .collect();
        for file in changed {
            faults.push(DiskFault::LostDirEntry { file: file.clone() });
        }
        self.dir = self.durable_dir.clone();
        let live: BTreeSet<InodeId> = self.dir.values().copied().collect();
        self.inodes.retain(|ino, _| live.contains(ino));
        self.latent.retain(|(ino, _)| live.contains(ino));
        for i in self.inodes.values_mut() {
            i.durable = Durable {
                len: i.cache.len(),
                diff: BTreeMap::new(),
            };
        }
        found.damaged |= faults[first_fault..].iter().any(|f| {
            matches!(
                f,
                DiskFault::LostWrite { .. }
                    | DiskFault::TornWrite { .. }
                    | DiskFault::LostSetLen { .. }
                    | DiskFault::LostDirEntry { .. }
            )
        });
        found
    }

    /// The file's durable image (what a crash right now would keep at minimum).
    pub fn durable_image(&self, name: &str) -> Option<Vec<u8>> {
        let ino = self.durable_dir.get(name)?;
        Some(
            self.inode(*ino)
                .durable_vec(self.config.sector_size as usize),
        )
    }
}

fn apply(buf: &mut Vec<u8>, op: &PendingOp) {
    match op {
        PendingOp::Write { offset, data } => write_into(buf, *offset, data),
        PendingOp::SetLen { len } => buf.resize(*len as usize, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared durable image holds exactly the bytes two separate images would, through
    /// random writes, length changes, syncs, flips and crash resets (sector size 8, so
    /// operations straddle sector boundaries often).
    #[test]
    fn the_durable_overlay_matches_two_plain_images() {
        let s = 8usize;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..200 {
            let mut i = Inode::default();
            let (mut durable, mut cache): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
            let mut pending: Vec<PendingOp> = Vec::new();
            for _ in 0..60 {
                match next(10) {
                    0..=3 => {
                        let offset = next(70);
                        let data: Vec<u8> = (0..next(20)).map(|_| next(256) as u8).collect();
                        i.cache_write(offset, &data, s);
                        write_into(&mut cache, offset, &data);
                        pending.push(PendingOp::Write { offset, data });
                    }
                    4 => {
                        let len = next(80);
                        i.cache_set_len(len as usize, s);
                        cache.resize(len as usize, 0);
                        pending.push(PendingOp::SetLen { len });
                    }
                    5..=7 => {
                        for op in pending.drain(..) {
                            i.durable_apply(&op, s);
                            apply(&mut durable, &op);
                        }
                    }
                    8 if !cache.is_empty() && cache.len() <= durable.len() => {
                        let byte = next(cache.len() as u64) as usize;
                        if let Some(d) = i.durable.diff.get_mut(&(byte / s)) {
                            d[byte % s] ^= 1;
                        }
                        i.cache[byte] ^= 1;
                        cache[byte] ^= 1;
                        durable[byte] ^= 1;
                    }
                    _ => {
                        pending.clear();
                        i.cache = i.durable_vec(s);
                        i.durable = Durable {
                            len: i.cache.len(),
                            diff: BTreeMap::new(),
                        };
                        cache = durable.clone();
                    }
                }
                assert_eq!(i.cache, cache);
                assert_eq!(i.durable_vec(s), durable);
            }
        }
    }
    use crate::disk::config::DiskFaults;
    use crate::rng::stream;

    fn disk(faults: DiskFaults) -> NodeDisk {
        let config = DiskConfig {
            faults,
            ..DiskConfig::default()
        };
        NodeDisk::new(config, stream(1, "disk-test"))
    }

    fn quiet() -> DiskFaults {
        DiskFaults {
            crash_keep: 0.0,
            ..DiskFaults::none()
        }
    }

    fn read_all(d: &mut NodeDisk, name: &str) -> Result<Vec<u8>, DiskError> {
        let (ino, _) = d.open(name, false, false)?;
        let len = d.len(ino);
        d.read_at(ino, name, 0, len, &mut AllowAll, &mut Vec::new())
    }

    fn create_synced(d: &mut NodeDisk, name: &str, data: &[u8]) -> InodeId {
        let (ino, _) = d.open(name, true, true).unwrap();
        d.write_at(ino, name, 0, data, &mut Vec::new()).unwrap();
        d.sync(ino, name, &mut Vec::new()).unwrap();
        d.sync_dir();
        ino
    }

    #[test]
    fn without_faults_the_disk_is_exact() {
        let mut d = disk(DiskFaults::none());
        let (ino, created) = d.open("a", true, false).unwrap();
        assert!(created);
        let mut f = Vec::new();
        d.write_at(ino, "a", 0, b"hello", &mut f).unwrap();
        d.write_at(ino, "a", 10, b"world", &mut f).unwrap();
        assert_eq!(read_all(&mut d, "a").unwrap(), b"hello\0\0\0\0\0world");
        d.set_len(ino, "a", 7, &mut f).unwrap();
        assert_eq!(read_all(&mut d, "a").unwrap(), b"hello\0\0");
        assert_eq!(
            d.read_at(ino, "a", 3, 100, &mut AllowAll, &mut f).unwrap(),
            b"lo\0\0"
        );
        assert!(f.is_empty());
    }

    #[test]
    fn unsynced_writes_vanish_and_synced_ones_survive_a_crash() {
        let mut d = disk(quiet());
        let ino = create_synced(&mut d, "a", b"old!");
        d.write_at(ino, "a", 0, b"new!", &mut Vec::new()).unwrap();
        assert_eq!(
            read_all(&mut d, "a").unwrap(),
            b"new!",
            "the cache shows it"
        );
        let mut f = Vec::new();
        d.crash(&mut f);
        assert_eq!(read_all(&mut d, "a").unwrap(), b"old!");
        assert_eq!(
            f,
            vec![DiskFault::LostWrite {
                file: "a".into(),
                offset: 0,
                len: 4
            }]
        );
    }

    #[test]
    fn crash_keeps_each_unsynced_write_independently() {
        let mut kept = [0u32; 2];
        for seed in 0..200 {
            let config = DiskConfig::default();
            let mut d = NodeDisk::new(config, stream(seed, "t"));
            let ino = create_synced(&mut d, "a", &[0u8; 1024]);
            d.write_at(ino, "a", 0, &[1u8; 512], &mut Vec::new())
                .unwrap();
            d.write_at(ino, "a", 512, &[2u8; 512], &mut Vec::new())
                .unwrap();
            d.crash(&mut Vec::new());
            let after = read_all(&mut d, "a").unwrap();
            kept[0] += u32::from(after[0] == 1);
            kept[1] += u32::from(after[512] == 2);
        }
        // Default survival is one in two: both outcomes occur for each write.
        for k in kept {
            assert!((60..140).contains(&k), "kept {k} of 200");
        }
    }

    #[test]
    fn torn_write_keeps_some_sectors_new_and_others_old() {
        let mut d = disk(DiskFaults {
            torn_write: 1.0,
            ..quiet()
        });
        let ino = create_synced(&mut d, "a", &[0u8; 2048]);
        d.write_at(ino, "a", 0, &[7u8; 2048], &mut Vec::new())
            .unwrap();
        let mut f = Vec::new();
        d.crash(&mut f);
        let after = read_all(&mut d, "a").unwrap();
        let DiskFault::TornWrite { kept_sectors, .. } = &f[0] else {
            panic!("{f:?}")
        };
        assert!(!kept_sectors.is_empty() && kept_sectors.len() < 4);
        for sec in 0..4u64 {
            let bytes = &after[sec as usize * 512..(sec as usize + 1) * 512];
            let expect = if kept_sectors.contains(&sec) { 7 } else { 0 };
            assert!(bytes.iter().all(|&b| b == expect), "sector {sec}");
        }
    }

    #[test]
    fn directory_changes_need_a_directory_sync() {
        let mut d = disk(quiet());
        create_synced(&mut d, "keep", b"k");
        // Data synced, entry not: the file is gone after a crash.
        let (ino, _) = d.open("new", true, false).unwrap();
        d.write_at(ino, "new", 0, b"n", &mut Vec::new()).unwrap();
        d.sync(ino, "new", &mut Vec::new()).unwrap();
        d.rename("keep", "moved").unwrap();
        let mut f = Vec::new();
        d.crash(&mut f);
        assert_eq!(d.list(), vec!["keep".to_string()]);
        assert_eq!(read_all(&mut d, "keep").unwrap(), b"k");
        assert_eq!(
            f.iter()
                .filter(|x| matches!(x, DiskFault::LostDirEntry { .. }))
                .count(),
            3
        );
        // With a directory sync the rename survives.
        d.rename("keep", "moved").unwrap();
        d.sync_dir();
        d.crash(&mut Vec::new());
        assert_eq!(d.list(), vec!["moved".to_string()]);
    }

    #[test]
    fn lying_fsync_makes_nothing_durable() {
        let mut d = disk(DiskFaults {
            lying_fsync: 1.0,
            ..quiet()
        });
        let (ino, _) = d.open("a", true, false).unwrap();
        d.sync_dir();
        d.write_at(ino, "a", 0, b"data", &mut Vec::new()).unwrap();
        let mut f = Vec::new();
        assert!(d.sync(ino, "a", &mut f).is_ok());
        assert_eq!(f, vec![DiskFault::LyingFsync { file: "a".into() }]);
        d.crash(&mut Vec::new());
        assert_eq!(read_all(&mut d, "a").unwrap(), b"");
    }

    #[test]
    fn failed_fsync_dooms_its_writes_even_after_a_later_good_fsync() {
        let mut d = disk(DiskFaults {
            fsync_failure: 1.0,
            ..quiet()
        });
        let (ino, _) = d.open("a", true, false).unwrap();
        d.sync_dir();
        d.write_at(ino, "a", 0, b"lost", &mut Vec::new()).unwrap();
        assert!(d.sync(ino, "a", &mut Vec::new()).is_err());
        // Like Linux: the page cache still shows the data...
        assert_eq!(read_all(&mut d, "a").unwrap(), b"lost");
        d.config.faults.fsync_failure = 0.0;
        // ...and a retried fsync succeeds, but the data never reaches the disk.
        assert!(d.sync(ino, "a", &mut Vec::new()).is_ok());
        d.crash(&mut Vec::new());
        assert_eq!(read_all(&mut d, "a").unwrap(), b"");
    }

    #[test]
    fn misdirected_write_lands_elsewhere_in_the_file() {
        let mut d = disk(DiskFaults {
            misdirected: 1.0,
            ..quiet()
        });
        let ino = create_synced(&mut d, "a", &[0u8; 4096]);
        let mut f = Vec::new();
        d.write_at(ino, "a", 1024, &[9u8; 512], &mut f).unwrap();
        let DiskFault::Misdirected { actual, .. } = f[0] else {
            panic!("{f:?}")
        };
        assert_ne!(actual, 1024);
        assert_eq!(actual % 512, 0);
        let after = read_all(&mut d, "a").unwrap();
        assert!(
            after[1024..1536].iter().all(|&b| b == 0),
            "intended place unchanged"
        );
        assert!(after[actual as usize..actual as usize + 512]
            .iter()
            .all(|&b| b == 9));
    }

    #[test]
    fn corruption_flips_one_durable_bit_that_later_reads_see() {
        let mut d = disk(DiskFaults {
            corruption: 1.0,
            ..quiet()
        });
        let ino = create_synced(&mut d, "a", &[0u8; 1024]);
        let mut f = Vec::new();
        let first = d.read_at(ino, "a", 0, 1024, &mut AllowAll, &mut f).unwrap();
        assert_eq!(first.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        d.config.faults.corruption = 0.0;
        assert_eq!(read_all(&mut d, "a").unwrap(), first, "the flip persists");
        d.crash(&mut Vec::new());
        assert_eq!(read_all(&mut d, "a").unwrap(), first, "it is on the disk");
    }

    #[test]
    fn corruption_spares_data_still_in_the_cache() {
        let mut d = disk(DiskFaults {
            corruption: 1.0,
            latent_error: 1.0,
            ..quiet()
        });
        let (ino, _) = d.open("a", true, false).unwrap();
        d.write_at(ino, "a", 0, &[5u8; 1024], &mut Vec::new())
            .unwrap();
        let mut f = Vec::new();
        assert_eq!(
            d.read_at(ino, "a", 0, 1024, &mut AllowAll, &mut f).unwrap(),
            vec![5u8; 1024]
        );
        assert!(f.is_empty());
    }

    #[test]
    fn latent_error_fails_reads_until_the_sector_is_rewritten() {
        let mut d = disk(DiskFaults {
            latent_error: 1.0,
            ..quiet()
        });
        let ino = create_synced(&mut d, "a", &[1u8; 1024]);
        let mut f = Vec::new();
        assert!(matches!(
            d.read_at(ino, "a", 0, 1024, &mut AllowAll, &mut f),
            Err(DiskError::Io(_))
        ));
        let DiskFault::LatentError { sector, .. } = f[0] else {
            panic!()
        };
        d.config.faults.latent_error = 0.0;
        assert!(d
            .read_at(ino, "a", 0, 1024, &mut AllowAll, &mut Vec::new())
            .is_err());
        d.write_at(ino, "a", sector * 512, &[2u8; 512], &mut Vec::new())
            .unwrap();
        assert!(d
            .read_at(ino, "a", 0, 1024, &mut AllowAll, &mut Vec::new())
            .is_ok());
    }

    #[test]
    fn a_gate_can_refuse_placement() {
        struct Never;
        impl FaultGate for Never {
            fn allow(&mut self, _: &str, _: u64) -> bool {
                false
            }
        }
        let mut d = disk(DiskFaults {
            corruption: 1.0,
            latent_error: 1.0,
            ..quiet()
        });
        let ino = create_synced(&mut d, "a", &[3u8; 1024]);
        let mut f = Vec::new();
        assert_eq!(
            d.read_at(ino, "a", 0, 1024, &mut Never, &mut f).unwrap(),
            vec![3u8; 1024]
        );
        assert!(f.is_empty());
    }

    #[test]
    fn enospc_once_capacity_is_exceeded() {
        let config = DiskConfig {
            capacity: Some(1000),
            faults: quiet(),
            ..DiskConfig::default()
        };
        let mut d = NodeDisk::new(config, stream(0, "t"));
        let (ino, _) = d.open("a", true, false).unwrap();
        d.write_at(ino, "a", 0, &[0u8; 1000], &mut Vec::new())
            .unwrap();
        let mut f = Vec::new();
        assert_eq!(
            d.write_at(ino, "a", 1000, b"x", &mut f),
            Err(DiskError::NoSpace)
        );
        assert_eq!(f, vec![DiskFault::NoSpace { file: "a".into() }]);
        // Overwriting in place needs no new space.
        assert!(d.write_at(ino, "a", 0, b"y", &mut Vec::new()).is_ok());
        assert_eq!(d.len(ino), 1000);
    }
}
