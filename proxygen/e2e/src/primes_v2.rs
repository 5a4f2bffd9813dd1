//! A later version of [`crate::primes::Primes`] (one more method), to test that the handshake
//! refuses a client generated from a different version of the interface.

/// Version 2 of the prime number queries.
pub trait Primes: Send + Sync {
    /// Whether `n` is prime.
    fn is_prime(&self, n: u64) -> bool;

    /// How many primes lie in `lo..hi`.
    fn count(&self, lo: u64, hi: u64) -> u64;

    /// The smallest prime at or above `n`.
    fn next_prime(&self, n: u64) -> u64;
}

hatch::include_proxies!("primes_v2");
