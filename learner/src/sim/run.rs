//! Running policies against a [`SimSpace`] and scoring their convergence.

use std::fmt;
use std::str::FromStr;

use crate::factored::{Factored, FactoredConfig};
use crate::policy::{DiscountedUcb, Flat, Observation, Policy, Thompson, Ucb1};
use crate::rng::{Rng, splitmix64};
use crate::space::Composition;

use super::SimSpace;

/// The policies the simulator can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// Flat UCB1 with adaptive normalisation (the paper's learner).
    Ucb1,
    /// Flat UCB1 with plain min–max normalisation (the paper's first attempt).
    Ucb1MinMax,
    /// Flat discounted UCB, `gamma = 0.99`.
    Discounted,
    /// Flat Gaussian Thompson sampling.
    Thompson,
    /// The factored learner.
    Factored,
    /// The factored learner as on a live system ([`FactoredConfig::live`]: one move at a time
    /// from the best measured design, relative costs).
    FactoredNearby,
}

impl PolicyKind {
    /// Every policy, in report order.
    pub const ALL: [PolicyKind; 6] = [
        PolicyKind::Ucb1,
        PolicyKind::Ucb1MinMax,
        PolicyKind::Discounted,
        PolicyKind::Thompson,
        PolicyKind::Factored,
        PolicyKind::FactoredNearby,
    ];

    fn flat(self) -> bool {
        !matches!(self, PolicyKind::Factored | PolicyKind::FactoredNearby)
    }

    /// Build the policy for `space` with `seed`.
    pub fn build(self, space: &SimSpace, seed: u64) -> Box<dyn Policy<Arm = Composition>> {
        let radix = space.radix().clone();
        let k = usize::try_from(radix.size()).expect("flat space fits usize");
        match self {
            PolicyKind::Ucb1 => Box::new(Flat::new(Ucb1::new(k), radix)),
            PolicyKind::Ucb1MinMax => {
                Box::new(Flat::new(Ucb1::with_normalisation(k, crate::normalise::Normalisation::MinMax), radix))
            }
            PolicyKind::Discounted => Box::new(Flat::new(DiscountedUcb::new(k, 0.99), radix)),
            PolicyKind::Thompson => Box::new(Flat::new(Thompson::new(k, seed), radix)),
            PolicyKind::Factored => {
                Box::new(Factored::new(radix, FactoredConfig { seed, ..FactoredConfig::default() }))
            }
            PolicyKind::FactoredNearby => Box::new(Factored::new(radix, FactoredConfig::live(seed))),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyKind::Ucb1 => "ucb1",
            PolicyKind::Ucb1MinMax => "ucb1-minmax",
            PolicyKind::Discounted => "discounted",
            PolicyKind::Thompson => "thompson",
            PolicyKind::Factored => "factored",
            PolicyKind::FactoredNearby => "factored-nearby",
        })
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PolicyKind::ALL.into_iter().find(|k| k.to_string() == s).ok_or_else(|| {
            format!("unknown policy `{s}` (known: ucb1, ucb1-minmax, discounted, thompson, factored, factored-nearby)")
        })
    }
}

/// How one run went.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// First window (1-based) from which the recommendation stays within 5%
    /// of the optimum to the end; `None` if it is not within 5% at the end.
    pub windows_to_5pct: Option<usize>,
    /// Share of second-half windows whose chosen composition was within 10%.
    pub share_within_10pct: f64,
    /// Sum over windows of (true cost of the chosen composition − optimum), ms.
    pub regret: f64,
    /// The final recommendation.
    pub recommendation: Option<Composition>,
}

/// Run one policy once. `semi` feeds per-decision parts to the policy.
pub fn run_once(space: &SimSpace, kind: PolicyKind, optimum: f64, seed: u64, semi: bool) -> RunResult {
    let mut policy = kind.build(space, seed ^ 0x5EED);
    let mut rng = Rng::new(seed);
    let windows = space.windows;
    let mut parts = Vec::new();
    let mut last_outside = 0; // last window whose recommendation was outside 5%
    let (mut near, mut half) = (0usize, 0usize);
    let mut regret = 0.0;
    let mut rec = None;
    for w in 1..=windows {
        let arm = policy.choose();
        let truth = space.true_cost(&arm);
        let cost = space.sample_total(&arm, &mut rng);
        let obs = if semi && !kind.flat() {
            space.sample_parts(&arm, &mut rng, &mut parts);
            Observation { cost, parts: Some(&parts) }
        } else {
            Observation::total(cost)
        };
        policy.record(&arm, &obs);
        regret += truth - optimum;
        if 2 * w > windows {
            half += 1;
            if truth <= optimum + 0.10 * optimum.abs() {
                near += 1;
            }
        }
        rec = policy.recommend();
        let ok = rec.as_ref().is_some_and(|r| space.true_cost(r) <= optimum + 0.05 * optimum.abs());
        if !ok {
            last_outside = w;
        }
    }
    RunResult {
        windows_to_5pct: (last_outside < windows).then_some(last_outside + 1),
        share_within_10pct: near as f64 / half.max(1) as f64,
        regret,
        recommendation: rec,
    }
}

/// Summary of one policy over several seeds.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Which policy.
    pub policy: PolicyKind,
    /// Median of [`RunResult::windows_to_5pct`] (`None` counts as never).
    pub windows_to_5pct_median: Option<f64>,
    /// Worst of [`RunResult::windows_to_5pct`].
    pub windows_to_5pct_worst: Option<usize>,
    /// Mean share of second-half windows within 10%.
    pub share_within_10pct: f64,
    /// Mean regret, ms summed over windows.
    pub regret: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |x: Option<String>| x.unwrap_or_else(|| "never".into());
        write!(
            f,
            "policy={} windows_to_5pct_median={} windows_to_5pct_worst={} share_within_10pct={:.3} regret={:.1}",
            self.policy,
            opt(self.windows_to_5pct_median.map(|m| format!("{m}"))),
            opt(self.windows_to_5pct_worst.map(|m| m.to_string())),
            self.share_within_10pct,
            self.regret
        )
    }
}

/// The seed of run `i` derived from the space file's seed.
pub fn run_seed(base: u64, i: usize) -> u64 {
    let mut s = base ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F);
    splitmix64(&mut s)
}

/// Run `kind` over `seeds` seeds and summarise.
pub fn summarise(space: &SimSpace, kind: PolicyKind, optimum: f64, seeds: usize, semi: bool) -> Summary {
    let runs: Vec<RunResult> =
        (0..seeds).map(|i| run_once(space, kind, optimum, run_seed(space.seed, i), semi)).collect();
    // `never` sorts after every window count.
    let mut w: Vec<usize> = runs.iter().map(|r| r.windows_to_5pct.unwrap_or(usize::MAX)).collect();
    w.sort_unstable();
    let median = if w.is_empty() {
        None
    } else if w.len() % 2 == 1 {
        let m = w[w.len() / 2];
        (m != usize::MAX).then_some(m as f64)
    } else {
        let (a, b) = (w[w.len() / 2 - 1], w[w.len() / 2]);
        (b != usize::MAX).then(|| (a + b) as f64 / 2.0)
    };
    let worst = w.last().copied().filter(|&m| m != usize::MAX);
    let n = runs.len().max(1) as f64;
    Summary {
        policy: kind,
        windows_to_5pct_median: median,
        windows_to_5pct_worst: worst,
        share_within_10pct: runs.iter().map(|r| r.share_within_10pct).sum::<f64>() / n,
        regret: runs.iter().map(|r| r.regret).sum::<f64>() / n,
    }
}
