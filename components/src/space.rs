//! [`Space`]: every composition of a root interface, counted and addressed by index
//! without being materialised.
//!
//! # Counting
//!
//! Compositions are trees: each requirement of each chosen variant is a separate
//! choice. Over the interface graph (a DAG, cycles are rejected) the counts are
//! sums of products,
//!
//! ```text
//! count(I) = Σ over variants v of I:  count(v)
//! count(v) = Π over requirements r of v:  count(r)
//! ```
//!
//! computed once per interface in post-order, so building a space is linear in the
//! size of the registry whatever the number of compositions.
//!
//! # Indexing
//!
//! Index `n` of interface `I` picks the variant `v` whose range
//! `[start(v), start(v) + count(v))` holds `n` (variants ordered by name, so ids do
//! not depend on registration order), then reads `n - start(v)` as a mixed-radix
//! number whose digits, least significant first, are the indices of `v`'s
//! requirements with radices `count(r)`. Both directions cost
//! O(components × log variants).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::composition::{ComponentChoice, Composition, Placement, Wiring};
use crate::decision::Decisions;
use crate::error::{CompositionError, SpaceError};
use crate::registry::{Factory, Registry};
use crate::wire::InterfaceOps;

/// The composition space of a root interface; cheap to clone.
///
/// Built by [`Registry::space`]. See the [module docs](self) for how counting and
/// indexing work.
#[derive(Clone)]
pub struct Space(pub(crate) Arc<SpaceData>);

pub(crate) struct SpaceData {
    pub(crate) root: usize,
    pub(crate) interfaces: Vec<SpaceInterface>,
    pub(crate) variants: Vec<SpaceVariant>,
    by_name: HashMap<Arc<str>, usize>,
    pub(crate) decisions: OnceLock<Result<Decisions, SpaceError>>,
}

pub(crate) struct SpaceInterface {
    pub(crate) name: Arc<str>,
    /// Variant indices, sorted by name.
    pub(crate) variants: Vec<usize>,
    /// `starts[k]`: index of the first composition using `variants[k]`.
    starts: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) ops: InterfaceOps,
}

pub(crate) struct SpaceVariant {
    pub(crate) name: Arc<str>,
    pub(crate) interface: usize,
    /// Position of this variant in its interface's `variants`.
    pub(crate) rank: usize,
    pub(crate) requires: Vec<usize>,
    pub(crate) factory: Factory,
}

/// A composition resolved against a space: variant indices instead of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tree {
    pub(crate) variant: usize,
    pub(crate) children: Vec<Tree>,
}

impl std::fmt::Debug for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Space")
            .field("root", &self.root())
            .field("interfaces", &self.0.interfaces.len())
            .field("variants", &self.0.variants.len())
            .field("count", &self.count())
            .finish()
    }
}

impl Space {
    pub(crate) fn new(registry: &Registry, root: &str) -> Result<Self, SpaceError> {
        let mut builder = Builder {
            registry,
            done: HashMap::new(),
            on_path: HashMap::new(),
            path: Vec::new(),
            interfaces: Vec::new(),
            variants: Vec::new(),
        };
        let root = builder.visit(&Arc::from(root), None)?;
        let by_name = builder.variants.iter().enumerate().map(|(k, v)| (v.name.clone(), k)).collect();
        Ok(Space(Arc::new(SpaceData {
            root,
            interfaces: builder.interfaces,
            variants: builder.variants,
            by_name,
            decisions: OnceLock::new(),
        })))
    }

    /// Number of compositions.
    pub fn count(&self) -> u64 {
        self.0.interfaces[self.0.root].count
    }

    /// Name of the root interface.
    pub fn root(&self) -> &str {
        &self.0.interfaces[self.0.root].name
    }

    /// Names of the interfaces reachable from the root, in post-order (leaves first).
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.0.interfaces.iter().map(|i| &*i.name)
    }

    /// Names of the variants of `interface` in index order, or `None` if it is not
    /// in this space.
    pub fn variants_of(&self, interface: &str) -> Option<Vec<&str>> {
        let i = self.0.interfaces.iter().find(|i| &*i.name == interface)?;
        Some(i.variants.iter().map(|&v| &*self.0.variants[v].name).collect())
    }

    /// Number of compositions of `interface` taken as a root (its sub-space).
    pub fn count_of(&self, interface: &str) -> Option<u64> {
        self.0.interfaces.iter().find(|i| &*i.name == interface).map(|i| i.count)
    }

    /// The composition with numeric id `index`.
    pub fn composition(&self, index: u64) -> Result<Composition, CompositionError> {
        if index >= self.count() {
            return Err(CompositionError::IndexOutOfRange { index, count: self.count() });
        }
        let mut out = Composition { components: Vec::new(), wirings: Vec::new() };
        self.0.unrank(self.0.root, index, None, &mut out);
        Ok(out)
    }

    /// The numeric id of `composition`, checking that it belongs to this space.
    pub fn index_of(&self, composition: &Composition) -> Result<u64, CompositionError> {
        Ok(self.0.rank(&self.resolve(composition)?))
    }

    /// Every composition, in index order, built lazily.
    pub fn iter(&self) -> impl Iterator<Item = Composition> + '_ {
        (0..self.count()).map(|i| self.composition(i).expect("index below count"))
    }

    /// Checks `composition` against the space and resolves names to indices.
    pub(crate) fn resolve(&self, composition: &Composition) -> Result<Tree, CompositionError> {
        let children = composition.children();
        self.0.resolve_node(composition, &children, 0, self.0.root)
    }

    /// The composition of a resolved tree.
    pub(crate) fn compose(&self, tree: &Tree) -> Composition {
        let mut out = Composition { components: Vec::new(), wirings: Vec::new() };
        self.0.compose_node(tree, None, &mut out);
        out
    }

    pub(crate) fn rank(&self, tree: &Tree) -> u64 {
        self.0.rank(tree)
    }
}

impl SpaceData {
    fn push(&self, variant: usize, parent: Option<usize>, out: &mut Composition) -> usize {
        let me = out.components.len();
        let v = &self.variants[variant];
        out.components.push(ComponentChoice { variant: v.name.clone(), placement: Placement::Local });
        if let Some(from) = parent {
            out.wirings.push(Wiring { from, interface: self.interfaces[v.interface].name.clone(), to: me });
        }
        me
    }

    fn unrank(&self, interface: usize, index: u64, parent: Option<usize>, out: &mut Composition) {
        let i = &self.interfaces[interface];
        // Every variant counts at least 1, so starts are strictly increasing.
        let k = i.starts.partition_point(|&s| s <= index) - 1;
        let variant = i.variants[k];
        let mut local = index - i.starts[k];
        let me = self.push(variant, parent, out);
        for &r in &self.variants[variant].requires {
            let radix = self.interfaces[r].count;
            self.unrank(r, local % radix, Some(me), out);
            local /= radix;
        }
    }

    fn rank(&self, tree: &Tree) -> u64 {
        let v = &self.variants[tree.variant];
        let mut local = 0;
        let mut radix = 1;
        for (child, &r) in tree.children.iter().zip(&v.requires) {
            local += self.rank(child) * radix;
            radix *= self.interfaces[r].count;
        }
        self.interfaces[v.interface].starts[v.rank] + local
    }

    fn compose_node(&self, tree: &Tree, parent: Option<usize>, out: &mut Composition) {
        let me = self.push(tree.variant, parent, out);
        for child in &tree.children {
            self.compose_node(child, Some(me), out);
        }
    }

    fn resolve_node(
        &self,
        composition: &Composition,
        children: &[Vec<(&Arc<str>, usize)>],
        node: usize,
        interface: usize,
    ) -> Result<Tree, CompositionError> {
        let name = &composition.components[node].variant;
        let &variant = self.by_name.get(name).ok_or_else(|| CompositionError::UnknownVariant(name.clone()))?;
        let v = &self.variants[variant];
        if v.interface != interface {
            return Err(CompositionError::WrongInterface {
                index: node,
                variant: name.clone(),
                expected: self.interfaces[interface].name.clone(),
            });
        }
        let wired = &children[node];
        let matches = wired.len() == v.requires.len()
            && wired.iter().zip(&v.requires).all(|((i, _), &r)| **i == self.interfaces[r].name);
        if !matches {
            let join = |names: Vec<&str>| format!("[{}]", names.join(", "));
            return Err(CompositionError::WrongWiring {
                index: node,
                variant: name.clone(),
                expected: join(v.requires.iter().map(|&r| &*self.interfaces[r].name).collect()),
                found: join(wired.iter().map(|(i, _)| &***i).collect()),
            });
        }
        let children = wired
            .iter()
            .zip(&v.requires)
            .map(|(&(_, child), &r)| self.resolve_node(composition, children, child, r))
            .collect::<Result<_, _>>()?;
        Ok(Tree { variant, children })
    }
}

/// Depth-first construction of a space with cycle and provider checks.
struct Builder<'r> {
    registry: &'r Registry,
    done: HashMap<Arc<str>, usize>,
    /// Interfaces on the current path, with their position in `path`.
    on_path: HashMap<Arc<str>, usize>,
    /// Alternating interface and variant names from the root to here.
    path: Vec<Arc<str>>,
    interfaces: Vec<SpaceInterface>,
    variants: Vec<SpaceVariant>,
}

impl Builder<'_> {
    fn visit(&mut self, name: &Arc<str>, required_by: Option<&Arc<str>>) -> Result<usize, SpaceError> {
        if let Some(&ix) = self.done.get(name) {
            return Ok(ix);
        }
        if let Some(&at) = self.on_path.get(name) {
            let mut path = self.path[at..].to_vec();
            path.push(name.clone());
            return Err(SpaceError::Cycle { path });
        }
        let registered = self
            .registry
            .interfaces
            .get(name)
            .filter(|i| !i.variants.is_empty())
            .ok_or_else(|| SpaceError::NoProvider { interface: name.clone(), required_by: required_by.cloned() })?;

        let mut members: Vec<_> = registered.variants.iter().map(|&k| &self.registry.variants[k]).collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));

        self.on_path.insert(name.clone(), self.path.len());
        self.path.push(name.clone());
        let mut compiled = Vec::with_capacity(members.len());
        for v in members {
            self.path.push(v.name.clone());
            let mut requires = Vec::with_capacity(v.requires.len());
            let mut count: u64 = 1;
            for r in &v.requires {
                let ix = self.visit(r, Some(&v.name))?;
                requires.push(ix);
                count = count
                    .checked_mul(self.interfaces[ix].count)
                    .ok_or_else(|| SpaceError::TooLarge { interface: name.clone() })?;
            }
            self.path.pop();
            compiled.push((v, requires, count));
        }
        self.path.pop();
        self.on_path.remove(name);

        let ix = self.interfaces.len();
        let mut starts = Vec::with_capacity(compiled.len());
        let mut variant_ixs = Vec::with_capacity(compiled.len());
        let mut total: u64 = 0;
        for (rank, (v, requires, count)) in compiled.into_iter().enumerate() {
            starts.push(total);
            total = total.checked_add(count).ok_or_else(|| SpaceError::TooLarge { interface: name.clone() })?;
            variant_ixs.push(self.variants.len());
            self.variants.push(SpaceVariant {
                name: v.name.clone(),
                interface: ix,
                rank,
                requires,
                factory: v.factory.clone(),
            });
        }
        self.interfaces.push(SpaceInterface {
            name: name.clone(),
            variants: variant_ixs,
            starts,
            count: total,
            ops: registered.ops,
        });
        self.done.insert(name.clone(), ix);
        Ok(ix)
    }
}
