//! Hatch: write a program as local components behind Rust traits; at run time Hatch can swap,
//! relocate or replicate any of them without the callers noticing.
//!
//! This facade re-exports the parts, each its own crate:
//! - [`transport`]: framed, multiplexed, zero-copy RPC over TCP (io_uring and tokio backends).
//! - [`components`]: the component model, hot-swappable call slots, compositions.
//! - [`learner`]: bandit policies that pick the composition with the best measured response time.
//!
//! Interfaces are plain traits; `hatch-proxygen` (a build dependency) generates their proxies,
//! which [`include_proxies!`] brings in. Implicit interface methods hand transport failures to a
//! [`FailureHandler`] (default [`RetryUntil`]); explicit ones (`Result<T, E>` with
//! `E: From<RemoteError>`) return them.

pub mod codegen;

pub use codegen::{Failure, FailureHandler, Recovery, RetryUntil};
pub use hatch_components as components;
pub use hatch_learner as learner;
pub use hatch_proxygen_macros::sync;
pub use hatch_transport as transport;
pub use hatch_transport::RemoteError;
