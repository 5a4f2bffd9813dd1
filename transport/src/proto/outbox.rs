//! Frames waiting to be written, double-buffered.
//!
//! Frames queued while a write is in flight accumulate in the second buffer and go out together in
//! the next write: this is the request bursting of the Hatch paper (§6.1), and the server's reply
//! batching. Buffers are recycled so the steady state allocates nothing.

use super::frame::{CallId, FrameKind, WriteMisuse, encode_frame, encode_frame_with};

/// Outgoing bytes of one connection.
#[derive(Debug, Default)]
pub struct Outbox {
    queued: Vec<u8>,
    spare: Vec<u8>,
    frames_queued: usize,
    frames_sent: u64,
    writes: u64,
}

impl Outbox {
    /// Queues a frame.
    pub fn push(&mut self, kind: FrameKind, flags: u8, call_id: CallId, aux: u32, payload: &[u8]) {
        encode_frame(&mut self.queued, kind, flags, call_id, aux, payload);
        self.frames_queued += 1;
    }

    /// Queues a frame whose payload `write` appends in place. If `write` fails, or its payload is
    /// longer than `max_len`, the frame is removed again and the reason returned, so the caller can
    /// queue an error frame instead. If `write` broke the append-only contract, everything queued
    /// is discarded ([`PushError::Corrupted`]): the connection must be closed.
    pub fn try_push_with<E>(
        &mut self,
        kind: FrameKind,
        flags: u8,
        call_id: CallId,
        aux: u32,
        max_len: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), PushError<E>> {
        let start = self.queued.len();
        let mut outcome = Ok(());
        let encoded = encode_frame_with(&mut self.queued, kind, flags, call_id, aux, |buf| outcome = write(buf));
        let len = match encoded {
            Ok(len) => len,
            Err(WriteMisuse::TooLong(len)) => return Err(PushError::TooLarge(len)),
            Err(WriteMisuse::Truncated) => {
                self.queued.clear();
                self.frames_queued = 0;
                return Err(PushError::Corrupted);
            }
        };
        if let Err(err) = outcome {
            self.queued.truncate(start);
            return Err(PushError::Write(err));
        }
        if len > max_len {
            self.queued.truncate(start);
            return Err(PushError::TooLarge(len));
        }
        self.frames_queued += 1;
        Ok(())
    }

    /// Bytes queued and not yet taken for writing.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Takes everything queued, as one buffer to write. Give it back with [`Outbox::recycle`].
    pub fn take(&mut self) -> Option<Vec<u8>> {
        if self.queued.is_empty() {
            return None;
        }
        self.frames_sent += self.frames_queued as u64;
        self.frames_queued = 0;
        self.writes += 1;
        let mut fresh = std::mem::take(&mut self.spare);
        fresh.clear();
        Some(std::mem::replace(&mut self.queued, fresh))
    }

    /// Returns a written buffer for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > self.spare.capacity() {
            buf.clear();
            self.spare = buf;
        }
    }

    /// Frames taken for writing so far, and in how many writes: their ratio is the batching factor.
    pub fn stats(&self) -> (u64, u64) {
        (self.frames_sent, self.writes)
    }
}

/// Why [`Outbox::try_push_with`] queued nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError<E> {
    /// The payload writer failed.
    Write(E),
    /// The payload was longer than allowed.
    TooLarge(usize),
    /// The writer removed bytes it had not written; everything queued was discarded.
    Corrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_queued_between_takes_go_out_in_one_write() {
        let mut outbox = Outbox::default();
        for id in 0..3 {
            outbox.push(FrameKind::OneWay, 0, id, 1, b"x");
        }
        let first = outbox.take().unwrap();
        assert_eq!(first.len(), 3 * 32);
        assert!(outbox.take().is_none());
        outbox.recycle(first);
        outbox.push(FrameKind::OneWay, 0, 3, 1, b"y");
        assert_eq!(outbox.take().unwrap().len(), 32);
        assert_eq!(outbox.stats(), (4, 2));
    }
}
