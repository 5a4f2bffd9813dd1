//! Documentation only: how [`Slot`](crate::Slot) works, what it costs, and what it
//! does not do. No code lives here.
//!
//! * [`slot`]: the algorithm, memory orderings and progress guarantees.
//! * [`performance`]: measured costs, with the machine and the command.
//! * [`limitations`]: re-entrancy, blocking, and what was left out and why.

pub mod limitations;
pub mod performance;
pub mod slot;
