//! The live loop: an [`Actuator`] that moves a running
//! [`hatch_components::System`] to the composition a learner chose.
//!
//! [`HostLearner`](crate::host::HostLearner) decides *which* composition runs
//! next; [`SystemActuator`] makes it run by calling
//! [`System::transition`], which swaps only the components whose variant
//! changes (leaves first, state moved) while callers keep calling the root
//! slot: a swap holds new calls until it is done, it never fails or drops
//! them. Workers time their calls to the root slot with an
//! [`InProcessProbe`](crate::probe::InProcessProbe) (slot `0`, end to end),
//! and the learner reads that probe once per window.
//!
//! # Arms
//!
//! Two mappings from a learner arm to a composition of the system's
//! [`Space`], chosen by the actuator's type parameter:
//!
//! * [`ByIndex`] — arm `i: usize` is the composition with numeric id `i`
//!   ([`Space::composition`]), so a flat policy over [`Space::count`] arms
//!   ([`Ucb1`](crate::policy::Ucb1), [`Thompson`](crate::policy::Thompson),
//!   [`DiscountedUcb`](crate::policy::DiscountedUcb)) drives it directly, and
//!   the arm equals [`System::index`] once applied. Build the policy with
//!   [`arm_count`].
//! * [`ByChoices`] — arm `c: Vec<usize>` (a learner
//!   [`Composition`]) holds one variant position
//!   per [`Decision`](hatch_components::Decision) of [`Space::decisions`];
//!   it becomes [`Space::from_choices`] of `c` with every entry `Some`. For
//!   [`Factored`](crate::factored::Factored) and [`Flat`](crate::policy::Flat)
//!   over [`decision_radix`]. Choices of decisions made inactive by their
//!   parent's choice are ignored, so several arms can name the same
//!   composition (the learner's radix space is a superset of the
//!   composition space); [`SystemActuator::arm`] gives the canonical arm of
//!   what is running, with inactive decisions at `0`.
//!
//! # Errors
//!
//! [`Actuator::apply`] cannot return an error. A failed mapping or
//! transition is logged with `tracing::warn!`, counted
//! ([`SystemActuator::errors`], [`SystemActuator::last_error`]) and leaves
//! the system running whatever [`System::composition`] reports (a
//! transition whose state import fails keeps that component's old variant;
//! see [`System::transition`]). The loop goes on; the learner credits the
//! next window to the arm it chose, so an arm that cannot be applied should
//! be pruned from the space rather than left to the actuator.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use hatch_components::{Component, Interface, Registry};
//! use hatch_learner::envclass::{Classifier, PerClass};
//! use hatch_learner::host::HostLearner;
//! use hatch_learner::live::{self, SystemActuator};
//! use hatch_learner::policy::Ucb1;
//! use hatch_learner::probe::InProcessProbe;
//! use hatch_learner::window::WindowConfig;
//!
//! pub trait Echo: Component { fn echo(&self, x: u64) -> u64; }
//! impl Interface for dyn Echo { const NAME: &'static str = "Echo"; }
//! struct Plain;
//! impl Component for Plain {}
//! impl Echo for Plain { fn echo(&self, x: u64) -> u64 { x } }
//!
//! let mut registry = Registry::new();
//! registry.variant::<dyn Echo>("A").build(|_| Box::new(Plain))?;
//! registry.variant::<dyn Echo>("B").build(|_| Box::new(Plain))?;
//! let space = registry.space::<dyn Echo>()?;
//! let system = space.assemble(&space.composition(0)?)?;
//! let root = system.root::<dyn Echo>()?;
//!
//! let probe = InProcessProbe::new(1);
//! let k = live::arm_count(&space)?;
//! let mut host = HostLearner::start(
//!     PerClass::new(move |_| Ucb1::new(k)),
//!     Classifier::default(),
//!     SystemActuator::by_index(system),
//!     probe.clone(),
//!     WindowConfig { min_samples: Some(4), ..WindowConfig::default() },
//!     false,
//!     Duration::ZERO,
//! );
//! for w in 1..=4u64 {
//!     for x in 0..4 {
//!         assert_eq!(probe.time(0, || root.load().echo(x)), x);
//!     }
//!     let step = host.poll(Duration::from_millis(w), std::iter::empty::<(&str, f64)>()).unwrap();
//!     assert_eq!(host.actuator().system().index(), step.next as u64);
//! }
//! assert_eq!(host.actuator().errors(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;

use hatch_components::{Space, SpaceError, System, TransitionReport};

use crate::host::Actuator;
use crate::space::{Composition, Radix};

/// Arm mapping of [`SystemActuator`]: arm `i: usize` is composition id `i`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByIndex;

/// Arm mapping of [`SystemActuator`]: arm `c: Vec<usize>` is one variant
/// position per decision of [`Space::decisions`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ByChoices;

/// Number of flat arms of `space` ([`Space::count`]), for a flat policy used
/// with [`SystemActuator::by_index`].
///
/// # Errors
/// [`LiveError::TooManyArms`] if the count does not fit a `usize`.
pub fn arm_count(space: &Space) -> Result<usize, LiveError> {
    usize::try_from(space.count()).map_err(|_| LiveError::TooManyArms(space.count()))
}

/// The learner's view of `space` for [`SystemActuator::by_choices`]: one
/// decision per [`Space::decisions`] entry, with as many options as it has
/// candidate variants.
///
/// # Errors
/// The space's decision structure is too large to unfold.
pub fn decision_radix(space: &Space) -> Result<Radix, LiveError> {
    let decisions = space.decisions()?;
    Ok(Radix::new(decisions.iter().map(|d| d.variants.len()).collect()))
}

/// Why a [`SystemActuator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The space has more compositions than a flat policy can index.
    #[error("{0} compositions do not fit a flat arm index")]
    TooManyArms(u64),
    /// The space's decision structure could not be unfolded.
    #[error(transparent)]
    Space(#[from] SpaceError),
}

/// Applies learner arms to a running [`System`]; see the [module docs](self)
/// for the two arm mappings `M` ([`ByIndex`], [`ByChoices`]).
///
/// The actuator owns the system; workers keep calling through the root slot
/// (taken with [`System::root`] before the system is handed over), which
/// stays valid across transitions.
#[derive(Debug)]
pub struct SystemActuator<M = ByIndex> {
    system: System,
    applied: u64,
    transitions: u64,
    totals: TransitionReport,
    errors: u64,
    last_error: Option<String>,
    mapping: PhantomData<M>,
}

impl SystemActuator<ByIndex> {
    /// Arms are composition ids (`usize`); pair with a flat policy over
    /// [`arm_count`] arms.
    pub fn by_index(system: System) -> Self {
        Self::new(system)
    }

    /// The arm of the running composition, its [`System::index`].
    pub fn arm(&self) -> usize {
        // Fits: `apply` only ever reaches indices that came from a usize.
        self.system.index() as usize
    }
}

impl SystemActuator<ByChoices> {
    /// Arms are per-decision choice vectors; pair with a policy over
    /// [`decision_radix`].
    ///
    /// # Errors
    /// The space's decision structure is too large to unfold.
    pub fn by_choices(system: System) -> Result<Self, LiveError> {
        system.space().decisions()?;
        Ok(Self::new(system))
    }

    /// The canonical arm of the running composition: its choice vector, with
    /// inactive decisions at option `0`.
    pub fn arm(&self) -> Composition {
        match self.system.space().choices(self.system.composition()) {
            Ok(choices) => choices.into_iter().map(|c| c.unwrap_or(0)).collect(),
            // The running composition always belongs to its space.
            Err(e) => unreachable!("running composition outside its space: {e}"),
        }
    }
}

impl<M> SystemActuator<M> {
    fn new(system: System) -> Self {
        SystemActuator {
            system,
            applied: 0,
            transitions: 0,
            totals: TransitionReport::default(),
            errors: 0,
            last_error: None,
            mapping: PhantomData,
        }
    }

    /// The running system (its [`composition`](System::composition) is what
    /// actually runs, errors included).
    pub fn system(&self) -> &System {
        &self.system
    }

    /// Give the system back.
    pub fn into_system(self) -> System {
        self.system
    }

    /// Arms applied so far, including ones already running and failed ones.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Applies that changed the running composition (attempted transitions).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Sum of the [`TransitionReport`]s of all successful transitions.
    pub fn totals(&self) -> &TransitionReport {
        &self.totals
    }

    /// Applies that failed (bad arm or failed transition).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The most recent failure, as text.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    fn fail(&mut self, arm: &dyn std::fmt::Debug, error: &dyn std::fmt::Display) {
        self.errors += 1;
        tracing::warn!(
            arm = ?arm,
            running = %self.system.composition(),
            error = %error,
            "live learner could not apply arm"
        );
        self.last_error = Some(format!("arm {arm:?}: {error}"));
    }

    fn go(&mut self, arm: &dyn std::fmt::Debug, to: &hatch_components::Composition) {
        if to == self.system.composition() {
            return;
        }
        self.transitions += 1;
        match self.system.transition(to) {
            Ok(r) => {
                self.totals.swaps += r.swaps;
                self.totals.built += r.built;
                self.totals.state_moved += r.state_moved;
                self.totals.state_dropped += r.state_dropped;
            }
            Err(e) => self.fail(arm, &e),
        }
    }
}

impl Actuator for SystemActuator<ByIndex> {
    type Arm = usize;

    /// Transition to composition id `arm` (nothing to do if it is running).
    fn apply(&mut self, arm: &usize) {
        self.applied += 1;
        if self.system.index() == *arm as u64 {
            return;
        }
        match self.system.space().composition(*arm as u64) {
            Ok(to) => self.go(arm, &to),
            Err(e) => self.fail(arm, &e),
        }
    }
}

impl Actuator for SystemActuator<ByChoices> {
    type Arm = Composition;

    /// Transition to the composition `arm` selects decision by decision
    /// (nothing to do if it is running).
    fn apply(&mut self, arm: &Composition) {
        self.applied += 1;
        let choices: Vec<Option<usize>> = arm.iter().copied().map(Some).collect();
        match self.system.space().from_choices(&choices) {
            Ok(to) => self.go(arm, &to),
            Err(e) => self.fail(arm, &e),
        }
    }
}
