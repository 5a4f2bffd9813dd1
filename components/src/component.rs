//! The two traits every Hatch component touches: [`Component`] and [`Interface`].

use crate::state::StateTransfer;

/// Implemented by every component type, and a supertrait of every interface trait.
///
/// A component receives its required interfaces at construction (as
/// [`Slot`](crate::Slot)s) and is only ever reached through the slot of the
/// interface it provides. The two methods are how a swap finds the component's
/// state; a stateless component implements `Component` with an empty body.
///
/// # Examples
///
/// ```
/// use hatch_components::Component;
/// struct Echo;
/// impl Component for Echo {}
/// ```
pub trait Component: Send + Sync + 'static {
    /// The component's state, if it carries any that must survive a swap.
    fn state(&self) -> Option<&dyn StateTransfer> {
        None
    }

    /// Mutable access to the state, used to import state into a fresh instance
    /// before it is installed.
    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        None
    }
}

/// Names an interface: implemented on the trait-object type (`dyn Cache`), not on
/// components.
///
/// The name is what composition identifiers print (`0:Cache:1`), so it should be
/// short and stable.
///
/// # Examples
///
/// ```
/// use hatch_components::{Component, Interface};
/// pub trait Cache: Component {
///     fn get(&self, key: u64) -> Option<u64>;
/// }
/// impl Interface for dyn Cache {
///     const NAME: &'static str = "Cache";
/// }
/// ```
pub trait Interface: Component {
    /// The interface's name in identifiers and error messages.
    const NAME: &'static str;
}
