//! The `Primes` interface (Hatch paper §6.1) and its generated proxies. Only the
//! trait lives here: hatch-proxygen reads this file, and rejects traits with other
//! supertraits than `Send + Sync` (see [`component`](crate::component)).

/// Prime number queries: integers in, integers out, compute time growing with the input.
///
/// hatch-proxygen accepts only `Send + Sync` as supertraits, so the component
/// interface is [`PrimesComponent`](crate::component::PrimesComponent), which extends this trait with
/// [`Component`](hatch_components::Component).
pub trait Primes: Send + Sync {
    /// Whether `n` is prime.
    fn is_prime(&self, n: u64) -> bool;

    /// How many primes lie in `lo..hi`.
    fn count(&self, lo: u64, hi: u64) -> u64;
}

hatch::include_proxies!("primes");
