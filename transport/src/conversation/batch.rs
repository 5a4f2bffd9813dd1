//! Batches of one-way callbacks: how the server packs a conversation's queued one-way reverse
//! calls in front of its next message, and the caller's validating reader of them. The wire
//! format is drawn in the [module docs](super) ("Batched one-way callbacks").
//!
//! The caller reads a batch from a peer it does not trust: [`read`] checks the whole batch
//! (every length against the bytes present, the reserved bytes, the trailing header) before a
//! single callback runs, so a malformed batch runs none of them.

use super::{Callback, HEADER_LEN, Header, Kind};
use crate::error::{FrameError, RemoteError};
use crate::proto::MethodId;

/// Bytes of an entry's header.
pub(super) const ENTRY_LEN: usize = 16;

/// Where the 16-byte alignment of every part of a message comes from.
const ALIGN: usize = 16;

/// The one-way callbacks a conversation has queued, already encoded as a batch's entries.
#[derive(Debug, Default)]
pub(super) struct Batch {
    entries: Vec<u8>,
    calls: u32,
}

impl Batch {
    pub(super) fn is_empty(&self) -> bool {
        self.calls == 0
    }

    /// Queued callbacks.
    pub(super) fn calls(&self) -> usize {
        self.calls as usize
    }

    /// Encoded bytes of the entries: what the batch adds to a message, but for its header.
    pub(super) fn bytes(&self) -> usize {
        self.entries.len()
    }

    /// Whether a request of `len` bytes must wait for the next batch: this one is not empty and
    /// would grow past `max_bytes` or `max_calls` with it. (A single request over the bound
    /// still makes a batch of its own.)
    pub(super) fn is_full_for(&self, len: usize, max_bytes: usize, max_calls: usize) -> bool {
        !self.is_empty() && (self.calls() >= max_calls || self.entries.len() + encoded_len(len) > max_bytes)
    }

    /// Appends a callback.
    pub(super) fn push(&mut self, slot: u8, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        let len = u32::try_from(request.len())
            .map_err(|_| RemoteError::RequestTooLarge { len: request.len(), max: u32::MAX })?;
        self.entries.reserve(encoded_len(request.len()));
        self.entries.extend_from_slice(&[slot, 0, 0, 0]);
        self.entries.extend_from_slice(&method.to_le_bytes());
        self.entries.extend_from_slice(&len.to_le_bytes());
        self.entries.extend_from_slice(&[0; 4]);
        self.entries.extend_from_slice(request);
        self.entries.resize(self.entries.len().next_multiple_of(ALIGN), 0);
        self.calls += 1;
        Ok(())
    }

    /// Appends the batch's header and entries to `out`; the next message must follow.
    pub(super) fn write(&self, session: u64, out: &mut Vec<u8>) {
        Header { word: self.calls, ..Header::of(Kind::Batch, session) }.write(out);
        out.extend_from_slice(&self.entries);
    }
}

/// Bytes an entry with a request of `len` bytes takes.
fn encoded_len(len: usize) -> usize {
    ENTRY_LEN + len.next_multiple_of(ALIGN)
}

/// A batch that checked out: its callbacks, and the message it rides with.
#[derive(Debug)]
pub(super) struct Read<'a> {
    entries: &'a [u8],
    calls: u32,
    /// The header of the message that follows the entries.
    pub(super) next: Header,
    /// Where the next message's body starts, from the start of the batch's header.
    pub(super) next_body: usize,
}

impl<'a> Read<'a> {
    /// The batch's callbacks, in the order the implementation made them.
    pub(super) fn callbacks(&self) -> Entries<'a> {
        Entries { rest: self.entries, left: self.calls }
    }
}

/// Reads the batch in `message` (a whole server message whose header says [`Kind::Batch`]).
/// Hostile bytes give an error, never a panic.
pub(super) fn read(message: &[u8]) -> Result<Read<'_>, FrameError> {
    let (header, body) = Header::split(message)?;
    if header.kind != Kind::Batch {
        return Err(FrameError::MalformedPayload("conversation batch: not a batch"));
    }
    if header.word == 0 {
        return Err(FrameError::MalformedPayload("conversation batch: no callbacks"));
    }
    let mut entries = Entries { rest: body, left: header.word };
    for entry in &mut entries {
        entry?;
    }
    let tail = entries.rest;
    let (next, _) = Header::split(tail)
        .map_err(|_| FrameError::MalformedPayload("conversation batch: no message after the callbacks"))?;
    if !matches!(next.kind, Kind::Callback | Kind::Flush | Kind::Done | Kind::Pending) {
        return Err(FrameError::MalformedPayload("conversation batch: a batch cannot ride with this message"));
    }
    if next.session != header.session {
        return Err(FrameError::MalformedPayload("conversation batch: the session changed"));
    }
    let entries_len = body.len() - tail.len();
    Ok(Read {
        entries: &body[..entries_len],
        calls: header.word,
        next,
        next_body: HEADER_LEN + entries_len + HEADER_LEN,
    })
}

/// The callbacks of a batch, read one by one (each checked: [`read`] runs them all once before
/// any is handed out).
#[derive(Debug)]
pub(super) struct Entries<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Callback<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let entry = self.entry();
        if entry.is_err() {
            // Nothing after a malformed entry can be found: stop there.
            self.left = 0;
        }
        Some(entry)
    }
}

impl<'a> Entries<'a> {
    fn entry(&mut self) -> Result<Callback<'a>, FrameError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<ENTRY_LEN>()
            .ok_or(FrameError::MalformedPayload("conversation batch: truncated entry"))?;
        if head[1..4] != [0; 3] || head[12..] != [0; 4] {
            return Err(FrameError::MalformedPayload("conversation batch: reserved entry bytes are not zero"));
        }
        let method = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
        // `len` is at most `u32::MAX`, so the padded length cannot overflow on 64-bit targets;
        // `checked_` keeps 32-bit ones honest too.
        let padded = len.checked_next_multiple_of(ALIGN);
        let Some(padded) = padded.filter(|&padded| padded <= rest.len()) else {
            return Err(FrameError::MalformedPayload("conversation batch: an entry is longer than the message"));
        };
        let (payload, rest) = rest.split_at(padded);
        self.rest = rest;
        Ok(Callback { slot: head[0], method, payload: &payload[..len] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: u64 = 0x0123_4567_89AB_CDEF;

    /// A batch of `requests` on slot `i % 3`, method `100 + i`, followed by `next` and `body`.
    fn encoded(requests: &[&[u8]], next: Kind, body: &[u8]) -> Vec<u8> {
        let mut batch = Batch::default();
        for (i, request) in requests.iter().enumerate() {
            batch.push(i as u8 % 3, 100 + i as u32, request).unwrap();
        }
        let mut message = Vec::new();
        batch.write(SESSION, &mut message);
        Header { seq: 9, ..Header::of(next, SESSION) }.write(&mut message);
        message.extend_from_slice(body);
        message
    }

    fn owned(read: &Read<'_>) -> Vec<(u8, u32, Vec<u8>)> {
        read.callbacks().map(|c| c.map(|c| (c.slot, c.method, c.payload.to_vec())).unwrap()).collect()
    }

    #[test]
    fn a_batch_round_trips_with_its_next_message_and_keeps_everything_aligned() {
        let requests: [&[u8]; 4] = [b"", b"a", &[7; 16], &[9; 17]];
        let message = encoded(&requests, Kind::Done, b"result");
        // header, 4 entry headers, requests padded to 0 + 16 + 16 + 32, next header, body
        assert_eq!(message.len(), 16 + 4 * 16 + 64 + 16 + 6);
        let read = read(&message).unwrap();
        assert_eq!(
            owned(&read),
            [(0, 100, vec![]), (1, 101, b"a".to_vec()), (2, 102, vec![7; 16]), (0, 103, vec![9; 17])]
        );
        assert_eq!((read.next.kind, read.next.seq, read.next.session), (Kind::Done, 9, SESSION));
        assert_eq!(&message[read.next_body..], b"result");
        let start = message.as_ptr() as usize;
        for callback in read.callbacks() {
            assert_eq!((callback.unwrap().payload.as_ptr() as usize - start) % 16, 0, "request aligned");
        }
        assert_eq!(read.next_body % 16, 0, "next body aligned");
    }

    #[test]
    fn every_message_a_batch_may_ride_with_is_accepted_and_no_other() {
        for next in [Kind::Callback, Kind::Flush, Kind::Done, Kind::Pending] {
            assert_eq!(read(&encoded(&[b"x"], next, b"")).unwrap().next.kind, next);
        }
        for next in [Kind::Batch, Kind::Answer, Kind::Failed, Kind::Poll, Kind::Abandon] {
            assert!(read(&encoded(&[b"x"], next, b"")).is_err(), "{next:?}");
        }
    }

    #[test]
    fn the_bound_counts_encoded_bytes_and_calls() {
        let mut batch = Batch::default();
        assert!(!batch.is_full_for(1 << 20, 64, 1), "an empty batch takes anything");
        batch.push(0, 1, &[0; 10]).unwrap();
        assert_eq!(batch.bytes(), 32);
        assert!(!batch.is_full_for(16, 64, 2), "32 + 32 fits in 64");
        assert!(batch.is_full_for(17, 64, 2), "32 + 48 does not");
        assert!(batch.is_full_for(0, 1024, 1), "one call is the call bound");
    }

    /// Truncated at every length, every length field a lie, reserved bytes set, a foreign
    /// session, no next message: each a typed error, none a panic, and no callback handed out.
    #[test]
    fn hostile_batches_are_refused_without_panicking() {
        let good = encoded(&[b"first", &[1; 40], b"third"], Kind::Callback, b"request");
        assert!(read(&good).is_ok());
        let body_at = good.len() - b"request".len();
        for cut in 0..body_at {
            assert!(read(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(read(&good[..body_at]).is_ok(), "the next message's body may be empty");

        // Each case overwrites the bytes at an offset of the good batch.
        let (count, first_len, next_session) = (4, HEADER_LEN + 8, body_at - HEADER_LEN + 8);
        let session_byte = [good[next_session] ^ 1];
        let cases: [(usize, &[u8], &str); 10] = [
            (count, &0u32.to_le_bytes(), "zero callbacks"),
            (count, &4u32.to_le_bytes(), "one callback more than there is"),
            (count, &u32::MAX.to_le_bytes(), "count u32::MAX"),
            (count, &2u32.to_le_bytes(), "one fewer: an entry read as the next message"),
            (first_len, &u32::MAX.to_le_bytes(), "len u32::MAX"),
            (first_len, &1000u32.to_le_bytes(), "len longer than the message"),
            (HEADER_LEN + 1, &[1], "reserved byte after the slot"),
            (HEADER_LEN + 15, &[1], "reserved byte after the length"),
            (0, &[Kind::Done.to_u8()], "not a batch"),
            (next_session, &session_byte, "the next message names another session"),
        ];
        for (at, bytes, why) in cases {
            let mut bad = good.clone();
            bad[at..at + bytes.len()].copy_from_slice(bytes);
            let result = read(&bad);
            assert!(result.is_err(), "{why}: {result:?}");
        }
    }

    /// The iterator itself stops at a malformed entry, so even a reader that skipped [`read`]
    /// could not walk past it.
    #[test]
    fn entries_stop_at_the_first_malformed_one() {
        let mut message = encoded(&[b"ok", b"ok"], Kind::Done, b"");
        let second = HEADER_LEN + ENTRY_LEN + 16;
        message[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut entries = Entries { rest: &message[HEADER_LEN..], left: 5 };
        assert!(entries.next().unwrap().is_ok());
        assert!(entries.next().unwrap().is_err());
        assert!(entries.next().is_none());
    }
}
