//! The Hatch component model: a program built from small components, each reached
//! through a hot-swappable [`Slot`], assembled into any of the compositions its
//! registry allows, and moved between compositions while it runs.
//!
//! # The model
//!
//! * An **interface** is a trait whose supertrait is [`Component`]; its trait-object
//!   type implements [`Interface`] to give it a name (`dyn Cache` is `"Cache"`).
//! * A **variant** (component type) provides one interface and requires zero or
//!   more, which it receives at construction as [`Slot`]s. Variants are registered
//!   by name in a [`Registry`] with explicit builder calls.
//! * A **composition** is one choice of variant for every required interface,
//!   recursively from a root interface: a tree. [`Space`] counts the compositions of
//!   a root, addresses them by a compact numeric id (a bandit arm) without listing
//!   them, and prints each as a stable identifier in the form of the DES paper,
//!   `{Frontend,Cached,LruCache,Disk|0:Handler:1,1:Cache:2,1:Store:3}` (see [`id`]).
//!   Learners that factor decisions use the [`decision`] structure instead.
//! * [`Space::assemble`] builds a running [`System`]; [`System::transition`] moves it
//!   to another composition by swapping only the components that differ, leaves
//!   first, moving the state of stateful components ([`StateTransfer`]).
//! * Every call goes through a [`Slot`]: an increment of the calling thread's own
//!   in-flight counter on entry, a decrement on exit, and a read of the slot's
//!   held flag each time. A swap holds new calls (they wait, they never fail), lets
//!   in-flight calls finish, moves state, installs, and releases. The algorithm,
//!   its costs and its limits are in [`docs`].
//!
//! # Example
//!
//! ```
//! use hatch_components::{Component, Interface, Registry, Slot, StateError, StateTransfer, state};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! // Two interfaces.
//! pub trait Store: Component { fn fetch(&self, key: u64) -> u64; }
//! impl Interface for dyn Store { const NAME: &'static str = "Store"; }
//! pub trait Counter: Component { fn hit(&self, key: u64) -> (u64, u64); }
//! impl Interface for dyn Counter { const NAME: &'static str = "Counter"; }
//!
//! // A stateless store.
//! struct Squares;
//! impl Component for Squares {}
//! impl Store for Squares { fn fetch(&self, key: u64) -> u64 { key * key } }
//!
//! // A stateful counter that requires a Store; two variants share its state format.
//! struct Hits { store: Slot<dyn Store>, hits: AtomicU64, step: u64 }
//! impl Counter for Hits {
//!     fn hit(&self, key: u64) -> (u64, u64) {
//!         let n = self.hits.fetch_add(self.step, Ordering::Relaxed) + self.step;
//!         (self.store.load().fetch(key), n)
//!     }
//! }
//! impl Component for Hits {
//!     fn state(&self) -> Option<&dyn StateTransfer> { Some(self) }
//!     fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> { Some(self) }
//! }
//! impl StateTransfer for Hits {
//!     fn state_format(&self) -> &'static str { "hits/v1" }
//!     fn export_state(&self) -> Result<Vec<u8>, StateError> {
//!         state::encode(&self.hits.load(Ordering::Relaxed))
//!     }
//!     fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
//!         *self.hits.get_mut() = state::decode(bytes)?;
//!         Ok(())
//!     }
//! }
//!
//! // Registration: plain calls, which each module can make from its own `register`.
//! let mut registry = Registry::new();
//! registry.variant::<dyn Store>("Squares").build(|_| Box::new(Squares))?;
//! for (name, step) in [("ByOne", 1), ("ByTen", 10)] {
//!     registry
//!         .variant::<dyn Counter>(name)
//!         .requires::<dyn Store>()
//!         .build(move |deps| Box::new(Hits { store: deps.slot(), hits: AtomicU64::new(0), step }))?;
//! }
//!
//! // The space of compositions rooted at Counter, addressed by index or identifier.
//! let space = registry.space::<dyn Counter>()?;
//! assert_eq!(space.count(), 2);
//! let by_one = space.composition(0)?;
//! assert_eq!(by_one.to_string(), "{ByOne,Squares|0:Store:1}");
//! assert_eq!(space.index_of(&"{ByTen,Squares|0:Store:1}".parse()?)?, 1);
//!
//! // Run it, then switch the counter variant live: one swap, state moved.
//! let mut system = space.assemble(&by_one)?;
//! let counter: Slot<dyn Counter> = system.root()?;
//! assert_eq!(counter.load().hit(3), (9, 1));
//! let report = system.transition_to_index(1)?;
//! assert_eq!((report.swaps, report.state_moved), (1, 1));
//! assert_eq!(counter.load().hit(4), (16, 11));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate layout
//!
//! One idea per module: [`Slot`] (`slot`), [`Registry`] (`registry`), [`Space`]
//! ([`space`]: counting and indexing), [`Composition`] (`composition`) and its
//! identifiers ([`id`]), the [`decision`] structure, [`System`] (`system`:
//! assembly and transitions), [`state`] transfer, and the error enums (`error`).

#![warn(missing_docs)]

mod component;
mod composition;
pub mod decision;
pub mod docs;
mod error;
pub mod id;
mod registry;
pub mod remote;
mod slot;
pub mod space;
pub mod state;
mod system;
mod wire;

pub use component::{Component, Interface};
pub use composition::{ComponentChoice, Composition, Placement, Wiring};
pub use decision::Decision;
pub use error::{AssemblyError, CompositionError, RegistryError, SpaceError, StateError};
pub use registry::{Deps, Registry, VariantBuilder};
pub use remote::{Catalog, Remotable};
pub use slot::{Guard, Hold, Slot};
pub use space::Space;
pub use state::{StateMove, StateTransfer};
pub use system::{System, TransitionReport};

/// Handles a learner thread or a caller pool needs to own or share.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Space>();
    is::<System>();
    is::<Slot<dyn Component>>();
    is::<Registry>();
}
