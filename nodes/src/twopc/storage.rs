//! A checksummed append-only record log on the simulated disk, shared by the coordinator
//! (its decisions) and the participants (prepares and decisions).
//!
//! Records are `[len u32][checksum u64][payload]`, the payload JSON. Every batch is
//! fsynced before the host sends anything that depends on it. Recovery stops at the first
//! record whose checksum fails: a torn tail from a crash mid-append is cut off; a bad
//! record followed by a good one is corruption, and the node refuses to run rather than
//! forget a vote or a decision it may have sent. Not modelled: compaction (the log grows
//! for the whole run).

use std::io;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sim::digest::StableHasher;
use sim::disk::{Disk, File};

const HEADER: usize = 4 + 8;

fn checksum(bytes: &[u8]) -> u64 {
    let mut h = StableHasher::new();
    h.write_bytes(bytes);
    h.finish()
}

/// Frames one record.
pub fn encode<R: Serialize>(record: &R) -> Vec<u8> {
    let payload = serde_json::to_vec(record).expect("records serialize");
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Parses records from the start; returns them and, if parsing stopped early, where.
pub fn parse<R: DeserializeOwned>(bytes: &[u8]) -> (Vec<R>, Option<usize>) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match record_at::<R>(bytes, at) {
            Some((r, end)) => {
                out.push(r);
                at = end;
            }
            None => return (out, Some(at)),
        }
    }
    (out, None)
}

fn record_at<R: DeserializeOwned>(bytes: &[u8], at: usize) -> Option<(R, usize)> {
    let head = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(head[4..12].try_into().ok()?);
    let body = bytes.get(at + HEADER..at + HEADER + len)?;
    if len == 0 || checksum(body) != sum {
        return None;
    }
    Some((serde_json::from_slice(body).ok()?, at + HEADER + len))
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
    /// Opens (creating on first boot) and recovers `name`.
    pub async fn open<R: DeserializeOwned>(
        disk: Disk,
        name: &str,
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
        let (records, stopped) = parse::<R>(&bytes);
        let mut torn_tail = false;
        if let Some(at) = stopped {
            // A valid record anywhere after the bad one means damage in the middle.
            let later_valid = (at + 1..bytes.len()).any(|s| record_at::<R>(&bytes, s).is_some());
            if later_valid {
                let why = format!("{name} is corrupt at offset {at} with valid records after it");
                return Ok((Log { file }, Recovered::Refuse(why)));
            }
            torn_tail = true;
            file.set_len(at as u64).await?;
            file.sync_all().await?;
        }
        Ok((Log { file }, Recovered::Ok { records, torn_tail }))
    }

    /// Appends records; with `sync`, they are durable when this returns.
    pub async fn append(&mut self, records: &[Vec<u8>], sync: bool) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = records.concat();
        self.file.append(&bytes).await?;
        if sync {
            self.file.sync_all().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stops_at_a_torn_record() {
        let mut bytes = encode(&1u64);
        bytes.extend(encode(&"two".to_string()));
        let whole = bytes.len();
        bytes.extend(encode(&3u64));
        let (r, stop) = parse::<serde_json::Value>(&bytes);
        assert_eq!(r.len(), 3);
        assert_eq!(stop, None);
        bytes.truncate(bytes.len() - 1);
        let (r, stop) = parse::<serde_json::Value>(&bytes);
        assert_eq!(r.len(), 2);
        assert_eq!(stop, Some(whole));
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let mut bytes = encode(&12345u64);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(parse::<u64>(&bytes).0.is_empty());
    }
}
