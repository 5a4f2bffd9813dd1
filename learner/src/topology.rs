//! Decentralised learning over placements (Hatch paper §4.3; DES, SASO 2019,
//! §III-C/E): every host learns, on its own, over the placed compositions of
//! the sub-composition it was given, and actions that would make two hosts
//! distribute onto the same third host are removed before learning starts
//! ([`prune_horizontal`]).
//!
//! * [`plan`] takes each host's [`PlacedSpace`] (its compositions times the
//!   agents it may place components on), turns every placed composition into a
//!   [`HostAction`] whose targets are the agents it uses, prunes, and returns
//!   per host the placed indices its learner may try: its arms.
//! * [`PlacedActuator`] applies arm `i` (placed index `arms[i]`) to a running
//!   [`PlacedSystem`]: relocations and replications onto the agents, through
//!   [`PlacedSystem::transition`], while callers keep calling its root slot.
//!   Pair it with a flat policy over `arms.len()` arms.
//!
//! Enumerating the placed compositions is linear in their number, like the
//! flat policies that use them; spaces too large for that belong to the
//! factored learner over decisions, placements included
//! ([`crate::placement`]), as one coordinated learner.

use std::collections::BTreeSet;

use hatch_components::remote::{PlacedSpace, PlacedSystem, Site};

use crate::host::Actuator;
use crate::prune::{HostAction, HostId, prune_horizontal};

/// One host's share of a [`plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPlan {
    /// The host.
    pub host: HostId,
    /// The placed indices (into the host's [`PlacedSpace`]) its learner may
    /// try, in order: arm `i` is `arms[i]`.
    pub arms: Vec<u64>,
    /// The placed indices pruned away, each with the contended agent and the
    /// host that keeps the right to use it.
    pub removed: Vec<Removed>,
}

/// A placed composition pruned from a host's arms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Its index in the host's [`PlacedSpace`].
    pub placed: u64,
    /// The agent another host distributes onto.
    pub target: HostId,
    /// That other host.
    pub owner: HostId,
}

/// Why a [`plan`] could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    /// A placed composition names an agent address `host_id` does not know.
    #[error("host {host}: placement onto unknown agent `{address}`")]
    UnknownAgent {
        /// The host whose space names it.
        host: HostId,
        /// The address.
        address: String,
    },
    /// A host's space has more placed compositions than a flat learner can index.
    #[error("host {host}: {count} placed compositions do not fit a flat arm index")]
    TooManyArms {
        /// The host.
        host: HostId,
        /// Its placed compositions.
        count: u64,
    },
    /// A host appears twice.
    #[error("host {0} is given twice")]
    DuplicateHost(HostId),
}

/// The arms of each host after pruning horizontal interference: `hosts` are
/// the learning hosts with their placed spaces, `host_id` maps an agent's
/// control address (as written in the spaces) to its [`HostId`]. A contended
/// agent is kept by the lowest host id that can use it (see
/// [`prune_horizontal`]); a host's local-only compositions are never pruned.
///
/// # Errors
/// See [`TopologyError`].
pub fn plan(
    hosts: &[(HostId, &PlacedSpace)],
    host_id: impl Fn(&str) -> Option<HostId>,
) -> Result<Vec<HostPlan>, TopologyError> {
    let mut seen = BTreeSet::new();
    let mut actions = Vec::new();
    for &(host, space) in hosts {
        if !seen.insert(host) {
            return Err(TopologyError::DuplicateHost(host));
        }
        let count = space.count();
        usize::try_from(count).map_err(|_| TopologyError::TooManyArms { host, count })?;
        for (action, placed) in space.iter().enumerate() {
            let mut targets = BTreeSet::new();
            for site in placed.sites() {
                if let Site::Remote(addresses) = site {
                    for address in addresses {
                        let id = host_id(address)
                            .ok_or_else(|| TopologyError::UnknownAgent { host, address: address.clone() })?;
                        targets.insert(id);
                    }
                }
            }
            actions.push(HostAction { host, action, targets: targets.into_iter().collect() });
        }
    }
    let pruning = prune_horizontal(&actions);
    let mut plans: Vec<HostPlan> =
        hosts.iter().map(|&(host, _)| HostPlan { host, arms: Vec::new(), removed: Vec::new() }).collect();
    let slot = |host: HostId| hosts.iter().position(|&(h, _)| h == host).expect("actions come from `hosts`");
    for index in pruning.kept {
        let action = &actions[index];
        plans[slot(action.host)].arms.push(action.action as u64);
    }
    for removed in pruning.removed {
        let action = &actions[removed.index];
        plans[slot(action.host)].removed.push(Removed {
            placed: action.action as u64,
            target: removed.target,
            owner: removed.owner,
        });
    }
    Ok(plans)
}

/// Applies flat arms to a running [`PlacedSystem`]: arm `i` is placed
/// composition `arms[i]` of `space` (a [`HostPlan`]'s arms).
///
/// [`Actuator::apply`] cannot fail: a failed placement is logged, counted
/// ([`PlacedActuator::errors`]) and leaves running what
/// [`PlacedSystem::placed`] reports.
pub struct PlacedActuator {
    system: PlacedSystem,
    space: PlacedSpace,
    arms: Vec<u64>,
    running: Option<u64>,
    transitions: u64,
    errors: u64,
    last_error: Option<String>,
}

impl std::fmt::Debug for PlacedActuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacedActuator").field("system", &self.system).field("arms", &self.arms.len()).finish()
    }
}

impl PlacedActuator {
    /// An actuator over `system`, whose placed compositions are `space`'s, with
    /// `arms` the placed indices the learner may choose.
    pub fn new(system: PlacedSystem, space: PlacedSpace, arms: Vec<u64>) -> Self {
        Self { system, space, arms, running: None, transitions: 0, errors: 0, last_error: None }
    }

    /// The running system.
    pub fn system(&self) -> &PlacedSystem {
        &self.system
    }

    /// Give the system back.
    pub fn into_system(self) -> PlacedSystem {
        self.system
    }

    /// The placed index each arm stands for.
    pub fn arms(&self) -> &[u64] {
        &self.arms
    }

    /// Applies that changed the placed composition (attempted transitions).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Applies that failed (an arm out of range, or a failed transition).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The most recent failure, as text.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    fn fail(&mut self, arm: usize, error: &dyn std::fmt::Display) {
        self.errors += 1;
        self.running = None;
        tracing::warn!(arm, running = %self.system.placed(), error = %error, "live learner could not place arm");
        self.last_error = Some(format!("arm {arm}: {error}"));
    }
}

impl Actuator for PlacedActuator {
    type Arm = usize;

    /// Moves to placed composition `arms[arm]` (nothing to do if it is running).
    fn apply(&mut self, arm: &usize) {
        let Some(&index) = self.arms.get(*arm) else {
            return self.fail(*arm, &format_args!("no arm {arm} (there are {})", self.arms.len()));
        };
        if self.running == Some(index) {
            return;
        }
        let placed = match self.space.placed(index) {
            Ok(placed) => placed,
            Err(error) => return self.fail(*arm, &error),
        };
        if placed == self.system.placed() {
            self.running = Some(index);
            return;
        }
        self.transitions += 1;
        match self.system.transition(&placed) {
            Ok(()) => self.running = Some(index),
            Err(error) => self.fail(*arm, &error),
        }
    }
}
