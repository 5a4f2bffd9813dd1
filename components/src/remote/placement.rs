//! Placements: compositions whose components may run on other hosts, in the
//! identifier form of the DES paper, `{A,B_X{10.0.0.2:7000},C|0:I:1,1:J:2}`
//! (`B` relocated to one host) or `B_X{h1;h2}` (replicated on two), the space of
//! all of them for a set of known hosts, and a running system that moves between
//! any two.
//!
//! A component is placed remotely together with its whole sub-tree (the agent
//! builds the sub-composition), so only components whose ancestors are all
//! local can carry a placement. Only interfaces the [`Catalog`] marks
//! [`Remotable`] are placed. Replication is offered for every remotable
//! interface when two or more hosts are known; for a stateful component it fails
//! at transition time ([`RelocateError::Stateful`]), since its state manager
//! cannot be known from the registry.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::balance::RoundRobin;
use super::catalog::{Catalog, Remotable};
use super::error::RelocateError;
use super::host::Host;
use super::relocate::{Relocation, relocate, replicate};
use crate::composition::{ComponentChoice, Composition, Placement, Wiring};
use crate::error::{AssemblyError, CompositionError};
use crate::space::Space;
use crate::system::System;

/// Where one component runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Site {
    /// In this process.
    Local,
    /// On the agents at these control addresses: one for a relocation, several
    /// for a replication (round-robin).
    Remote(Vec<String>),
}

/// A composition with a [`Site`] per component.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Placed {
    composition: Composition,
    sites: Vec<Site>,
}

impl Placed {
    /// `composition` with every component local.
    pub fn local(composition: Composition) -> Self {
        let sites = vec![Site::Local; composition.components().len()];
        Placed { composition, sites }
    }

    /// `composition` with the given sites (one per component).
    ///
    /// # Errors
    ///
    /// If the number of sites is wrong, or a remote component has a remote
    /// ancestor (its sub-tree is placed with that ancestor).
    pub fn new(composition: Composition, sites: Vec<Site>) -> Result<Self, CompositionError> {
        if sites.len() != composition.components().len() {
            return Err(CompositionError::Shape("one site per component"));
        }
        let parents = parents(&composition);
        for (i, site) in sites.iter().enumerate() {
            if let Site::Remote(hosts) = site {
                if hosts.is_empty() {
                    return Err(CompositionError::Shape("a remote site names at least one host"));
                }
                let mut up = parents[i];
                while let Some(p) = up {
                    if sites[p] != Site::Local {
                        return Err(CompositionError::Shape("a remote component's sub-tree goes with it"));
                    }
                    up = parents[p];
                }
            }
        }
        Ok(Placed { composition, sites })
    }

    /// The composition of variants.
    pub fn composition(&self) -> &Composition {
        &self.composition
    }

    /// Each component's site, in composition order.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }
}

impl fmt::Display for Placed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (k, (c, site)) in self.composition.components().iter().zip(&self.sites).enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            f.write_str(&c.variant)?;
            if let Site::Remote(hosts) = site {
                write!(f, "_X{{{}}}", hosts.join(";"))?;
            }
        }
        f.write_str("|")?;
        for (k, w) in self.composition.wirings().iter().enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}:{}", w.from, w.interface, w.to)?;
        }
        f.write_str("}")
    }
}

impl FromStr for Placed {
    type Err = CompositionError;

    /// Parses `{A,B_X{h1;h2},C|…}`: the component list may carry `_X{hosts}`
    /// after a name; everything else is a plain composition identifier.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = |at, reason| CompositionError::Syntax { at, reason };
        let open = s.find('{').ok_or(syntax(0, "expected `{`"))?;
        let bar = s.find('|').ok_or(syntax(s.len(), "expected `|`"))?;
        let mut plain = String::with_capacity(s.len());
        plain.push_str(&s[..=open]);
        let mut sites = Vec::new();
        let mut at = open + 1;
        for (k, piece) in s[open + 1..bar].split(',').enumerate() {
            if k > 0 {
                plain.push(',');
            }
            let trimmed = piece.trim();
            match trimmed.find("_X{") {
                Some(mark) => {
                    let hosts = trimmed[mark + 3..].strip_suffix('}').ok_or(syntax(at, "expected `}` after hosts"))?;
                    let hosts: Vec<String> = hosts.split(';').map(|h| h.trim().to_string()).collect();
                    if hosts.iter().any(|h| h.is_empty() || h.contains(['{', '}'])) {
                        return Err(syntax(at, "expected host addresses separated by `;`"));
                    }
                    plain.push_str(&trimmed[..mark]);
                    sites.push(Site::Remote(hosts));
                }
                None => {
                    plain.push_str(trimmed);
                    sites.push(Site::Local);
                }
            }
            at += piece.len() + 1;
        }
        plain.push_str(&s[bar..]);
        Placed::new(plain.parse()?, sites)
    }
}

/// For each component, the index of its parent.
fn parents(composition: &Composition) -> Vec<Option<usize>> {
    let mut parents = vec![None; composition.components().len()];
    for w in composition.wirings() {
        parents[w.to] = Some(w.from);
    }
    parents
}

/// For each component, the interface it provides.
fn provided<'a>(space: &'a Space, composition: &'a Composition) -> Vec<&'a str> {
    let mut interfaces = vec![space.root(); composition.components().len()];
    for w in composition.wirings() {
        interfaces[w.to] = &w.interface;
    }
    interfaces
}

/// The sub-composition rooted at component `index` (its pre-order range).
pub(crate) fn subtree(composition: &Composition, index: usize) -> Composition {
    let parents = parents(composition);
    let n = composition.components().len();
    let is_below = |mut j: usize| loop {
        if j == index {
            return true;
        }
        match parents[j] {
            Some(p) => j = p,
            None => return false,
        }
    };
    let end = (index + 1..n).find(|&j| !is_below(j)).unwrap_or(n);
    let components: Vec<ComponentChoice> = composition.components()[index..end]
        .iter()
        .map(|c| ComponentChoice { variant: c.variant.clone(), placement: Placement::Local })
        .collect();
    let wirings = composition
        .wirings()
        .iter()
        .filter(|w| w.to > index && w.to < end)
        .map(|w| Wiring { from: w.from - index, interface: w.interface.clone(), to: w.to - index })
        .collect();
    Composition::new(components, wirings).expect("a pre-order range of a tree is a tree")
}

/// Every placement of every composition of a space over a set of known hosts.
///
/// Indexing walks the local compositions, so [`PlacedSpace::placed`] costs
/// O(index of its local composition); fine for the sizes a bandit explores.
pub struct PlacedSpace {
    space: Space,
    catalog: Arc<Catalog>,
    hosts: Vec<String>,
}

impl fmt::Debug for PlacedSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlacedSpace").field("root", &self.space.root()).field("hosts", &self.hosts).finish()
    }
}

impl PlacedSpace {
    /// The placements of `space`'s compositions on `hosts` (agent control
    /// addresses), for the remotable interfaces of `catalog`.
    pub fn new(space: Space, catalog: Arc<Catalog>, hosts: Vec<String>) -> Self {
        Self { space, catalog, hosts }
    }

    /// Remote sites offered per remotable component: each host alone, and all
    /// hosts together when there are two or more.
    fn remote_sites(&self) -> Vec<Site> {
        let mut sites: Vec<Site> = self.hosts.iter().map(|h| Site::Remote(vec![h.clone()])).collect();
        if self.hosts.len() >= 2 {
            sites.push(Site::Remote(self.hosts.clone()));
        }
        sites
    }

    /// Children of each component.
    fn children(composition: &Composition) -> Vec<Vec<usize>> {
        let mut children = vec![Vec::new(); composition.components().len()];
        for w in composition.wirings() {
            children[w.from].push(w.to);
        }
        children
    }

    /// Placements of the sub-tree at `node`, its ancestors all local.
    fn count_at(&self, node: usize, children: &[Vec<usize>], remotable: &[bool], remote: u64) -> u64 {
        let local: u64 = children[node].iter().map(|&c| self.count_at(c, children, remotable, remote)).product();
        local + if remotable[node] { remote } else { 0 }
    }

    fn decode_at(
        &self,
        node: usize,
        mut index: u64,
        children: &[Vec<usize>],
        remotable: &[bool],
        remote: &[Site],
        sites: &mut [Site],
    ) {
        let local: u64 =
            children[node].iter().map(|&c| self.count_at(c, children, remotable, remote.len() as u64)).product();
        if index >= local {
            sites[node] = remote[(index - local) as usize].clone();
            return;
        }
        for &c in &children[node] {
            let count = self.count_at(c, children, remotable, remote.len() as u64);
            self.decode_at(c, index % count, children, remotable, remote, sites);
            index /= count;
        }
    }

    fn shape(&self, composition: &Composition) -> (Vec<Vec<usize>>, Vec<bool>) {
        let remotable = provided(&self.space, composition).iter().map(|i| self.catalog.is_remotable(i)).collect();
        (Self::children(composition), remotable)
    }

    /// Number of placements of one local composition.
    pub fn count_of(&self, composition: &Composition) -> u64 {
        let (children, remotable) = self.shape(composition);
        self.count_at(0, &children, &remotable, self.remote_sites().len() as u64)
    }

    /// Number of placed compositions in the whole space.
    pub fn count(&self) -> u64 {
        self.space.iter().map(|c| self.count_of(&c)).sum()
    }

    /// The placed composition with number `index`.
    pub fn placed(&self, mut index: u64) -> Result<Placed, CompositionError> {
        let total = self.count();
        for composition in self.space.iter() {
            let count = self.count_of(&composition);
            if index < count {
                let (children, remotable) = self.shape(&composition);
                let mut sites = vec![Site::Local; composition.components().len()];
                self.decode_at(0, index, &children, &remotable, &self.remote_sites(), &mut sites);
                return Placed::new(composition, sites);
            }
            index -= count;
        }
        Err(CompositionError::IndexOutOfRange { index, count: total })
    }

    /// Every placed composition, in index order.
    pub fn iter(&self) -> impl Iterator<Item = Placed> + '_ {
        (0..self.count()).map(|i| self.placed(i).expect("in range"))
    }
}

/// A placed component, whatever its interface.
pub(crate) trait Live: Send {
    /// Brings the component back into this process.
    fn back(self: Box<Self>) -> Result<(), RelocateError>;
}

impl<I: ?Sized + Remotable> Live for Relocation<I> {
    fn back(self: Box<Self>) -> Result<(), RelocateError> {
        (*self).back().map(drop)
    }
}

/// Places component `index` of a running system on `hosts`, whatever its interface.
pub(crate) type PlaceFn = fn(&System, usize, &Arc<Catalog>, &[Arc<Host>], &Composition) -> PlaceResult;
type PlaceResult = Result<Box<dyn Live>, PlacementError>;

pub(crate) fn place_erased<I: ?Sized + Remotable>(
    system: &System,
    index: usize,
    catalog: &Arc<Catalog>,
    hosts: &[Arc<Host>],
    sub: &Composition,
) -> PlaceResult {
    let slot = system.slot::<I>(index)?;
    let live = match hosts {
        [host] => relocate(&slot, catalog, host, sub)?,
        _ => replicate(&slot, catalog, hosts, sub, Arc::new(RoundRobin::default()))?,
    };
    Ok(Box::new(live))
}

/// Moving a placed system failed.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    /// The local part of the transition failed.
    #[error(transparent)]
    Assembly(#[from] AssemblyError),
    /// Placing or bringing back a component failed.
    #[error(transparent)]
    Relocate(#[from] RelocateError),
    /// A placement names a host that was not given.
    #[error("unknown host `{0}`")]
    UnknownHost(String),
    /// The interface is not remotable in this catalog.
    #[error("interface `{0}` is not remotable")]
    NotRemotable(String),
}

/// A running system whose components may be placed on other hosts, moved
/// between any two [`Placed`] compositions of its space.
pub struct PlacedSystem {
    system: System,
    catalog: Arc<Catalog>,
    hosts: BTreeMap<String, Arc<Host>>,
    /// Sites actually in force, and the handles of the remote ones.
    sites: Vec<Site>,
    live: BTreeMap<usize, Box<dyn Live>>,
}

impl fmt::Debug for PlacedSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlacedSystem").field("placed", &self.placed().to_string()).finish()
    }
}

impl PlacedSystem {
    /// Assembles `placed` from `space` (local first, then places the remote
    /// components), with `hosts` the connected agents by control address.
    pub fn assemble(
        space: &Space,
        catalog: Arc<Catalog>,
        hosts: BTreeMap<String, Arc<Host>>,
        placed: &Placed,
    ) -> Result<Self, PlacementError> {
        let system = space.assemble(placed.composition())?;
        let sites = vec![Site::Local; placed.composition().components().len()];
        let mut this = PlacedSystem { system, catalog, hosts, sites, live: BTreeMap::new() };
        this.transition(placed)?;
        Ok(this)
    }

    /// The local system (its root slot is what callers call).
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The placed composition in force.
    pub fn placed(&self) -> Placed {
        Placed { composition: self.system.composition().clone(), sites: self.sites.clone() }
    }

    /// Moves to `to`: brings home the placed components whose site or
    /// surroundings change, transitions the local composition, then places the
    /// components `to` wants remote. Calls keep flowing throughout; each step
    /// holds only its own slot.
    ///
    /// # Errors
    ///
    /// The first failed step ends the transition; [`placed`](Self::placed) tells
    /// what is in force. A stateful component whose state cannot be brought home
    /// stays served remotely (its proxy stays in the slot) but is no longer
    /// tracked here.
    pub fn transition(&mut self, to: &Placed) -> Result<(), PlacementError> {
        let from = self.system.composition().clone();
        let keep =
            |i: usize| -> bool { to.sites.get(i) == Some(&self.sites[i]) && same_position(&from, to.composition(), i) };
        let leaving: Vec<usize> = self.live.keys().copied().filter(|&i| !keep(i)).collect();
        for i in leaving {
            let live = self.live.remove(&i).expect("listed above");
            self.sites[i] = Site::Local;
            live.back()?;
        }
        self.system.transition(to.composition())?;
        let mut sites = vec![Site::Local; to.composition().components().len()];
        for (&i, _) in self.live.iter() {
            sites[i] = to.sites[i].clone();
        }
        self.sites = sites;
        for (i, site) in to.sites.iter().enumerate() {
            let Site::Remote(addrs) = site else { continue };
            if self.live.contains_key(&i) {
                continue;
            }
            let hosts = addrs
                .iter()
                .map(|a| self.hosts.get(a).cloned().ok_or_else(|| PlacementError::UnknownHost(a.clone())))
                .collect::<Result<Vec<_>, _>>()?;
            let interface = provided(self.system.space(), to.composition())[i].to_string();
            let place = self.catalog.placer(&interface).ok_or(PlacementError::NotRemotable(interface))?;
            let live = place(&self.system, i, &self.catalog, &hosts, &subtree(to.composition(), i))?;
            self.live.insert(i, live);
            self.sites[i] = site.clone();
        }
        Ok(())
    }
}

/// Whether component `i` sits at the same place with the same sub-tree and the
/// same ancestors in both compositions (so its slot, and what runs behind it,
/// are unchanged by the local transition).
fn same_position(a: &Composition, b: &Composition, i: usize) -> bool {
    if i >= a.components().len() || i >= b.components().len() || subtree(a, i) != subtree(b, i) {
        return false;
    }
    let (pa, pb) = (parents(a), parents(b));
    let (mut x, mut y) = (Some(i), Some(i));
    while let (Some(j), Some(k)) = (x, y) {
        if j != k || a.components()[j].variant != b.components()[k].variant {
            return false;
        }
        (x, y) = (pa[j], pb[k]);
    }
    x.is_none() && y.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip_and_reject_nested_placements() {
        for id in ["{A,B_X{10.0.0.2:7000},C|0:I:1,1:J:2}", "{A_X{h1;h2},B|0:I:1}", "{A,B,C_X{h}|0:I:1,0:K:2}", "{A|}"] {
            let placed: Placed = id.parse().unwrap();
            assert_eq!(placed.to_string(), id);
        }
        assert!("{A_X{h},B_X{h}|0:I:1}".parse::<Placed>().is_err(), "B goes with A");
        assert!("{A_X{},B|0:I:1}".parse::<Placed>().is_err());
        assert!("{A_X{h,B|0:I:1}".parse::<Placed>().is_err());
    }

    #[test]
    fn subtrees_are_pre_order_ranges() {
        let c: Composition = "{A,B,C,D,E|0:I:1,1:J:2,1:J:3,0:K:4}".parse().unwrap();
        assert_eq!(subtree(&c, 1).to_string(), "{B,C,D|0:J:1,0:J:2}");
        assert_eq!(subtree(&c, 4).to_string(), "{E|}");
        assert_eq!(subtree(&c, 0), c);
    }
}
