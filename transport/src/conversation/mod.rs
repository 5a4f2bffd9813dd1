//! Conversations: calls whose callee calls back into the caller while the call runs.
//!
//! A method that takes an interface by reference (`fn serve(&self, socket: &dyn Socket)`, the
//! Hatch paper's Fig. 3) cannot send its argument: the callee gets a *reverse proxy* whose calls
//! travel back to the caller for the duration of the call. Rather than a second connection in the
//! other direction (a listener on every caller, its address, its own authentication), the
//! reverse calls ride the call's own channel as a conversation:
//!
//! 1. The caller sends the call as usual. The server runs the implementation on a worker thread.
//! 2. When the implementation calls the reverse proxy, the server *answers the call* with a
//!    callback request ([`Kind::Callback`]): which interface argument (`slot`), which method, a
//!    sequence number, and the request bytes.
//! 3. The caller runs the callback on its own thread, against the borrowed object it still holds,
//!    and sends the result as a new call, [`CONTINUE`] ([`Kind::Answer`] or [`Kind::Failed`]).
//! 4. The server hands the answer to the waiting reverse proxy; the reply to `CONTINUE` is the
//!    next callback request or, when the implementation returns, [`Kind::Done`] and the result.
//!
//! So callbacks run on the calling thread, as a local call would, with no `Sync` bound, no
//! lifetime tricks and no unsafe code; a conversation works over any [`Channel`](crate::Channel)
//! (TCP, loopback, authenticated, balanced or fail-over channels route it as one unit).
//!
//! The server never blocks a connection for long on a worker: if the worker has nothing to say
//! within a bound (a few milliseconds; [`Conversations::with_max_wait`]), the reply is
//! [`Kind::Pending`] and the caller asks again ([`Kind::Poll`]). A caller that gives up (its
//! deadline passed, or its callback panicked) says so ([`Kind::Abandon`]), and the worker's
//! further reverse calls fail at once. A conversation that fails after some of its callbacks ran
//! is not re-fired by any layer (see [`converse`]): re-firing would run them twice.
//!
//! Every message starts with a 16-byte [`Header`], so the bytes after it stay 16-aligned for rkyv.

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
            _ => return None,
        })
    }

    /// Whether the server sends it (otherwise the caller does).
    pub fn from_server(self) -> bool {
        matches!(self, Kind::Done | Kind::Callback | Kind::Pending)
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
    /// The callback's method ([`Kind::Callback`]) or error code ([`Kind::Failed`]); 0 otherwise.
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
        let kinds = [Kind::Done, Kind::Callback, Kind::Answer, Kind::Failed, Kind::Pending, Kind::Poll, Kind::Abandon];
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
        for value in [0u8, 8, 0xFF] {
            let mut bad = good.clone();
            bad[0] = value;
            assert!(Header::split(&bad).is_err(), "kind {value}");
        }
    }
}
