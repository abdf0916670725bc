//! A fast non-cryptographic hasher for the checkers' internal tables (memo caches, appender
//! indexes). None of those tables is iterated where order could reach output, and the
//! input is a history, not an adversary probing for collisions, so SipHash's DoS resistance
//! buys nothing; it deliberately is not a general-purpose hasher.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`FxHasher`]s, for `HashMap::with_hasher` / `default()`.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// A fast multiplicative hasher (FxHash's scheme).
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        // Final avalanche (MurmurHash3's fmix64): the table uses the low bits.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }
}
