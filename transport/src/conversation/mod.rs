//! Conversations: calls whose callee calls back into the caller while the call runs.
//!
//! A method that takes an interface by reference (`fn serve(&self, socket: &dyn Socket)`, the
//! Hatch paper's Fig. 3) cannot send its argument: the callee gets a *reverse proxy* whose calls
//! travel back to the caller for the duration of the call. Rather than a second connection in the
//! other direction (a listener on every caller, its address, its own authentication), the
//! reverse calls ride the call's own channel as a conversation:
//!
//! 1. The caller sends the call as usual. The server runs the implementation on a worker thread.
//! 2. When the implementation makes a two-way call on the reverse proxy, the server *answers the
//!    call* with a callback request ([`Kind::Callback`]): which interface argument (`slot`), which
//!    method, a sequence number, and the request bytes.
//! 3. The caller runs the callback on its own thread, against the borrowed object it still holds,
//!    and sends the result as a new call, [`CONTINUE`] ([`Kind::Answer`] or [`Kind::Failed`]).
//! 4. The server hands the answer to the waiting reverse proxy; the reply to `CONTINUE` is the
//!    next callback request or, when the implementation returns, [`Kind::Done`] and the result.
//! 5. One-way reverse calls (`()` methods not marked `#[hatch::sync]`) do not wait: they are
//!    queued in the conversation's *batch* and travel in front of the next message, as one
//!    [`Kind::Batch`] message (see below). The caller runs them in order, drops their replies,
//!    and goes on with the message they rode with. So a callee that writes a page in many
//!    small pieces and returns pays no round trip for them (the Hatch paper's Fig. 7): they
//!    arrive with the result.
//!
//! So callbacks run on the calling thread, as a local call would, with no `Sync` bound, no
//! lifetime tricks and no unsafe code; a conversation works over any [`Channel`](crate::Channel)
//! (TCP, loopback, authenticated, balanced or fail-over channels route it as one unit).
//!
//! # Batched one-way callbacks
//!
//! The batch leaves, in the order the callee made its calls:
//! - with the next two-way callback request, so the caller sees every callback in the order the
//!   callee made it (the batch is shared by all the call's interface arguments);
//! - with the result ([`Kind::Done`]): the result never reaches the caller before the one-way
//!   callbacks made ahead of it have run;
//! - on the reverse channel's [`flush`](crate::Channel::flush), as a [`Kind::Flush`] request the
//!   caller answers once they have run: one round trip, which `flush` waits for (none when
//!   nothing was sent since the last flush);
//! - when it is full ([`MAX_BATCH_BYTES`], [`MAX_BATCH_CALLS`], or
//!   [`Conversations::with_max_batch`]): flushed, as by `flush`, before the call that would
//!   overflow it.
//!
//! Until then batched callbacks wait: a callee that writes a first piece and then works for a
//! while shows it to the caller when it next calls back, returns, or flushes.
//!
//! On the wire a batch is one server message: its header ([`Kind::Batch`], `word` = the number
//! of callbacks `n`), `n` entries, then the whole message it rides with:
//!
//! ```text
//!  0   Header { kind: Batch, word: n, session }                      16 bytes
//! 16   entry: slot u8 | 0u8 ×3 | method u32 | len u32 | 0u32        16 bytes
//! 32     its request: len bytes, zero padding to a multiple of 16
//!  …   the other n - 1 entries, the same way
//!  …   Header { kind: Callback | Flush | Done | Pending, … }         16 bytes
//!        that message's body (a callback's request, the result)
//! ```
//!
//! Every part starts at a multiple of 16 from the message's start, so each request and the final
//! body are 16-aligned for rkyv, as in an unbatched message. The caller checks the whole batch
//! (every length against the bytes present, the zero bytes, the session and kind of the message
//! after it) before running any of it; a malformed batch fails the conversation with
//! [`RemoteError::Protocol`](crate::RemoteError) and none of it runs.
//!
//! A batch is not piggybacked on a message whose body is larger than the byte bound, nor on an
//! error result (an error frame carries no body), nor at all when it is itself over the bound
//! (one request larger than the bound): then it travels alone, followed by [`Kind::Pending`],
//! and the message comes with the caller's next poll. So a batch never makes a message that fits
//! in a frame on its own too large for one.
//!
//! A batched callback that fails on the caller's side (its dispatcher returns an error) is a
//! failed one-way call, not a failure of the conversation: the callbacks after it run, and the
//! caller keeps the first such failure and reports it as the answer ([`Kind::Failed`], with its
//! code) to the next [`Kind::Flush`], so the callee's `flush()` returns it, as a transport's
//! `flush` reports an earlier one-way failure. A failure no flush asked for by the time the call
//! ends is logged on the caller (`tracing`, warn) and dropped. A batched callback that *panics*
//! is the caller's own panic, as for a two-way callback (see [`converse`]). A conversation whose
//! caller left drops its batch: further reverse calls, one-way or not, fail at once, as they do
//! once the implementation has returned.

//! # Waiting, abandoning
//!
//! The server never blocks a connection for long on a worker: if the worker has nothing to say
//! within a bound (a few milliseconds; [`Conversations::with_max_wait`]), the reply is
//! [`Kind::Pending`] and the caller asks again ([`Kind::Poll`]). A caller that gives up (its
//! deadline passed, or its callback panicked) says so ([`Kind::Abandon`]), and the worker's
//! further reverse calls fail at once. A conversation that fails after some of its callbacks ran
//! is not re-fired by any layer (see [`converse`]): re-firing would run them twice.
//!
//! Every message starts with a 16-byte [`Header`], so the bytes after it stay 16-aligned for rkyv.

mod batch;
mod client;
mod pool;
mod server;

pub use client::{Callback, converse, converse_async};
pub use server::{Conversations, Reverse};

use crate::error::FrameError;
use crate::proto::MethodId;
use crate::service::ServiceError;

/// What answers a conversation's callbacks on the caller's side: runs one and appends its reply
/// to the buffer, as [`Service::call`](crate::Service::call) does.
pub type OnCallback<'a> = dyn FnMut(Callback<'_>, &mut Vec<u8>) -> Result<(), ServiceError> + 'a;

/// [`OnCallback`] that can move between threads, for async callers.
pub type OnCallbackSend<'a> = dyn FnMut(Callback<'_>, &mut Vec<u8>) -> Result<(), ServiceError> + Send + 'a;

/// Method id of a conversation's continuation (an answer to a callback request). Reserved:
/// proxygen refuses an interface method whose id would equal it.
pub const CONTINUE: MethodId = 0xFFFF_FFFF;

/// Bytes of the [`Header`].
pub const HEADER_LEN: usize = 16;

/// Default bound on the encoded bytes of a conversation's batch of one-way callbacks (16 bytes
/// per callback plus its request padded to 16). A one-way call that would take the batch past it
/// flushes the batch first (one round trip). It also bounds what the batch adds to the message
/// it rides with: keep it well below the connection's `max_frame`
/// ([`Conversations::with_max_batch`]).
pub const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Default bound on the number of one-way callbacks in a conversation's batch; see
/// [`MAX_BATCH_BYTES`].
pub const MAX_BATCH_CALLS: usize = 1024;

/// What a conversation message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Server to caller: the call finished; its reply follows.
    Done,
    /// Server to caller: run `word` (a method) on interface argument `slot`; its request follows.
    Callback,
    /// Caller to server: the reply to callback `seq` follows.
    Answer,
    /// Caller to server: callback `seq` failed with error code `word`; a UTF-8 message follows.
    Failed,
    /// Server to caller: the implementation is still running; ask again with [`Kind::Poll`].
    Pending,
    /// Caller to server: anything new?
    Poll,
    /// Caller to server: the caller is gone; fail the implementation's further callbacks.
    Abandon,
    /// Server to caller: `word` one-way callbacks follow (run them in order, drop their
    /// replies), then the message they ride with (a [`Kind::Callback`], [`Kind::Flush`],
    /// [`Kind::Done`] or [`Kind::Pending`], header and body).
    Batch,
    /// Server to caller: answer `seq` ([`Kind::Answer`], empty) once every earlier callback has
    /// run, or with the first one-way callback failure since the last flush ([`Kind::Failed`]).
    Flush,
}

impl Kind {
    fn to_u8(self) -> u8 {
        match self {
            Kind::Done => 1,
            Kind::Callback => 2,
            Kind::Answer => 3,
            Kind::Failed => 4,
            Kind::Pending => 5,
            Kind::Poll => 6,
            Kind::Abandon => 7,
            Kind::Batch => 8,
            Kind::Flush => 9,
        }
    }

    fn from_u8(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Kind::Done,
            2 => Kind::Callback,
            3 => Kind::Answer,
            4 => Kind::Failed,
            5 => Kind::Pending,
            6 => Kind::Poll,
            7 => Kind::Abandon,
            8 => Kind::Batch,
            9 => Kind::Flush,
            _ => return None,
        })
    }

    /// Whether the server sends it (otherwise the caller does).
    pub fn from_server(self) -> bool {
        matches!(self, Kind::Done | Kind::Callback | Kind::Pending | Kind::Batch | Kind::Flush)
    }
}

/// The 16 bytes in front of every conversation message, little-endian:
/// `kind: u8, slot: u8, seq: u16, word: u32, session: u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What follows.
    pub kind: Kind,
    /// Which interface argument a callback is for (0 for the first `&dyn` argument, …).
    pub slot: u8,
    /// Numbers a conversation's callbacks, so an answer that comes after its callback gave up
    /// (a reverse call's deadline) is recognised and dropped.
    pub seq: u16,
    /// The callback's method ([`Kind::Callback`]), error code ([`Kind::Failed`]) or number of
    /// callbacks ([`Kind::Batch`]); 0 otherwise.
    pub word: u32,
    /// The conversation, chosen by the server (unguessable: it is all a continuation carries).
    pub session: u64,
}

impl Header {
    /// A header with only a kind and a session.
    pub fn of(kind: Kind, session: u64) -> Self {
        Header { kind, slot: 0, seq: 0, word: 0, session }
    }

    /// Appends the encoded header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.kind.to_u8(), self.slot]);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.word.to_le_bytes());
        out.extend_from_slice(&self.session.to_le_bytes());
    }

    /// Splits a message into its header and body. Hostile bytes give an error, never a panic.
    pub fn split(message: &[u8]) -> Result<(Header, &[u8]), FrameError> {
        let malformed = FrameError::MalformedPayload("conversation header");
        let (head, body) = message.split_first_chunk::<HEADER_LEN>().ok_or(malformed.clone())?;
        let kind = Kind::from_u8(head[0]).ok_or(malformed)?;
        let seq = u16::from_le_bytes([head[2], head[3]]);
        let word = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let mut session = [0u8; 8];
        session.copy_from_slice(&head[8..]);
        Ok((Header { kind, slot: head[1], seq, word, session: u64::from_le_bytes(session) }, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_hostile_bytes() {
        let kinds = [
            Kind::Done,
            Kind::Callback,
            Kind::Answer,
            Kind::Failed,
            Kind::Pending,
            Kind::Poll,
            Kind::Abandon,
            Kind::Batch,
            Kind::Flush,
        ];
        for kind in kinds {
            let header = Header { kind, slot: 3, seq: 0xBEEF, word: 0xDEAD_BEEF, session: u64::MAX - 7 };
            let mut bytes = Vec::new();
            header.write(&mut bytes);
            bytes.extend_from_slice(b"body");
            assert_eq!(bytes.len(), HEADER_LEN + 4);
            assert_eq!(Header::split(&bytes).unwrap(), (header, &b"body"[..]));
        }
        let mut good = Vec::new();
        Header::of(Kind::Done, 1).write(&mut good);
        assert!(Header::split(&good[..15]).is_err(), "truncated");
        assert!(Header::split(&[]).is_err(), "empty");
        for value in [0u8, 10, 0xFF] {
            let mut bad = good.clone();
            bad[0] = value;
            assert!(Header::split(&bad).is_err(), "kind {value}");
        }
    }
}
