//! Interface arguments across hosts (Hatch paper Fig. 3, where a handler gets the caller's
//! `TCPSocket`): a [`Sieve`] component takes the caller's [`Numbers`] source by reference. Once the
//! sieve is relocated, its `source` is a reverse proxy: every `next_batch` and `found` travels back
//! to the caller's process and runs there, on the calling thread, while the call lasts. Only the
//! traits live here: hatch-proxygen reads this file.

/// Where a sieve gets its candidates and reports its primes; implemented by the caller.
pub trait Numbers: Send + Sync {
    /// Up to `max` more candidates; empty once the source is exhausted.
    fn next_batch(&self, max: u32) -> Vec<u64>;

    /// Reports one prime among the candidates.
    fn found(&self, prime: u64);
}

/// Tests candidates drawn from the caller's source.
pub trait Sieve: hatch::components::Component {
    /// Draws every candidate from `source` in batches of `batch`, reports each prime back to it,
    /// and returns how many it found.
    fn sieve(&self, source: &dyn Numbers, batch: u32) -> u64;

    /// The id of the process the component runs in (to see where it was placed).
    fn process_id(&self) -> u32;
}

hatch::include_proxies!("sieve");
