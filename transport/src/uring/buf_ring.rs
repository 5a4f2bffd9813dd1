//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): the kernel picks a free buffer for each
//! multishot receive completion, so a server needs no receive buffer per idle connection.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

const PAGE: usize = 4096;

/// A registered ring of `count` buffers of `size` bytes each, for buffer group `bgid`.
///
/// Drop only after every operation that can select from the group has completed (the server does
/// this when it shuts down), then [`BufRing::unregister`] it.
pub(super) struct BufRing {
    entries: *mut BufRingEntry,
    layout: Layout,
    /// `count * size` bytes the kernel writes into. A raw pointer from `Box::into_raw`, not a
    /// `Box`, so no Rust reference claims the memory while the kernel writes it.
    buffers: *mut u8,
    size: usize,
    count: u16,
    tail: u16,
    bgid: u16,
}

impl BufRing {
    /// Allocates and registers the ring; every buffer starts out provided to the kernel.
    pub(super) fn register(ring: &IoUring, bgid: u16, count: u16, size: usize) -> io::Result<Self> {
        assert!(count.is_power_of_two(), "buffer ring size must be a power of two");
        let layout = Layout::from_size_align(count as usize * std::mem::size_of::<BufRingEntry>(), PAGE)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size (count > 0 as a power of two).
        let entries = unsafe { alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut this = Self {
            entries,
            layout,
            buffers: Box::into_raw(vec![0u8; count as usize * size].into_boxed_slice()).cast::<u8>(),
            size,
            count,
            tail: 0,
            bgid,
        };
        // SAFETY: `entries` is page-aligned, zeroed and sized for `count` entries; it stays
        // allocated until `Drop`, which runs after `unregister` per this type's contract.
        unsafe { ring.submitter().register_buf_ring_with_flags(entries as u64, count, bgid, 0)? };
        for bid in 0..count {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// The bytes the kernel wrote into buffer `bid`.
    pub(super) fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.count);
        // SAFETY: buffer `bid` lies inside the allocation (checked above, `len` clamped to the
        // buffer size); its completion was reaped, so the kernel has finished writing it, and it is
        // not handed back (`push`) while the returned slice lives, since `push` takes `&mut self`.
        unsafe { std::slice::from_raw_parts(self.buffers.add(bid as usize * self.size), len.min(self.size)) }
    }

    /// Hands buffer `bid` back to the kernel (visible after [`BufRing::publish`]).
    pub(super) fn push(&mut self, bid: u16) {
        assert!(bid < self.count);
        let index = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `index < count`, so the entry lies inside the allocation. The kernel only reads
        // entries between its head and our published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.entries.add(index) };
        // `wrapping_add` keeps the pointer's provenance; `bid < count` keeps it in bounds.
        entry.set_addr(self.buffers.wrapping_add(bid as usize * self.size) as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes pushed buffers visible to the kernel.
    pub(super) fn publish(&self) {
        // SAFETY: `entries` points at the first, initialised entry of the ring; the tail field
        // overlays its reserved field and is only written by us.
        let tail = unsafe { &*BufRingEntry::tail(self.entries).cast::<AtomicU16>() };
        // Release: the entry writes above must be visible before the kernel sees the new tail.
        tail.store(self.tail, Ordering::Release);
    }

    /// The buffer group id operations select from.
    pub(super) fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Unregisters the group from `ring`.
    pub(super) fn unregister(&self, ring: &IoUring) -> io::Result<()> {
        ring.submitter().unregister_buf_ring(self.bgid)
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `register` with this exact layout.
        unsafe { dealloc(self.entries.cast(), self.layout) };
        let len = self.count as usize * self.size;
        // SAFETY: `buffers` came from `Box::into_raw` of a boxed slice of exactly `len` bytes, and
        // the ring is dropped only after every operation selecting from it completed.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.buffers, len)) });
    }
}
