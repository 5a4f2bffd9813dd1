//! The `Primes` interface (Hatch paper §6.1) and its generated proxies. Only the
//! trait lives here: hatch-proxygen reads this file.

/// Prime number queries: integers in, integers out, compute time growing with the input.
/// A [`Component`](hatch_components::Component), so it can sit in a slot; the
/// generated proxy implements `Component` too.
pub trait Primes: hatch::components::Component {
    /// Whether `n` is prime.
    fn is_prime(&self, n: u64) -> bool;

    /// How many primes lie in `lo..hi`.
    fn count(&self, lo: u64, hi: u64) -> u64;
}

hatch::include_proxies!("primes");
