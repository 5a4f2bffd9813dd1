//! The platform's composition space with distribution actions: how many ways there are to
//! compose it *and* place it on a set of hosts, counted exactly without listing them.
//!
//! The actions, per distribution point (an interface the catalog marks remotable), with `h`
//! hosts besides the front end's:
//!
//! * **local**;
//! * **relocated** to one of the `h` hosts (its whole sub-tree goes with it);
//! * **replicated** on any subset of two or more hosts, behind one of `balancers` load
//!   balancers — offered only for the stateless points (`HttpHandler`, `Script`); a stateful
//!   one (`Memo`, `Database`) is only relocated, since a replica set of it needs a state
//!   manager the registry cannot know.
//!
//! Over 10 hosts with two balancers this is 399,008 placed compositions of the 96 local ones
//! (`hatch-web space`), the same order as the paper's 699,044.
//!
//! Below a remote point everything is remote with it, so a point has these choices only while
//! its ancestors are all local (the same rule as [`hatch_components::remote::PlacedSpace`],
//! which offers the subset of these actions that identifiers can name today: single hosts and
//! the replication on every host, round-robin).

use hatch_components::remote::Catalog;
use hatch_components::{Composition, Space};

/// The distribution points whose state would have to be managed across replicas.
pub const STATEFUL: &[&str] = &["Memo", "Database"];

/// How many remote placements one point has.
pub fn remote_choices(hosts: u32, balancers: u32, stateful: bool) -> u128 {
    let single = u128::from(hosts);
    if stateful || hosts < 2 {
        return single;
    }
    let subsets = (1u128 << hosts) - 1 - single; // of two or more hosts
    single + subsets * u128::from(balancers)
}

/// Placed compositions of one local composition.
pub fn count_of(space: &Space, catalog: &Catalog, composition: &Composition, hosts: u32, balancers: u32) -> u128 {
    let n = composition.components().len();
    let mut children = vec![Vec::new(); n];
    let mut interface = vec![space.root().to_owned(); n];
    for w in composition.wirings() {
        children[w.from].push(w.to);
        interface[w.to] = w.interface.to_string();
    }
    fn at(node: usize, children: &[Vec<usize>], remote: &dyn Fn(usize) -> u128) -> u128 {
        let local: u128 = children[node].iter().map(|&c| at(c, children, remote)).product();
        local + remote(node)
    }
    let remote = |node: usize| {
        let name = interface[node].as_str();
        if catalog.is_remotable(name) { remote_choices(hosts, balancers, STATEFUL.contains(&name)) } else { 0 }
    };
    at(0, &children, &remote)
}

/// Placed compositions of the whole space.
pub fn count(space: &Space, catalog: &Catalog, hosts: u32, balancers: u32) -> u128 {
    space.iter().map(|c| count_of(space, catalog, &c, hosts, balancers)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_choices_count_subsets() {
        assert_eq!(remote_choices(1, 2, false), 1);
        assert_eq!(remote_choices(3, 1, false), 3 + 4); // 3 singles, 3 pairs, 1 triple
        assert_eq!(remote_choices(3, 2, true), 3);
        assert_eq!(remote_choices(10, 2, false), 10 + 2 * 1013);
    }

    /// The figure `hatch-web space` prints and the docs quote.
    #[test]
    fn the_platform_space_over_ten_hosts() {
        let catalog = crate::parts::catalog(&crate::parts::Settings::new(std::env::temp_dir()));
        let space = catalog.registry().space::<dyn crate::api::http::Frontend>().unwrap();
        assert_eq!(space.count(), 96);
        assert_eq!(count(&space, &catalog, 10, 2), 399_008);
        assert_eq!(count(&space, &catalog, 0, 2), 96);
    }
}
