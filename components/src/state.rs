//! State transfer: how a stateful component hands its state to a replacement.
//!
//! A swap between two variants moves state only when both report the same
//! [`StateTransfer::state_format`]; the format string is the contract between
//! variants ("a list of key/value pairs, rkyv-encoded, version 1"). The helpers
//! [`encode`] and [`decode`] wrap rkyv so that implementations stay two lines long,
//! and [`decode`] validates the bytes, because state may one day arrive from
//! another host.

use crate::error::StateError;

/// Export and import of a component's state as bytes.
///
/// # Examples
///
/// ```
/// use hatch_components::{state, StateError, StateTransfer};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// struct Counter(AtomicU64);
/// impl StateTransfer for Counter {
///     fn state_format(&self) -> &'static str { "counter/v1" }
///     fn export_state(&self) -> Result<Vec<u8>, StateError> {
///         state::encode(&self.0.load(Ordering::Relaxed))
///     }
///     fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
///         *self.0.get_mut() = state::decode::<u64>(bytes)?;
///         Ok(())
///     }
/// }
/// let a = Counter(AtomicU64::new(7));
/// let mut b = Counter(AtomicU64::new(0));
/// b.import_state(&a.export_state()?)?;
/// assert_eq!(b.0.into_inner(), 7);
/// # Ok::<(), StateError>(())
/// ```
pub trait StateTransfer {
    /// Names the encoding of the exported bytes; state moves only between equal formats.
    fn state_format(&self) -> &'static str;

    /// Serialises the current state. Called while calls to the component are held,
    /// so the state is quiescent.
    fn export_state(&self) -> Result<Vec<u8>, StateError>;

    /// Replaces this (fresh, not yet installed) instance's state with `bytes`.
    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError>;
}

/// Encodes `value` with rkyv.
pub fn encode<T>(value: &T) -> Result<Vec<u8>, StateError>
where
    T: for<'a> rkyv::Serialize<
            rkyv::api::high::HighSerializer<
                rkyv::util::AlignedVec,
                rkyv::ser::allocator::ArenaHandle<'a>,
                rkyv::rancor::Error,
            >,
        >,
{
    rkyv::to_bytes::<rkyv::rancor::Error>(value)
        .map(|bytes| bytes.to_vec())
        .map_err(|e| StateError::Codec(e.to_string()))
}

/// Validates and decodes bytes produced by [`encode`].
///
/// The bytes are copied into an aligned buffer first, so any `&[u8]` is accepted.
pub fn decode<T>(bytes: &[u8]) -> Result<T, StateError>
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<T, rkyv::rancor::Error>(&aligned).map_err(|e| StateError::Codec(e.to_string()))
}

/// What a swap did with the outgoing component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateMove {
    /// The outgoing component is stateless.
    None,
    /// State was exported from the old and imported into the new component.
    Moved,
    /// The outgoing component had state but the incoming one has no matching
    /// format, so the state was discarded.
    Dropped,
}

/// Moves state from `old` into `new` when both speak the same format.
pub(crate) fn transfer<T: ?Sized + crate::Component>(old: &T, new: &mut T) -> Result<StateMove, StateError> {
    let Some(from) = old.state() else {
        return Ok(StateMove::None);
    };
    match new.state_mut() {
        Some(to) if to.state_format() == from.state_format() => {
            to.import_state(&from.export_state()?)?;
            Ok(StateMove::Moved)
        }
        _ => Ok(StateMove::Dropped),
    }
}
