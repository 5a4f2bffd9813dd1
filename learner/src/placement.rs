//! Placement as decisions: the factored learner's arm is one option per variant decision of a
//! space ([`Space::decisions`]) followed by one option per *distribution point* (a remotable
//! interface): local, relocated to one of the agents, or replicated on the first `k` of them.
//! So variant choices and placements are learnt together, over spaces far too large to list
//! (the web platform's 96 compositions times 2n placement options per point), without
//! enumerating placed compositions as [`crate::topology`] does.
//!
//! A point's option only matters while every ancestor of its component is local: a component
//! placed remotely takes its sub-tree along, so the placement decisions below it are inactive
//! (the learner sees them as noise, as it does inactive variant decisions).
//!
//! [`PlacementActuator`] applies arms to a running [`PlacedSystem`], at most
//! [`PlacementActuator::max_moves`] placement changes per window (the hard limit on
//! simultaneous relocations: a target further away is approached over several windows, and the
//! arm actually applied is reported through [`Actuator::applied`] so the learner credits what
//! ran), and measures how long each move took (the switch cost).

use std::time::{Duration, Instant};

use hatch_components::remote::{Placed, PlacedSystem, Site};
use hatch_components::{Composition as Tree, CompositionError, Space};

use crate::host::Actuator;
use crate::live::LiveError;
use crate::space::{Composition, Radix};

/// One distribution point: components providing `interface` may be placed on agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// The interface's name.
    pub interface: String,
    /// Whether it may be replicated (stateless, or stateful under a state manager the
    /// transition knows); otherwise it is only relocated.
    pub replicable: bool,
}

impl Point {
    /// A point that may be relocated and replicated.
    pub fn replicable(interface: &str) -> Self {
        Point { interface: interface.into(), replicable: true }
    }

    /// A point that may only be relocated (stateful).
    pub fn relocatable(interface: &str) -> Self {
        Point { interface: interface.into(), replicable: false }
    }
}

/// The mapping between arms (variant choices, then one option per [`Point`]) and placed
/// compositions.
#[derive(Clone, Debug)]
pub struct PlacementDecisions {
    space: Space,
    points: Vec<Point>,
    agents: Vec<String>,
    variants: usize,
    radix: Radix,
}

impl PlacementDecisions {
    /// Decisions over `space`'s variants and the placement of `points` on `agents` (control
    /// addresses, in the order "the first k agents" refers to).
    ///
    /// # Errors
    ///
    /// If the space's decision structure cannot be unfolded.
    pub fn new(space: Space, points: Vec<Point>, agents: Vec<String>) -> Result<Self, LiveError> {
        let mut radices: Vec<usize> = space.decisions()?.iter().map(|d| d.variants.len()).collect();
        let variants = radices.len();
        radices.extend(points.iter().map(|p| options(p, agents.len())));
        Ok(PlacementDecisions { space, points, agents, variants, radix: Radix::new(radices) })
    }

    /// The learner's view: one radix per decision.
    pub fn radix(&self) -> &Radix {
        &self.radix
    }

    /// The space.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// The distribution points, in arm order (after the variant decisions).
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// How many variant decisions come before the points in an arm.
    pub fn variant_decisions(&self) -> usize {
        self.variants
    }

    /// The site option `option` of a point stands for: `0` local, `1..=n` agent `option - 1`,
    /// then (replicable points) the first `k` agents for `k = 2..=n`.
    pub fn site(&self, option: usize) -> Site {
        let n = self.agents.len();
        match option {
            0 => Site::Local,
            o if o <= n => Site::Remote(vec![self.agents[o - 1].clone()]),
            o => Site::Remote(self.agents[..(o - n + 1).min(n)].to_vec()),
        }
    }

    /// Each decision's options described for the learner
    /// ([`Factored::with_option_features`](crate::factored::Factored::with_option_features)):
    /// variant decisions by none, a point's sites by `[remote, extra replicas]`, so that one
    /// relocation predicts the others and two replicas predict a third.
    pub fn option_features(&self) -> crate::factored::OptionFeatures {
        let describe = |point: &Point| {
            let rows = (0..options(point, self.agents.len()))
                .map(|o| match self.site(o) {
                    Site::Local => vec![0.0, 0.0],
                    Site::Remote(agents) => vec![1.0, agents.len().saturating_sub(1) as f64],
                })
                .collect();
            Some(rows)
        };
        std::iter::repeat_n(None, self.variants).chain(self.points.iter().map(describe)).collect()
    }

    /// The arm that runs the same system as `arm` (inactive decisions at option `0`), or `arm`
    /// itself when it selects nothing valid.
    pub fn canonical(&self, arm: &[usize]) -> Composition {
        self.placed(arm).ok().and_then(|placed| self.arm(&placed)).unwrap_or_else(|| arm.to_vec())
    }

    /// The placed composition `arm` selects.
    ///
    /// # Errors
    ///
    /// If `arm` does not fit the radix or selects no valid composition.
    pub fn placed(&self, arm: &[usize]) -> Result<Placed, CompositionError> {
        if arm.len() != self.radix.decisions() || arm.iter().zip(self.radix.radices()).any(|(&o, &r)| o >= r) {
            return Err(CompositionError::Shape("an arm has one option in range per decision"));
        }
        let choices: Vec<Option<usize>> = arm[..self.variants].iter().copied().map(Some).collect();
        let composition = self.space.from_choices(&choices)?;
        let sites = self.sites(&composition, &arm[self.variants..]);
        Placed::new(composition, sites)
    }

    /// The canonical arm of `placed` (inactive decisions at option `0`), if its placement is
    /// one these decisions can express.
    pub fn arm(&self, placed: &Placed) -> Option<Composition> {
        let mut arm: Composition =
            self.space.choices(placed.composition()).ok()?.into_iter().map(|c| c.unwrap_or(0)).collect();
        let (interfaces, _) = shape(&self.space, placed.composition());
        for point in &self.points {
            let site = interfaces
                .iter()
                .zip(placed.sites())
                .find(|(i, s)| **i == point.interface && **s != Site::Local)
                .map(|(_, s)| s.clone());
            let option = match site {
                None => 0,
                Some(site) => (0..options(point, self.agents.len())).find(|&o| self.site(o) == site)?,
            };
            arm.push(option);
        }
        Some(arm)
    }

    /// The sites of `composition`'s components under the point options `points`.
    fn sites(&self, composition: &Tree, points: &[usize]) -> Vec<Site> {
        let (interfaces, parents) = shape(&self.space, composition);
        let mut sites = vec![Site::Local; interfaces.len()];
        // Pre-order: a parent's site is settled before its children's.
        for i in 0..interfaces.len() {
            let mut up = parents[i];
            let mut under_remote = false;
            while let Some(p) = up {
                under_remote |= sites[p] != Site::Local;
                up = parents[p];
            }
            if under_remote {
                continue;
            }
            if let Some(k) = self.points.iter().position(|p| p.interface == interfaces[i]) {
                sites[i] = self.site(points[k]);
            }
        }
        sites
    }

    /// Which point options of `arm` are active (their component exists with local ancestors).
    fn active_points(&self, arm: &[usize]) -> Vec<bool> {
        let Ok(placed) = self.placed(arm) else { return vec![false; self.points.len()] };
        let (interfaces, parents) = shape(&self.space, placed.composition());
        self.points
            .iter()
            .map(|point| {
                interfaces.iter().enumerate().any(|(i, name)| {
                    let mut up = parents[i];
                    let mut local = true;
                    while let Some(p) = up {
                        local &= placed.sites()[p] == Site::Local;
                        up = parents[p];
                    }
                    *name == point.interface && local
                })
            })
            .collect()
    }
}

fn options(point: &Point, agents: usize) -> usize {
    1 + agents + if point.replicable { agents.saturating_sub(1) } else { 0 }
}

/// Interface of each component and the parent of each, from the wirings.
fn shape(space: &Space, composition: &Tree) -> (Vec<String>, Vec<Option<usize>>) {
    let n = composition.components().len();
    let mut interfaces = vec![space.root().to_owned(); n];
    let mut parents = vec![None; n];
    for w in composition.wirings() {
        interfaces[w.to] = w.interface.to_string();
        parents[w.to] = Some(w.from);
    }
    (interfaces, parents)
}

/// Applies arms of [`PlacementDecisions`] to a running [`PlacedSystem`], at most `max_moves`
/// placement changes at a time, timing every transition.
pub struct PlacementActuator {
    decisions: PlacementDecisions,
    system: PlacedSystem,
    max_moves: usize,
    current: Composition,
    last_switch: Option<Duration>,
    transitions: u64,
    errors: u64,
    last_error: Option<String>,
}

impl std::fmt::Debug for PlacementActuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacementActuator").field("placed", &self.system.placed().to_string()).finish()
    }
}

impl PlacementActuator {
    /// Drives `system`, whose current placement must be expressible by `decisions`; at most
    /// `max_moves` (at least 1) placement changes per applied arm.
    ///
    /// # Errors
    ///
    /// The running placement, as text, when `decisions` cannot express it.
    pub fn new(decisions: PlacementDecisions, system: PlacedSystem, max_moves: usize) -> Result<Self, String> {
        let placed = system.placed();
        let current = decisions.arm(&placed).ok_or_else(|| format!("{placed} is outside the decisions"))?;
        Ok(PlacementActuator {
            decisions,
            system,
            max_moves: max_moves.max(1),
            current,
            last_switch: None,
            transitions: 0,
            errors: 0,
            last_error: None,
        })
    }

    /// The limit on placement changes per applied arm.
    pub fn max_moves(&self) -> usize {
        self.max_moves
    }

    /// The mapping.
    pub fn decisions(&self) -> &PlacementDecisions {
        &self.decisions
    }

    /// The running system.
    pub fn system(&self) -> &PlacedSystem {
        &self.system
    }

    /// Gives the system back.
    pub fn into_system(self) -> PlacedSystem {
        self.system
    }

    /// How long the last transition took (`None` before the first, or when the last apply
    /// changed nothing).
    pub fn last_switch(&self) -> Option<Duration> {
        self.last_switch
    }

    /// Transitions attempted, and how many failed.
    pub fn transitions(&self) -> (u64, u64) {
        (self.transitions, self.errors)
    }

    /// The last failure, as text.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The arm to apply on the way to `target`: its variant choices, and of its active point
    /// options that differ from the current ones, the first `max_moves` (the others stay).
    fn step_towards(&self, target: &[usize]) -> Composition {
        let v = self.decisions.variants;
        let active = self.decisions.active_points(target);
        let mut step = target.to_vec();
        let mut moves = 0;
        for (k, active) in active.into_iter().enumerate() {
            if !active || target[v + k] == self.current[v + k] {
                continue;
            }
            if moves < self.max_moves {
                moves += 1;
            } else {
                step[v + k] = self.current[v + k];
            }
        }
        step
    }
}

impl Actuator for PlacementActuator {
    type Arm = Composition;

    fn apply(&mut self, arm: &Composition) {
        self.last_switch = None;
        let step = self.step_towards(arm);
        let placed = match self.decisions.placed(&step) {
            Ok(placed) => placed,
            Err(error) => {
                self.errors += 1;
                self.last_error = Some(format!("arm {arm:?}: {error}"));
                return;
            }
        };
        if placed == self.system.placed() {
            self.current = step;
            return;
        }
        self.transitions += 1;
        let started = Instant::now();
        let result = self.system.transition(&placed);
        self.last_switch = Some(started.elapsed());
        if let Err(error) = result {
            self.errors += 1;
            tracing::warn!(target = %placed, %error, "placement transition failed");
            self.last_error = Some(format!("{placed}: {error}"));
        }
        // What runs is what the system says, whatever the transition managed.
        let running = self.system.placed();
        self.current = self.decisions.arm(&running).unwrap_or(step);
    }

    fn applied(&self) -> Option<Composition> {
        Some(self.current.clone())
    }
}

#[cfg(test)]
mod tests {
    use hatch_components::{Component, Interface, Registry};

    use super::*;

    trait Front: Component {}
    trait Handler: Component {}
    trait Store: Component {}
    impl Interface for dyn Front {
        const NAME: &'static str = "Front";
    }
    impl Interface for dyn Handler {
        const NAME: &'static str = "Handler";
    }
    impl Interface for dyn Store {
        const NAME: &'static str = "Store";
    }
    struct Unit;
    impl Component for Unit {}
    impl Front for Unit {}
    impl Handler for Unit {}
    impl Store for Unit {}

    /// `Front -> Handler (2 variants) -> Store (2 variants)`.
    fn decisions(agents: usize) -> PlacementDecisions {
        let mut registry = Registry::new();
        registry.variant::<dyn Front>("F").requires::<dyn Handler>().build(|_| Box::new(Unit)).unwrap();
        for name in ["H1", "H2"] {
            registry.variant::<dyn Handler>(name).requires::<dyn Store>().build(|_| Box::new(Unit)).unwrap();
        }
        for name in ["S1", "S2"] {
            registry.variant::<dyn Store>(name).build(|_| Box::new(Unit)).unwrap();
        }
        let space = registry.space::<dyn Front>().unwrap();
        let agents = (1..=agents).map(|a| format!("10.0.0.{a}:7000")).collect();
        PlacementDecisions::new(space, vec![Point::replicable("Handler"), Point::relocatable("Store")], agents).unwrap()
    }

    #[test]
    fn options_are_local_each_agent_and_the_first_k_agents() {
        let d = decisions(3);
        let v = d.variant_decisions();
        // Handler: local, 3 agents, first 2, first 3; Store: local, 3 agents.
        assert_eq!(&d.radix().radices()[v..], &[6, 4]);
        assert_eq!(d.site(0), Site::Local);
        assert_eq!(d.site(2), Site::Remote(vec!["10.0.0.2:7000".into()]));
        assert_eq!(
            d.site(5),
            Site::Remote(vec!["10.0.0.1:7000".into(), "10.0.0.2:7000".into(), "10.0.0.3:7000".into()])
        );
    }

    #[test]
    fn arms_and_placed_compositions_round_trip() {
        let d = decisions(3);
        let mut seen = std::collections::HashSet::new();
        for index in 0..d.radix().size() {
            let arm = d.radix().composition(index);
            let placed = d.placed(&arm).unwrap();
            let canonical = d.arm(&placed).expect("expressible");
            assert_eq!(d.placed(&canonical).unwrap(), placed, "{arm:?}");
            seen.insert(placed.to_string());
        }
        // A remote handler takes the store along, so its placement options collapse there.
        let v = d.variant_decisions();
        let mut arm = d.radix().composition(0);
        arm[v] = 1;
        arm[v + 1] = 2;
        assert_eq!(d.placed(&arm).unwrap().sites()[2], Site::Local);
        assert!(seen.len() < d.radix().size() as usize);
    }

    #[test]
    fn options_are_described_by_remoteness_and_replicas() {
        let d = decisions(3);
        let f = d.option_features();
        assert!(f[..d.variant_decisions()].iter().all(Option::is_none));
        let handler = f[d.variant_decisions()].as_ref().unwrap();
        assert_eq!(
            handler,
            &[vec![0.0, 0.0], vec![1.0, 0.0], vec![1.0, 0.0], vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0]]
        );
        // A remote handler takes the store along: the store's option does not matter then.
        let v = d.variant_decisions();
        let mut arm = d.radix().composition(0);
        arm[v] = 1;
        arm[v + 1] = 2;
        let canonical = d.canonical(&arm);
        assert_eq!(canonical[v + 1], 0);
        assert_eq!(d.placed(&canonical).unwrap(), d.placed(&arm).unwrap());
    }

    #[test]
    fn a_remote_parent_makes_the_points_below_it_inactive() {
        let d = decisions(2);
        let v = d.variant_decisions();
        let current = d.radix().composition(0);
        let mut target = current.clone();
        target[v] = 0; // handler stays local
        target[v + 1] = 1; // store to agent 1
        let active = d.active_points(&target);
        assert_eq!(active, [true, true]);
        target[v] = 1;
        assert_eq!(d.active_points(&target), [true, false], "the store goes with a remote handler");
    }
}
