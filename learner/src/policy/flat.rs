//! Running a flat policy over a composition space: arm `i` is the
//! composition at mixed-radix index `i`.

use super::{Observation, Policy};
use crate::space::{Composition, Radix};

/// A flat policy seen as a policy over compositions.
///
/// # Panics
/// Construction panics if the space has more arms than `usize` can index.
#[derive(Clone, Debug)]
pub struct Flat<P> {
    inner: P,
    radix: Radix,
}

impl<P: Policy<Arm = usize>> Flat<P> {
    /// Wrap `inner`, which must have `radix.size()` arms.
    pub fn new(inner: P, radix: Radix) -> Self {
        assert!(usize::try_from(radix.size()).is_ok(), "space too large");
        Flat { inner, radix }
    }

    /// The wrapped policy.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

impl<P: Policy<Arm = usize>> Policy for Flat<P> {
    type Arm = Composition;

    fn choose(&mut self) -> Composition {
        self.radix.composition(self.inner.choose() as u64)
    }

    fn record(&mut self, arm: &Composition, obs: &Observation<'_>) {
        let i = self.radix.index(arm) as usize;
        self.inner.record(&i, &Observation::total(obs.cost));
    }

    fn recommend(&self) -> Option<Composition> {
        self.inner.recommend().map(|i| self.radix.composition(i as u64))
    }
}
