//! A receive buffer whose unread bytes always start 16-aligned in memory.
//!
//! Backends read socket bytes into [`RecvBuf::spare_capacity_mut`] and then [`RecvBuf::commit`]
//! them. The decoder splits complete frames off the front as [`Bytes`](bytes::Bytes) that share the buffer's
//! allocation, so payloads reach the layer above without a copy, 16-aligned (frames are padded to
//! 16 bytes and the buffer's start is aligned; see [`super::frame`]).
//!
//! Receiving stays linear in the frame size. Once the decoder has validated a frame's header
//! (against `max_frame`, so a hostile length allocates nothing), it calls
//! `RecvBuf::reserve_frame`: if the frame does not fit where it starts, one aligned allocation of
//! the frame's final size (plus [`FRAME_SLACK`] for the bytes that follow it) takes the partial
//! frame, and every later receive lands in place behind it. The bytes of a frame are therefore
//! moved at most once, whether the kernel writes into the spare capacity or a backend copies from
//! buffers it does not own ([`RecvBuf::extend_from_slice`]). Growth that no frame announced (many
//! frames buffered and not yet decoded) at least doubles the allocation, so it too costs amortised
//! linear time. Frames already handed out keep their old allocation alive through its reference
//! count.
//!
//! Every byte copied is counted, per buffer ([`RecvBuf::copied_bytes`]) and for the process
//! ([`copied_bytes_total`]), so tests can prove the receive path copies a payload at most once.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, BytesMut};

use super::frame::FRAME_ALIGN;

/// Default size of a receive chunk.
pub const DEFAULT_CHUNK: usize = 64 * 1024;

/// Room kept behind a frame reserved with `RecvBuf::reserve_frame` for the bytes after it: at
/// least any backend's smallest read offer (4 KiB) and a provided buffer (16 KiB), so the read
/// that completes a frame never forces the frame itself to move.
pub const FRAME_SLACK: usize = 64 * 1024;

/// Bytes copied by every receive buffer of the process (see [`copied_bytes_total`]).
static COPIED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// Bytes copied by all receive buffers of this process so far: relocations of partial frames and
/// [`RecvBuf::extend_from_slice`]. A diagnostic counter (one relaxed add per copy, never per byte).
pub fn copied_bytes_total() -> u64 {
    COPIED_TOTAL.load(Ordering::Relaxed)
}

/// An aligned, growable receive buffer. See the module docs.
#[derive(Debug)]
pub struct RecvBuf {
    buf: BytesMut,
    chunk: usize,
    copied: u64,
}

impl RecvBuf {
    /// A buffer that allocates chunks of `chunk` bytes (more when a single frame needs it).
    pub fn with_chunk_size(chunk: usize) -> Self {
        // Allocated on first use, so an idle connection holds no receive memory.
        Self { buf: BytesMut::new(), chunk: chunk.max(FRAME_ALIGN * 4), copied: 0 }
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

    /// Bytes this buffer has copied so far (partial frames moved to a larger allocation, and
    /// [`Self::extend_from_slice`]).
    pub fn copied_bytes(&self) -> u64 {
        self.copied
    }

    /// Bytes the buffer can hold from the start of its unread bytes without moving them.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
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
    /// io_uring provided-buffer rings and datagram reassembly, and for tests).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.buf.extend_from_slice(bytes);
        self.count_copy(bytes.len());
    }

    /// Makes sure a frame of `wire_len` bytes that starts at the front of the unread bytes fits
    /// without moving again: if it does not fit where it is, it moves (once) into an allocation of
    /// `wire_len` plus [`FRAME_SLACK`] bytes. Call only with a length validated against the
    /// connection's frame limit.
    pub(crate) fn reserve_frame(&mut self, wire_len: usize) {
        debug_assert!(self.buf.len() <= wire_len, "the frame at the front is already complete");
        if self.buf.capacity() >= wire_len {
            return;
        }
        let capacity = wire_len + FRAME_SLACK.max(self.chunk);
        // Once every frame handed out of the current allocation has been dropped, the allocation
        // is reused (the unread bytes move to its front): a fresh multi-MiB allocation would come
        // from `mmap` and cost a page fault and a page clearing per 4 KiB on the way in. Kept only
        // if the front is still 16-aligned (it is where the allocator returned it).
        let len = self.buf.len();
        if self.buf.try_reclaim(capacity - len) {
            self.count_copy(len);
            if (self.buf.as_ptr() as usize).is_multiple_of(FRAME_ALIGN) {
                return;
            }
        }
        self.relocate(capacity);
    }

    /// Removes the first `n` buffered bytes and returns them, sharing the allocation.
    pub(crate) fn split_to(&mut self, n: usize) -> BytesMut {
        debug_assert!(n <= self.buf.len());
        debug_assert_eq!(n % FRAME_ALIGN, 0, "frames are split at aligned boundaries");
        self.buf.split_to(n)
    }

    /// Ensures `min` bytes of spare capacity at an aligned start, without ever letting
    /// `BytesMut::reserve` move the data to an unaligned address. Unannounced growth at least
    /// doubles what is buffered, so repeated growth copies each byte a bounded number of times.
    fn reserve(&mut self, min: usize) {
        if self.buf.capacity() - self.buf.len() >= min {
            return;
        }
        let len = self.buf.len();
        self.relocate(self.chunk.max(len + min).max(2 * len));
    }

    /// Moves the unread bytes to a fresh aligned allocation of at least `capacity` bytes.
    fn relocate(&mut self, capacity: usize) {
        let mut fresh = aligned_bytes_mut(capacity);
        fresh.extend_from_slice(&self.buf);
        self.count_copy(self.buf.len());
        self.buf = fresh;
    }

    fn count_copy(&mut self, n: usize) {
        if n > 0 {
            self.copied += n as u64;
            COPIED_TOTAL.fetch_add(n as u64, Ordering::Relaxed);
        }
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
