//! The simulator's space file: JSON describing decisions, additive effects
//! and pairwise (or wider) interactions, compiled into a [`SimSpace`] that
//! computes true and noisy response times.

use std::collections::HashMap;

use serde::Deserialize;

use crate::rng::Rng;
use crate::space::{Composition, Radix};

/// Why a space file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file is not valid JSON or misses a field.
    #[error("space file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// An effect or interaction names `decision=option` that does not exist.
    #[error("unknown option `{0}` (expected `decision=option` naming a declared decision and option)")]
    UnknownOption(String),
    /// A decision has no options, or two decisions share a name.
    #[error("decision `{0}` is empty or declared twice")]
    BadDecision(String),
    /// An interaction's `when` list is empty or names one decision twice.
    #[error("interaction #{0} must name at least one option and each decision at most once")]
    BadInteraction(usize),
    /// A number that must be finite and non-negative is not.
    #[error("`{0}` must be finite and non-negative")]
    BadNumber(&'static str),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionSpec {
    name: String,
    options: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractionSpec {
    when: Vec<String>,
    ms: f64,
}

fn default_windows() -> usize {
    600
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceSpec {
    decisions: Vec<DecisionSpec>,
    base_ms: f64,
    #[serde(default)]
    effects: HashMap<String, f64>,
    #[serde(default)]
    interactions: Vec<InteractionSpec>,
    noise_sd_ms: f64,
    #[serde(default = "default_windows")]
    windows: usize,
    #[serde(default)]
    seed: u64,
}

/// One interaction term, compiled.
#[derive(Clone, Debug)]
pub(super) struct Interaction {
    /// `(decision, option)` pairs that must all be chosen.
    pub(super) when: Vec<(usize, usize)>,
    ms: f64,
}

impl Interaction {
    /// The decision whose semi-bandit part carries this interaction: the first one named.
    pub(super) fn owner(&self) -> usize {
        self.when[0].0
    }
}

/// A synthetic composition space with known ground truth.
#[derive(Clone, Debug)]
pub struct SimSpace {
    names: Vec<(String, Vec<String>)>,
    radix: Radix,
    base: f64,
    effects: Vec<Vec<f64>>,
    pub(super) interactions: Vec<Interaction>,
    noise_sd: f64,
    /// Windows per run.
    pub windows: usize,
    /// Seed from which per-run seeds derive.
    pub seed: u64,
}

impl SimSpace {
    /// Parse and validate a space file.
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let spec: SpaceSpec = serde_json::from_str(text)?;
        let mut lookup: HashMap<String, (usize, usize)> = HashMap::new();
        let mut names = Vec::new();
        for (d, dec) in spec.decisions.iter().enumerate() {
            if dec.options.is_empty() || names.iter().any(|(n, _)| n == &dec.name) {
                return Err(SpecError::BadDecision(dec.name.clone()));
            }
            for (o, opt) in dec.options.iter().enumerate() {
                lookup.insert(format!("{}={}", dec.name, opt), (d, o));
            }
            names.push((dec.name.clone(), dec.options.clone()));
        }
        let find = |key: &str| lookup.get(key).copied().ok_or_else(|| SpecError::UnknownOption(key.to_string()));
        let mut effects: Vec<Vec<f64>> = names.iter().map(|(_, o)| vec![0.0; o.len()]).collect();
        for (key, &ms) in &spec.effects {
            let (d, o) = find(key)?;
            effects[d][o] += ms;
        }
        let mut interactions = Vec::new();
        for (i, it) in spec.interactions.iter().enumerate() {
            let when = it.when.iter().map(|k| find(k)).collect::<Result<Vec<_>, _>>()?;
            let mut ds: Vec<usize> = when.iter().map(|w| w.0).collect();
            ds.sort_unstable();
            ds.dedup();
            if when.is_empty() || ds.len() != when.len() {
                return Err(SpecError::BadInteraction(i));
            }
            interactions.push(Interaction { when, ms: it.ms });
        }
        if !(spec.noise_sd_ms.is_finite() && spec.noise_sd_ms >= 0.0) {
            return Err(SpecError::BadNumber("noise_sd_ms"));
        }
        if !spec.base_ms.is_finite() {
            return Err(SpecError::BadNumber("base_ms"));
        }
        let radix = Radix::new(names.iter().map(|(_, o)| o.len()).collect());
        Ok(SimSpace {
            names,
            radix,
            base: spec.base_ms,
            effects,
            interactions,
            noise_sd: spec.noise_sd_ms,
            windows: spec.windows,
            seed: spec.seed,
        })
    }

    /// The space's shape.
    pub fn radix(&self) -> &Radix {
        &self.radix
    }

    /// `decision=option` labels of a composition.
    pub fn describe(&self, c: &[usize]) -> String {
        c.iter().zip(&self.names).map(|(&o, (d, opts))| format!("{d}={}", opts[o])).collect::<Vec<_>>().join(",")
    }

    fn active(it: &Interaction, c: &[usize]) -> bool {
        it.when.iter().all(|&(d, o)| c[d] == o)
    }

    /// Noise-free response time of `c`.
    pub fn true_cost(&self, c: &[usize]) -> f64 {
        let mut t = self.base;
        for (d, &o) in c.iter().enumerate() {
            t += self.effects[d][o];
        }
        for it in &self.interactions {
            if Self::active(it, c) {
                t += it.ms;
            }
        }
        t
    }

    /// One window's noisy total response time.
    pub fn sample_total(&self, c: &[usize], rng: &mut Rng) -> f64 {
        self.true_cost(c) + self.noise_sd * rng.normal()
    }

    /// One window's noisy per-decision parts: decision `d`'s effect plus the
    /// interactions whose `when` list names `d` first, each with its own noise.
    pub fn sample_parts(&self, c: &[usize], rng: &mut Rng, out: &mut Vec<f64>) {
        out.clear();
        out.extend(c.iter().enumerate().map(|(d, &o)| self.effects[d][o]));
        for it in &self.interactions {
            if Self::active(it, c) {
                out[it.owner()] += it.ms;
            }
        }
        for p in out.iter_mut() {
            *p += self.noise_sd * rng.normal();
        }
    }

    /// The best composition and its cost, by exhaustive enumeration.
    pub fn optimum(&self) -> (Composition, f64) {
        let mut c = vec![0; self.radix.decisions()];
        let mut best = (c.clone(), self.true_cost(&c));
        while self.radix.step(&mut c) {
            let t = self.true_cost(&c);
            if t < best.1 {
                best = (c.clone(), t);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
        "decisions": [
            {"name": "cache", "options": ["none", "lru", "lfu"]},
            {"name": "compress", "options": ["none", "gzip"]}
        ],
        "base_ms": 20.0,
        "effects": {"cache=lru": -3.0, "compress=gzip": -2.0},
        "interactions": [{"when": ["cache=lru", "compress=gzip"], "ms": 4.0}],
        "noise_sd_ms": 0.0
    }"#;

    #[test]
    fn costs_add_effects_and_active_interactions() {
        let s = SimSpace::from_json(SMALL).unwrap();
        assert_eq!(s.true_cost(&[0, 0]), 20.0);
        assert_eq!(s.true_cost(&[1, 0]), 17.0);
        assert_eq!(s.true_cost(&[1, 1]), 19.0);
        assert_eq!(s.optimum(), (vec![1, 0], 17.0));
        assert_eq!(s.windows, 600);
        assert_eq!(s.describe(&[1, 0]), "cache=lru,compress=none");
        let mut parts = Vec::new();
        s.sample_parts(&[1, 1], &mut Rng::new(0), &mut parts);
        assert_eq!(parts, vec![1.0, -2.0]);
    }

    #[test]
    fn unknown_names_are_a_clear_error() {
        let bad = SMALL.replace("cache=lru\": -3.0", "cache=arc\": -3.0");
        let err = SimSpace::from_json(&bad).unwrap_err();
        assert!(matches!(&err, SpecError::UnknownOption(k) if k == "cache=arc"), "{err}");
        let bad = SMALL.replace("[\"cache=lru\", \"compress=gzip\"]", "[\"cache=lru\", \"cache=lfu\"]");
        assert!(matches!(SimSpace::from_json(&bad), Err(SpecError::BadInteraction(0))));
        assert!(matches!(SimSpace::from_json("{"), Err(SpecError::Json(_))));
    }
}
