//! A learner for composition spaces too large to enumerate.
//!
//! Flat UCB1 keeps one arm per composition and must try each once; over the
//! paper's ~700,000 designs that alone takes 40 days of 5 s windows. The
//! factored learner keeps statistics per *decision* instead (which variant,
//! where it runs, how many replicas), so its state is the sum of the option
//! counts, not their product. It works in two layers, in the manner of naive
//! sampling (Ontañón 2017):
//!
//! * **local**: an additive model of cost over decisions (`ridge.rs`),
//!   explored by Thompson sampling: a Bayesian ridge regression over one-hot
//!   option features. With semi-bandit feedback (each slot timed separately)
//!   every window also adds one row per decision for its own share of the
//!   latency, so each decision's options are measured without the other
//!   decisions' effects in them. A draw is minimised decision by decision,
//!   so proposing a composition costs `O(Σ options)`.
//! * **global**: a Thompson bandit over the best few candidates among the
//!   compositions sampled so far, the unsampled one-decision neighbours of
//!   the incumbent, and the best guess. Each is believed at the prediction of
//!   a second-order model (`quadratic.rs`: main effects plus option pairs)
//!   until its own observations take over, so interactions between decisions
//!   are learnt where the learner spends its time, and a neighbour an
//!   interaction makes better gets tried.
//!
//! Each window explores locally with a probability that decays as
//! `k / (k + t)` towards a floor, and otherwise exploits globally. The
//! recommendation is the candidate with the lowest pessimistic belief
//! (mean plus one standard deviation).
//!
//! On a live system, [`Search::Nearby`] replaces both layers' proposals with
//! one-decision moves from the best measured design (`nearby.rs`), and
//! [`FactoredConfig::relative`] models the logarithm of the cost, so that a
//! design ten times slower is one step worse, not a thousand milliseconds;
//! [`FactoredConfig::live`] sets both.
//!
//! Costs per window (choose + record + recommend) are in
//! `bench/benches/learner.rs` (`policy/factored_*`).

mod nearby;
mod pool;
mod quadratic;
mod ridge;

use std::sync::Arc;

use crate::policy::{Observation, Policy};
use crate::rng::Rng;
use crate::space::{Composition, Radix};
use nearby::Canonical;
use pool::{Belief, Pool};
use quadratic::Quadratic;
pub use ridge::OptionFeatures;
use ridge::Ridge;

/// Largest prior sd of a composition's log cost in [`Search::Nearby`] with
/// relative costs: an untried option is believed within a factor `e` of the
/// prediction at one sd.
const RELATIVE_PRIOR_SD: f64 = 1.0;

/// Tuning of [`Factored`]; every field documents its default.
#[derive(Clone, Debug)]
pub struct FactoredConfig {
    /// Seed of the learner's own random stream. Default `0`.
    pub seed: u64,
    /// `k` in the local-exploration probability `k / (k + t)`. Default: the
    /// number of free parameters of the additive model, `1 + Σ (options - 1)`.
    pub explore_scale: Option<f64>,
    /// Floor of the local-exploration probability. Default `0.1`.
    pub min_explore: f64,
    /// How many candidates (lowest believed mean first) the global bandit
    /// plays among. Default `8`.
    pub global_arms: usize,
    /// Where proposals may go. Default [`Search::Global`].
    pub search: Search,
    /// Whether to model the logarithm of the cost (effects are ratios: right
    /// when costs span orders of magnitude, as response times do between an
    /// idle and a saturated design). Semi-bandit parts are additive in the
    /// cost itself, so they are not used in this mode. Default `false`.
    pub relative: bool,
}

/// Where the learner's proposals may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Anywhere in the space: a draw of the additive model, or a candidate of
    /// the global bandit (the simulator's setting, fastest to the optimum
    /// when a bad window costs only its own time).
    Global,
    /// One decision away from the best measured design, or that design
    /// itself (`nearby.rs`): for live systems, where every explored window is
    /// served to users.
    Nearby,
}

impl Default for FactoredConfig {
    fn default() -> Self {
        FactoredConfig {
            seed: 0,
            explore_scale: None,
            min_explore: 0.1,
            global_arms: 8,
            search: Search::Global,
            relative: false,
        }
    }
}

impl FactoredConfig {
    /// The setting for a live system: [`Search::Nearby`], relative costs, and
    /// an exploration probability `6 / (6 + t)` down to a floor of 5%, so that
    /// about ten neighbours are tried in the first thirty windows of an
    /// environment and one window in twenty later on.
    pub fn live(seed: u64) -> Self {
        FactoredConfig {
            seed,
            explore_scale: Some(6.0),
            min_explore: 0.05,
            search: Search::Nearby,
            relative: true,
            ..FactoredConfig::default()
        }
    }
}

/// The factored learner; arms are compositions (one option index per decision).
///
/// Uses semi-bandit feedback automatically when observations carry
/// per-decision parts.
///
/// # Examples
/// ```
/// use hatch_learner::factored::{Factored, FactoredConfig};
/// use hatch_learner::policy::{Observation, Policy};
/// use hatch_learner::space::Radix;
///
/// // Three decisions with 10 options each; option 7 is best everywhere.
/// let cost = |c: &[usize]| 5.0 + c.iter().map(|&o| (o as f64 - 7.0).abs()).sum::<f64>();
/// let mut p = Factored::new(Radix::new(vec![10, 10, 10]), FactoredConfig::default());
/// for _ in 0..150 {
///     let c = p.choose();
///     p.record(&c, &Observation::total(cost(&c)));
/// }
/// assert_eq!(p.recommend(), Some(vec![7, 7, 7]));
/// ```
#[derive(Clone, Debug)]
pub struct Factored {
    radix: Radix,
    ridge: Ridge,
    quad: Quadratic,
    semi: bool,
    pool: Pool,
    rng: Rng,
    t: f64,
    cfg: FactoredConfig,
    canonical: Option<Canonical>,
}

impl Factored {
    /// A learner over `radix`.
    pub fn new(radix: Radix, cfg: FactoredConfig) -> Self {
        Factored {
            ridge: Ridge::new(&radix),
            quad: Quadratic::new(&radix),
            semi: false,
            pool: Pool::default(),
            rng: Rng::new(cfg.seed),
            t: 0.0,
            radix,
            cfg,
            canonical: None,
        }
    }

    /// Tells the learner which compositions run the same system: `canonical`
    /// maps each to one representative, and [`Search::Nearby`] then never
    /// proposes a move that changes nothing. Arms it is told about through
    /// [`Policy::record`] should be canonical too.
    pub fn with_canonical(mut self, canonical: impl Fn(&[usize]) -> Composition + Send + Sync + 'static) -> Self {
        self.canonical = Some(Canonical(Arc::new(canonical)));
        self
    }

    /// The space this learner works on.
    pub fn radix(&self) -> &Radix {
        &self.radix
    }

    /// Whether semi-bandit (per-decision) feedback has been seen.
    pub fn semi_bandit(&self) -> bool {
        self.semi
    }

    /// The additive model's prediction of a composition's cost: `(mean, variance)`.
    fn predict(&self, c: &[usize]) -> (f64, f64) {
        let (m, q) = self.quad.predict(c);
        (m, q * self.quad_noise())
    }

    fn quad_noise(&self) -> f64 {
        self.quad.noise_var(self.ridge.noise_var())
    }

    fn mean_argmin(&self) -> Composition {
        self.quad.minimise(self.quad.mean(), &self.ridge.mean_argmin())
    }

    fn explore_probability(&self) -> f64 {
        let k = self
            .cfg
            .explore_scale
            .unwrap_or_else(|| 1.0 + self.radix.radices().iter().map(|&x| x as f64 - 1.0).sum::<f64>());
        (k / (k + self.t)).max(self.cfg.min_explore)
    }

    /// Beliefs about every candidate of the global bandit: the sampled
    /// compositions, the model's current best guess and, when exploring
    /// globally, the unsampled neighbours of the incumbent.
    fn candidates(&self, with_neighbours: bool) -> Vec<(Composition, Belief)> {
        let noise = self.pool.noise_var(self.ridge.noise_var());
        let misfit = self.pool.misfit_var(noise, 0.01 * noise, |c| self.predict(c).0);
        let guess = self.mean_argmin();
        let mut out: Vec<(Composition, Belief)> = self
            .pool
            .compositions()
            .map(|c| {
                let (m, v) = self.predict(c);
                (c.clone(), self.pool.belief(c, (m, v + misfit), noise))
            })
            .collect();
        if self.pool.get(&guess).is_none() {
            let (m, v) = self.predict(&guess);
            let b = Belief { mean: m, var: v + misfit };
            out.push((guess, b));
        }
        if with_neighbours {
            // Unsampled one-decision changes of the incumbent: where an
            // interaction the model misses would hide, their prior spread
            // includes the observed misfit.
            let incumbent = out
                .iter()
                .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
                .map(|(c, _)| c.clone())
                .expect("at least the model's guess");
            for (d, &r) in self.radix.radices().iter().enumerate() {
                for o in 0..r {
                    if o == incumbent[d] {
                        continue;
                    }
                    let mut n = incumbent.clone();
                    n[d] = o;
                    if self.pool.get(&n).is_none() && !out.iter().any(|(c, _)| *c == n) {
                        let (m, v) = self.predict(&n);
                        out.push((n, Belief { mean: m, var: v + misfit }));
                    }
                }
            }
        }
        out
    }

    /// Describes each decision's options by numbers (`None` for a decision
    /// whose options are unrelated), so that the additive model predicts an
    /// option it never ran from those it did (`ridge.rs`); [`Search::Nearby`]
    /// draws its moves from that model. Replaces what was learnt.
    pub fn with_option_features(mut self, features: OptionFeatures) -> Self {
        self.ridge = Ridge::with_features(&self.radix, &features);
        self
    }

    /// [`Search::Nearby`]'s belief about `c`: the additive model's
    /// prediction (which knows the options' features), moved by `c`'s own
    /// windows.
    ///
    /// With relative costs the model's prior spread, which is in units of the
    /// noise, is capped at [`RELATIVE_PRIOR_SD`]: ten noise sds of a log cost
    /// would believe an untried cache variant may be a hundred times faster,
    /// and every draw would go to whichever untried option happened to be
    /// drawn lowest, instead of to the one the features predict best.
    fn nearby_beliefs<'a>(&self, cs: impl Iterator<Item = &'a Composition>) -> Vec<Belief> {
        let noise = self.pool.noise_var(self.ridge.noise_var());
        let misfit = self.pool.misfit_var(noise, 0.01 * noise, |c| self.ridge.predict(c).0);
        let cap = if self.cfg.relative { RELATIVE_PRIOR_SD * RELATIVE_PRIOR_SD } else { f64::INFINITY };
        cs.map(|c| {
            let (m, v) = self.ridge.predict(c);
            self.pool.belief(c, (m, (v + misfit).min(cap)), noise)
        })
        .collect()
    }

    /// The measured compositions and [`Search::Nearby`]'s beliefs about them.
    fn measured(&self) -> (Vec<&Composition>, Vec<Belief>) {
        let measured: Vec<&Composition> = self.pool.compositions().collect();
        let beliefs = self.nearby_beliefs(measured.iter().copied());
        (measured, beliefs)
    }

    /// Of `measured`, the one with the lowest pessimistic belief (mean plus
    /// one standard deviation); `None` before the first observation.
    fn incumbent(measured: &[&Composition], beliefs: &[Belief]) -> Option<Composition> {
        let score = |b: &Belief| b.mean + b.var.sqrt();
        measured.iter().zip(beliefs).min_by(|a, b| score(a.1).total_cmp(&score(b.1))).map(|(c, _)| (*c).clone())
    }

    /// [`Search::Nearby`]: the incumbent, or with the exploration
    /// probability a Thompson draw among its neighbours.
    fn choose_nearby(&mut self) -> Composition {
        // Not `self.measured()`: the pool's borrow must stay apart from the rng's.
        let measured: Vec<&Composition> = self.pool.compositions().collect();
        let beliefs = self.nearby_beliefs(measured.iter().copied());
        let Some(incumbent) = Self::incumbent(&measured, &beliefs) else {
            // Nothing measured yet: any start will do, the additive model's draw.
            return self.ridge.sample_argmin(&mut self.rng);
        };
        if self.rng.next_f64() >= self.explore_probability() {
            // Exploit by a draw among the measured designs, so that a rival
            // measured once, perhaps unluckily, is measured again.
            let drawn = Pool::thompson(&mut self.rng, measured.into_iter().zip(beliefs)).cloned();
            return drawn.unwrap_or(incumbent);
        }
        let hood = nearby::neighbours(&self.radix, &incumbent, self.canonical.as_ref());
        let beliefs = self.nearby_beliefs(hood.iter());
        Pool::thompson(&mut self.rng, hood.iter().zip(beliefs)).cloned().unwrap_or(incumbent)
    }
}

impl Policy for Factored {
    type Arm = Composition;

    fn choose(&mut self) -> Composition {
        self.t += 1.0;
        if self.cfg.search == Search::Nearby {
            return self.choose_nearby();
        }
        let explore = self.pool.is_empty() || self.rng.next_f64() < self.explore_probability();
        if explore {
            // A draw of the additive model (which also carries any
            // semi-bandit evidence). Moving it by the second-order model, by
            // its mean or by a draw, explored too little or too wildly.
            return self.ridge.sample_argmin(&mut self.rng);
        }
        let mut cands = self.candidates(true);
        // Thompson sampling over hundreds of once-seen compositions would keep
        // exploring lucky draws; the global bandit plays among the best few.
        cands.sort_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
        cands.truncate(self.cfg.global_arms);
        Pool::thompson(&mut self.rng, cands.iter().map(|(c, b)| (c, *b))).expect("pool is not empty").clone()
    }

    fn record(&mut self, arm: &Composition, obs: &Observation<'_>) {
        let (cost, parts) = if self.cfg.relative { (obs.cost.max(1e-9).ln(), None) } else { (obs.cost, obs.parts) };
        if let Some(parts) = parts {
            assert_eq!(parts.len(), arm.len(), "one part per decision");
            self.semi = true;
        }

        self.ridge.observe(arm, cost, parts);
        self.quad.observe(arm, cost);
        self.pool.observe(arm, cost);
    }

    fn recommend(&self) -> Option<Composition> {
        if self.pool.is_empty() {
            return None;
        }
        if self.cfg.search == Search::Nearby {
            let (measured, beliefs) = self.measured();
            return Self::incumbent(&measured, &beliefs);
        }
        // Pessimistic: one standard deviation above the believed mean, so a
        // composition that looked good once does not beat a well-measured one.
        let score = |b: &Belief| b.mean + b.var.sqrt();
        self.candidates(false).into_iter().min_by(|a, b| score(&a.1).total_cmp(&score(&b.1))).map(|(c, _)| c)
    }
}
