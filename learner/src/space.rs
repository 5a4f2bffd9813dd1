//! Composition spaces: a composition is one option index per decision, and a
//! mixed-radix mapping turns it into a flat arm index and back.

/// One option index per decision (for example `[cache, compress, replicas]`).
pub type Composition = Vec<usize>;

/// The shape of a composition space: how many options each decision has.
///
/// Index `0` is the composition with every decision at option `0`; the last
/// decision varies fastest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Radix {
    radices: Vec<usize>,
    size: u64,
}

impl Radix {
    /// A space with `radices[d]` options for decision `d`.
    ///
    /// # Panics
    /// Panics if a decision has no option, or the space has more than `u64::MAX`
    /// compositions.
    pub fn new(radices: Vec<usize>) -> Self {
        assert!(radices.iter().all(|&r| r > 0), "a decision with no option");
        let size = radices.iter().try_fold(1u64, |acc, &r| acc.checked_mul(r as u64));
        let size = size.expect("composition space larger than u64");
        Radix { radices, size }
    }

    /// Options per decision.
    pub fn radices(&self) -> &[usize] {
        &self.radices
    }

    /// Number of decisions.
    pub fn decisions(&self) -> usize {
        self.radices.len()
    }

    /// Number of compositions (product of the radices).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flat index of a composition.
    ///
    /// # Panics
    /// Panics if `c` has the wrong length or an option out of range.
    pub fn index(&self, c: &[usize]) -> u64 {
        assert_eq!(c.len(), self.radices.len(), "composition length");
        c.iter().zip(&self.radices).fold(0u64, |acc, (&o, &r)| {
            assert!(o < r, "option {o} out of range {r}");
            acc * r as u64 + o as u64
        })
    }

    /// Composition at a flat index.
    ///
    /// # Panics
    /// Panics if `index >= self.size()`.
    pub fn composition(&self, mut index: u64) -> Composition {
        assert!(index < self.size, "index {index} out of range");
        let mut c = vec![0; self.radices.len()];
        for (slot, &r) in c.iter_mut().zip(&self.radices).rev() {
            *slot = (index % r as u64) as usize;
            index /= r as u64;
        }
        c
    }

    /// Advance `c` to the next composition in index order; `false` after the last.
    pub fn step(&self, c: &mut [usize]) -> bool {
        for (slot, &r) in c.iter_mut().zip(&self.radices).rev() {
            *slot += 1;
            if *slot < r {
                return true;
            }
            *slot = 0;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn step_enumerates_in_index_order() {
        let r = Radix::new(vec![2, 3, 2]);
        let mut c = vec![0; 3];
        let mut i = 0;
        loop {
            assert_eq!(r.index(&c), i);
            i += 1;
            if !r.step(&mut c) {
                break;
            }
        }
        assert_eq!(i, r.size());
        assert_eq!(r.size(), 12);
    }

    proptest! {
        #[test]
        fn index_and_composition_round_trip(
            radices in proptest::collection::vec(1usize..9, 1..8),
            seed in any::<u64>(),
        ) {
            let r = Radix::new(radices);
            let i = seed % r.size();
            let c = r.composition(i);
            prop_assert_eq!(r.index(&c), i);
        }
    }
}
