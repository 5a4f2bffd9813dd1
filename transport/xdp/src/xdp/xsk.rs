//! A thin AF_XDP socket: one UMEM, its fill and completion rings, an RX and a TX ring, bound to
//! one queue of one interface. Raw system calls and shared-memory rings, so every `unsafe` block
//! is here, each with its reasoning.
//!
//! UMEM frames are split once: the first half belongs to the receive side (kept in the fill
//! ring, returned to it after each received frame is handled), the second half to the transmit
//! side (a free list, refilled from the completion ring).
//!
//! Ring protocol (see `Documentation/networking/af_xdp.rst`): a producer writes entries, then
//! publishes them with a release store of its `producer` index; the consumer reads `producer`
//! with an acquire load, reads the entries, then releases them with a release store of its
//! `consumer` index, which the producer reads with an acquire load before reusing the slots.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Settings of an AF_XDP socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XskConfig {
    /// UMEM frames (half for receiving, half for sending); a power of two. Default: 4096.
    pub frames: u32,
    /// Bytes per UMEM frame (2048 or 4096). Default: 4096.
    pub frame_size: u32,
    /// Entries of each ring; a power of two. Default: 2048.
    pub ring_size: u32,
    /// Try a zero-copy bind first (falls back to copy mode if the driver refuses). Default: true.
    pub try_zero_copy: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        Self { frames: 4096, frame_size: 4096, ring_size: 2048, try_zero_copy: true }
    }
}

/// A private anonymous or socket mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, or anonymous memory when `fd` is `None`.
    fn new(len: usize, fd: Option<RawFd>, offset: u64) -> io::Result<Self> {
        let (flags, fd) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd),
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE, -1),
        };
        // SAFETY: a fresh mapping at an address of the kernel's choosing aliases no Rust memory;
        // the arguments are plain values and the result is checked below.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, fd, offset as libc::off_t)
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { ptr: NonNull::new(ptr.cast()).expect("mmap never returns null on success"), len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and nothing borrows the mapping any
        // more: the rings and frame slices that point into it are owned by the same `Xsk`, whose
        // fields drop the socket first (so the kernel no longer uses the memory either).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One mmap'd ring of entries of type `E` (`u64` frame addresses or `xdp_desc`).
#[derive(Debug)]
struct Ring<E> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<E>,
    mask: u32,
    /// Our copy of the index we own (producer for fill/TX, consumer for RX/completion).
    local: u32,
    _map: Mapping,
    _entries: PhantomData<E>,
}

impl<E: Copy> Ring<E> {
    /// Maps the ring of `fd` at page offset `pgoff`, laid out as `offsets` says.
    fn map(fd: RawFd, pgoff: u64, offsets: &libc::xdp_ring_offset, size: u32) -> io::Result<Self> {
        let len = offsets.desc as usize + size as usize * std::mem::size_of::<E>();
        let map = Mapping::new(len, Some(fd), pgoff)?;
        let at = |offset: u64| {
            // SAFETY: the kernel placed the field at `offset` inside the `len` bytes just mapped.
            NonNull::new(unsafe { map.ptr.as_ptr().add(offset as usize) }).expect("inside a non-null mapping")
        };
        Ok(Self {
            producer: at(offsets.producer).cast(),
            consumer: at(offsets.consumer).cast(),
            flags: at(offsets.flags).cast(),
            entries: at(offsets.desc).cast(),
            mask: size - 1,
            local: 0,
            _map: map,
            _entries: PhantomData,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: the index is a 4-aligned u32 inside the live mapping, shared with the kernel,
        // which only ever accesses it atomically as well.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // Producer side (fill, TX).

    /// Free slots for producing.
    fn free(&self) -> u32 {
        // Acquire pairs with the kernel's release of `consumer` after it read those slots.
        let consumer = self.consumer().load(Ordering::Acquire);
        (self.mask + 1) - self.local.wrapping_sub(consumer)
    }

    /// Writes one entry; the caller checked [`Self::free`]. Published by [`Self::publish`].
    fn push(&mut self, entry: E) {
        let slot = (self.local & self.mask) as usize;
        // SAFETY: `slot` is below the ring size, so inside the mapped entry array, and the caller
        // checked the slot is free, so the kernel does not read it concurrently.
        unsafe { self.entries.as_ptr().add(slot).write_volatile(entry) };
        self.local = self.local.wrapping_add(1);
    }

    fn publish(&self) {
        // Release: the entries written above become visible before the new index.
        self.producer().store(self.local, Ordering::Release);
    }

    // Consumer side (RX, completion).

    /// Entries ready to consume.
    fn ready(&self) -> u32 {
        // Acquire pairs with the kernel's release of `producer` after it wrote the entries.
        self.producer().load(Ordering::Acquire).wrapping_sub(self.local)
    }

    /// Reads the next entry; the caller checked [`Self::ready`]. Released by [`Self::release`].
    fn pop(&mut self) -> E {
        let slot = (self.local & self.mask) as usize;
        self.local = self.local.wrapping_add(1);
        // SAFETY: inside the entry array; the kernel published this entry (acquire in `ready`)
        // and will not touch it until we release it.
        unsafe { self.entries.as_ptr().add(slot).read_volatile() }
    }

    fn release(&self) {
        // Release: our reads of the entries happen before the kernel may overwrite them.
        self.consumer().store(self.local, Ordering::Release);
    }
}

/// An AF_XDP socket bound to one queue. See the module docs.
#[derive(Debug)]
pub struct Xsk {
    // Field order is drop order: the socket closes before the memory it uses is unmapped.
    fd: OwnedFd,
    fill: Ring<u64>,
    completion: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    umem: Mapping,
    frame_size: u32,
    tx_free: Vec<u64>,
    zero_copy: bool,
    /// Frames were queued on the TX ring since the last successful kick.
    kick_pending: bool,
}

// SAFETY: the raw pointers point into mappings owned by this value; moving it to another thread
// moves the sole owner (it is not `Sync`, so only one thread uses the rings at a time).
unsafe impl Send for Xsk {}

impl Xsk {
    /// Opens a socket on `queue` of interface `ifindex`, zero-copy if asked and supported, copy
    /// mode otherwise.
    pub fn open(ifindex: u32, queue: u32, config: &XskConfig) -> io::Result<Self> {
        if !config.frames.is_power_of_two() || !config.ring_size.is_power_of_two() || config.frames < 4 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "frames and ring size must be powers of two"));
        }
        if config.try_zero_copy {
            match Self::open_mode(ifindex, queue, config, libc::XDP_ZEROCOPY) {
                Ok(xsk) => return Ok(xsk),
                Err(err) => tracing::debug!(%err, "zero-copy AF_XDP bind refused; using copy mode"),
            }
        }
        Self::open_mode(ifindex, queue, config, libc::XDP_COPY)
    }

    fn open_mode(ifindex: u32, queue: u32, config: &XskConfig, mode: u16) -> io::Result<Self> {
        // SAFETY: plain system call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem_len = config.frames as usize * config.frame_size as usize;
        let umem = Mapping::new(umem_len, None, 0)?;
        // SAFETY: `xdp_umem_reg` is plain data; all-zero is a valid value.
        let mut reg: libc::xdp_umem_reg = unsafe { std::mem::zeroed() };
        reg.addr = umem.ptr.as_ptr() as u64;
        reg.len = umem_len as u64;
        reg.chunk_size = config.frame_size;
        setsockopt(&fd, libc::XDP_UMEM_REG, &reg)?;
        for opt in [libc::XDP_UMEM_FILL_RING, libc::XDP_UMEM_COMPLETION_RING, libc::XDP_RX_RING, libc::XDP_TX_RING] {
            setsockopt(&fd, opt, &config.ring_size)?;
        }
        // SAFETY: plain data; zero is valid, and getsockopt fills it.
        let mut offsets: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of_val(&offsets) as libc::socklen_t;
        // SAFETY: `offsets` is writable for `len` bytes, `len` is a valid in/out length.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut offsets as *mut libc::xdp_mmap_offsets).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let raw = fd.as_raw_fd();
        let size = config.ring_size;
        let mut fill = Ring::map(raw, libc::XDP_UMEM_PGOFF_FILL_RING, &offsets.fr, size)?;
        let completion = Ring::map(raw, libc::XDP_UMEM_PGOFF_COMPLETION_RING, &offsets.cr, size)?;
        let rx = Ring::map(raw, libc::XDP_PGOFF_RX_RING as u64, &offsets.rx, size)?;
        let tx = Ring::map(raw, libc::XDP_PGOFF_TX_RING as u64, &offsets.tx, size)?;

        // Receive frames go to the fill ring before bind, so the first packets have somewhere
        // to land.
        let rx_frames = (config.frames / 2).min(size);
        for i in 0..rx_frames {
            fill.push(u64::from(i) * u64::from(config.frame_size));
        }
        fill.publish();
        let tx_free = (config.frames / 2..config.frames).map(|i| u64::from(i) * u64::from(config.frame_size)).collect();

        // SAFETY: plain data; zero is valid.
        let mut addr: libc::sockaddr_xdp = unsafe { std::mem::zeroed() };
        addr.sxdp_family = libc::AF_XDP as u16;
        addr.sxdp_flags = mode;
        addr.sxdp_ifindex = ifindex;
        addr.sxdp_queue_id = queue;
        // SAFETY: `addr` is a valid sockaddr_xdp of the given length.
        let rc = unsafe {
            libc::bind(
                raw,
                (&addr as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of_val(&addr) as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            fill,
            completion,
            rx,
            tx,
            umem,
            frame_size: config.frame_size,
            tx_free,
            zero_copy: mode == libc::XDP_ZEROCOPY,
            kick_pending: false,
        })
    }

    /// The socket descriptor (for the XSKMAP).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// True when bound in zero-copy mode.
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Hands each received frame to `handle` (at most `max`), then returns their UMEM frames to
    /// the fill ring. Returns how many frames there were.
    pub fn receive(&mut self, max: u32, mut handle: impl FnMut(&[u8])) -> u32 {
        let n = self.rx.ready().min(max);
        if n == 0 {
            return 0;
        }
        let mut addrs = [0u64; 64];
        let mut done = 0;
        while done < n {
            let batch = (n - done).min(addrs.len() as u32);
            for addr in addrs.iter_mut().take(batch as usize) {
                let desc = self.rx.pop();
                let frame = self.frame(desc.addr, desc.len);
                handle(frame);
                *addr = desc.addr - desc.addr % u64::from(self.frame_size);
            }
            self.rx.release();
            // The fill ring has room: it holds at most the receive half of the frames, and these
            // just came out of it.
            debug_assert!(self.fill.free() >= batch);
            for &addr in &addrs[..batch as usize] {
                self.fill.push(addr);
            }
            self.fill.publish();
            done += batch;
        }
        n
    }

    fn frame(&self, addr: u64, len: u32) -> &[u8] {
        let umem_len = self.umem.len as u64;
        assert!(addr + u64::from(len) <= umem_len, "kernel gave a descriptor outside the UMEM");
        // SAFETY: checked inside the UMEM mapping just above; the kernel handed this frame to us
        // through the RX ring and does not write it until we return it to the fill ring, which
        // happens after the borrow ends.
        unsafe { std::slice::from_raw_parts(self.umem.ptr.as_ptr().add(addr as usize), len as usize) }
    }

    /// Queues one frame that `write` fills (returning its length), if a TX slot and a frame are
    /// free; returns false otherwise (the caller treats it as loss). Call [`Self::kick`] after a
    /// batch.
    pub fn send(&mut self, write: impl FnOnce(&mut [u8]) -> usize) -> bool {
        self.reclaim();
        if self.tx.free() == 0 {
            return false;
        }
        let Some(addr) = self.tx_free.pop() else { return false };
        // SAFETY: `addr` is a transmit-half frame from our free list: inside the UMEM, frame-sized,
        // and not in any ring, so neither the kernel nor another borrow touches it.
        let frame = unsafe {
            std::slice::from_raw_parts_mut(self.umem.ptr.as_ptr().add(addr as usize), self.frame_size as usize)
        };
        let len = write(frame);
        assert!(len <= self.frame_size as usize, "frame longer than a UMEM frame");
        self.tx.push(libc::xdp_desc { addr, len: len as u32, options: 0 });
        self.tx.publish();
        self.kick_pending = true;
        true
    }

    /// Largest frame [`Self::send`] can carry.
    pub fn frame_capacity(&self) -> usize {
        self.frame_size as usize
    }

    /// Moves sent frames from the completion ring back to the free list.
    fn reclaim(&mut self) {
        let n = self.completion.ready();
        for _ in 0..n {
            let addr = self.completion.pop();
            self.tx_free.push(addr);
        }
        if n > 0 {
            self.completion.release();
        }
    }

    /// Tells the kernel to transmit what was queued (needed in copy mode, and in zero-copy mode
    /// when the driver asks for a wake-up). Does nothing if nothing is pending. If the kernel is
    /// busy the frames stay queued and [`Self::kick_pending`] stays true: call again soon.
    pub fn kick(&mut self) -> io::Result<()> {
        if !self.kick_pending {
            return Ok(());
        }
        if self.zero_copy && !self.tx.needs_wakeup() {
            self.kick_pending = false;
            return Ok(());
        }
        // SAFETY: a zero-length send with null buffers is the documented AF_XDP TX wake-up.
        let rc = unsafe { libc::sendto(self.raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS)) {
                return Ok(());
            }
            self.kick_pending = false;
            return Err(err);
        }
        // Copy mode transmits during the call; what the TX ring still holds needs another kick.
        self.kick_pending = self.tx.free() < self.tx.mask + 1;
        Ok(())
    }

    /// True when queued frames still wait for a successful [`Self::kick`].
    pub fn kick_pending(&self) -> bool {
        self.kick_pending
    }

    /// True if received frames are waiting.
    pub fn has_received(&self) -> bool {
        self.rx.ready() > 0
    }

    /// Waits until a frame is received or `timeout` passes (`None`: forever); at most a few
    /// microseconds while a kick is pending, so the caller can retry it.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<()> {
        if self.has_received() {
            return Ok(());
        }
        const KICK_RETRY: Duration = Duration::from_micros(20);
        let timeout = if self.kick_pending { Some(timeout.map_or(KICK_RETRY, |t| t.min(KICK_RETRY))) } else { timeout };
        crate::udp::wait_readable(&self.fd, timeout).map(|_| ())
    }
}

fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a valid `T` readable for `size_of::<T>()` bytes, which is the layout
    // the kernel expects for `opt` (callers pass the matching UAPI type).
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
