//! Local search for live systems: one decision changed at a time, from the best design
//! measured so far.
//!
//! On a running system every window of exploration is served by the design tried, to real
//! users. A proposal that changes ten decisions at once (what the global search does while its
//! model is young) turns a good design into a bad one as often as not, and on a saturated host
//! a bad window leaves a backlog behind it. Live, the learner therefore moves like a careful
//! operator: it keeps the best design it has measured (the *incumbent*), and with a
//! probability that decays it tries one of the incumbent's one-decision neighbours, chosen by
//! Thompson sampling over the models' beliefs: a neighbour the additive model already knows to
//! be worse (its changed option was measured elsewhere) is rarely drawn, an unmeasured one
//! often. A neighbour that improves becomes the incumbent, so a chain of single moves reaches
//! any design, and each of its steps was measured before the next was taken.
//!
//! Neighbours that change nothing that runs (a decision that does not matter where it is,
//! such as the placement of a point that travels with its parent) are skipped through a
//! canonical form the caller may supply ([`super::Factored::with_canonical`]).

use std::fmt;
use std::sync::Arc;

use crate::space::{Composition, Radix};

/// A function from a composition to the one that runs for it.
type CanonicalFn = dyn Fn(&[usize]) -> Composition + Send + Sync;

/// Maps a composition to the one that runs for it (the same for every composition that runs
/// the same system).
#[derive(Clone)]
pub(crate) struct Canonical(pub(crate) Arc<CanonicalFn>);

impl fmt::Debug for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Canonical(..)")
    }
}

impl Canonical {
    fn of(canonical: Option<&Canonical>, c: Composition) -> Composition {
        match canonical {
            Some(Canonical(f)) => f(&c),
            None => c,
        }
    }
}

/// The distinct one-decision changes of `incumbent` that run something else than it, in
/// canonical form, in decision-then-option order.
pub(crate) fn neighbours(radix: &Radix, incumbent: &[usize], canonical: Option<&Canonical>) -> Vec<Composition> {
    let home = Canonical::of(canonical, incumbent.to_vec());
    let mut out: Vec<Composition> = Vec::new();
    for (d, &r) in radix.radices().iter().enumerate() {
        for o in (0..r).filter(|&o| o != incumbent[d]) {
            let mut n = incumbent.to_vec();
            n[d] = o;
            let n = Canonical::of(canonical, n);
            if n != home && !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decision_at_a_time() {
        let radix = Radix::new(vec![3, 2, 1]);
        let n = neighbours(&radix, &[0, 1, 0], None);
        assert_eq!(n, vec![vec![1, 1, 0], vec![2, 1, 0], vec![0, 0, 0]]);
    }

    #[test]
    fn changes_that_run_the_same_system_are_skipped_and_merged() {
        // Decision 1 matters only when decision 0 is at option 0.
        let canonical = Canonical(Arc::new(|c: &[usize]| if c[0] == 0 { c.to_vec() } else { vec![c[0], 0] }));
        let radix = Radix::new(vec![2, 3]);
        assert_eq!(neighbours(&radix, &[1, 0], Some(&canonical)), vec![vec![0, 0]]);
        assert_eq!(neighbours(&radix, &[0, 2], Some(&canonical)), vec![vec![1, 0], vec![0, 0], vec![0, 1]]);
    }
}
