//! Type erasure between the registry (which sees many interfaces) and typed slots.

use std::any::{Any, TypeId};
use std::sync::Arc;

use crate::component::Interface;
use crate::error::StateError;
use crate::slot::Slot;
use crate::state::StateMove;

/// A freshly built instance: a `Box<I>` behind `Any`.
pub(crate) type Instance = Box<dyn Any + Send>;

/// A `Slot<I>` seen without its `I`.
pub(crate) trait ErasedSlot: Send + Sync {
    /// For downcasting back to `Slot<I>`.
    fn as_any(&self) -> &dyn Any;

    /// Holds the slot, moves state into `new` when a path exists, installs it and
    /// releases. On a state error the old instance stays.
    fn install(&self, new: Instance) -> Result<StateMove, StateError>;
}

impl<I: ?Sized + Interface> ErasedSlot for Slot<I> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn install(&self, new: Instance) -> Result<StateMove, StateError> {
        self.swap_with_state(unbox::<I>(new)).map_err(|(e, _)| e)
    }
}

/// What the registry needs to know about an interface's Rust type.
#[derive(Clone, Copy)]
pub(crate) struct InterfaceOps {
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
    pub(crate) new_slot: fn(Instance) -> Arc<dyn ErasedSlot>,
}

impl InterfaceOps {
    pub(crate) fn of<I: ?Sized + Interface>() -> Self {
        InterfaceOps { type_id: TypeId::of::<Box<I>>(), type_name: std::any::type_name::<I>(), new_slot: new_slot::<I> }
    }
}

fn new_slot<I: ?Sized + Interface>(instance: Instance) -> Arc<dyn ErasedSlot> {
    Arc::new(Slot::new(unbox::<I>(instance)))
}

fn unbox<I: ?Sized + Interface>(instance: Instance) -> Box<I> {
    *instance
        .downcast::<Box<I>>()
        .expect("factories of an interface all return its trait-object type (checked at registration)")
}
