//! [`Composition`]: one choice of variant for every required interface, as a tree.

use std::sync::Arc;

use crate::error::CompositionError;

/// A composition: the components of one system, listed in pre-order from the root
/// component (index 0), and the wirings between them.
///
/// This is exactly the content of a composition identifier
/// (`{A,B,C|0:Cache:1,1:Store:2}`, see [`id`](crate::id)): it names variants and
/// interfaces only, so it is stable across processes and registration orders.
/// [`Space::index_of`](crate::Space::index_of) checks it against a space and gives
/// its compact numeric id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Composition {
    pub(crate) components: Vec<ComponentChoice>,
    pub(crate) wirings: Vec<Wiring>,
}

/// One component of a composition: which variant, and where it runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ComponentChoice {
    /// The variant's registered name.
    pub variant: Arc<str>,
    /// Where the component runs.
    pub placement: Placement,
}

/// Where a component runs. Only local placement exists today; relocation and
/// replication to other hosts (`B_X{host}` in identifiers) will be added as
/// variants here, which is why the enum is non-exhaustive.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Placement {
    /// In this process.
    #[default]
    Local,
}

/// A wiring: component `from` requires `interface`, provided by component `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Wiring {
    /// Index of the requiring component.
    pub from: usize,
    /// The interface name.
    pub interface: Arc<str>,
    /// Index of the providing component.
    pub to: usize,
}

impl Composition {
    /// Builds a composition from components and wirings, checking only its shape:
    /// the wirings must make a tree whose pre-order is the component order (every
    /// component but the root has exactly one incoming wiring, from an ancestor
    /// of the component before it). Wirings may come in any order; they are stored
    /// sorted by `to`, the canonical order of identifiers.
    pub fn new(components: Vec<ComponentChoice>, mut wirings: Vec<Wiring>) -> Result<Self, CompositionError> {
        use CompositionError::Shape;
        if components.is_empty() {
            return Err(Shape("no components"));
        }
        if wirings.len() + 1 != components.len() {
            return Err(Shape("a tree of n components has n-1 wirings"));
        }
        wirings.sort_by_key(|w| w.to);
        // `stack` is the path from the root to the previous component; in
        // pre-order, a component's parent is on that path.
        let mut stack = vec![0usize];
        for (k, w) in wirings.iter().enumerate() {
            if w.to != k + 1 {
                return Err(Shape("every component but the first needs exactly one incoming wiring"));
            }
            while stack.last().is_some_and(|&top| top != w.from) {
                stack.pop();
            }
            if stack.is_empty() {
                return Err(Shape("components are not listed in pre-order"));
            }
            stack.push(w.to);
        }
        Ok(Composition { components, wirings })
    }

    /// The components, root first, in pre-order.
    pub fn components(&self) -> &[ComponentChoice] {
        &self.components
    }

    /// The wirings, sorted by providing component.
    pub fn wirings(&self) -> &[Wiring] {
        &self.wirings
    }

    /// For each component, its outgoing wirings `(interface, to)` in order.
    pub(crate) fn children(&self) -> Vec<Vec<(&Arc<str>, usize)>> {
        let mut children = vec![Vec::new(); self.components.len()];
        for w in &self.wirings {
            children[w.from].push((&w.interface, w.to));
        }
        children
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str) -> ComponentChoice {
        ComponentChoice { variant: name.into(), placement: Placement::Local }
    }
    fn w(from: usize, i: &str, to: usize) -> Wiring {
        Wiring { from, interface: i.into(), to }
    }

    #[test]
    fn accepts_preorder_trees_in_any_wiring_order() {
        let comp =
            Composition::new(vec![c("A"), c("B"), c("C"), c("D")], vec![w(0, "X", 3), w(1, "Y", 2), w(0, "X", 1)])
                .unwrap();
        assert_eq!(comp.wirings().iter().map(|w| w.to).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn rejects_non_trees() {
        assert!(Composition::new(vec![], vec![]).is_err());
        // Missing wiring.
        assert!(Composition::new(vec![c("A"), c("B")], vec![]).is_err());
        // Two parents for 1.
        assert!(Composition::new(vec![c("A"), c("B"), c("C")], vec![w(0, "X", 1), w(2, "X", 1)]).is_err());
        // 3 hangs under 1, but 2 (a child of 0) came in between: not pre-order.
        assert!(
            Composition::new(vec![c("A"), c("B"), c("C"), c("D")], vec![w(0, "X", 1), w(0, "X", 2), w(1, "X", 3)])
                .is_err()
        );
    }
}
