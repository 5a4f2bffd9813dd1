//! [`System`]: a running composition, and transitions between compositions.

use std::sync::Arc;

use crate::component::Interface;
use crate::composition::Composition;
use crate::error::{AssemblyError, CompositionError};
use crate::registry::Deps;
use crate::slot::Slot;
use crate::space::{Space, Tree};
use crate::state::StateMove;
use crate::wire::{ErasedSlot, Instance};

/// A running composition: one instance per component, each behind the slot its
/// parent calls through.
///
/// # Examples
///
/// See the [crate docs](crate).
pub struct System {
    space: Space,
    root: LiveNode,
    composition: Composition,
    index: u64,
}

struct LiveNode {
    variant: usize,
    slot: Arc<dyn ErasedSlot>,
    children: Vec<LiveNode>,
}

/// What a [`System::transition`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransitionReport {
    /// Hot swaps performed on live slots (components whose variant changed).
    pub swaps: usize,
    /// Components built fresh for a new sub-tree (no slot to swap yet).
    pub built: usize,
    /// Swaps that moved state from the old to the new variant.
    pub state_moved: usize,
    /// Swaps whose old variant had state the new one could not take.
    pub state_dropped: usize,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("composition", &format_args!("{}", self.composition))
            .field("index", &self.index)
            .finish()
    }
}

impl Space {
    /// Builds the running system for `composition`, leaves first.
    pub fn assemble(&self, composition: &Composition) -> Result<System, AssemblyError> {
        let tree = self.resolve(composition)?;
        let mut report = TransitionReport::default();
        let root = build(self, &tree, &mut report);
        Ok(System { space: self.clone(), root, composition: self.compose(&tree), index: self.rank(&tree) })
    }
}

impl System {
    /// The slot of the root interface, to call the system through.
    pub fn root<I: ?Sized + Interface>(&self) -> Result<Slot<I>, AssemblyError> {
        self.root.slot.as_any().downcast_ref::<Slot<I>>().cloned().ok_or_else(|| AssemblyError::RootType {
            root: self.space.root().into(),
            requested: std::any::type_name::<I>(),
        })
    }

    /// The slot of component `index` of the running [`composition`](Self::composition)
    /// (pre-order, root is 0), e.g. to probe a component. The handle stays valid
    /// across transitions that keep this component's parent; it follows swaps.
    pub fn slot<I: ?Sized + Interface>(&self, index: usize) -> Result<Slot<I>, AssemblyError> {
        let mut remaining = index;
        let node = find(&self.root, &mut remaining).ok_or(CompositionError::IndexOutOfRange {
            index: index as u64,
            count: self.composition.components().len() as u64,
        })?;
        node.slot
            .as_any()
            .downcast_ref::<Slot<I>>()
            .cloned()
            .ok_or_else(|| AssemblyError::SlotType { index, requested: std::any::type_name::<I>() })
    }

    /// The running composition.
    pub fn composition(&self) -> &Composition {
        &self.composition
    }

    /// Numeric id of the running composition.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The space this system was assembled from.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Moves the running system to `to`, swapping only components whose variant
    /// changes. Sub-trees are reconciled before their parent (leaves first); a
    /// replaced component's dependencies are reused when the new variant requires
    /// the same interface, and built fresh otherwise. Calls keep flowing: each swap
    /// holds only its own slot, for as long as in-flight calls take to drain plus
    /// the state transfer.
    ///
    /// # Errors
    ///
    /// If `to` is not in the space nothing changes. If a state import fails, that
    /// component keeps its old variant, swaps already done stay done, and
    /// [`composition`](Self::composition) reports what is actually running.
    pub fn transition(&mut self, to: &Composition) -> Result<TransitionReport, AssemblyError> {
        let target = self.space.resolve(to)?;
        let mut report = TransitionReport::default();
        let result = reconcile(&self.space, &mut self.root, &target, &mut report);
        let running = tree_of(&self.root);
        self.composition = self.space.compose(&running);
        self.index = self.space.rank(&running);
        result.map(|()| report)
    }

    /// [`transition`](Self::transition) to the composition with numeric id `index`.
    pub fn transition_to_index(&mut self, index: u64) -> Result<TransitionReport, AssemblyError> {
        let to = self.space.composition(index)?;
        self.transition(&to)
    }
}

/// The node `*remaining` steps into a pre-order walk from `node`.
fn find<'a>(node: &'a LiveNode, remaining: &mut usize) -> Option<&'a LiveNode> {
    if *remaining == 0 {
        return Some(node);
    }
    *remaining -= 1;
    node.children.iter().find_map(|c| find(c, remaining))
}

fn tree_of(node: &LiveNode) -> Tree {
    Tree { variant: node.variant, children: node.children.iter().map(tree_of).collect() }
}

fn instantiate(space: &Space, variant: usize, children: &[LiveNode]) -> Instance {
    let data = &space.0;
    let v = &data.variants[variant];
    let deps = Deps {
        wired: v
            .requires
            .iter()
            .zip(children)
            .map(|(&r, child)| (data.interfaces[r].name.clone(), child.slot.clone()))
            .collect(),
    };
    (v.factory)(&deps)
}

fn build(space: &Space, tree: &Tree, report: &mut TransitionReport) -> LiveNode {
    let children: Vec<LiveNode> = tree.children.iter().map(|c| build(space, c, report)).collect();
    let instance = instantiate(space, tree.variant, &children);
    let ops = space.0.interfaces[space.0.variants[tree.variant].interface].ops;
    report.built += 1;
    LiveNode { variant: tree.variant, slot: (ops.new_slot)(instance), children }
}

fn reconcile(
    space: &Space,
    live: &mut LiveNode,
    target: &Tree,
    report: &mut TransitionReport,
) -> Result<(), AssemblyError> {
    if live.variant == target.variant {
        for (child, sub) in live.children.iter_mut().zip(&target.children) {
            reconcile(space, child, sub, report)?;
        }
        return Ok(());
    }
    let mut old: Vec<Option<LiveNode>> = std::mem::take(&mut live.children).into_iter().map(Some).collect();
    let mut new = Vec::with_capacity(target.children.len());
    let mut reused_from = Vec::with_capacity(target.children.len());
    let result = replace(space, live, target, &mut old, &mut new, &mut reused_from, report);
    match result {
        Ok(()) => {
            live.variant = target.variant;
            live.children = new;
        }
        Err(_) => {
            // The old instance still uses the reused slots: give them back.
            for (child, from) in new.into_iter().zip(reused_from) {
                if let Some(k) = from {
                    old[k] = Some(child);
                }
            }
            live.children = old.into_iter().map(|c| c.expect("every old child is returned")).collect();
        }
    }
    result
}

/// Builds or reuses the children of `target`, then swaps `live`'s slot to a new
/// instance of `target.variant`.
fn replace(
    space: &Space,
    live: &LiveNode,
    target: &Tree,
    old: &mut [Option<LiveNode>],
    new: &mut Vec<LiveNode>,
    reused_from: &mut Vec<Option<usize>>,
    report: &mut TransitionReport,
) -> Result<(), AssemblyError> {
    let data = &space.0;
    let interface_of = |variant: usize| data.variants[variant].interface;
    for sub in &target.children {
        let wanted = interface_of(sub.variant);
        let reusable = old.iter().position(|c| c.as_ref().is_some_and(|c| interface_of(c.variant) == wanted));
        match reusable {
            Some(k) => {
                let mut child = old[k].take().expect("position found a child");
                let result = reconcile(space, &mut child, sub, report);
                new.push(child);
                reused_from.push(Some(k));
                result?;
            }
            None => {
                new.push(build(space, sub, report));
                reused_from.push(None);
            }
        }
    }
    let instance = instantiate(space, target.variant, new);
    let moved = live
        .slot
        .install(instance)
        .map_err(|source| AssemblyError::State { variant: data.variants[target.variant].name.clone(), source })?;
    report.swaps += 1;
    match moved {
        StateMove::None => {}
        StateMove::Moved => report.state_moved += 1,
        StateMove::Dropped => report.state_dropped += 1,
    }
    Ok(())
}
