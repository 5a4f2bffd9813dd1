//! Static pruning of horizontal interference (DES, SASO 2019, §III-C/E).
//!
//! Learners on different hosts do not talk. If host B and host C can both
//! distribute onto the same third host D, each may measure the move as good
//! alone and bad together ("hidden colocation"), which looks like noise to
//! both. DES removes such actions before learning starts. Here every
//! contended target host is given to one source host (the lowest id, i.e. the
//! host nearest the entry point when ids are assigned top-down) and the other
//! sources lose their actions onto it.

use std::collections::{BTreeMap, BTreeSet};

/// A host's identifier.
pub type HostId = u32;

/// One learning action of one host, with the hosts it places components on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAction {
    /// The host whose learner owns the action.
    pub host: HostId,
    /// The action's index in that host's learner.
    pub action: usize,
    /// Remote hosts the action relocates or replicates onto (empty: local).
    pub targets: Vec<HostId>,
}

/// Why an action was pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// Index of the action in the input slice.
    pub index: usize,
    /// The contended target host.
    pub target: HostId,
    /// The host that keeps the right to distribute onto `target`.
    pub owner: HostId,
}

/// Outcome of [`prune_horizontal`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruning {
    /// Indices (into the input) of the actions kept, in input order.
    pub kept: Vec<usize>,
    /// Actions removed, in input order.
    pub removed: Vec<Pruned>,
}

/// Remove actions that would let two hosts distribute onto a common third
/// host. Actions targeting their own host are ignored for contention.
///
/// # Examples
/// ```
/// use hatch_learner::prune::{prune_horizontal, HostAction};
/// let a = |host, action, targets: &[u32]| HostAction { host, action, targets: targets.to_vec() };
/// let actions = [a(1, 0, &[]), a(1, 1, &[3]), a(2, 0, &[]), a(2, 1, &[3]), a(2, 2, &[4])];
/// let p = prune_horizontal(&actions);
/// assert_eq!(p.kept, vec![0, 1, 2, 4]); // host 2 may not also use host 3
/// ```
pub fn prune_horizontal(actions: &[HostAction]) -> Pruning {
    let mut sources: BTreeMap<HostId, BTreeSet<HostId>> = BTreeMap::new();
    for a in actions {
        for &t in a.targets.iter().filter(|&&t| t != a.host) {
            sources.entry(t).or_default().insert(a.host);
        }
    }
    let owner = |t: HostId| *sources[&t].first().expect("has a source");
    let mut out = Pruning::default();
    for (index, a) in actions.iter().enumerate() {
        let conflict = a.targets.iter().copied().filter(|&t| t != a.host).find(|&t| owner(t) != a.host);
        match conflict {
            None => out.kept.push(index),
            Some(target) => out.removed.push(Pruned { index, target, owner: owner(target) }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(host: HostId, action: usize, targets: &[HostId]) -> HostAction {
        HostAction { host, action, targets: targets.to_vec() }
    }

    #[test]
    fn two_hosts_onto_one_third_host_keeps_only_the_owner() {
        // The DES example: B (2) and C (3) can both distribute onto D (4).
        let actions = [a(2, 0, &[]), a(2, 1, &[4]), a(3, 0, &[]), a(3, 1, &[4]), a(3, 2, &[5])];
        let p = prune_horizontal(&actions);
        assert_eq!(p.kept, vec![0, 1, 2, 4]);
        assert_eq!(p.removed, vec![Pruned { index: 3, target: 4, owner: 2 }]);
    }

    #[test]
    fn replication_over_several_hosts_is_removed_if_any_target_is_contended() {
        let actions = [a(1, 1, &[5, 6]), a(2, 1, &[6, 7]), a(2, 2, &[7])];
        let p = prune_horizontal(&actions);
        assert_eq!(p.kept, vec![0, 2]);
        assert_eq!(p.removed[0].target, 6);
    }

    #[test]
    fn one_host_using_a_target_many_ways_and_local_actions_are_kept() {
        let actions = [a(1, 0, &[]), a(1, 1, &[3]), a(1, 2, &[3, 4]), a(3, 0, &[3])];
        let p = prune_horizontal(&actions);
        assert_eq!(p.kept, vec![0, 1, 2, 3]);
        assert!(p.removed.is_empty());
    }
}
