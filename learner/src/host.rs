//! The per-host learning loop, sans-IO: a driver calls
//! [`HostLearner::poll`] with the current time (and the window's environment
//! events) and sleeps until [`HostLearner::deadline`]. On each closed window
//! the loop classifies the environment, credits the window's cost to the arm
//! that ran under that class's learner, asks that learner for the next arm
//! and applies it through an [`Actuator`].
//!
//! Each host runs its own `HostLearner` over the sub-composition it was given,
//! without coordination (the paper's decentralised learning); actions that
//! would cause horizontal interference are removed beforehand with
//! [`crate::prune::prune_horizontal`] ([`crate::topology::plan`] does it for
//! the placed compositions of several hosts).

use std::time::Duration;

use crate::envclass::{ClassId, Classifier, PerClass};
use crate::policy::{Observation, Policy};
use crate::probe::LatencyProbe;
use crate::window::{ObservationWindow, WindowConfig, WindowStats};

/// What turns a chosen arm into a running composition (in Hatch, the
/// component runtime adapting slots and proxies).
pub trait Actuator {
    /// The arm type it understands.
    type Arm;
    /// Make `arm` the live composition.
    fn apply(&mut self, arm: &Self::Arm);

    /// The arm that actually runs after the last [`apply`](Actuator::apply), when the actuator
    /// may run something else than it was asked (a move limited per window, a failed
    /// transition), so that the window is credited to what ran. `None`: the arm applied.
    fn applied(&self) -> Option<Self::Arm> {
        None
    }
}

/// What one closed window led to.
#[derive(Clone, Debug, PartialEq)]
pub struct Step<A> {
    /// The environment class the window was classified into.
    pub class: ClassId,
    /// The arm that ran during the window.
    pub ran: A,
    /// The window's measurements.
    pub window: WindowStats,
    /// Whether the window's cost was fed to the learner (a window without
    /// samples at slot 0 teaches nothing and is skipped).
    pub recorded: bool,
    /// The arm applied for the next window.
    pub next: A,
}

/// One host's learner: policies per environment class, a probe, a window and
/// an actuator.
pub struct HostLearner<P: Policy, A, L> {
    learners: PerClass<P>,
    classifier: Classifier,
    actuator: A,
    probe: L,
    window: ObservationWindow,
    current: P::Arm,
    semi_bandit: bool,
    settle: Duration,
    settling: Settling,
}

/// Where the learner is in the pause that follows a switch.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Settling {
    /// Not settling: the window is open.
    No,
    /// A switch was applied; the pause starts at the next poll (the first after the
    /// transition returned).
    Pending,
    /// Nothing is measured until then; the window opens then.
    Until(Duration),
}

impl<P, A, L> HostLearner<P, A, L>
where
    P: Policy,
    P::Arm: PartialEq,
    A: Actuator<Arm = P::Arm>,
    L: LatencyProbe,
{
    /// Start learning at `now`. An actuator that can say what runs
    /// ([`Actuator::applied`]) keeps it for the first window, so a live system
    /// is measured as it is before anything is changed; otherwise class 0's
    /// learner chooses the first arm, which is applied at once. With
    /// `semi_bandit`, probe slots `1..` are passed to the policy as
    /// per-decision parts.
    pub fn start(
        mut learners: PerClass<P>,
        classifier: Classifier,
        mut actuator: A,
        probe: L,
        cfg: WindowConfig,
        semi_bandit: bool,
        now: Duration,
    ) -> Self {
        let current = match actuator.applied() {
            Some(running) => running,
            None => {
                let chosen = learners.get(0).choose();
                actuator.apply(&chosen);
                actuator.applied().unwrap_or(chosen)
            }
        };
        let window = ObservationWindow::open(cfg, now, &probe);
        HostLearner {
            learners,
            classifier,
            actuator,
            probe,
            window,
            current,
            semi_bandit,
            settle: Duration::ZERO,
            settling: Settling::No,
        }
    }

    /// After each switch, measures nothing for `settle` from the moment the transition
    /// returned, then opens the next window. On a loaded system a switch leaves work behind
    /// it: the calls a swap held while the old implementation drained, a backlog the old
    /// design built. Measured in the new design's first window, they are blamed on it, and a
    /// design that would keep up looks as slow as the saturated one it replaced. Default zero
    /// (windows follow one another).
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// When to poll next at the latest: the current window's deadline, or the end of the
    /// pause after a switch.
    pub fn deadline(&self) -> Duration {
        match self.settling {
            Settling::No => self.window.deadline(),
            Settling::Pending => Duration::ZERO,
            Settling::Until(until) => until,
        }
    }

    /// The actuator.
    pub fn actuator(&self) -> &A {
        &self.actuator
    }

    /// The learner of `class`, if that class has been seen.
    pub fn learner(&self, class: ClassId) -> Option<&P> {
        self.learners.peek(class)
    }

    /// The learner of `class`, to tell it what the driver measured beside the window (a
    /// switch's cost, say), if that class has been seen.
    pub fn learner_mut(&mut self, class: ClassId) -> Option<&mut P> {
        self.learners.peek_mut(class)
    }

    /// The actuator, for the driver to stop or inspect.
    pub fn into_actuator(self) -> A {
        self.actuator
    }

    /// Advance to `now`. `environment` holds the labelled event values seen
    /// during the window (empty: a single environment).
    pub fn poll<S: AsRef<str>>(
        &mut self,
        now: Duration,
        environment: impl IntoIterator<Item = (S, f64)>,
    ) -> Option<Step<P::Arm>> {
        match self.settling {
            Settling::No => {}
            Settling::Pending => {
                self.settling = Settling::Until(now + self.settle);
                return None;
            }
            Settling::Until(until) if now < until => return None,
            Settling::Until(_) => {
                self.window.restart(now, &self.probe);
                self.settling = Settling::No;
                return None;
            }
        }
        let window = self.window.poll(now, &self.probe)?;
        let class = self.classifier.classify(environment);
        let learner = self.learners.get(class);
        let parts = if self.semi_bandit { window.parts_ms() } else { None };
        let recorded = match window.cost_ms() {
            Some(cost) => {
                let obs = Observation { cost, parts: parts.as_deref() };
                learner.record(&self.current, &obs);
                true
            }
            None => false,
        };
        let chosen = learner.choose();
        self.actuator.apply(&chosen);
        let next = self.actuator.applied().unwrap_or(chosen);
        if !self.settle.is_zero() && next != self.current {
            self.settling = Settling::Pending;
        }
        let ran = std::mem::replace(&mut self.current, next.clone());
        Some(Step { class, ran, window, recorded, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envclass::Tolerance;
    use crate::policy::Ucb1;
    use crate::probe::ManualProbe;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Applies arms by storing them where the fake system can see them.
    struct FakeActuator {
        live: Arc<AtomicUsize>,
        applied: usize,
    }

    impl Actuator for FakeActuator {
        type Arm = usize;
        fn apply(&mut self, arm: &usize) {
            self.live.store(*arm, Ordering::Relaxed);
            self.applied += 1;
        }
    }

    /// Latency of each arm in ms, per workload.
    const LATENCY: [[f64; 4]; 2] = [[12.0, 8.0, 10.0, 15.0], [9.0, 14.0, 13.0, 6.0]];

    #[test]
    fn learns_per_workload_and_remembers_a_returning_workload() {
        let live = Arc::new(AtomicUsize::new(usize::MAX));
        let probe = ManualProbe::new(1);
        let feed = probe.clone();
        let cfg = WindowConfig::default();
        let mut host = HostLearner::start(
            PerClass::new(|_| Ucb1::new(4)),
            Classifier::new(Tolerance::default()),
            FakeActuator { live: Arc::clone(&live), applied: 0 },
            probe,
            cfg,
            false,
            Duration::ZERO,
        );
        let mut now = Duration::ZERO;
        let mut run = |host: &mut HostLearner<Ucb1, FakeActuator, ManualProbe>, workload: usize, windows: usize| {
            let mut late_best = 0;
            for w in 0..windows {
                // 10 requests per simulated second at the live arm's latency.
                let step = loop {
                    now += Duration::from_millis(100);
                    let arm = live.load(Ordering::Relaxed);
                    let ms = LATENCY[workload][arm] + 0.1 * ((now.as_millis() % 7) as f64 - 3.0);
                    feed.record_ns(0, (ms * 1e6) as u64);
                    let rate = if workload == 0 { 10.0 } else { 500.0 };
                    if let Some(step) = host.poll(now, [("req/s", rate)]) {
                        break step;
                    }
                };
                assert!(step.recorded);
                assert_eq!(step.class, workload);
                assert_eq!(step.window.closed - step.window.opened, cfg.duration);
                if w >= windows / 2 && step.ran == [1, 3][workload] {
                    late_best += 1;
                }
            }
            late_best
        };
        assert!(run(&mut host, 0, 60) > 20);
        assert_eq!(host.learner(0).unwrap().recommend(), Some(1));
        assert!(run(&mut host, 1, 60) > 20);
        assert_eq!(host.learner(1).unwrap().recommend(), Some(3));
        // Workload 0 returns: its learner still knows arm 1 and exploits it.
        let tried_before = host.learner(0).unwrap().stats(1).n;
        assert!(run(&mut host, 0, 10) >= 4);
        assert!(host.learner(0).unwrap().stats(1).n > tried_before);
        assert_eq!(host.actuator().applied, 1 + 130);
    }

    #[test]
    fn after_a_switch_the_settling_pause_is_not_measured() {
        let probe = ManualProbe::new(1);
        let feed = probe.clone();
        let live = Arc::new(AtomicUsize::new(usize::MAX));
        let s = Duration::from_secs(1);
        let mut host = HostLearner::start(
            PerClass::new(|_| Ucb1::new(2)),
            Classifier::default(),
            FakeActuator { live: Arc::clone(&live), applied: 0 },
            probe,
            WindowConfig { duration: 5 * s, min_samples: None },
            false,
            Duration::ZERO,
        )
        .with_settle(2 * s);
        // Window 1 runs arm 0 (UCB tries both arms first), then the learner switches to arm 1.
        feed.record_ns(0, 10_000_000);
        let first = host.poll(5 * s, std::iter::empty::<(&str, f64)>()).unwrap();
        assert_ne!(first.next, first.ran, "UCB1 tries the other arm");
        // The first poll after the transition starts the pause; it ends 2 s later.
        assert_eq!(host.deadline(), Duration::ZERO);
        assert!(host.poll(6 * s, std::iter::empty::<(&str, f64)>()).is_none());
        assert_eq!(host.deadline(), 8 * s);
        feed.record_ns(0, 900_000_000); // the held calls: not the new arm's
        assert!(host.poll(7 * s, std::iter::empty::<(&str, f64)>()).is_none());
        assert!(host.poll(8 * s, std::iter::empty::<(&str, f64)>()).is_none());
        assert_eq!(host.deadline(), 13 * s);
        feed.record_ns(0, 20_000_000);
        let second = host.poll(13 * s, std::iter::empty::<(&str, f64)>()).unwrap();
        assert_eq!(second.window.opened, 8 * s);
        assert_eq!(second.window.cost_ms(), Some(20.0));
    }

    #[test]
    fn empty_windows_are_not_recorded() {
        let probe = ManualProbe::new(1);
        let mut host = HostLearner::start(
            PerClass::new(|_| Ucb1::new(2)),
            Classifier::default(),
            FakeActuator { live: Arc::new(AtomicUsize::new(0)), applied: 0 },
            probe,
            WindowConfig::default(),
            false,
            Duration::ZERO,
        );
        let step = host.poll(Duration::from_secs(5), std::iter::empty::<(&str, f64)>()).unwrap();
        assert!(!step.recorded);
        assert_eq!(host.learner(0).unwrap().recommend(), None);
    }
}
