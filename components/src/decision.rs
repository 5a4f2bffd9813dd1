//! The decision structure of a space, for learners that factor a composition into
//! per-decision choices instead of one flat arm index.
//!
//! Unfolding the interface graph gives one [`Decision`] per *interface instance*:
//! the root, and every requirement of every variant that could be chosen above it.
//! A decision is active only when its parent decision picks the variant that owns
//! it, so a composition is a vector with `Some(variant)` for active decisions and
//! `None` elsewhere:
//!
//! `Composition` ↔ index ([`Space::index_of`]/[`Space::composition`]) ↔ choice
//! vector ([`Space::choices`]/[`Space::from_choices`]).
//!
//! # Examples
//!
//! ```
//! # use hatch_components::{Component, Interface, Registry};
//! # pub trait Leaf: Component {}
//! # impl Interface for dyn Leaf { const NAME: &'static str = "Leaf"; }
//! # pub trait Root: Component {}
//! # impl Interface for dyn Root { const NAME: &'static str = "Root"; }
//! # struct C; impl Component for C {} impl Leaf for C {} impl Root for C {}
//! let mut registry = Registry::new();
//! registry.variant::<dyn Leaf>("L1").build(|_| Box::new(C))?;
//! registry.variant::<dyn Leaf>("L2").build(|_| Box::new(C))?;
//! registry.variant::<dyn Root>("Solo").build(|_| Box::new(C))?;
//! registry.variant::<dyn Root>("Pair").requires::<dyn Leaf>().requires::<dyn Leaf>().build(|_| Box::new(C))?;
//! let space = registry.space::<dyn Root>()?;
//! let paths: Vec<_> = space.decisions()?.iter().map(|d| d.path.as_str()).collect();
//! assert_eq!(paths, ["Root", "Root/Pair.0:Leaf", "Root/Pair.1:Leaf"]);
//! // Variants are ordered by name: Pair owns ids 0..4 (2×2 leaves), Solo id 4.
//! let comp = space.composition(2)?;
//! assert_eq!(comp.to_string(), "{Pair,L1,L2|0:Leaf:1,0:Leaf:2}");
//! let choices = space.choices(&comp)?;
//! assert_eq!(choices, [Some(0), Some(0), Some(1)]);   // Pair, L1, L2
//! assert_eq!(space.choices(&space.composition(4)?)?, [Some(1), None, None]);
//! assert_eq!(space.from_choices(&choices)?, comp);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use crate::composition::Composition;
use crate::error::{CompositionError, SpaceError};
use crate::space::{Space, SpaceData, Tree};

/// Largest decision structure [`Space::decisions`] will unfold.
pub const DECISION_LIMIT: usize = 1 << 20;

/// One interface instance whose variant a learner chooses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Readable unique path: the root interface name, then one
    /// `/Variant.position:Interface` step per requirement followed.
    pub path: String,
    /// The interface being provided.
    pub interface: Arc<str>,
    /// Candidate variants; a choice is an index into this list.
    pub variants: Vec<Arc<str>>,
    /// `(decision, variant)` that activates this decision; `None` for the root.
    pub parent: Option<(usize, usize)>,
}

pub(crate) struct Decisions {
    list: Vec<Decision>,
    /// `children[d][choice]`: the decisions owned by that choice, in requirement order.
    children: Vec<Vec<Vec<usize>>>,
    /// Interface index of each decision.
    interface: Vec<usize>,
}

impl Space {
    /// The unfolded decision structure, built on first use; decision 0 is the root.
    ///
    /// # Errors
    ///
    /// [`SpaceError::TooManyDecisions`] above [`DECISION_LIMIT`] decision points.
    pub fn decisions(&self) -> Result<&[Decision], SpaceError> {
        match self.decision_data() {
            Ok(d) => Ok(&d.list),
            Err(e) => Err(e.clone()),
        }
    }

    /// The choice vector of `composition`: for each decision, the chosen variant's
    /// position in [`Decision::variants`], or `None` if the decision is inactive.
    pub fn choices(&self, composition: &Composition) -> Result<Vec<Option<usize>>, CompositionError> {
        let tree = self.resolve(composition)?;
        let d = self.decision_data().map_err(|e| CompositionError::Choices(e.to_string()))?;
        let mut out = vec![None; d.list.len()];
        fill(&self.0, d, 0, &tree, &mut out);
        Ok(out)
    }

    /// The composition selected by a choice vector. Choices of inactive decisions
    /// are ignored; every active decision needs a valid choice.
    pub fn from_choices(&self, choices: &[Option<usize>]) -> Result<Composition, CompositionError> {
        let d = self.decision_data().map_err(|e| CompositionError::Choices(e.to_string()))?;
        if choices.len() != d.list.len() {
            return Err(CompositionError::Choices(format!("{} choices for {} decisions", choices.len(), d.list.len())));
        }
        Ok(self.compose(&read(&self.0, d, 0, choices)?))
    }

    fn decision_data(&self) -> Result<&Decisions, &SpaceError> {
        self.0.decisions.get_or_init(|| unfold(&self.0)).as_ref()
    }
}

fn unfold(space: &SpaceData) -> Result<Decisions, SpaceError> {
    // Size first, so a huge structure is refused before it is allocated.
    let mut size = vec![0usize; space.interfaces.len()];
    for (ix, i) in space.interfaces.iter().enumerate() {
        // Post-order: requirements have smaller indices.
        let mut n: usize = 1;
        for &v in &i.variants {
            for &r in &space.variants[v].requires {
                n = n.saturating_add(size[r]);
            }
        }
        size[ix] = n;
    }
    if size[space.root] > DECISION_LIMIT {
        return Err(SpaceError::TooManyDecisions { limit: DECISION_LIMIT });
    }
    let mut d = Decisions {
        list: Vec::with_capacity(size[space.root]),
        children: Vec::with_capacity(size[space.root]),
        interface: Vec::with_capacity(size[space.root]),
    };
    push(space, &mut d, space.root, space.interfaces[space.root].name.to_string(), None);
    Ok(d)
}

fn push(space: &SpaceData, d: &mut Decisions, interface: usize, path: String, parent: Option<(usize, usize)>) -> usize {
    let i = &space.interfaces[interface];
    let me = d.list.len();
    d.list.push(Decision {
        path: path.clone(),
        interface: i.name.clone(),
        variants: i.variants.iter().map(|&v| space.variants[v].name.clone()).collect(),
        parent,
    });
    d.children.push(Vec::new());
    d.interface.push(interface);
    for (choice, &v) in i.variants.iter().enumerate() {
        let variant = &space.variants[v];
        let mut owned = Vec::with_capacity(variant.requires.len());
        for (position, &r) in variant.requires.iter().enumerate() {
            let child_path = format!("{path}/{}.{position}:{}", variant.name, space.interfaces[r].name);
            owned.push(push(space, d, r, child_path, Some((me, choice))));
        }
        d.children[me].push(owned);
    }
    me
}

fn fill(space: &SpaceData, d: &Decisions, decision: usize, tree: &Tree, out: &mut [Option<usize>]) {
    let choice = space.variants[tree.variant].rank;
    out[decision] = Some(choice);
    for (&child, sub) in d.children[decision][choice].iter().zip(&tree.children) {
        fill(space, d, child, sub, out);
    }
}

fn read(
    space: &SpaceData,
    d: &Decisions,
    decision: usize,
    choices: &[Option<usize>],
) -> Result<Tree, CompositionError> {
    let variants = &space.interfaces[d.interface[decision]].variants;
    let choice = choices[decision].filter(|&c| c < variants.len()).ok_or_else(|| {
        CompositionError::Choices(format!("decision {decision} (`{}`) needs a valid choice", d.list[decision].path))
    })?;
    let children =
        d.children[decision][choice].iter().map(|&child| read(space, d, child, choices)).collect::<Result<_, _>>()?;
    Ok(Tree { variant: variants[choice], children })
}
