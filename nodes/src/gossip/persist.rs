//! A gossip server's durable state on the simulated disk: one snapshot file with the
//! replica (every key's sibling versions, their version vectors, tombstones included) and
//! the server's SWIM incarnation.
//!
//! The snapshot is `[magic u32][len u32][checksum u64][payload]`, rewritten whole on every
//! change the atomic way: write a temporary file, fsync it, rename it over the snapshot,
//! fsync the directory. A crash at any step leaves the previous snapshot or the new one.
//! On restart a snapshot that cannot be read, is short, or fails its checksum (a lying
//! fsync let the crash tear it, or the disk flipped a bit) is discarded: the server starts
//! empty and rebuilds from its peers by anti-entropy, as replication lets it.
//!
//! The host persists every change before it sends anything that depends on it, so a
//! replica acknowledges a write (and a coordinator a client) only once the write is on its
//! disk. Not modelled: incremental logs (a write rewrites the whole replica, which is
//! small here), tombstone garbage collection.

use std::collections::BTreeMap;
use std::io;

use crate::codec::{checksum, put_u32, put_u64, Cursor};
use sim::disk::Disk;

use super::store::{Store, Version, Vv, WriteId};

pub const SNAPSHOT: &str = "gossip.snap";
const TEMP: &str = "gossip.snap.tmp";
const MAGIC: u32 = 0x4753_4e50; // "GSNP"
const HEADER: usize = 4 + 4 + 8;

/// What a server keeps across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub incarnation: u64,
    pub store: Store,
}

/// The snapshot as bytes, framed and checksummed.
pub fn encode(s: &Snapshot) -> Vec<u8> {
    let mut p = Vec::new();
    put_u64(&mut p, s.incarnation);
    put_u32(&mut p, s.store.keys.len() as u32);
    for (key, versions) in &s.store.keys {
        put_u32(&mut p, key.len() as u32);
        p.extend_from_slice(key.as_bytes());
        put_u32(&mut p, versions.len() as u32);
        for v in versions {
            put_u64(&mut p, v.id.0);
            p.push(u8::from(v.value.is_some()));
            put_u64(&mut p, v.value.unwrap_or(0) as u64);
            put_u64(&mut p, v.wall as u64);
            put_u32(&mut p, v.vv.len() as u32);
            for (&a, &c) in &v.vv {
                put_u64(&mut p, a);
                put_u64(&mut p, c);
            }
        }
    }
    let mut out = Vec::with_capacity(HEADER + p.len());
    put_u32(&mut out, MAGIC);
    put_u32(&mut out, p.len() as u32);
    put_u64(&mut out, checksum(&p));
    out.extend_from_slice(&p);
    out
}

fn decode_payload(p: &[u8]) -> Option<Snapshot> {
    let mut c = Cursor(p);
    let incarnation = c.u64()?;
    let mut keys = BTreeMap::new();
    for _ in 0..c.count(8)? {
        let len = c.count(1)?;
        let key = String::from_utf8(c.take(len)?.to_vec()).ok()?;
        let mut versions = Vec::new();
        for _ in 0..c.count(29)? {
            let id = WriteId(c.u64()?);
            let has = match c.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let value = c.u64()? as i64;
            let wall = c.u64()? as i64;
            let mut vv = Vv::new();
            for _ in 0..c.count(16)? {
                let a = c.u64()?;
                vv.insert(a, c.u64()?);
            }
            versions.push(Version {
                id,
                vv,
                value: has.then_some(value),
                wall,
            });
        }
        keys.insert(key, versions);
    }
    if !c.0.is_empty() {
        return None;
    }
    Some(Snapshot {
        incarnation,
        store: Store { keys },
    })
}

/// Parses a snapshot file. `verify: false` is the no-snapshot-checksum bug: whatever
/// decodes is trusted.
pub fn decode(bytes: &[u8], verify: bool) -> Result<Snapshot, String> {
    if bytes.len() < HEADER {
        return Err(format!("{} bytes, shorter than the header", bytes.len()));
    }
    let magic = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    if magic != MAGIC {
        return Err(format!("bad magic {magic:#x}"));
    }
    let len = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    let sum = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let Some(payload) = bytes.get(HEADER..HEADER + len) else {
        return Err(format!(
            "payload of {len} bytes but only {} on disk",
            bytes.len() - HEADER
        ));
    };
    if verify && checksum(payload) != sum {
        return Err("checksum mismatch".into());
    }
    decode_payload(payload).ok_or_else(|| "payload does not decode".into())
}

/// What a restart found on disk.
#[derive(Debug)]
pub enum Loaded {
    /// No snapshot: a first boot, or a crash before the first one was durable.
    Nothing,
    Restored(Snapshot),
    /// Unreadable or damaged: thrown away, with why.
    Discarded(String),
}

/// Reads the snapshot, if any. Leftover temporary files are ignored (the next save
/// truncates them).
pub async fn load(disk: &Disk, verify: bool) -> io::Result<Loaded> {
    if !disk.exists(SNAPSHOT).await? {
        return Ok(Loaded::Nothing);
    }
    let bytes = match disk.read(SNAPSHOT).await {
        Ok(b) => b,
        // A latent sector error: the data is gone, and replication has it.
        Err(e) if e.kind() == io::ErrorKind::Other => {
            return Ok(Loaded::Discarded(format!("unreadable: {e}")))
        }
        Err(e) => return Err(e),
    };
    Ok(match decode(&bytes, verify) {
        Ok(s) => Loaded::Restored(s),
        Err(why) => Loaded::Discarded(why),
    })
}

/// Replaces the snapshot. With `durable`, the new one has survived any crash once this
/// returns; without (the ack-before-fsync bug), it sits in the page cache until
/// [`sync`] runs.
pub async fn save(disk: &Disk, s: &Snapshot, durable: bool) -> io::Result<()> {
    let bytes = encode(s);
    let f = disk.create(TEMP).await?;
    f.write_at(0, &bytes).await?;
    if durable {
        f.sync_all().await?;
    }
    disk.rename(TEMP, SNAPSHOT).await?;
    if durable {
        disk.sync_dir().await?;
    }
    Ok(())
}

/// Makes the current snapshot and its name durable (the buggy host's background sync).
pub async fn sync(disk: &Disk) -> io::Result<()> {
    if disk.exists(SNAPSHOT).await? {
        disk.open(SNAPSHOT).await?.sync_all().await?;
    }
    disk.sync_dir().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::bugs::Bugs;
    use crate::gossip::store::actor;

    fn sample() -> Snapshot {
        let bugs = Bugs::none();
        let mut store = Store::default();
        store.write(actor(0, 0), "k1", WriteId(7), Some(-3), 12, &bugs);
        store.write(actor(0, 1), "k1", WriteId(8), None, 13, &bugs);
        let mut other = Store::default();
        other.write(actor(2, 0), "k1", WriteId(9), Some(5), 14, &bugs);
        other.write(actor(2, 0), "k2", WriteId(10), Some(6), 15, &bugs);
        store.merge_all(&other, &bugs);
        Snapshot {
            incarnation: 4,
            store,
        }
    }

    #[test]
    fn a_snapshot_round_trips_with_siblings_and_tombstones() {
        let s = sample();
        assert_eq!(s.store.keys["k1"].len(), 2, "a tombstone and a sibling");
        assert_eq!(decode(&encode(&s), true), Ok(s));
    }

    #[test]
    fn every_flipped_bit_or_cut_is_caught_by_the_checksum() {
        let bytes = encode(&sample());
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&b, true).is_err(), "bit {bit} went unnoticed");
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], true).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn without_the_checksum_a_flipped_write_id_decodes_as_data() {
        let s = sample();
        let bytes = encode(&s);
        // Flip a bit in the first version's write id (after the header, incarnation, key
        // count, key length, key and version count).
        let at = HEADER + 8 + 4 + 4 + 2 + 4;
        let mut b = bytes.clone();
        b[at] ^= 1;
        assert!(decode(&b, true).is_err());
        let wrong = decode(&b, false).expect("decodes without the checksum");
        assert_ne!(wrong, s);
    }
}
