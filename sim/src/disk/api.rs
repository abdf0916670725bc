//! The async file interface node code uses, close to `std::fs` / `tokio::fs`, over one
//! flat directory per node. Each operation takes simulated time (its latency), then
//! applies to the model; a crash during the latency means it never happened.

use std::future::Future;
use std::io;
use std::sync::Arc;

use super::event::{DiskFault, DiskOp};
use super::model::{DiskError, InodeId, NodeDisk};
use super::placement::PlacementGate;
use crate::crash_trigger::Act;
use crate::net::Latency;
use crate::process::Status;
use crate::trace::EventKind;
use crate::world::World;

#[derive(Clone, Copy)]
enum Cost {
    Read,
    Write,
    Sync,
    Meta,
}

/// What a step did: its result and the operation to trace (if it changed anything).
type Step<R> = (Result<R, DiskError>, Option<DiskOp>);

impl World {
    fn disk_latency(&self, node: usize, cost: Cost) -> u64 {
        let mut st = self.lock();
        let lat = st.disks.config.latency;
        let l: Latency = match cost {
            Cost::Read => lat.read,
            Cost::Write => lat.write,
            Cost::Sync => lat.sync,
            Cost::Meta => lat.meta,
        };
        l.sample(st.disks.disks[node].rng())
    }

    /// Applies one step to `node`'s disk and traces it. `None` if the caller's
    /// incarnation is gone. Also returns the nodes to crash now: the node itself at its
    /// crash point, or a crash trigger's victims.
    fn disk_step<R>(
        &self,
        node: usize,
        incarnation: u64,
        body: impl FnOnce(&mut NodeDisk, &mut PlacementGate<'_>, &mut Vec<DiskFault>) -> Step<R>,
    ) -> Option<(Result<R, DiskError>, Vec<usize>)> {
        let n = self.len();
        let mut guard = self.lock();
        let st = &mut *guard;
        let now = st.now();
        if st.nodes[node].incarnation != incarnation || st.nodes[node].status == Status::Crashed {
            return None;
        }
        let mut faults = Vec::new();
        let protect = st.disks.config.protect_majority;
        let (result, op) = {
            let disks = &mut st.disks;
            let mut gate = disks.placement.gate(node, n, protect);
            body(&mut disks.disks[node], &mut gate, &mut faults)
        };
        let mut crash = Vec::new();
        if let Some(op) = op {
            let act = match &op {
                DiskOp::Sync { .. } | DiskOp::SyncDir => Act::Sync,
                DiskOp::Rename { .. } => Act::Rename,
                _ => Act::Mutate,
            };
            st.record_node(now, node, EventKind::Disk(op));
            st.disks.ops[node] += 1;
            if st.disks.crash_at_ops[node] == Some(st.disks.ops[node]) {
                st.disks.crash_at_ops[node] = None;
                faults.push(DiskFault::CrashPoint {
                    ops: st.disks.ops[node],
                });
                crash.push(node);
            }
            let disk = &st.disks.disks[node];
            if let Some(f) = st.triggers.observe(node, act, || disk.has_unsynced()) {
                faults.push(DiskFault::CrashTrigger {
                    what: f.what.to_string(),
                });
                for v in f.victims {
                    if !crash.contains(&v) {
                        crash.push(v);
                    }
                }
            }
        }
        for fault in faults {
            st.record_net(now, EventKind::DiskFault { node, fault });
        }
        Some((result, crash))
    }

    fn begin_sync(&self, node: usize, incarnation: u64, ino: InodeId) {
        let mut st = self.lock();
        if st.nodes[node].incarnation == incarnation && st.nodes[node].status != Status::Crashed {
            st.disks.disks[node].begin_sync(ino);
        }
    }

    /// What the run's crashes found on the disks so far.
    pub fn crash_stats(&self) -> super::CrashStats {
        self.lock().disks.crash_stats
    }

    /// Crashes `node` right after its next `ops` traced disk operations.
    pub fn crash_after_disk_ops(&self, node: usize, ops: u64) {
        assert!(ops > 0, "a crash point needs at least one operation");
        let mut st = self.lock();
        let at = st.disks.ops[node] + ops;
        st.disks.crash_at_ops[node] = Some(at);
    }

    /// Traced disk operations `node` has completed.
    pub fn disk_ops(&self, node: usize) -> u64 {
        self.lock().disks.ops[node]
    }

    /// Runs `f` on `node`'s disk model (for tests and inspection; no time passes).
    pub fn inspect_disk<R>(&self, node: usize, f: impl FnOnce(&NodeDisk) -> R) -> R {
        f(&self.lock().disks.disks[node])
    }
}

fn to_io(e: DiskError) -> io::Error {
    let kind = match e {
        DiskError::NotFound(_) => io::ErrorKind::NotFound,
        DiskError::AlreadyExists(_) => io::ErrorKind::AlreadyExists,
        DiskError::NoSpace => io::ErrorKind::StorageFull,
        DiskError::Io(_) => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// A node's disk, valid for one incarnation.
#[derive(Clone)]
pub struct Disk {
    world: Arc<World>,
    node: usize,
    incarnation: u64,
}

/// An open file. Handles of a crashed incarnation never complete another operation.
#[derive(Clone)]
pub struct File {
    disk: Disk,
    ino: InodeId,
    name: String,
}

impl Disk {
    pub(crate) fn new(world: Arc<World>, node: usize, incarnation: u64) -> Self {
        Disk {
            world,
            node,
            incarnation,
        }
    }

    async fn run<R>(
        &self,
        cost: Cost,
        body: impl FnOnce(&mut NodeDisk, &mut PlacementGate<'_>, &mut Vec<DiskFault>) -> Step<R>,
    ) -> io::Result<R> {
        let latency = self.world.disk_latency(self.node, cost);
        sleep_exact(&self.world, latency).await;
        match self.world.disk_step(self.node, self.incarnation, body) {
            None => std::future::pending().await,
            Some((result, crash)) => {
                for &other in crash.iter().filter(|&&v| v != self.node) {
                    let _ = self.world.crash(other);
                }
                if crash.contains(&self.node) {
                    // The node dies right after this operation, before it can act on it.
                    let _ = self.world.crash(self.node);
                    std::future::pending::<()>().await;
                }
                result.map_err(to_io)
            }
        }
    }

    async fn open_with(
        &self,
        name: &str,
        create: bool,
        truncate: bool,
        exclusive: bool,
    ) -> io::Result<File> {
        let owned = name.to_string();
        let ino = self
            .run(Cost::Meta, move |d, _, _| {
                if exclusive && d.exists(&owned) {
                    return (Err(DiskError::AlreadyExists(owned)), None);
                }
                let existed = d.exists(&owned);
                match d.open(&owned, create, truncate) {
                    Ok((ino, created)) => {
                        let op = if created {
                            Some(DiskOp::Create { file: owned })
                        } else if truncate && existed {
                            Some(DiskOp::SetLen {
                                file: owned,
                                len: 0,
                            })
                        } else {
                            None
                        };
                        (Ok(ino), op)
                    }
                    Err(e) => (Err(e), None),
                }
            })
            .await?;
        Ok(File {
            disk: self.clone(),
            ino,
            name: name.to_string(),
        })
    }

    /// Opens an existing file.
    pub async fn open(&self, name: &str) -> io::Result<File> {
        self.open_with(name, false, false, false).await
    }

    /// Creates a file, or truncates it if it exists (like `std::fs::File::create`).
    pub async fn create(&self, name: &str) -> io::Result<File> {
        self.open_with(name, true, true, false).await
    }

    /// Creates a file that must not exist yet.
    pub async fn create_new(&self, name: &str) -> io::Result<File> {
        self.open_with(name, true, false, true).await
    }

    /// Opens a file, creating it empty if missing; never truncates.
    pub async fn open_or_create(&self, name: &str) -> io::Result<File> {
        self.open_with(name, true, false, false).await
    }

    pub async fn exists(&self, name: &str) -> io::Result<bool> {
        let owned = name.to_string();
        self.run(Cost::Meta, move |d, _, _| (Ok(d.exists(&owned)), None))
            .await
    }

    /// Renames `from` to `to`, replacing `to` if it exists. Durable after `sync_dir`.
    pub async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from, to) = (from.to_string(), to.to_string());
        self.run(Cost::Meta, move |d, _, _| match d.rename(&from, &to) {
            Ok(()) => (Ok(()), Some(DiskOp::Rename { from, to })),
            Err(e) => (Err(e), None),
        })
        .await
    }

    /// Removes a file's name. Durable after `sync_dir`.
    pub async fn remove(&self, name: &str) -> io::Result<()> {
        let file = name.to_string();
        self.run(Cost::Meta, move |d, _, _| match d.remove(&file) {
            Ok(()) => (Ok(()), Some(DiskOp::Remove { file })),
            Err(e) => (Err(e), None),
        })
        .await
    }

    /// The names in the node's directory, sorted.
    pub async fn list(&self) -> io::Result<Vec<String>> {
        self.run(Cost::Meta, |d, _, _| (Ok(d.list()), None)).await
    }

    /// Makes every create, rename and remove so far durable.
    pub async fn sync_dir(&self) -> io::Result<()> {
        self.run(Cost::Sync, |d, _, _| {
            d.sync_dir();
            (Ok(()), Some(DiskOp::SyncDir))
        })
        .await
    }

    /// Reads a whole file.
    pub async fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let f = self.open(name).await?;
        f.read_at(0, u64::MAX).await
    }
}

impl File {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads up to `len` bytes at `offset`; fewer at the end of the file.
    pub async fn read_at(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let (ino, name) = (self.ino, self.name.clone());
        self.disk
            .run(Cost::Read, move |d, gate, f| {
                (d.read_at(ino, &name, offset, len, gate, f), None)
            })
            .await
    }

    /// Writes `data` at `offset` (into the page cache until the next sync).
    pub async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let (ino, file) = (self.ino, self.name.clone());
        self.disk
            .run(Cost::Write, move |d, _, f| {
                let len = data.len() as u64;
                match d.write_at(ino, &file, offset, data, f) {
                    Ok(()) => (Ok(()), Some(DiskOp::Write { file, offset, len })),
                    Err(e) => (Err(e), None),
                }
            })
            .await
    }

    /// Writes `data` at the end of the file; returns the offset it was written at.
    pub async fn append(&self, data: &[u8]) -> io::Result<u64> {
        let (ino, file) = (self.ino, self.name.clone());
        self.disk
            .run(Cost::Write, move |d, _, f| {
                let offset = d.len(ino);
                let len = data.len() as u64;
                match d.write_at(ino, &file, offset, data, f) {
                    Ok(()) => (Ok(offset), Some(DiskOp::Write { file, offset, len })),
                    Err(e) => (Err(e), None),
                }
            })
            .await
    }

    /// The file's length as reads see it.
    pub async fn len(&self) -> io::Result<u64> {
        let ino = self.ino;
        self.disk
            .run(Cost::Meta, move |d, _, _| (Ok(d.len(ino)), None))
            .await
    }

    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        let (ino, file) = (self.ino, self.name.clone());
        self.disk
            .run(Cost::Write, move |d, _, f| {
                match d.set_len(ino, &file, len, f) {
                    Ok(()) => (Ok(()), Some(DiskOp::SetLen { file, len })),
                    Err(e) => (Err(e), None),
                }
            })
            .await
    }

    /// Makes this file's writes durable (fsync). The sync is in flight for its whole
    /// latency: a crash meanwhile may keep any subset of its sectors (`sync_reorder`).
    pub async fn sync_all(&self) -> io::Result<()> {
        let (ino, file) = (self.ino, self.name.clone());
        self.disk
            .world
            .begin_sync(self.disk.node, self.disk.incarnation, ino);
        self.disk
            .run(Cost::Sync, move |d, _, f| match d.sync(ino, &file, f) {
                Ok(()) => (Ok(()), Some(DiskOp::Sync { file })),
                Err(e) => (Err(e), Some(DiskOp::Sync { file })),
            })
            .await
    }

    /// Same as `sync_all` in this model (fdatasync).
    pub async fn sync_data(&self) -> io::Result<()> {
        self.sync_all().await
    }
}

fn sleep_exact(world: &World, ns: u64) -> impl Future<Output = ()> {
    world.sleep_at(world.now_ns() + ns)
}
