//! Disk settings: geometry, capacity, fault probabilities, latencies, fault placement.

use serde::{Deserialize, Serialize};

use crate::duration::Nanos;
use crate::net::Latency;

/// Fault probabilities. Crash-time fates apply per unsynced operation; the others per
/// operation of their kind (reads for corruption and latent errors, writes for
/// misdirection, syncs for lying and failing fsync).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskFaults {
    /// Probability that an unsynced write or length change survives a crash intact.
    pub crash_keep: f64,
    /// Probability that an unsynced write spanning two or more sectors is torn in a crash.
    pub torn_write: f64,
    pub lying_fsync: f64,
    pub fsync_failure: f64,
    pub misdirected: f64,
    pub corruption: f64,
    pub latent_error: f64,
    /// Probability that a crash landing while an fsync is in flight keeps an arbitrary
    /// subset of that file's unsynced sectors (an fsync is not atomic: the drive writes
    /// pages back in any order), instead of each unsynced write's usual fate.
    #[serde(skip_serializing_if = "is_zero")]
    pub sync_reorder: f64,
}

fn is_zero(p: &f64) -> bool {
    *p == 0.0
}

impl DiskFaults {
    /// No faults beyond losing unsynced writes in a crash (which is what a crash means).
    pub fn none() -> Self {
        DiskFaults {
            crash_keep: 0.5,
            torn_write: 0.0,
            lying_fsync: 0.0,
            fsync_failure: 0.0,
            misdirected: 0.0,
            corruption: 0.0,
            latent_error: 0.0,
            sync_reorder: 0.0,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let all = [
            ("crash_keep", self.crash_keep),
            ("torn_write", self.torn_write),
            ("lying_fsync", self.lying_fsync),
            ("fsync_failure", self.fsync_failure),
            ("misdirected", self.misdirected),
            ("corruption", self.corruption),
            ("latent_error", self.latent_error),
            ("sync_reorder", self.sync_reorder),
        ];
        for (name, p) in all {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "disk fault probability {name} = {p} is not in [0, 1]"
                ));
            }
        }
        Ok(())
    }
}

impl Default for DiskFaults {
    fn default() -> Self {
        Self::none()
    }
}

/// How long operations take. fsync is much slower than a write and has a long tail.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskLatency {
    pub read: Latency,
    pub write: Latency,
    pub sync: Latency,
    /// create, open, rename, remove, list, directory sync.
    pub meta: Latency,
}

impl Default for DiskLatency {
    fn default() -> Self {
        let us = |n: u64| Nanos(n * 1000);
        DiskLatency {
            read: Latency::Uniform {
                min: us(20),
                max: us(100),
            },
            write: Latency::Uniform {
                min: us(10),
                max: us(50),
            },
            sync: Latency::Exponential {
                floor: us(500),
                mean: us(1500),
            },
            meta: Latency::Uniform {
                min: us(10),
                max: us(50),
            },
        }
    }
}

/// A node's disk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskConfig {
    pub sector_size: u64,
    /// Bytes; writes past it fail with ENOSPC. `None`: unlimited.
    pub capacity: Option<u64>,
    pub faults: DiskFaults,
    pub latency: DiskLatency,
    /// Keep corruption and latent errors of any one (file, sector) to a minority of the
    /// nodes, so a correct replicated protocol can always recover (TigerBeetle's rule).
    pub protect_majority: bool,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            sector_size: 512,
            capacity: None,
            faults: DiskFaults::none(),
            latency: DiskLatency::default(),
            protect_majority: false,
        }
    }
}

impl DiskConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.sector_size == 0 {
            return Err("disk sector_size must be positive".into());
        }
        self.faults.validate()?;
        for l in [
            self.latency.read,
            self.latency.write,
            self.latency.sync,
            self.latency.meta,
        ] {
            l.validate()?;
        }
        Ok(())
    }
}
