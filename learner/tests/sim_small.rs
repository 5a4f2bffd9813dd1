//! The simulator end to end on the shipped small space: the factored learner
//! must find the true optimum, with and without semi-bandit feedback, and the
//! flat policies must at least recommend something within 5% on a space they
//! can enumerate.

use hatch_learner::sim::{PolicyKind, SimSpace, run_once, run_seed, summarise};

fn small() -> SimSpace {
    let text = include_str!("../spaces/small.json");
    SimSpace::from_json(text).expect("shipped space parses")
}

#[test]
fn optimum_of_the_small_space_is_found_by_enumeration() {
    let s = small();
    let (best, cost) = s.optimum();
    assert_eq!(s.describe(&best), "cache=lru,compress=gzip,handler=replicate3");
    assert!((cost - 11.0).abs() < 1e-9);
}

#[test]
fn factored_learner_ends_on_the_optimum() {
    let s = small();
    let (best, opt) = s.optimum();
    for semi in [false, true] {
        for i in 0..3 {
            let r = run_once(&s, PolicyKind::Factored, opt, run_seed(s.seed, i), semi);
            assert_eq!(r.recommendation.as_ref(), Some(&best), "seed {i} semi {semi}");
            assert!(r.windows_to_5pct.is_some_and(|w| w <= 100), "{r:?}");
            assert!(r.share_within_10pct > 0.9, "{r:?}");
        }
    }
}

#[test]
fn every_policy_converges_on_a_space_it_can_enumerate() {
    let s = small();
    let (_, opt) = s.optimum();
    for kind in PolicyKind::ALL {
        let sum = summarise(&s, kind, opt, 3, false);
        let line = sum.to_string();
        assert!(line.starts_with(&format!("policy={kind} windows_to_5pct_median=")), "{line}");
        assert!(sum.windows_to_5pct_worst.is_some(), "{line}");
    }
}
