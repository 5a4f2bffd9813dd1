//! A stateful interface for the benchmarks: a blob of bytes whose state moves
//! with the component. Only the trait lives here, for hatch-proxygen.

/// A stored blob.
pub trait Blob: hatch::components::Component {
    /// Its length in bytes.
    fn size(&self) -> u64;

    /// A checksum of its bytes, FNV-1a from `seed` (so a moved blob can be compared).
    fn checksum(&self, seed: u64) -> u64;
}

hatch::include_proxies!("store");
