//! A receive buffer whose unread bytes always start 16-aligned in memory.
//!
//! Backends read socket bytes into [`RecvBuf::spare_capacity_mut`] and then [`RecvBuf::commit`]
//! them. The decoder splits complete frames off the front as [`Bytes`](bytes::Bytes) that share the buffer's
//! allocation, so payloads reach the layer above without a copy, 16-aligned (frames are padded to
//! 16 bytes and the buffer's start is aligned; see [`super::frame`]).
//!
//! When the spare capacity runs out, a fresh aligned chunk is allocated and only the bytes of the
//! partial frame at the front are copied over; frames already handed out keep the old chunk alive
//! through their reference count.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};

use super::frame::FRAME_ALIGN;

/// Default size of a receive chunk.
pub const DEFAULT_CHUNK: usize = 64 * 1024;

/// An aligned, growable receive buffer. See the module docs.
#[derive(Debug)]
pub struct RecvBuf {
    buf: BytesMut,
    chunk: usize,
}

impl RecvBuf {
    /// A buffer that allocates chunks of `chunk` bytes (more when a single frame needs it).
    pub fn with_chunk_size(chunk: usize) -> Self {
        // Allocated on first use, so an idle connection holds no receive memory.
        Self { buf: BytesMut::new(), chunk: chunk.max(FRAME_ALIGN * 4) }
    }

    /// Unread bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when no bytes are buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Makes room for at least `min` more bytes and returns the writable spare capacity.
    pub fn spare_capacity_mut(&mut self, min: usize) -> &mut [MaybeUninit<u8>] {
        self.reserve(min);
        self.buf.spare_capacity_mut()
    }

    /// Marks `n` bytes of the spare capacity as written.
    ///
    /// # Safety
    /// The first `n` bytes of the slice last returned by [`Self::spare_capacity_mut`] must have
    /// been initialised (by a `read` or a kernel completion).
    pub unsafe fn commit(&mut self, n: usize) {
        assert!(n <= self.buf.capacity() - self.buf.len(), "commit past the spare capacity");
        // SAFETY: the caller guarantees these `n` bytes were initialised, and the assert above
        // keeps them inside the allocation.
        unsafe { self.buf.set_len(self.buf.len() + n) }
    }

    /// Appends bytes by copying (for backends that receive into buffers they do not own, such as
    /// io_uring provided-buffer rings, and for tests).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// Removes the first `n` buffered bytes and returns them, sharing the allocation.
    pub(crate) fn split_to(&mut self, n: usize) -> BytesMut {
        debug_assert!(n <= self.buf.len());
        debug_assert_eq!(n % FRAME_ALIGN, 0, "frames are split at aligned boundaries");
        self.buf.split_to(n)
    }

    /// Ensures `min` bytes of spare capacity at an aligned start, without ever letting
    /// `BytesMut::reserve` move the data to an unaligned address.
    fn reserve(&mut self, min: usize) {
        if self.buf.capacity() - self.buf.len() >= min {
            return;
        }
        let mut fresh = aligned_bytes_mut(self.chunk.max(self.buf.len() + min));
        fresh.extend_from_slice(&self.buf);
        self.buf = fresh;
    }
}

impl Default for RecvBuf {
    fn default() -> Self {
        Self::with_chunk_size(DEFAULT_CHUNK)
    }
}

/// An empty `BytesMut` with at least `capacity` bytes whose start is 16-aligned. Safe code only:
/// over-allocate and skip to the first aligned address.
fn aligned_bytes_mut(capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(capacity + FRAME_ALIGN);
    let skip = buf.as_ptr().align_offset(FRAME_ALIGN);
    buf.resize(skip, 0);
    buf.advance(skip);
    debug_assert_eq!(buf.as_ptr() as usize % FRAME_ALIGN, 0);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_stays_aligned_across_growth() {
        let mut buf = RecvBuf::with_chunk_size(64);
        for round in 0..50 {
            buf.extend_from_slice(&[round as u8; 48]);
            assert_eq!(buf.as_slice().as_ptr() as usize % FRAME_ALIGN, 0);
            let taken = buf.split_to(32);
            assert_eq!(taken.as_ptr() as usize % FRAME_ALIGN, 0);
        }
    }

    #[test]
    fn commit_exposes_written_bytes() {
        let mut buf = RecvBuf::default();
        let spare = buf.spare_capacity_mut(4);
        for (i, b) in spare[..4].iter_mut().enumerate() {
            b.write(i as u8);
        }
        // SAFETY: four bytes were written just above.
        unsafe { buf.commit(4) };
        assert_eq!(buf.as_slice(), &[0, 1, 2, 3]);
    }
}
