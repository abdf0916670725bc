//! Disk events as the trace records them: operations a node performed, and faults the
//! disk injected.

use std::hash::{Hash, Hasher};

use serde::Serialize;

use crate::digest::DigestHasher;

/// A mutating disk operation a node completed (reads are not traced).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum DiskOp {
    Create { file: String },
    Write { file: String, offset: u64, len: u64 },
    SetLen { file: String, len: u64 },
    Sync { file: String },
    SyncDir,
    Rename { from: String, to: String },
    Remove { file: String },
}

/// A fault the disk injected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum DiskFault {
    /// An unsynced write vanished in a crash.
    LostWrite { file: String, offset: u64, len: u64 },
    /// An unsynced write was torn in a crash: only the listed sectors hold new data.
    TornWrite {
        file: String,
        offset: u64,
        len: u64,
        kept_sectors: Vec<u64>,
    },
    /// An unsynced length change vanished in a crash.
    LostSetLen { file: String, len: u64 },
    /// A directory entry change (create, rename, remove) that was never synced was undone.
    LostDirEntry { file: String },
    /// fsync reported success but made nothing durable.
    LyingFsync { file: String },
    /// fsync failed; its unsynced writes will never become durable.
    FsyncFailed { file: String, lost_writes: u64 },
    /// A write landed at `actual` instead of `intended`.
    Misdirected {
        file: String,
        intended: u64,
        actual: u64,
        len: u64,
    },
    /// A bit flipped in a durable sector.
    Corruption { file: String, sector: u64, bit: u64 },
    /// A sector became unreadable until rewritten.
    LatentError { file: String, sector: u64 },
    /// A write or length change was refused: the disk is full.
    NoSpace { file: String },
    /// The scenario's crash point: the node crashes after this many disk operations.
    CrashPoint { ops: u64 },
    /// A crash landed while an fsync of `file` was in flight: of the sectors written
    /// since its last completed sync, only `kept_sectors` reached the disk, in no order.
    SyncInterrupted {
        file: String,
        kept_sectors: Vec<u64>,
        lost_sectors: Vec<u64>,
    },
    /// A scenario crash trigger fired (`what` names it: "syncs", "sends", "rename",
    /// "unsynced-write", "unsynced-send").
    CrashTrigger { what: String },
}

/// Feeds derived `Hash` into the stable digest with a fixed byte order.
pub(crate) fn digest_hash(h: &mut DigestHasher, value: &impl Hash) {
    struct Adapter<'a>(&'a mut DigestHasher);
    impl Hasher for Adapter<'_> {
        fn finish(&self) -> u64 {
            self.0.finish()
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.write_bytes(bytes);
        }
        fn write_u64(&mut self, v: u64) {
            self.0.write_u64(v);
        }
        fn write_usize(&mut self, v: usize) {
            self.0.write_u64(v as u64);
        }
        fn write_isize(&mut self, v: isize) {
            self.0.write_i64(v as i64);
        }
    }
    value.hash(&mut Adapter(h));
}
