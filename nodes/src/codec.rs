//! The binary form the nodes' on-disk records share: little-endian integers,
//! length-prefixed strings, and a stable 64-bit checksum over a record's bytes.
//!
//! Decoding never trusts a length: a `Cursor` fails (returns `None`) on anything that does
//! not fit in the bytes left, so a torn or corrupt record reads as damage, not as a panic
//! or a huge allocation. Framing (headers, markers) is each storage's own business.

use sim::digest::StableHasher;

/// The checksum stored beside a record.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = StableHasher::new();
    h.write_bytes(bytes);
    h.finish()
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Bytes as their length (u32) and themselves.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

/// A string as its length (u32) and its UTF-8 bytes.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// Reads the binary form; every method fails on bytes that do not decode.
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (b, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(b)
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub fn i64(&mut self) -> Option<i64> {
        Some(self.u64()? as i64)
    }
    /// A count of items at least `min` bytes each: more than fit in what is left is damage.
    pub fn count(&mut self, min: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.saturating_mul(min) <= self.0.len()).then_some(n)
    }
    /// Length-prefixed bytes (`put_bytes`).
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.count(1)?;
        self.take(n)
    }
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    pub fn string(&mut self) -> Option<String> {
        self.str().map(str::to_string)
    }
    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut out = Vec::new();
        put_u64(&mut out, 7);
        put_str(&mut out, "héllo");
        out.push(1);
        let mut c = Cursor(&out);
        assert_eq!(c.u64(), Some(7));
        assert_eq!(c.str(), Some("héllo"));
        assert_eq!(c.bool(), Some(true));
        assert!(c.rest().is_empty());
        // A length larger than what is left is damage, not an allocation.
        let mut bad = Vec::new();
        put_u32(&mut bad, u32::MAX);
        assert_eq!(Cursor(&bad).str(), None);
        assert_eq!(Cursor(&[2]).bool(), None);
        assert_ne!(checksum(b"a"), checksum(b"b"));
    }
}
