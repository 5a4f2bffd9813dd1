//! Guardrails around any [`Policy`]: a known-good fallback when the running
//! design regresses, and damping so that designs whose difference is within
//! the noise (or does not pay for the switch) do not flap.
//!
//! A bandit learner explores by design, and a design it tries may be much
//! worse than the best one it knows; in production that exploration must be
//! bounded. [`Guarded`] wraps a policy and, every window, either follows the
//! policy's proposal or overrides it, saying why in a [`Reason`]:
//!
//! * **Fallback.** When the running design's last
//!   [`regression_windows`](GuardConfig::regression_windows) windows in a row
//!   were all regressed (each worse than the best measured design's mean by
//!   more than [`regression`](GuardConfig::regression) of it), the guard
//!   returns to that best design, and keeps it for `regression_windows`
//!   windows ([`Reason::Hold`]) so the next exploration does not undo the
//!   fallback at once.
//! * **Damping.** A switch between two *measured* designs (each with at least
//!   [`min_samples`](GuardConfig::min_samples) windows) happens only when the
//!   expected gain beats a margin: the noise of the two means, a relative and
//!   an absolute floor, and the switch cost amortised over
//!   [`horizon_windows`](GuardConfig::horizon_windows) (see
//!   [`Guarded::margin_ms`]).
//! * **Exploration** of designs with fewer windows than `min_samples` is never
//!   blocked: the learner must still learn, and the fallback bounds what a bad
//!   exploration costs (`regression_windows` windows).
//!
//! The inner policy is asked every window, whatever the guard then does, so
//! its own clock (e.g. [`Factored`](crate::factored::Factored)'s exploration
//! schedule) advances with the windows; and it is fed every window's cost for
//! the design that actually ran, so it learns off-policy from the guard's
//! overrides.
//!
//! Per-design statistics are kept only for designs that ran, so the guard's
//! memory is bounded by the number of windows, not by the size of the space.
//!
//! # When the best design itself regresses
//!
//! A regression of the design the guard believes best does not trigger a
//! fallback: there is nothing better known to return to, and the inner policy
//! decides as usual. Every regressed window raises that design's mean; once
//! the mean passes another measured design's, that one is the best, and the
//! fallback applies to the regressed design's recent windows. A change that
//! slows every design is the environment classifier's to catch
//! ([`crate::envclass`]): with [`PerClass`](crate::envclass::PerClass), each
//! class has its own guard, and so its own known-good design.
//!
//! # Examples
//!
//! One guarded learner per environment class, driven by
//! [`HostLearner`](crate::host::HostLearner) unchanged:
//!
//! ```
//! use hatch_learner::envclass::PerClass;
//! use hatch_learner::guard::{GuardConfig, Guarded};
//! use hatch_learner::policy::{Observation, Policy, Ucb1};
//!
//! let mut learners = PerClass::new(|_| Guarded::new(Ucb1::new(3), GuardConfig::default()));
//! let guard = learners.get(0);
//! for _ in 0..30 {
//!     let arm = guard.choose();
//!     guard.record(&arm, &Observation::total([30.0, 10.0, 20.0][arm]));
//! }
//! assert_eq!(guard.recommend(), Some(1));
//! println!("{}", guard.last().unwrap().reason); // e.g. "stay: the learner keeps the running design"
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;

use crate::policy::{Observation, Policy};

/// Tuning of [`Guarded`]; every field documents its default.
#[derive(Clone, Debug, PartialEq)]
pub struct GuardConfig {
    /// How much worse than the best measured design's mean a window must be to
    /// count as regressed, relative to that mean. Default `0.25`: a window
    /// 25% slower than the best known design is regressed. (The excess must
    /// also exceed [`noise_ms`](Self::noise_ms).)
    pub regression: f64,
    /// How many regressed windows in a row of the running design trigger the
    /// fallback, and for how many windows the restored design is then kept.
    /// Default `2`.
    pub regression_windows: u32,
    /// Windows a design needs before it counts as measured (its mean is used
    /// for the fallback, the damping and the recommendation). Default `2`, the
    /// fewest with which its variance can be estimated.
    pub min_samples: u32,
    /// Relative floor of the damping margin, as a share of the running
    /// design's mean. Default `0.05`: a measured design must look at least 5%
    /// better to replace the running one.
    pub min_gain: f64,
    /// Absolute floor of the damping margin in ms, for designs whose
    /// difference is known to be below what the system can resolve. Default
    /// `0.0`.
    pub noise_ms: f64,
    /// How many standard errors of the difference of two means the gain must
    /// exceed. Default `2.0` (about 95% one-sided confidence for normal
    /// window means).
    pub confidence: f64,
    /// Over how many windows a switch's cost is amortised: a switch pays when
    /// `gain × horizon_windows` exceeds its cost. Default `10.0`.
    pub horizon_windows: f64,
    /// Initial estimate of a switch's cost, in ms of mean response time summed
    /// over the windows it disturbs (see [`Guarded::note_switch`]); replaced
    /// by the first measurement. Default `0.0`.
    pub switch_cost_ms: f64,
    /// Weight of each new measurement in the moving average of switch costs
    /// after the first. Default `0.25`.
    pub switch_cost_weight: f64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            regression: 0.25,
            regression_windows: 2,
            min_samples: 2,
            min_gain: 0.05,
            noise_ms: 0.0,
            confidence: 2.0,
            horizon_windows: 10.0,
            switch_cost_ms: 0.0,
            switch_cost_weight: 0.25,
        }
    }
}

/// Window costs of one design: count, mean and variance (Welford).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostStats {
    n: u64,
    mean: f64,
    m2: f64,
}

impl CostStats {
    fn first(cost: f64) -> Self {
        CostStats { n: 1, mean: cost, m2: 0.0 }
    }

    fn add(&mut self, cost: f64) {
        self.n += 1;
        let d = cost - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (cost - self.mean);
    }

    /// Number of windows recorded (at least 1).
    pub fn windows(&self) -> u64 {
        self.n
    }

    /// Mean window cost.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Sample variance of the window costs; `None` with a single window.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.m2 / (self.n - 1) as f64)
    }

    /// Variance of the mean (variance / windows); 0 with a single window.
    fn mean_variance(&self) -> f64 {
        self.variance().map_or(0.0, |v| v / self.n as f64)
    }
}

/// Why [`Guarded::choose`] returned what it did.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason<A> {
    /// The proposal has fewer than `min_samples` windows: exploration, never
    /// blocked.
    Explore {
        /// Windows the proposed design has had so far.
        windows: u64,
    },
    /// The inner policy proposed the running design.
    Stay,
    /// The inner policy's proposal replaces the running design.
    Switch {
        /// Running design's mean minus the proposal's, in ms; `None` when the
        /// running design has no window of its own yet.
        gain_ms: Option<f64>,
        /// The margin the gain beat; `None` when the running design was not
        /// yet measured, so there was nothing to damp.
        margin_ms: Option<f64>,
    },
    /// The proposal was measured but not enough better: the running design is
    /// kept.
    Damped {
        /// What the inner policy proposed.
        proposed: A,
        /// Running design's mean minus the proposal's, in ms.
        gain_ms: f64,
        /// What the gain had to exceed, in ms ([`Guarded::margin_ms`]).
        margin_ms: f64,
    },
    /// The running design regressed: back to the best measured design.
    Fallback {
        /// Mean of the running design's regressed windows, in ms.
        cost_ms: f64,
        /// The best measured design's mean, in ms.
        best_ms: f64,
        /// How many regressed windows in a row triggered it.
        windows: u32,
    },
    /// The design restored by a fallback is kept a little longer.
    Hold {
        /// Windows it is still kept for, this one included.
        remaining: u32,
    },
}

impl<A> fmt::Display for Reason<A> {
    /// Short human text; starts with the kind of decision (`explore`, `stay`,
    /// `switch`, `damped`, `fallback`, `hold`) and a colon.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        match self {
            Reason::Explore { windows } => {
                write!(f, "explore: design measured in {windows} window{}", plural(*windows))
            }
            Reason::Stay => f.write_str("stay: the learner keeps the running design"),
            Reason::Switch { gain_ms: Some(g), margin_ms: Some(m) } => {
                write!(f, "switch: gain {g:.1} ms > margin {m:.1} ms")
            }
            Reason::Switch { gain_ms: Some(g), margin_ms: None } => {
                write!(f, "switch: gain {g:.1} ms, running design not yet measured")
            }
            Reason::Switch { gain_ms: None, .. } => f.write_str("switch: running design has no window yet"),
            Reason::Damped { gain_ms, margin_ms, .. } => {
                write!(f, "damped: gain {gain_ms:.1} ms < margin {margin_ms:.1} ms")
            }
            Reason::Fallback { cost_ms, best_ms, windows } => {
                write!(
                    f,
                    "fallback: {cost_ms:.1} ms vs best {best_ms:.1} ms for {windows} window{}",
                    plural(u64::from(*windows))
                )
            }
            Reason::Hold { remaining } => {
                write!(f, "hold: restored design kept for {remaining} more window{}", plural(u64::from(*remaining)))
            }
        }
    }
}

/// One decision of [`Guarded::choose`]: the design chosen and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice<A> {
    /// The design to run next.
    pub arm: A,
    /// Why.
    pub reason: Reason<A>,
}

/// A [`Policy`] wrapped in guardrails (see the [module docs](self)).
///
/// Implements [`Policy`] itself, so `PerClass<Guarded<Factored>>` is one
/// guarded learner per environment class and
/// [`HostLearner`](crate::host::HostLearner) drives it unchanged.
#[derive(Clone, Debug)]
pub struct Guarded<P: Policy> {
    inner: P,
    cfg: GuardConfig,
    /// Statistics of every design that ran, in order of first run (so ties
    /// between means resolve the same way on every run).
    arms: Vec<(P::Arm, CostStats)>,
    index: HashMap<P::Arm, usize>,
    /// Index into `arms` of the lowest mean among measured designs.
    best: Option<usize>,
    /// The design running now: the last one chosen or recorded.
    live: Option<P::Arm>,
    /// Costs of the live design's latest windows in a row, at most
    /// `regression_windows` of them.
    run: VecDeque<f64>,
    /// The design restored by a fallback and how many more windows it is kept.
    hold: Option<(P::Arm, u32)>,
    switch_cost_ms: f64,
    switches_noted: u64,
    last: Option<Choice<P::Arm>>,
}

impl<P> Guarded<P>
where
    P: Policy,
    P::Arm: Clone + Eq + Hash + fmt::Debug,
{
    /// Guard `inner` with `cfg`.
    ///
    /// # Panics
    /// Panics if `cfg.min_samples < 2`, `cfg.regression_windows == 0`,
    /// `cfg.horizon_windows` is not positive, or `cfg.switch_cost_weight` is
    /// not in `(0, 1]`.
    pub fn new(inner: P, cfg: GuardConfig) -> Self {
        assert!(cfg.min_samples >= 2, "a measured design needs at least 2 windows to estimate its noise");
        assert!(cfg.regression_windows >= 1, "the fallback needs at least one regressed window");
        assert!(cfg.horizon_windows > 0.0, "the switch cost is amortised over a positive horizon");
        assert!(cfg.switch_cost_weight > 0.0 && cfg.switch_cost_weight <= 1.0, "the switch cost weight is in (0, 1]");
        Guarded {
            inner,
            switch_cost_ms: cfg.switch_cost_ms.max(0.0),
            run: VecDeque::with_capacity(cfg.regression_windows as usize + 1),
            cfg,
            arms: Vec::new(),
            index: HashMap::new(),
            best: None,
            live: None,
            hold: None,
            switches_noted: 0,
            last: None,
        }
    }

    /// The guarded policy.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The guarded policy, unwrapped.
    pub fn into_inner(self) -> P {
        self.inner
    }

    /// The configuration.
    pub fn config(&self) -> &GuardConfig {
        &self.cfg
    }

    /// The last decision of [`choose`](Policy::choose); `None` before the
    /// first.
    pub fn last(&self) -> Option<&Choice<P::Arm>> {
        self.last.as_ref()
    }

    /// The measured design with the lowest mean, and that mean; `None` until a
    /// design has `min_samples` windows.
    pub fn best(&self) -> Option<(&P::Arm, f64)> {
        self.best.map(|i| (&self.arms[i].0, self.arms[i].1.mean))
    }

    /// Window costs recorded for `arm`; `None` if it never ran.
    pub fn stats(&self, arm: &P::Arm) -> Option<CostStats> {
        self.index.get(arm).map(|&i| self.arms[i].1)
    }

    /// The current estimate of a switch's cost, in ms of mean response time
    /// summed over the windows it disturbs.
    pub fn switch_cost_ms(&self) -> f64 {
        self.switch_cost_ms
    }

    /// Feed back what a switch the driver carried out cost, measured from the
    /// actuator: `extra_ms_total` is the extra mean response time it caused,
    /// in ms, summed over the windows it disturbed. For example a relocation
    /// that took 0.8 s, during which 400 requests waited 30 ms longer, in
    /// windows of 2,000 requests, costs `400 × 30 / 2,000 = 6` ms.
    ///
    /// The first measurement replaces the configured initial estimate; later
    /// ones enter a moving average weighted by
    /// [`switch_cost_weight`](GuardConfig::switch_cost_weight). Negative
    /// values count as 0 (a switch is not a gain in itself), non-finite ones
    /// are ignored.
    pub fn note_switch(&mut self, extra_ms_total: f64) {
        if !extra_ms_total.is_finite() {
            return;
        }
        let x = extra_ms_total.max(0.0);
        self.switch_cost_ms = if self.switches_noted == 0 {
            x
        } else {
            let w = self.cfg.switch_cost_weight;
            (1.0 - w) * self.switch_cost_ms + w * x
        };
        self.switches_noted += 1;
    }

    /// What replacing a running design with statistics `current` by one with
    /// `proposed` must gain, in ms of mean window cost:
    ///
    /// `max(min_gain × mean(current), noise_ms, confidence × se) + switch_cost_ms / horizon_windows`
    ///
    /// where `se` is the standard error of the difference of the two means.
    /// The first term keeps designs within the noise from flapping, the
    /// second makes the switch pay for itself within the horizon.
    pub fn margin_ms(&self, current: &CostStats, proposed: &CostStats) -> f64 {
        let se = (current.mean_variance() + proposed.mean_variance()).sqrt();
        let noise = (self.cfg.min_gain * current.mean).max(self.cfg.noise_ms).max(self.cfg.confidence * se);
        noise + self.switch_cost_ms / self.cfg.horizon_windows
    }

    fn measured(&self, s: &CostStats) -> bool {
        s.n >= u64::from(self.cfg.min_samples)
    }

    /// The fallback, if the live design's latest windows all regressed
    /// against a different, measured best.
    fn fallback(&self) -> Option<Choice<P::Arm>> {
        let live = self.live.as_ref()?;
        let (best_arm, best) = &self.arms[self.best?];
        let windows = self.cfg.regression_windows;
        if best_arm == live || self.run.len() < windows as usize {
            return None;
        }
        let threshold = best.mean + (self.cfg.regression * best.mean).max(self.cfg.noise_ms);
        if !self.run.iter().all(|&c| c > threshold) {
            return None;
        }
        let cost_ms = self.run.iter().sum::<f64>() / self.run.len() as f64;
        Some(Choice { arm: best_arm.clone(), reason: Reason::Fallback { cost_ms, best_ms: best.mean, windows } })
    }

    fn decide(&mut self, proposal: P::Arm) -> Choice<P::Arm> {
        if let Some(choice) = self.fallback() {
            self.hold = Some((choice.arm.clone(), self.cfg.regression_windows));
            return choice;
        }
        if let Some((held, remaining)) = &self.hold
            && self.live.as_ref() == Some(held)
        {
            return Choice { arm: held.clone(), reason: Reason::Hold { remaining: *remaining } };
        }
        if self.live.as_ref() == Some(&proposal) {
            return Choice { arm: proposal, reason: Reason::Stay };
        }
        let proposed = match self.stats(&proposal) {
            Some(p) if self.measured(&p) => p,
            p => return Choice { reason: Reason::Explore { windows: p.map_or(0, |s| s.n) }, arm: proposal },
        };
        let live = self.live.as_ref().map(|l| (l, self.stats(l)));
        match live {
            Some((live, Some(current))) if self.measured(&current) => {
                let gain_ms = current.mean - proposed.mean;
                let margin_ms = self.margin_ms(&current, &proposed);
                if gain_ms > margin_ms {
                    Choice {
                        arm: proposal,
                        reason: Reason::Switch { gain_ms: Some(gain_ms), margin_ms: Some(margin_ms) },
                    }
                } else {
                    Choice { arm: live.clone(), reason: Reason::Damped { proposed: proposal, gain_ms, margin_ms } }
                }
            }
            // The running design was only just tried (or nothing has run
            // yet): not enough to hold on to it against a measured one.
            live => Choice {
                reason: Reason::Switch {
                    gain_ms: live.and_then(|(_, c)| c).map(|c| c.mean - proposed.mean),
                    margin_ms: None,
                },
                arm: proposal,
            },
        }
    }

    fn set_live(&mut self, arm: &P::Arm) {
        if self.live.as_ref() != Some(arm) {
            self.live = Some(arm.clone());
            self.run.clear();
        }
    }

    fn rescan_best(&mut self) {
        let min = u64::from(self.cfg.min_samples);
        // `min_by` keeps the first of equal means: the earliest-run design.
        self.best = self
            .arms
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| s.n >= min)
            .min_by(|a, b| a.1.1.mean.total_cmp(&b.1.1.mean))
            .map(|(i, _)| i);
    }
}

impl<P> Policy for Guarded<P>
where
    P: Policy,
    P::Arm: Clone + Eq + Hash + fmt::Debug,
{
    type Arm = P::Arm;

    fn choose(&mut self) -> P::Arm {
        let proposal = self.inner.choose();
        let choice = self.decide(proposal);
        self.set_live(&choice.arm);
        let arm = choice.arm.clone();
        self.last = Some(choice);
        arm
    }

    fn record(&mut self, arm: &P::Arm, obs: &Observation<'_>) {
        self.inner.record(arm, obs);
        // Whatever ran is live now, even if this learner did not choose it
        // (another environment class's learner may have).
        self.set_live(arm);
        match &mut self.hold {
            Some((held, remaining)) if held == arm => {
                *remaining -= 1;
                if *remaining == 0 {
                    self.hold = None;
                }
            }
            Some(_) => self.hold = None,
            None => {}
        }
        let cost = obs.cost;
        if !cost.is_finite() {
            // One broken measurement must not poison the means for good.
            return;
        }
        self.run.push_back(cost);
        if self.run.len() > self.cfg.regression_windows as usize {
            self.run.pop_front();
        }
        let i = match self.index.get(arm) {
            Some(&i) => {
                self.arms[i].1.add(cost);
                i
            }
            None => {
                self.arms.push((arm.clone(), CostStats::first(cost)));
                self.index.insert(arm.clone(), self.arms.len() - 1);
                self.arms.len() - 1
            }
        };
        let stats = self.arms[i].1;
        match self.best {
            // The incumbent may have got worse: another design may be best now.
            Some(b) if b == i => self.rescan_best(),
            Some(b) if self.measured(&stats) && stats.mean < self.arms[b].1.mean => self.best = Some(i),
            None if self.measured(&stats) => self.best = Some(i),
            _ => {}
        }
    }

    fn recommend(&self) -> Option<P::Arm> {
        self.best().map(|(a, _)| a.clone()).or_else(|| self.inner.recommend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Thompson, Ucb1};
    use crate::rng::Rng;

    /// A policy that proposes `script(t)` in its `t`-th choice and remembers
    /// what it was fed, so a test decides exactly what the guard is asked.
    struct Scripted<F> {
        t: usize,
        script: F,
        fed: Vec<(usize, f64)>,
    }

    impl<F: FnMut(usize) -> usize> Scripted<F> {
        fn new(script: F) -> Self {
            Scripted { t: 0, script, fed: Vec::new() }
        }
    }

    impl<F: FnMut(usize) -> usize> Policy for Scripted<F> {
        type Arm = usize;
        fn choose(&mut self) -> usize {
            self.t += 1;
            (self.script)(self.t - 1)
        }
        fn record(&mut self, arm: &usize, obs: &Observation<'_>) {
            self.fed.push((*arm, obs.cost));
        }
        fn recommend(&self) -> Option<usize> {
            None
        }
    }

    /// Runs `windows` windows of `p` where window `w` of arm `a` costs
    /// `cost(w, a)`; returns each window's arm.
    fn run<P: Policy<Arm = usize>>(p: &mut P, windows: usize, mut cost: impl FnMut(usize, usize) -> f64) -> Vec<usize> {
        (0..windows)
            .map(|w| {
                let a = p.choose();
                p.record(&a, &Observation::total(cost(w, a)));
                a
            })
            .collect()
    }

    /// As [`run`], with the guard's reason for each window's arm.
    fn run_guarded<P: Policy<Arm = usize>>(
        g: &mut Guarded<P>,
        windows: usize,
        mut cost: impl FnMut(usize, usize) -> f64,
    ) -> Vec<(usize, Reason<usize>)> {
        (0..windows)
            .map(|w| {
                let a = g.choose();
                let reason = g.last().unwrap().reason.clone();
                g.record(&a, &Observation::total(cost(w, a)));
                (a, reason)
            })
            .collect()
    }

    const A: usize = 0;
    const B: usize = 1;

    #[test]
    fn an_injected_regression_falls_back_within_two_windows() {
        // The inner policy is sure of A for four windows, then switches to B
        // for good; B is four times slower.
        let script = |t| if t < 4 { A } else { B };
        let cost = |_, a| if a == A { 10.0 } else { 40.0 };
        let mut g = Guarded::new(Scripted::new(script), GuardConfig::default());
        let got = run_guarded(&mut g, 30, cost);
        let b_windows: Vec<usize> = (0..30).filter(|&w| got[w].0 == B).collect();
        assert_eq!(b_windows, vec![4, 5], "{got:?}");
        assert_eq!(got[6], (A, Reason::Fallback { cost_ms: 40.0, best_ms: 10.0, windows: 2 }));
        // The restored design is held, then the inner policy's insistence on
        // a measured, far worse design is damped.
        assert_eq!(got[7], (A, Reason::Hold { remaining: 1 }));
        assert!(matches!(got[8].1, Reason::Damped { proposed: B, .. }), "{:?}", got[8]);
        assert!(got[8..].iter().all(|(a, _)| *a == A));
        // The inner policy was asked and fed every window.
        assert_eq!(g.inner().t, 30);
        assert_eq!(g.inner().fed.len(), 30);
        assert_eq!(g.inner().fed[5], (B, 40.0));
        assert_eq!(g.recommend(), Some(A));
        assert_eq!(g.best(), Some((&A, 10.0)));

        // Unguarded, the same policy runs B to the end.
        let unguarded = run(&mut Scripted::new(script), 30, cost);
        assert_eq!(unguarded.iter().filter(|&&a| a == B).count(), 26);
    }

    #[test]
    fn after_a_fallback_the_restored_design_is_kept_before_exploring_again() {
        for rw in [2, 3] {
            // A for 4 windows, B (regressed) for `rw`, then a new design every
            // window: the first exploration waits until A has run `rw`
            // windows again.
            let b_end = 4 + rw;
            let script = move |t| {
                if t < 4 {
                    A
                } else if t < b_end {
                    B
                } else {
                    100 + t
                }
            };
            let cfg = GuardConfig { regression_windows: rw as u32, ..GuardConfig::default() };
            let mut g = Guarded::new(Scripted::new(script), cfg);
            let got = run_guarded(&mut g, 16, |_, a| if a == B { 40.0 } else { 10.0 });
            assert!(matches!(got[b_end], (A, Reason::Fallback { .. })), "{got:?}");
            for (w, choice) in got.iter().enumerate().take(b_end + rw).skip(b_end + 1) {
                assert_eq!(*choice, (A, Reason::Hold { remaining: (b_end + rw - w) as u32 }), "window {w}");
            }
            let w = b_end + rw;
            assert_eq!(got[w], (100 + w, Reason::Explore { windows: 0 }), "{got:?}");
        }
    }

    #[test]
    fn a_regression_must_be_a_streak_past_the_threshold() {
        // B alternates between regressed (40 ms) and fine (11 ms): never two
        // regressed windows in a row, so no fallback.
        let cost = |w: usize, a| {
            if a == A {
                10.0
            } else if w.is_multiple_of(2) {
                40.0
            } else {
                11.0
            }
        };
        let mut g = Guarded::new(Scripted::new(|t| if t < 2 { A } else { B }), GuardConfig::default());
        let got = run_guarded(&mut g, 20, cost);
        assert!(got[2..].iter().all(|(a, _)| *a == B), "{got:?}");
        // 12.4 ms is under 10 × 1.25: not regressed either.
        let mut g = Guarded::new(Scripted::new(|t| if t < 2 { A } else { B }), GuardConfig::default());
        let got = run_guarded(&mut g, 20, |_, a| if a == A { 10.0 } else { 12.4 });
        assert!(got[2..].iter().all(|(a, _)| *a == B), "{got:?}");
        // An absolute noise floor widens the threshold: 13 ms is within 10 + 4.
        let cfg = GuardConfig { noise_ms: 4.0, ..GuardConfig::default() };
        let mut g = Guarded::new(Scripted::new(|t| if t < 2 { A } else { B }), cfg);
        let got = run_guarded(&mut g, 20, |_, a| if a == A { 10.0 } else { 13.0 });
        assert!(got[2..].iter().all(|(a, _)| *a == B), "{got:?}");
    }

    #[test]
    fn a_regression_of_the_best_design_itself_falls_back_once_another_is_better() {
        // B (15 ms) is measured first, then A (10 ms) is the best and the
        // inner policy keeps it for good. From window 12 the environment
        // makes A cost 30 ms.
        let cost = |w, a| match a {
            A if w < 12 => 10.0,
            A => 30.0,
            _ => 15.0,
        };
        let mut g = Guarded::new(Scripted::new(|t| if t < 2 { B } else { A }), GuardConfig::default());
        let got = run_guarded(&mut g, 30, cost);
        // A is the best measured design while its mean is below B's: no
        // fallback, the inner policy decides (and stays). A's mean passes
        // 15 ms after 4 regressed windows: (10 × 10 + 4 × 30) / 14 = 15.7.
        for w in 12..16 {
            assert_eq!(got[w], (A, Reason::Stay), "window {w}: {got:?}");
        }
        assert_eq!(got[16], (B, Reason::Fallback { cost_ms: 30.0, best_ms: 15.0, windows: 2 }));
        assert_eq!(got[17], (B, Reason::Hold { remaining: 1 }));
        // The inner policy still proposes A, which is now measured worse.
        assert!(got[18..].iter().all(|(a, r)| *a == B && matches!(r, Reason::Damped { proposed: A, .. })));
        assert_eq!(g.recommend(), Some(B));
    }

    /// Switches between consecutive windows, counted once both arms of a
    /// two-armed run have `min` windows.
    fn switches_once_measured(arms: &[usize], min: usize) -> usize {
        let mut seen = [0usize; 2];
        let mut count = 0;
        for w in 0..arms.len() {
            if w > 0 && seen.iter().all(|&n| n >= min) && arms[w] != arms[w - 1] {
                count += 1;
            }
            seen[arms[w]] += 1;
        }
        count
    }

    #[test]
    fn designs_within_the_noise_do_not_flap() {
        let means = [10.0, 10.2];
        let mut ucb1_alone = 0;
        for seed in 0..8 {
            let noisy = |seed| {
                let mut rng = Rng::new(seed);
                move |_: usize, a: usize| means[a] + 0.5 * rng.normal()
            };
            // Thompson sampling keeps flipping between two close designs, as
            // it should while it cannot tell them apart...
            let alone = switches_once_measured(&run(&mut Thompson::new(2, seed), 100, noisy(seed)), 2);
            assert!(alone >= 10, "seed {seed}: Thompson alone switched {alone} times");
            // ...the guard keeps one.
            let mut g = Guarded::new(Thompson::new(2, seed), GuardConfig::default());
            let guarded = switches_once_measured(&run(&mut g, 100, noisy(seed)), 2);
            assert!(guarded <= 2, "seed {seed}: guarded Thompson switched {guarded} times");

            // UCB1 flaps less (its normalised rewards spread the two means),
            // but still does, and guarded does not.
            ucb1_alone += switches_once_measured(&run(&mut Ucb1::new(2), 100, noisy(seed)), 2);
            let mut g = Guarded::new(Ucb1::new(2), GuardConfig::default());
            let guarded = switches_once_measured(&run(&mut g, 100, noisy(seed)), 2);
            assert!(guarded <= 2, "seed {seed}: guarded UCB1 switched {guarded} times");

            // A policy flipping every window: 96 switches alone.
            let alternate = |t: usize| t % 2;
            let flips = switches_once_measured(&run(&mut Scripted::new(alternate), 100, noisy(seed)), 2);
            assert_eq!(flips, 96);
            let mut g = Guarded::new(Scripted::new(alternate), GuardConfig::default());
            let guarded = run(&mut g, 100, noisy(seed));
            assert!(switches_once_measured(&guarded, 2) <= 2, "seed {seed}: {guarded:?}");
        }
        assert!(ucb1_alone >= 40, "UCB1 alone switched {ucb1_alone} times over 8 runs");
    }

    /// An inner policy proposing `B` every window.
    type AlwaysB = Scripted<fn(usize) -> usize>;

    /// A guard whose inner policy proposes `B` next, after `A` ran with
    /// `a_costs` and `B` with `b_costs` (B first, so A is running).
    fn measured_pair(cfg: GuardConfig, a_costs: &[f64], b_costs: &[f64]) -> Guarded<AlwaysB> {
        let mut g = Guarded::new(Scripted::new((|_| B) as fn(usize) -> usize), cfg);
        for &c in b_costs {
            g.record(&B, &Observation::total(c));
        }
        for &c in a_costs {
            g.record(&A, &Observation::total(c));
        }
        g
    }

    #[test]
    fn a_real_gain_is_not_damped() {
        // Measured A around 10 ms, measured B around 8.5 ms, A running: A is
        // not regressed (under 8.5 × 1.25), and 1.5 ms beats the margin
        // max(5% of 10, 2 se), se = sqrt(0.125 / 2 + 0.125 / 2).
        let mut g = measured_pair(GuardConfig::default(), &[10.25, 9.75], &[8.75, 8.25]);
        assert_eq!(g.choose(), B);
        let margin = 2.0 * 0.125f64.sqrt();
        match g.last().unwrap().reason {
            Reason::Switch { gain_ms: Some(gain), margin_ms: Some(m) } => {
                assert!((gain - 1.5).abs() < 1e-9 && (m - margin).abs() < 1e-9, "{gain} {m}");
            }
            ref r => panic!("{r:?}"),
        }
        // 10 vs 5 ms: the running design is twice as slow as the best, a
        // regression, so the fallback takes B before damping is considered...
        let mut g = measured_pair(GuardConfig::default(), &[10.5, 9.5], &[5.5, 4.5]);
        assert_eq!(g.choose(), B);
        assert!(matches!(g.last().unwrap().reason, Reason::Fallback { .. }));
        // ...and without the fallback, damping lets the 5 ms gain through.
        let no_fallback = GuardConfig { regression: f64::INFINITY, ..GuardConfig::default() };
        let mut g = measured_pair(no_fallback, &[10.5, 9.5], &[5.5, 4.5]);
        assert_eq!(g.choose(), B);
        assert!(matches!(g.last().unwrap().reason, Reason::Switch { gain_ms: Some(5.0), .. }));
        // The same pair 0.2 ms apart is damped.
        let mut g = measured_pair(GuardConfig::default(), &[10.5, 9.5], &[10.3, 9.3]);
        assert_eq!(g.choose(), A);
        assert!(matches!(g.last().unwrap().reason, Reason::Damped { proposed: B, .. }));

        // In a live run, a guarded UCB1 settles on the faster design.
        for seed in 0..5 {
            let mut rng = Rng::new(seed);
            let mut g = Guarded::new(Ucb1::new(2), GuardConfig::default());
            let arms = run(&mut g, 100, |_, a| [10.0, 5.0][a] + 0.5 * rng.normal());
            let late_fast = arms[50..].iter().filter(|&&a| a == 1).count();
            assert!(late_fast >= 48, "seed {seed}: {late_fast} of the last 50 on the fast design");
            assert_eq!(g.recommend(), Some(1));
        }
    }

    #[test]
    fn a_switch_cost_damps_a_small_gain() {
        // 10 vs 9.5 ms, 0.1 ms of noise, a 1% relative floor: the 0.5 ms gain
        // beats max(0.1, 2 se = 0.16) when switching is free.
        let cfg = GuardConfig { min_gain: 0.01, ..GuardConfig::default() };
        let a = [10.1, 9.9, 10.1, 9.9];
        let b = [9.6, 9.4, 9.6, 9.4];
        let mut free = measured_pair(cfg.clone(), &a, &b);
        assert_eq!(free.choose(), B);
        assert!(matches!(free.last().unwrap().reason, Reason::Switch { .. }));

        // A measured switch costing 20 ms over the windows it disturbs is 2 ms
        // a window over a 10-window horizon: not worth 0.5 ms a window.
        let mut costly = measured_pair(cfg, &a, &b);
        costly.note_switch(20.0);
        assert_eq!(costly.switch_cost_ms(), 20.0);
        assert_eq!(costly.choose(), A);
        let se = (2.0 * (4.0 * 0.01 / 3.0) / 4.0f64).sqrt();
        match costly.last().unwrap().reason {
            Reason::Damped { proposed: B, gain_ms, margin_ms } => {
                assert!((gain_ms - 0.5).abs() < 1e-9, "{gain_ms}");
                assert!((margin_ms - (2.0 * se + 2.0)).abs() < 1e-9, "{margin_ms}");
            }
            ref r => panic!("{r:?}"),
        }
        // Cheaper switches later bring the estimate down gradually.
        costly.note_switch(0.0);
        assert_eq!(costly.switch_cost_ms(), 15.0);
        costly.note_switch(f64::NAN);
        costly.note_switch(-3.0);
        assert_eq!(costly.switch_cost_ms(), 11.25);
    }

    #[test]
    fn exploration_is_never_blocked() {
        // Every proposal is a new design: each is followed, however well the
        // running one is measured and whatever a switch costs.
        let mut g = Guarded::new(Scripted::new(|t| if t < 3 { A } else { t }), GuardConfig::default());
        g.note_switch(1e6);
        let got = run_guarded(&mut g, 10, |_, a| 10.0 + a as f64 * 0.1);
        for (w, (a, r)) in got.iter().enumerate().skip(3) {
            assert_eq!((*a, r), (w, &Reason::Explore { windows: 0 }));
        }
        // Statistics exist only for designs that ran.
        assert_eq!(g.arms.len(), 8);
        assert_eq!(g.stats(&99), None);
        let s = g.stats(&A).unwrap();
        assert_eq!((s.windows(), s.mean(), s.variance()), (3, 10.0, Some(0.0)));
    }

    #[test]
    fn a_record_of_another_classes_design_makes_it_live() {
        // Under PerClass, this class's learner is handed the design another
        // class's learner chose; the guard treats it as running.
        let mut g = Guarded::new(Scripted::new(|_| A), GuardConfig::default());
        let _ = run(&mut g, 3, |_, _| 10.0);
        g.record(&B, &Observation::total(10.0));
        assert_eq!(g.choose(), A);
        assert!(matches!(g.last().unwrap().reason, Reason::Switch { gain_ms: Some(0.0), margin_ms: None }));
    }

    #[test]
    fn reasons_read_as_short_text() {
        let r = |r: Reason<usize>| r.to_string();
        assert_eq!(
            r(Reason::Fallback { cost_ms: 31.23, best_ms: 12.0, windows: 2 }),
            "fallback: 31.2 ms vs best 12.0 ms for 2 windows"
        );
        assert_eq!(
            r(Reason::Damped { proposed: 3, gain_ms: 0.3, margin_ms: 1.1 }),
            "damped: gain 0.3 ms < margin 1.1 ms"
        );
        assert_eq!(
            r(Reason::Switch { gain_ms: Some(4.8), margin_ms: Some(0.5) }),
            "switch: gain 4.8 ms > margin 0.5 ms"
        );
        assert_eq!(r(Reason::Explore { windows: 1 }), "explore: design measured in 1 window");
        assert_eq!(r(Reason::Hold { remaining: 1 }), "hold: restored design kept for 1 more window");
        assert!(r(Reason::Stay).starts_with("stay: "));
        assert!(r(Reason::Switch { gain_ms: None, margin_ms: None }).starts_with("switch: "));
    }

    #[test]
    #[should_panic(expected = "at least 2 windows")]
    fn a_single_window_cannot_make_a_design_measured() {
        let _ = Guarded::new(Ucb1::new(2), GuardConfig { min_samples: 1, ..GuardConfig::default() });
    }
}
