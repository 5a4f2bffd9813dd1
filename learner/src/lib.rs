//! Online learning of compositions for Hatch.
//!
//! A Hatch program is built from small components behind slots; a
//! *composition* picks one option per decision (which variant, where it runs,
//! how many replicas). This crate learns, live, which composition gives the
//! best response time, one observation window at a time.
//!
//! # The parts
//!
//! | Module | What it is |
//! |---|---|
//! | [`policy`] | The [`Policy`](policy::Policy) trait and flat bandits: [`Ucb1`](policy::Ucb1) exactly as in the Hatch paper, [`DiscountedUcb`](policy::DiscountedUcb) for changing workloads, [`Thompson`](policy::Thompson) |
//! | [`normalise`] | Cost → reward in `[0, 1]`, including the paper's adaptive normalisation |
//! | [`factored`] | [`Factored`](factored::Factored): statistics per decision, not per composition; works on spaces of ~700k compositions without enumerating them, and uses per-slot (semi-bandit) feedback when available |
//! | [`space`] | Compositions and the mixed-radix index ↔ vector mapping |
//! | [`shard`], [`clock`], [`probe`] | Lock-free sharded latency recording, a cheap tick clock, and the [`LatencyProbe`](probe::LatencyProbe) trait with the in-process probe |
//! | [`window`] | Observation windows (5 s or early on a sample count), sans-IO |
//! | [`envclass`] | The DES grouped-threshold environment classifier; one learner per class |
//! | [`prune`] | Static pruning of horizontal interference between hosts' actions |
//! | [`host`] | The per-host loop: window → classify → record → choose → [`Actuator`](host::Actuator) |
//! | [`guard`] | [`Guarded`](guard::Guarded) wraps any policy with guardrails: a known-good fallback when the running design regresses, and damping (noise and measured switch cost) so designs within the noise do not flap |
//! | [`decision_log`] | One JSON line per window: the composition that ran, its cost and class, what runs next and why |
//! | [`live`] | The [`Actuator`](host::Actuator) over a running component system |
//! | [`placement`] | Placement as decisions: variant choices and the site of each distribution point (local, one agent, the first k agents) in one arm for the factored learner, and the actuator that moves a [`PlacedSystem`](hatch_components::remote::PlacedSystem) at most a few components per window |
//! | [`topology`] | Each host's arms over its placed compositions (relocations, replicas on other hosts), pruned of horizontal interference, and the actuator that places them |
//! | [`sim`] | The convergence simulator behind `learn-sim` |
//!
//! # Example: a host learning loop with a simulated clock
//!
//! ```
//! use std::time::Duration;
//! use hatch_learner::envclass::{Classifier, PerClass};
//! use hatch_learner::host::{Actuator, HostLearner};
//! use hatch_learner::policy::{Policy, Ucb1};
//! use hatch_learner::probe::ManualProbe;
//! use hatch_learner::window::WindowConfig;
//!
//! /// Stands in for the component runtime: remembers the live arm.
//! struct Live(usize);
//! impl Actuator for Live {
//!     type Arm = usize;
//!     fn apply(&mut self, arm: &usize) {
//!         self.0 = *arm;
//!     }
//! }
//!
//! let probe = ManualProbe::new(1);
//! let feed = probe.clone();
//! let mut host = HostLearner::start(
//!     PerClass::new(|_| Ucb1::new(3)),
//!     Classifier::default(),
//!     Live(0),
//!     probe,
//!     WindowConfig::default(),
//!     false,
//!     Duration::ZERO,
//! );
//! let latency_ms = [12.0, 7.0, 9.0];
//! for w in 1..=40u64 {
//!     // The system serves requests at the live arm's latency...
//!     let ms: f64 = latency_ms[host.actuator().0];
//!     feed.record_ns(0, (ms * 1e6) as u64);
//!     // ...and the driver polls when the window is due.
//!     host.poll(Duration::from_secs(5 * w), std::iter::empty::<(&str, f64)>());
//! }
//! assert_eq!(host.learner(0).unwrap().recommend(), Some(1));
//! ```
//!
//! # Costs
//!
//! In-process probe, per timed call, and per-window policy costs are measured
//! by `cargo bench -p hatch-bench --bench learner`
//! (see that file for what each figure means).
//!
//! # Simulator
//!
//! `cargo run --release -p hatch-learner --bin learn-sim -- learner/spaces/web700k.json [--semi]`
//! prints one `policy=… windows_to_5pct_median=… windows_to_5pct_worst=…
//! share_within_10pct=… regret=…` line per policy; see [`sim`].
//!
//! # Live learning over real components
//!
//! [`live::SystemActuator`] is the [`Actuator`](host::Actuator) for a running
//! `hatch_components::System`: arms are composition ids (flat policies) or
//! per-decision choice vectors (the factored learner), and applying one
//! transitions the system, swapping only what changed.
//!
//! # Probes
//!
//! [`probe::InProcessProbe`] is the portable default. The eBPF probe
//! (tracepoints, per-CPU maps) is the separate crate `hatch-probe-ebpf`
//! (`learner/ebpf/`), which implements [`LatencyProbe`](probe::LatencyProbe)
//! and falls back to the in-process probe when it cannot load.

pub mod clock;
pub mod decision_log;
pub mod envclass;
pub mod factored;
pub mod guard;
pub mod host;
mod linalg;
pub mod live;
pub mod normalise;
pub mod placement;
pub mod policy;
pub mod probe;
pub mod prune;
pub mod rng;
pub mod shard;
pub mod sim;
pub mod space;
pub mod topology;
pub mod window;
