//! Bandit policies over a flat set of arms, and the [`Policy`] trait every
//! learner in this crate implements.
//!
//! Costs go in (response time, lower is better); each policy turns them into
//! rewards its own way. A window's observation may carry per-decision parts
//! (semi-bandit feedback); flat policies use only the total.

mod discounted;
mod flat;
mod thompson;
mod ucb1;

pub use discounted::DiscountedUcb;
pub use flat::Flat;
pub use thompson::Thompson;
pub use ucb1::Ucb1;

/// What one observation window measured for the arm that was in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation<'a> {
    /// Mean response time (or any cost) over the window; lower is better.
    pub cost: f64,
    /// Per-decision share of the cost, when the probes time every slot
    /// (semi-bandit feedback); `parts[d]` belongs to decision `d`.
    pub parts: Option<&'a [f64]>,
}

impl Observation<'_> {
    /// An observation with only the total cost.
    pub fn total(cost: f64) -> Observation<'static> {
        Observation { cost, parts: None }
    }
}

/// A learner that picks an arm per observation window.
///
/// Call order per window: [`choose`](Policy::choose), apply the arm, wait for
/// the window to close, [`record`](Policy::record) what was measured.
pub trait Policy {
    /// What the policy chooses: a flat arm index or a whole composition.
    type Arm: Clone;

    /// The arm to run during the next window (may explore).
    fn choose(&mut self) -> Self::Arm;

    /// Feed back what `arm` cost during the window it ran.
    fn record(&mut self, arm: &Self::Arm, obs: &Observation<'_>);

    /// The arm currently believed best (exploiting only); `None` before any
    /// observation.
    fn recommend(&self) -> Option<Self::Arm>;
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    type Arm = P::Arm;
    fn choose(&mut self) -> Self::Arm {
        (**self).choose()
    }
    fn record(&mut self, arm: &Self::Arm, obs: &Observation<'_>) {
        (**self).record(arm, obs)
    }
    fn recommend(&self) -> Option<Self::Arm> {
        (**self).recommend()
    }
}

/// Lowest-mean arm tracking shared by the flat policies: O(1) per record
/// except when the incumbent itself gets worse, which costs one rescan.
#[derive(Clone, Debug, Default)]
struct BestMean {
    best: Option<usize>,
}

impl BestMean {
    fn after_record(&mut self, arm: usize, means: impl Fn(usize) -> Option<f64>, k: usize) {
        match self.best {
            None => self.best = Some(arm),
            Some(b) if b == arm => {
                // The incumbent may have got worse: rescan.
                self.best =
                    (0..k).filter_map(|i| means(i).map(|m| (i, m))).min_by(|a, b| a.1.total_cmp(&b.1)).map(|(i, _)| i);
            }
            Some(b) => {
                if means(arm).unwrap_or(f64::INFINITY) < means(b).unwrap_or(f64::INFINITY) {
                    self.best = Some(arm);
                }
            }
        }
    }
}
