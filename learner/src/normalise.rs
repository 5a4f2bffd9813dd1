//! Turning response-time cost into a reward in `[0, 1]`.
//!
//! Hatch (FGCS 2022, §6.2.2) first normalised cost with plain min–max over what
//! it had seen; one very slow design then squashed the differences between the
//! good designs into a sliver of the reward range (its Fig. 10). Its fix,
//! *adaptive normalisation*, "avoids poor actions that have high confidence".
//! The paper gives no formula; ours is:
//!
//! * `lo` is the lowest mean cost of any tried arm;
//! * an arm is *confidently poor* when it is worse than the best arm beyond
//!   statistical doubt: `mean_k - z * se_k > mean_b + z * se_b`, with standard
//!   errors from the noise pooled over all arms tried at least twice and
//!   `z = 3`;
//! * `hi` is the highest mean cost among arms that are not confidently poor
//!   (or, once only the best arm is left, the mean of the next best).
//!
//! Costs above `hi` clamp to reward `0`, so confidently poor arms no longer
//! stretch the scale the contenders are compared on, and the flat policies
//! skip confidently poor arms altogether while they stay that way ("avoids
//! poor actions that have high confidence"): a UCB1 bonus alone would still
//! pull a 250 ms design a dozen times to learn what a handful of samples
//! already proved.

/// How a flat policy maps mean cost to reward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Normalisation {
    /// Min–max over all tried arms (the paper's first learner, Fig. 10).
    MinMax,
    /// Min–max that ignores confidently poor arms (the paper's Fig. 11).
    #[default]
    Adaptive,
}

/// Running statistics of one arm, in cost units.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ArmStats {
    /// (Possibly discounted) number of observations.
    pub n: f64,
    /// (Possibly discounted) sum of observed costs.
    pub sum: f64,
    /// (Possibly discounted) sum of squared costs.
    pub sumsq: f64,
}

impl ArmStats {
    /// Add one observation with weight `w`.
    pub fn add(&mut self, cost: f64, w: f64) {
        self.n += w;
        self.sum += w * cost;
        self.sumsq += w * cost * cost;
    }

    /// Mean observed cost, `None` if untried.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0.0).then(|| self.sum / self.n)
    }
}

/// A cost interval mapped linearly onto reward `[1, 0]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostRange {
    /// Cost that earns reward 1.
    pub lo: f64,
    /// Cost at and above which reward is 0.
    pub hi: f64,
}

impl CostRange {
    /// Reward in `[0, 1]` of a cost: 1 at `lo`, 0 at `hi` or worse.
    pub fn reward(&self, cost: f64) -> f64 {
        let w = self.hi - self.lo;
        if w <= f64::EPSILON * self.lo.abs().max(1.0) {
            return 1.0;
        }
        ((self.hi - cost) / w).clamp(0.0, 1.0)
    }

    /// Width `hi - lo`.
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }

    /// The range for the next decision, given all arms' statistics;
    /// `None` if no arm has been tried.
    pub fn fit(mode: Normalisation, arms: &[ArmStats]) -> Option<CostRange> {
        Fitted::fit(mode, arms).map(|f| f.range)
    }
}

/// A fitted [`CostRange`] together with the test for confidently poor arms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fitted {
    /// The cost range for rewards.
    pub range: CostRange,
    /// `(best_pessimistic, pooled sd)`; `None` under min–max or without a
    /// noise estimate.
    elimination: Option<(f64, f64)>,
}

impl Fitted {
    /// Whether `a` is confidently worse than the best arm.
    pub fn confidently_poor(&self, a: &ArmStats) -> bool {
        match (self.elimination, a.mean()) {
            (Some((best, sd)), Some(m)) => m - CONFIDENCE_Z * sd / a.n.sqrt() > best,
            _ => false,
        }
    }

    /// Fit the range (and the poor-arm test) to all arms' statistics; `None`
    /// if no arm has been tried.
    pub fn fit(mode: Normalisation, arms: &[ArmStats]) -> Option<Fitted> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut best = None;
        let (mut ss, mut dof) = (0.0, 0.0);
        for (k, a) in arms.iter().enumerate() {
            if let Some(m) = a.mean() {
                if m < lo {
                    lo = m;
                    best = Some(k);
                }
                hi = hi.max(m);
                if a.n > 1.0 {
                    ss += (a.sumsq - a.sum * m).max(0.0);
                    dof += a.n - 1.0;
                }
            }
        }
        let best = best?;
        if mode == Normalisation::MinMax || dof <= 0.0 {
            return Some(Fitted { range: CostRange { lo, hi }, elimination: None });
        }
        let sd = (ss / dof).sqrt();
        let best_pessimistic = lo + CONFIDENCE_Z * sd / arms[best].n.sqrt();
        let mut contender_hi = lo;
        let mut poor_lo = f64::INFINITY;
        for a in arms {
            if let Some(m) = a.mean() {
                if m - CONFIDENCE_Z * sd / a.n.sqrt() > best_pessimistic {
                    poor_lo = poor_lo.min(m);
                } else {
                    contender_hi = contender_hi.max(m);
                }
            }
        }
        let hi = if contender_hi > lo { contender_hi } else { poor_lo.min(hi) };
        Some(Fitted { range: CostRange { lo, hi }, elimination: Some((best_pessimistic, sd)) })
    }
}

/// Standard errors an arm must be away from the best to count as confidently poor.
const CONFIDENCE_Z: f64 = 3.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` observations alternating `mean - 1`, `mean + 1` (sd about 1).
    fn arm(n: usize, mean: f64) -> ArmStats {
        let mut a = ArmStats::default();
        for i in 0..n {
            a.add(mean + if i % 2 == 0 { -1.0 } else { 1.0 }, 1.0);
        }
        if n % 2 == 1 {
            // Keep the mean exact.
            a.sum = n as f64 * mean;
        }
        a
    }

    #[test]
    fn reward_is_one_at_lo_zero_at_hi_and_clamped() {
        let r = CostRange { lo: 10.0, hi: 20.0 };
        assert_eq!(r.reward(10.0), 1.0);
        assert_eq!(r.reward(20.0), 0.0);
        assert_eq!(r.reward(15.0), 0.5);
        assert_eq!(r.reward(5.0), 1.0);
        assert_eq!(r.reward(100.0), 0.0);
    }

    #[test]
    fn min_max_is_stretched_by_one_terrible_arm() {
        let arms = [arm(50, 10.0), arm(50, 11.0), arm(50, 200.0)];
        let r = CostRange::fit(Normalisation::MinMax, &arms).unwrap();
        assert_eq!((r.lo, r.hi), (10.0, 200.0));
        // The two good arms look almost identical in reward.
        assert!(r.reward(10.0) - r.reward(11.0) < 0.01);
    }

    #[test]
    fn adaptive_drops_confidently_poor_arm_but_keeps_uncertain_ones() {
        let confident = [arm(50, 10.0), arm(50, 10.2), arm(50, 200.0)];
        let r = CostRange::fit(Normalisation::Adaptive, &confident).unwrap();
        assert!((r.lo - 10.0).abs() < 1e-9 && (r.hi - 10.2).abs() < 1e-9, "{r:?}");
        assert!(r.reward(10.0) - r.reward(10.19) > 0.9);
        assert_eq!(r.reward(200.0), 0.0);
        let f = Fitted::fit(Normalisation::Adaptive, &confident).unwrap();
        assert!(f.confidently_poor(&confident[2]));
        assert!(!f.confidently_poor(&confident[1]) && !f.confidently_poor(&confident[0]));
        let f = Fitted::fit(Normalisation::MinMax, &confident).unwrap();
        assert!(!f.confidently_poor(&confident[2]));

        // 25.0 is within 3 standard errors of the best when tried once with
        // noise this large, so it stays in range.
        let noisy = [arm(3, 10.0), arm(1, 12.0), arm(1, 25.0)];
        let mut noisy = noisy;
        noisy[0].sumsq += 2.0 * 36.0; // widen the pooled noise to sd ~ 6
        let r = CostRange::fit(Normalisation::Adaptive, &noisy).unwrap();
        assert_eq!(r.hi, 25.0);
    }

    #[test]
    fn adaptive_keeps_a_non_degenerate_range_when_only_the_best_is_left() {
        let arms = [arm(100, 10.0), arm(100, 15.0), arm(100, 30.0)];
        let r = CostRange::fit(Normalisation::Adaptive, &arms).unwrap();
        assert_eq!((r.lo, r.hi), (10.0, 15.0));
    }

    #[test]
    fn fit_of_untried_space_is_none() {
        let arms = [ArmStats::default(); 3];
        assert!(CostRange::fit(Normalisation::Adaptive, &arms).is_none());
    }
}
