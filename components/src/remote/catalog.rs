//! [`Catalog`]: what one binary can run and serve, the same in every process of a
//! system (the host and its agents are the same executable).

use std::collections::BTreeMap;
use std::sync::Arc;

use hatch_transport::{Channel, Service};

use super::error::BuildError;
use super::placement::{PlaceFn, place_erased};
use super::protocol::StateBlob;
use crate::component::Interface;
use crate::composition::Composition;
use crate::registry::{Deps, Registry};
use crate::space::{Space, Tree};
use crate::wire::Instance;

/// An interface whose implementations can be served remotely and reached through
/// a proxy: the glue between the component model and generated code
/// (hatch-proxygen's `XServer` and `XProxy`), implemented once per interface on
/// its trait-object type.
///
/// # Examples
///
/// With proxygen output for `pub trait Primes: hatch::components::Component { … }`
/// (proxygen then implements `Component` for `PrimesProxy` too; see `components/demo`):
///
/// ```ignore
/// impl Interface for dyn Primes { const NAME: &'static str = "Primes"; }
/// impl Remotable for dyn Primes {
///     const FINGERPRINT: u64 = primes_wire::FINGERPRINT;
///     fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
///         Arc::new(PrimesServer::new(implementation))
///     }
///     fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
///         Box::new(PrimesProxy::new(channel))
///     }
/// }
/// ```
pub trait Remotable: Interface {
    /// The interface fingerprint both ends of a data connection announce.
    const FINGERPRINT: u64;

    /// Whether the interface is *explicit* (Hatch paper §4.1): its methods return
    /// remote errors to their callers, so a relocation never recovers from a lost
    /// host on its own. Implicit interfaces (the default) are recovered
    /// transparently when stateless.
    const EXPLICIT: bool = false;

    /// A server-side dispatcher calling `implementation`.
    fn serve(implementation: Arc<Self>) -> Arc<dyn Service>;

    /// A client-side proxy calling over `channel`.
    fn proxy(channel: Arc<dyn Channel>) -> Box<Self>;
}

/// Builds and serves one remotable interface, type-erased.
type ServeFn = fn(&Catalog, &Composition, Option<&StateBlob>) -> Result<Built, BuildError>;

/// A built instance, ready to serve.
pub(crate) struct Built {
    pub(crate) service: Arc<dyn Service>,
    /// Exports the root component's state, if it has any.
    pub(crate) export: Box<dyn Fn() -> Option<Result<StateBlob, crate::StateError>> + Send + Sync>,
}

/// A [`Registry`] plus the interfaces that may be served remotely.
///
/// Build it with the same function in every process (see
/// [`run_if_agent`](super::run_if_agent)): an agent instantiates only variants
/// registered here, by name; no code ever comes from the network.
pub struct Catalog {
    registry: Registry,
    remotables: BTreeMap<&'static str, (ServeFn, u64, PlaceFn)>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("registry", &self.registry)
            .field("remotable", &self.remotables.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Catalog {
    /// A catalog of `registry`'s variants, with no remotable interface yet.
    pub fn new(registry: Registry) -> Self {
        Self { registry, remotables: BTreeMap::new() }
    }

    /// Allows interface `I` to be served by agents.
    pub fn remotable<I: ?Sized + Remotable>(mut self) -> Self {
        self.remotables.insert(I::NAME, (serve_erased::<I>, I::FINGERPRINT, place_erased::<I>));
        self
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether `interface` may be served by agents.
    pub fn is_remotable(&self, interface: &str) -> bool {
        self.remotables.contains_key(interface)
    }

    /// Builds a fresh instance of `composition`, rooted at `I`, without a slot
    /// around its root (children get their own slots, as in a [`System`](crate::System)).
    pub fn build<I: ?Sized + Interface>(&self, composition: &Composition) -> Result<Box<I>, BuildError> {
        let space = self.registry.space::<I>()?;
        let tree = space.resolve(composition)?;
        let instance = build_tree(&space, &tree);
        instance.downcast::<Box<I>>().map(|boxed| *boxed).map_err(|_| BuildError::Type(I::NAME.to_string()))
    }

    /// Builds `composition` rooted at `I`, imports `state` when given.
    pub fn build_with_state<I: ?Sized + Interface>(
        &self,
        composition: &Composition,
        state: Option<&StateBlob>,
    ) -> Result<Box<I>, BuildError> {
        let mut instance = self.build::<I>(composition)?;
        if let Some(blob) = state {
            import(&mut *instance, blob)?;
        }
        Ok(instance)
    }

    /// Builds and wraps for serving, through the remotable interface `interface`.
    pub(crate) fn serve(
        &self,
        interface: &str,
        composition: &Composition,
        state: Option<&StateBlob>,
    ) -> Option<Result<Built, BuildError>> {
        self.remotables.get(interface).map(|(serve, _, _)| serve(self, composition, state))
    }

    /// How to place a component of the remotable interface `interface`.
    pub(crate) fn placer(&self, interface: &str) -> Option<PlaceFn> {
        self.remotables.get(interface).map(|&(_, _, place)| place)
    }

    /// The fingerprint of the remotable interface `interface`.
    pub(crate) fn fingerprint(&self, interface: &str) -> Option<u64> {
        self.remotables.get(interface).map(|&(_, fingerprint, _)| fingerprint)
    }
}

/// Imports `blob` into `component`, which must speak its format.
pub(crate) fn import<I: ?Sized + Interface>(component: &mut I, blob: &StateBlob) -> Result<(), crate::StateError> {
    match component.state_mut() {
        Some(to) if to.state_format() == blob.format => to.import_state(&blob.bytes),
        Some(to) => {
            Err(crate::StateError::Codec(format!("state format `{}` is not `{}`", blob.format, to.state_format())))
        }
        None => Err(crate::StateError::Codec(format!("the component has no state to import `{}` into", blob.format))),
    }
}

/// Exports `component`'s state, if it has any.
pub(crate) fn export<I: ?Sized + Interface>(component: &I) -> Option<Result<StateBlob, crate::StateError>> {
    component.state().map(|s| s.export_state().map(|bytes| StateBlob { format: s.state_format().to_string(), bytes }))
}

fn serve_erased<I: ?Sized + Remotable>(
    catalog: &Catalog,
    composition: &Composition,
    state: Option<&StateBlob>,
) -> Result<Built, BuildError> {
    let instance: Arc<I> = Arc::from(catalog.build_with_state::<I>(composition, state)?);
    let service = I::serve(instance.clone());
    Ok(Built { service, export: Box::new(move || export(&*instance)) })
}

/// Builds the instance of `tree`'s root, its children first, each child behind a
/// new slot.
fn build_tree(space: &Space, tree: &Tree) -> Instance {
    let data = &space.0;
    let variant = &data.variants[tree.variant];
    let wired = variant
        .requires
        .iter()
        .zip(&tree.children)
        .map(|(&required, child)| {
            let child_instance = build_tree(space, child);
            let ops = data.interfaces[data.variants[child.variant].interface].ops;
            (data.interfaces[required].name.clone(), (ops.new_slot)(child_instance))
        })
        .collect();
    (variant.factory)(&Deps { wired })
}
