//! The learner distributes the platform while it serves (Hatch paper §4.3, Figs 10-12): one
//! factored learner per environment class, over the variant decisions of the whole space and
//! the placement of each distribution point ([`points`]) on the agents, rewarded by the mean
//! response time at the `HttpHandler` probe, behind the guardrails of
//! [`hatch::learner::guard`], every window's decision written to a JSON-lines log.
//!
//! Environment classes come from the workload as the front end measures it: requests per
//! second and the dynamic share, grouped with a 30% tolerance and 1.5x hysteresis, so a phase
//! that returns finds its class's learner where it left it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hatch::learner::decision_log::{DecisionLog, Entry};
use hatch::learner::envclass::{Classifier, PerClass, Tolerance};
use hatch::learner::factored::{Factored, FactoredConfig};
use hatch::learner::guard::{GuardConfig, Guarded};
use hatch::learner::host::HostLearner;
use hatch::learner::placement::{PlacementActuator, PlacementDecisions, Point};
use hatch::learner::window::WindowConfig;
use hatch_components::remote::PlacedSystem;

use crate::parts::Settings;
use crate::parts::frontend::Workload;

/// How the live learner runs.
#[derive(Clone, Debug)]
pub struct LearnConfig {
    /// The observation window; default 5 s, as the paper (1 s is the shortest that still
    /// averages enough requests on a light load).
    pub window: Duration,
    /// Placement changes per window at most (the hard limit on simultaneous relocations);
    /// default 1.
    pub max_moves: usize,
    /// Where the decision log goes (JSON lines); none when `None`.
    pub log: Option<PathBuf>,
    /// The learners' seed; default 0.
    pub seed: u64,
    /// The guardrails (fallback, damping, switch cost); [`GuardConfig::default`] by default.
    pub guard: GuardConfig,
    /// How long after a switch nothing is measured ([`HostLearner::with_settle`]: the calls
    /// held during the swap and the old design's backlog are not the new design's); half the
    /// window when `None` (the default).
    pub settle: Option<Duration>,
}

impl Default for LearnConfig {
    fn default() -> Self {
        LearnConfig {
            window: Duration::from_secs(5),
            max_moves: 1,
            log: None,
            seed: 0,
            guard: GuardConfig::default(),
            settle: None,
        }
    }
}

/// The platform's distribution points: the request handler (with its sub-tree) and the
/// scripts are stateless and may be replicated; the memo and the database carry state and
/// are only relocated.
pub fn points() -> Vec<Point> {
    vec![
        Point::replicable("HttpHandler"),
        Point::replicable("Script"),
        Point::relocatable("Memo"),
        Point::relocatable("Database"),
    ]
}

/// What the learner has done, for the caller to watch.
#[derive(Debug, Default)]
pub struct Progress {
    windows: std::sync::atomic::AtomicU64,
    placed: parking_lot::Mutex<String>,
}

impl Progress {
    /// Windows closed so far.
    pub fn windows(&self) -> u64 {
        self.windows.load(Ordering::Relaxed)
    }

    /// The placed composition running now.
    pub fn placed(&self) -> String {
        self.placed.lock().clone()
    }
}

/// A learner thread driving a running platform.
pub struct Learner {
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
    thread: Option<JoinHandle<PlacedSystem>>,
}

impl Learner {
    /// Starts learning over `system` (assembled from `settings`' catalog) with `agents` the
    /// agents' control addresses, in the order placements name them.
    ///
    /// # Errors
    ///
    /// If the space cannot be unfolded into decisions or the running placement is outside
    /// them; the system is handed back with the error.
    pub fn start(
        system: PlacedSystem,
        agents: Vec<String>,
        settings: &Settings,
        config: LearnConfig,
    ) -> Result<Learner, Box<(String, PlacedSystem)>> {
        let decisions = match PlacementDecisions::new(system.system().space().clone(), points(), agents) {
            Ok(decisions) => decisions,
            Err(error) => return Err(Box::new((error.to_string(), system))),
        };
        // Handing the system over only once the decisions are known to express it.
        if decisions.arm(&system.placed()).is_none() {
            return Err(Box::new((format!("{} is outside the learner's decisions", system.placed()), system)));
        }
        let actuator = PlacementActuator::new(decisions.clone(), system, config.max_moves).expect("checked above");
        let log = match &config.log {
            Some(path) => match DecisionLog::create(path) {
                Ok(log) => Some(log),
                Err(error) => {
                    return Err(Box::new((
                        format!("decision log {}: {error}", path.display()),
                        actuator.into_system(),
                    )));
                }
            },
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Progress::default());
        let (workload, probe) = (settings.workload.clone(), settings.probe.clone());
        let thread = {
            let (stop, progress) = (stop.clone(), progress.clone());
            std::thread::Builder::new()
                .name("hatch-web-learner".into())
                .spawn(move || drive(actuator, &decisions, &workload, probe, &config, log, &stop, &progress))
                .expect("a thread for the learner")
        };
        Ok(Learner { stop, progress, thread: Some(thread) })
    }

    /// What it has done so far.
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Stops learning (within a fraction of a second) and hands the system back as it runs.
    pub fn stop(mut self) -> PlacedSystem {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().expect("running").join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for Learner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Requests per second and the dynamic share since the last call.
struct Rates {
    last: (u64, u64),
    at: Instant,
}

impl Rates {
    fn new(workload: &Workload) -> Self {
        let (requests, dynamic, _) = workload.counts();
        Rates { last: (requests, dynamic), at: Instant::now() }
    }

    fn take(&mut self, workload: &Workload) -> [(&'static str, f64); 2] {
        let (requests, dynamic, _) = workload.counts();
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let (dr, dd) = (requests - self.last.0, dynamic - self.last.1);
        self.last = (requests, dynamic);
        self.at = Instant::now();
        let share = if dr == 0 { 0.0 } else { 100.0 * dd as f64 / dr as f64 };
        [("req/s", dr as f64 / secs), ("dynamic %", share)]
    }
}

#[allow(clippy::too_many_arguments)] // one call site, each argument a different part
fn drive(
    actuator: PlacementActuator,
    decisions: &PlacementDecisions,
    workload: &Workload,
    probe: hatch::learner::probe::InProcessProbe,
    config: &LearnConfig,
    mut log: Option<DecisionLog>,
    stop: &AtomicBool,
    progress: &Progress,
) -> PlacedSystem {
    let radix = decisions.radix().clone();
    let (seed, guard) = (config.seed, config.guard.clone());
    let (features, canonical) = (decisions.option_features(), decisions.clone());
    let learners = PerClass::new(move |class| {
        // One move at a time from the best design measured in this class, on relative costs
        // (a saturated design is tens of times slower), a placement's options described by
        // remoteness and replicas; what runs the same system is one design.
        let canonical = canonical.clone();
        let learner = Factored::new(radix.clone(), FactoredConfig::live(seed.wrapping_add(class as u64)))
            .with_canonical(move |arm| canonical.canonical(arm))
            .with_option_features(features.clone());
        Guarded::new(learner, guard.clone())
    });
    let id = |arm: &Vec<usize>| {
        decisions.placed(arm).map_or_else(|e| format!("invalid arm {arm:?}: {e}"), |p| p.to_string())
    };
    let classifier = Classifier::new(Tolerance { relative: 0.3, absolute: 2.0 }).with_hysteresis(1.5);
    let window = WindowConfig { duration: config.window, min_samples: None };
    let started = Instant::now();
    let mut rates = Rates::new(workload);
    let settle = config.settle.unwrap_or(config.window / 2);
    let mut host =
        HostLearner::start(learners, classifier, actuator, probe, window, false, Duration::ZERO).with_settle(settle);
    *progress.placed.lock() = host.actuator().system().placed().to_string();
    while !stop.load(Ordering::SeqCst) {
        let now = started.elapsed();
        let deadline = host.deadline();
        if now < deadline {
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
            continue;
        }
        let events = rates.take(workload);
        let Some(step) = host.poll(now, events) else { continue };
        let window = progress.windows.fetch_add(1, Ordering::Relaxed);
        *progress.placed.lock() = host.actuator().system().placed().to_string();
        // The switch's cost in the guard's unit: a transition of `t` holds the calls that
        // arrive meanwhile for `t/2` on average, a share `t / window` of the window's calls, so
        // it adds about `t_ms * t / (2 * window)` to that window's mean response time.
        if let Some(took) = host.actuator().last_switch() {
            let extra = took.as_secs_f64() * 1e3 * took.as_secs_f64() / (2.0 * config.window.as_secs_f64());
            if let Some(learner) = host.learner_mut(step.class) {
                learner.note_switch(extra);
            }
        }
        let Some(learner) = host.learner(step.class) else { continue };
        let mut entry = Entry::from_step(window, &step, learner, id);
        for (label, value) in events {
            entry = entry.with_extra(label, value);
        }
        tracing::info!(
            window,
            class = entry.class,
            cost_ms = ?entry.cost_ms,
            reason = %entry.reason,
            next = %entry.next,
            "learning window"
        );
        if let Some(Err(error)) = log.as_mut().map(|log| log.log(&entry)) {
            tracing::warn!(%error, "decision log: giving up on it");
            // A full disk must not stop the learner; the log says where it ends.
            log = None;
        }
    }
    host.into_actuator().into_system()
}
