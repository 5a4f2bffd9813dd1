//! The glue that makes `Primes`, `Blob` and `Sieve` component interfaces ([`Interface`],
//! [`Remotable`]), and their local variants.

use std::sync::Arc;

use hatch::codegen::{Channel, Service};
use hatch_components::{Component, Interface, Registry, Remotable, StateError, StateTransfer, state};

use crate::primes::{Primes, PrimesProxy, PrimesServer, primes_wire};
use crate::sieve::{Numbers, Sieve, SieveProxy, SieveServer, sieve_wire};
use crate::store::{Blob, BlobProxy, BlobServer, blob_wire};

impl Interface for dyn Primes {
    const NAME: &'static str = "Primes";
}

impl Remotable for dyn Primes {
    const FINGERPRINT: u64 = primes_wire::FINGERPRINT;

    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(PrimesServer::new(implementation))
    }

    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(PrimesProxy::new(channel))
    }
}

/// Trial division by every integer up to √n.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrialDivision;

impl Component for TrialDivision {}

impl Primes for TrialDivision {
    fn is_prime(&self, n: u64) -> bool {
        n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
    }

    fn count(&self, lo: u64, hi: u64) -> u64 {
        (lo..hi).filter(|&n| self.is_prime(n)).count() as u64
    }
}

/// Trial division by 2, 3 and then 6k ± 1 only.
#[derive(Clone, Copy, Debug, Default)]
pub struct SixK;

impl Component for SixK {}

impl Primes for SixK {
    fn is_prime(&self, n: u64) -> bool {
        if n < 4 {
            return n >= 2;
        }
        if n.is_multiple_of(2) || n.is_multiple_of(3) {
            return false;
        }
        (5..).step_by(6).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d) && !n.is_multiple_of(d + 2))
    }

    fn count(&self, lo: u64, hi: u64) -> u64 {
        (lo..hi).filter(|&n| self.is_prime(n)).count() as u64
    }
}

impl Interface for dyn Blob {
    const NAME: &'static str = "Blob";
}

impl Remotable for dyn Blob {
    const FINGERPRINT: u64 = blob_wire::FINGERPRINT;

    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(BlobServer::new(implementation))
    }

    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(BlobProxy::new(channel))
    }
}

/// A blob held in memory; its bytes are its state.
#[derive(Clone, Debug, Default)]
pub struct MemoryBlob(pub Vec<u8>);

impl Blob for MemoryBlob {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn checksum(&self, seed: u64) -> u64 {
        self.0.iter().fold(seed, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    }
}

impl Component for MemoryBlob {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }

    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}

impl StateTransfer for MemoryBlob {
    fn state_format(&self) -> &'static str {
        "blob/bytes-v1"
    }

    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        state::encode(&self.0)
    }

    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.0 = state::decode(bytes)?;
        Ok(())
    }
}

impl Interface for dyn Sieve {
    const NAME: &'static str = "Sieve";
}

impl Remotable for dyn Sieve {
    const FINGERPRINT: u64 = sieve_wire::FINGERPRINT;

    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(SieveServer::new(implementation))
    }

    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(SieveProxy::new(channel))
    }
}

/// A sieve testing each candidate by [`SixK`] trial division.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrialSieve;

impl Component for TrialSieve {}

impl Sieve for TrialSieve {
    fn sieve(&self, source: &dyn Numbers, batch: u32) -> u64 {
        let mut primes = 0;
        loop {
            let candidates = source.next_batch(batch);
            if candidates.is_empty() {
                return primes;
            }
            for n in candidates.into_iter().filter(|&n| SixK.is_prime(n)) {
                source.found(n);
                primes += 1;
            }
        }
    }

    fn process_id(&self) -> u32 {
        std::process::id()
    }
}

/// Registers both variants of `Primes`, the `MemoryBlob` variant of `Blob` and the `TrialSieve`
/// variant of `Sieve`.
pub fn register(registry: &mut Registry) {
    registry.variant::<dyn Sieve>("TrialSieve").build(|_| Box::new(TrialSieve)).expect("valid, unique name");
    registry.variant::<dyn Blob>("MemoryBlob").build(|_| Box::new(MemoryBlob::default())).expect("valid, unique name");
    registry.variant::<dyn Primes>("TrialDivision").build(|_| Box::new(TrialDivision)).expect("valid, unique name");
    registry.variant::<dyn Primes>("SixK").build(|_| Box::new(SixK)).expect("valid, unique name");
}
