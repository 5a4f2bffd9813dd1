//! [`Registry`]: the pool of variants, registered by explicit builder calls.
//!
//! Why builder calls rather than `inventory`/`linkme`: registration stays ordinary
//! code (visible, testable, no linker tricks that break on some targets), a test
//! can build a tiny registry of its own, and nothing needs a central hand-edited
//! list, because each module can expose a `register(&mut Registry)` function.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::component::Interface;
use crate::error::{RegistryError, SpaceError};
use crate::id::is_valid_name;
use crate::slot::Slot;
use crate::space::Space;
use crate::wire::{ErasedSlot, Instance, InterfaceOps};

/// Builds a component instance from its wired dependencies.
pub(crate) type Factory = Arc<dyn Fn(&Deps) -> Instance + Send + Sync>;

/// The pool of component variants, each providing one interface and requiring
/// zero or more.
///
/// # Examples
///
/// ```
/// use hatch_components::{Component, Interface, Registry};
///
/// pub trait Store: Component { fn load(&self, key: u64) -> u64; }
/// impl Interface for dyn Store { const NAME: &'static str = "Store"; }
///
/// pub trait Cache: Component { fn get(&self, key: u64) -> u64; }
/// impl Interface for dyn Cache { const NAME: &'static str = "Cache"; }
///
/// struct Disk;
/// impl Component for Disk {}
/// impl Store for Disk { fn load(&self, key: u64) -> u64 { key * 2 } }
///
/// struct NoCache(hatch_components::Slot<dyn Store>);
/// impl Component for NoCache {}
/// impl Cache for NoCache { fn get(&self, key: u64) -> u64 { self.0.load().load(key) } }
///
/// let mut registry = Registry::new();
/// registry.variant::<dyn Store>("Disk").build(|_| Box::new(Disk))?;
/// registry
///     .variant::<dyn Cache>("NoCache")
///     .requires::<dyn Store>()
///     .build(|deps| Box::new(NoCache(deps.slot::<dyn Store>())))?;
/// let space = registry.space::<dyn Cache>()?;
/// assert_eq!(space.count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Registry {
    pub(crate) interfaces: BTreeMap<Arc<str>, RegisteredInterface>,
    pub(crate) variants: Vec<RegisteredVariant>,
}

pub(crate) struct RegisteredInterface {
    pub(crate) ops: InterfaceOps,
    pub(crate) variants: Vec<usize>,
}

pub(crate) struct RegisteredVariant {
    pub(crate) name: Arc<str>,
    pub(crate) provides: Arc<str>,
    pub(crate) requires: Vec<Arc<str>>,
    pub(crate) factory: Factory,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for v in &self.variants {
            map.entry(&v.name, &format_args!("{} <- {:?}", v.provides, v.requires));
        }
        map.finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts registering variant `name` providing interface `I` (named `I::NAME`).
    pub fn variant<I: ?Sized + Interface>(&mut self, name: &str) -> VariantBuilder<'_, I> {
        self.variant_as::<I>(I::NAME, name)
    }

    /// Like [`variant`](Self::variant), but under an explicit interface name, so one
    /// Rust trait can serve several interfaces ("roles"), e.g. generated test spaces.
    pub fn variant_as<I: ?Sized + Interface>(&mut self, interface: &str, name: &str) -> VariantBuilder<'_, I> {
        VariantBuilder {
            registry: self,
            interface: interface.into(),
            name: name.into(),
            requires: Vec::new(),
            _interface: std::marker::PhantomData,
        }
    }

    /// Number of registered variants.
    pub fn len(&self) -> usize {
        self.variants.len()
    }

    /// Whether no variant is registered.
    pub fn is_empty(&self) -> bool {
        self.variants.is_empty()
    }

    /// The composition space rooted at interface `I`.
    pub fn space<I: ?Sized + Interface>(&self) -> Result<Space, SpaceError> {
        Space::new(self, I::NAME)
    }

    /// The composition space rooted at the interface named `root`.
    pub fn space_named(&self, root: &str) -> Result<Space, SpaceError> {
        Space::new(self, root)
    }
}

/// Declares one variant; finish with [`build`](Self::build).
#[must_use = "a variant is registered only by `build`"]
pub struct VariantBuilder<'r, I: ?Sized> {
    registry: &'r mut Registry,
    interface: Arc<str>,
    name: Arc<str>,
    requires: Vec<Arc<str>>,
    _interface: std::marker::PhantomData<fn() -> Box<I>>,
}

impl<I: ?Sized + Interface> VariantBuilder<'_, I> {
    /// Adds a required interface `R` (named `R::NAME`). Requirements are ordered;
    /// the same interface may be required more than once.
    pub fn requires<R: ?Sized + Interface>(self) -> Self {
        self.requires_named(R::NAME)
    }

    /// Adds a required interface by name (see [`Registry::variant_as`]).
    pub fn requires_named(mut self, interface: &str) -> Self {
        self.requires.push(interface.into());
        self
    }

    /// Registers the variant with the function that builds an instance from its
    /// wired dependencies.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] if a name uses characters reserved by
    /// [identifiers](crate::id), [`RegistryError::DuplicateVariant`] if the name is
    /// taken, and
    /// [`RegistryError::InterfaceTypeMismatch`] if the interface name was registered
    /// with another trait-object type.
    pub fn build<F>(self, factory: F) -> Result<(), RegistryError>
    where
        F: Fn(&Deps) -> Box<I> + Send + Sync + 'static,
    {
        let VariantBuilder { registry, interface, name, requires, .. } = self;
        for n in std::iter::once(&name).chain(std::iter::once(&interface)).chain(&requires) {
            if !is_valid_name(n) {
                return Err(RegistryError::InvalidName(n.clone()));
            }
        }
        if registry.variants.iter().any(|v| v.name == name) {
            return Err(RegistryError::DuplicateVariant(name));
        }
        let ops = InterfaceOps::of::<I>();
        let entry = registry
            .interfaces
            .entry(interface.clone())
            .or_insert_with(|| RegisteredInterface { ops, variants: Vec::new() });
        if entry.ops.type_id != ops.type_id {
            return Err(RegistryError::InterfaceTypeMismatch {
                interface,
                existing: entry.ops.type_name,
                attempted: ops.type_name,
            });
        }
        entry.variants.push(registry.variants.len());
        registry.variants.push(RegisteredVariant {
            name,
            provides: interface,
            requires,
            factory: Arc::new(move |deps: &Deps| -> Instance { Box::new(factory(deps)) }),
        });
        Ok(())
    }
}

/// The slots wired to a variant's required interfaces, handed to its factory.
pub struct Deps {
    pub(crate) wired: Vec<(Arc<str>, Arc<dyn ErasedSlot>)>,
}

impl Deps {
    /// The slot for the first requirement named `R::NAME`.
    ///
    /// # Panics
    ///
    /// If the variant did not declare that requirement: a registration bug.
    pub fn slot<R: ?Sized + Interface>(&self) -> Slot<R> {
        let position = self
            .wired
            .iter()
            .position(|(name, _)| &**name == R::NAME)
            .unwrap_or_else(|| panic!("variant does not declare `requires::<{}>()`", R::NAME));
        self.slot_at(position)
    }

    /// The slot for requirement number `position` (in declaration order).
    ///
    /// # Panics
    ///
    /// If there is no such requirement or its trait-object type is not `R`.
    pub fn slot_at<R: ?Sized + Interface>(&self, position: usize) -> Slot<R> {
        let (name, slot) = &self.wired[position];
        slot.as_any()
            .downcast_ref::<Slot<R>>()
            .unwrap_or_else(|| panic!("requirement {position} (`{name}`) is not a `{}`", std::any::type_name::<R>()))
            .clone()
    }

    /// Number of wired requirements.
    pub fn len(&self) -> usize {
        self.wired.len()
    }

    /// Whether the variant requires nothing.
    pub fn is_empty(&self) -> bool {
        self.wired.is_empty()
    }
}
