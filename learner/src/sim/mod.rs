//! A convergence simulator: policies against a synthetic composition space
//! described in JSON (see `learner/spaces/`), with exact ground truth.
//!
//! Response time of a composition is `base_ms` plus its options' effects plus
//! every interaction whose options are all chosen, plus gaussian noise. In
//! semi-bandit mode each decision is also observed on its own: its effect plus
//! the interactions whose `when` list names it first, each with its own noise.

mod reference;
mod run;
mod spec;

pub use reference::{ReferencePoint, reference};
pub use run::{PolicyKind, RunResult, Summary, run_once, run_seed, summarise};
pub use spec::{SimSpace, SpecError};
