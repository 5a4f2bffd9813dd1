//! The `Primes` interface (Hatch paper §6.1), a local implementation, and its generated proxies.

/// Prime number queries: integers in, integers out, compute time growing with the input.
pub trait Primes: Send + Sync {
    /// Whether `n` is prime.
    fn is_prime(&self, n: u64) -> bool;

    /// How many primes lie in `lo..hi`.
    fn count(&self, lo: u64, hi: u64) -> u64;
}

/// Trial division: the local implementation.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalPrimes;

impl Primes for LocalPrimes {
    fn is_prime(&self, n: u64) -> bool {
        n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
    }

    fn count(&self, lo: u64, hi: u64) -> u64 {
        (lo..hi).filter(|&n| self.is_prime(n)).count() as u64
    }
}

hatch::include_proxies!("primes");
