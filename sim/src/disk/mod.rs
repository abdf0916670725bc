//! The simulated disk: one per node, with a page cache that a crash throws away, and the
//! faults real disks and file systems have (ALICE, OSDI'14; "Redundancy Does Not Imply
//! Fault Tolerance", FAST'17).
//!
//! Writes land in a volatile layer; `sync_data`/`sync_all` make a file's writes durable;
//! create, rename and remove become durable only with a directory sync. On a crash each
//! unsynced write independently survives, vanishes or is torn at sector granularity, and
//! the restarted node sees exactly the durable state plus what the crash kept. Faults:
//! lying and failing fsync, misdirected writes, silent corruption, latent sector errors,
//! ENOSPC, and latency with a slow, long-tailed fsync. Every fault is in the trace.
//!
//! What is modelled and what is not is spelled out in `model`. Node code uses [`Disk`]
//! and [`File`] from [`NodeCtx::disk`](crate::NodeCtx::disk).

#[cfg(madsim)]
mod api;
pub mod config;
pub mod event;
pub mod model;
pub mod placement;

#[cfg(madsim)]
pub use api::{Disk, File};
pub use config::{DiskConfig, DiskFaults, DiskLatency};
pub use event::{DiskFault, DiskOp};
pub use model::{CrashFound, DiskError, NodeDisk};

use placement::Placement;

/// Every node's disk, with what spans nodes: fault placement and crash points.
pub(crate) struct DiskSet {
    pub config: DiskConfig,
    pub disks: Vec<NodeDisk>,
    pub placement: Placement,
    /// Traced operations each node has completed.
    pub ops: Vec<u64>,
    /// Crash the node when its operation count reaches this.
    pub crash_at_ops: Vec<Option<u64>>,
    pub crash_stats: CrashStats,
}

/// What the crashes of a run found on the disks: how often a crash caught unsynced data
/// (the window where durability bugs live) and how often that data was lost or torn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CrashStats {
    pub crashes: u64,
    /// Crashes that found unsynced writes, length changes or directory changes.
    pub unsynced: u64,
    /// Of those, crashes where some of it was lost or torn.
    pub damaged: u64,
    /// Crashes that landed while an fsync was in flight.
    pub in_sync: u64,
}

impl DiskSet {
    pub fn new(config: DiskConfig, seed: u64, names: &[String]) -> Self {
        DiskSet {
            config,
            disks: names
                .iter()
                .map(|n| NodeDisk::new(config, crate::rng::stream(seed, &format!("disk:{n}"))))
                .collect(),
            placement: Placement::default(),
            ops: vec![0; names.len()],
            crash_at_ops: vec![None; names.len()],
            crash_stats: CrashStats::default(),
        }
    }

    /// Power loss on `node`: returns the faults the crash caused.
    pub fn crash(&mut self, node: usize) -> Vec<DiskFault> {
        let mut faults = Vec::new();
        let found = self.disks[node].crash(&mut faults);
        let st = &mut self.crash_stats;
        st.crashes += 1;
        st.unsynced += u64::from(found.unsynced);
        st.damaged += u64::from(found.unsynced && found.damaged);
        st.in_sync += u64::from(found.in_sync);
        faults
    }
}
