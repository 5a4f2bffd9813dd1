//! The live learner on a simulated rack shaped like the web platform's (issue 16): six variant
//! decisions and four distribution points over three agents, under a light phase where all
//! local is best and every remote hop costs, then a heavy phase where only a handler or script
//! replicated on two or more agents keeps up (everything else saturates the front end and is
//! 50 times slower), then the light phase again. Every window's cost is the running design's
//! true cost with 8% noise; a window counts as good when that true cost is within 10% of the
//! phase's best, and a phase has converged at the first of three good windows in a row (the
//! cluster-bench `learn` scenario's rule).

use hatch_learner::envclass::{Classifier, PerClass, Tolerance};
use hatch_learner::factored::{Factored, FactoredConfig, OptionFeatures};
use hatch_learner::guard::{GuardConfig, Guarded};
use hatch_learner::policy::{Observation, Policy};
use hatch_learner::rng::Rng;
use hatch_learner::space::Radix;

const VARIANTS: [usize; 6] = [4, 3, 3, 2, 2, 2];
/// Handler and script: local, agent 1..3, first 2, first 3; memo and database: local, agent 1..3.
const POINTS: [usize; 4] = [6, 6, 4, 4];
const V: usize = VARIANTS.len();

fn radix() -> Radix {
    Radix::new(VARIANTS.iter().chain(&POINTS).copied().collect())
}

/// Points below a remote one travel with it: handler ⊃ script ⊃ memo, database.
fn canonical(c: &[usize]) -> Vec<usize> {
    let mut c = c.to_vec();
    if c[V] != 0 {
        c[V + 1..].iter_mut().for_each(|o| *o = 0);
    } else if c[V + 1] != 0 {
        c[V + 2..].iter_mut().for_each(|o| *o = 0);
    }
    c
}

/// Each variant option's factor on the response time (option 0 is the default and not always
/// the best).
fn variant_factor(c: &[usize]) -> f64 {
    const F: [[f64; 4]; 6] = [
        [1.0, 0.97, 1.08, 1.15],
        [1.0, 1.04, 1.12, 0.0],
        [1.0, 0.98, 1.1, 0.0],
        [1.0, 1.05, 0.0, 0.0],
        [1.0, 1.03, 0.0, 0.0],
        [1.0, 1.02, 0.0, 0.0],
    ];
    (0..V).map(|d| F[d][c[d]]).product()
}

/// Replicas of a point's option: 0 local, 1 on one agent, 2 or 3 replicated.
fn replicas(option: usize) -> usize {
    match option {
        0 => 0,
        1..=3 => 1,
        o => o - 2,
    }
}

fn cost(heavy: bool, c: &[usize]) -> f64 {
    let c = canonical(c);
    let (h, s) = (replicas(c[V]), replicas(c[V + 1]));
    let remote_stores = (c[V + 2] != 0) as usize + (c[V + 3] != 0) as usize;
    let hops = 1.0 + 0.12 * (h.min(1) + s.min(1)) as f64 + 0.04 * (h + s) as f64 + 0.08 * remote_stores as f64;
    if !heavy {
        return 30.0 * variant_factor(&c) * hops;
    }
    let capacity = h.max(s);
    let base = match capacity {
        0 => 1600.0,
        1 => 900.0,
        2 => 36.0,
        _ => 29.0,
    };
    base * variant_factor(&c) * (1.0 + 0.03 * remote_stores as f64)
}

fn best(heavy: bool) -> f64 {
    let radix = radix();
    (0..radix.size()).map(|i| cost(heavy, &radix.composition(i))).fold(f64::INFINITY, f64::min)
}

/// Windows to converge in each phase (`None`: never), for one seed.
fn run(
    seed: u64,
    phases: &[(bool, usize)],
    make: impl Fn(u64) -> Guarded<Factored> + Send + 'static,
) -> Vec<Option<usize>> {
    let mut learners = PerClass::new(move |class| make(seed * 31 + class as u64));
    let mut classifier = Classifier::new(Tolerance { relative: 0.3, absolute: 2.0 }).with_hysteresis(1.5);
    let mut noise = Rng::new(seed ^ 0x5eed);
    let mut running = vec![0; radix().decisions()];
    let mut out = Vec::new();
    for &(heavy, windows) in phases {
        let target = best(heavy) * 1.1;
        let mut good = Vec::new();
        for _ in 0..windows {
            let truth = cost(heavy, &running);
            good.push(truth <= target);
            let measured = truth * (1.0 + 0.08 * noise.normal()).max(0.2);
            let class = classifier.classify([("req/s", if heavy { 20.0 } else { 5.0 })]);
            let learner = learners.get(class);
            learner.record(&running, &Observation::total(measured));
            let next = canonical(&learner.choose());
            if std::env::var("LIVE_RACK_TRACE").is_ok_and(|s| s == seed.to_string()) {
                println!(
                    "  {running:?} truth {truth:.1} measured {measured:.1} -> {next:?}: {}",
                    learner.last().unwrap().reason
                );
            }
            running = next;
        }
        if std::env::var_os("LIVE_RACK_TRACE").is_some() {
            println!(
                "seed {seed} heavy {heavy}: {}",
                good.iter().map(|&g| if g { '+' } else { '.' }).collect::<String>()
            );
        }
        out.push((0..good.len()).find(|&w| good[w..].iter().take(3).all(|&g| g) && w + 3 <= good.len()));
    }
    out
}

/// Placement options described as `[remote, extra replicas]`, as the web platform does.
fn features() -> OptionFeatures {
    let describe = |options: usize| {
        Some((0..options).map(|o| vec![(o > 0) as u8 as f64, replicas(o).saturating_sub(1) as f64]).collect())
    };
    VARIANTS.iter().map(|_| None).chain(POINTS.iter().map(|&r| describe(r))).collect()
}

fn live(seed: u64) -> Guarded<Factored> {
    let learner = Factored::new(radix(), FactoredConfig::live(seed)).with_canonical(canonical);
    Guarded::new(learner.with_option_features(features()), GuardConfig::default())
}

fn live_onehot(seed: u64) -> Guarded<Factored> {
    Guarded::new(Factored::new(radix(), FactoredConfig::live(seed)).with_canonical(canonical), GuardConfig::default())
}

fn global(seed: u64) -> Guarded<Factored> {
    Guarded::new(Factored::new(radix(), FactoredConfig { seed, ..FactoredConfig::default() }), GuardConfig::default())
}

/// Per phase: how many seeds converged within 30 windows, and within 5.
fn summary(name: &str, results: &[Vec<Option<usize>>]) -> Vec<(usize, usize)> {
    (0..results[0].len())
        .map(|p| {
            let mut w: Vec<usize> = results.iter().map(|r| r[p].unwrap_or(usize::MAX)).collect();
            w.sort_unstable();
            let (within30, within5) = (w.iter().filter(|&&x| x <= 30).count(), w.iter().filter(|&&x| x <= 5).count());
            println!(
                "{name}, phase {p}: median {} windows, within 30: {within30}/{n}, within 5: {within5}/{n}",
                w[w.len() / 2],
                n = w.len()
            );
            (within30, within5)
        })
        .collect()
}

const PHASES: [(bool, usize); 3] = [(false, 40), (true, 40), (false, 20)];

#[test]
fn nearby_search_converges_in_every_phase_and_resumes_a_returning_one() {
    let seeds: u64 = std::env::var("LIVE_RACK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(24);
    let live: Vec<_> = (0..seeds).map(|s| run(s, &PHASES, live)).collect();
    let live = summary("nearby, described placements", &live);
    // What the two ingredients buy (printed for the record, asserted below).
    let onehot: Vec<_> = (0..seeds).map(|s| run(s, &PHASES, live_onehot)).collect();
    let onehot = summary("nearby, one-hot placements", &onehot);
    let global: Vec<_> = (0..seeds).map(|s| run(s, &PHASES, global)).collect();
    let global = summary("global search", &global);
    // The targets (within 10% in 30 windows of a new phase, in 5 of a returning one)
    // met by three seeds in four in the light phases and two in three in the heavy one (over
    // 100 seeds: 89%, 78%, 76%; the misses are mostly a design one notch short of the best, a
    // handler on two agents where three were better).
    let n = seeds as usize;
    assert!(live[0].0 >= n * 3 / 4 && live[1].0 >= n * 2 / 3 && live[2].1 >= n * 3 / 4, "{live:?}");
    assert!(live[1].0 > onehot[1].0, "features help the heavy phase: {live:?} vs {onehot:?}");
    assert!(live[1].0 > global[1].0 && live[0].0 > global[0].0, "{live:?} vs {global:?}");
}
