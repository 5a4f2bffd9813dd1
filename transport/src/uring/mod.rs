//! The io_uring backend (Linux).
//!
//! - [`Connection`]: one TCP connection and one ring, used by one thread. The thread that makes a
//!   call drives its own ring: it queues the send, the receive is already armed, and it waits on
//!   the ring itself: no hand-off to another thread on the hot path. Receives land directly in
//!   the connection's aligned receive buffer (a plain `recv`, not a provided buffer), so reply
//!   payloads reach the caller without a copy.
//! - [`Client`]: a [`crate::Channel`] shareable between threads; each calling thread gets its own
//!   [`Connection`] (one ring per thread), created on its first call.
//! - [`Server`]: one thread per core, each with its own ring and its own `SO_REUSEPORT` listener;
//!   multishot accept, multishot receive into a provided-buffer ring (so idle connections hold no
//!   receive buffer), replies batched per read.
//!
//! Rings are created with `SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN`, which gave the best
//! tail latency on a 2-vCPU machine; SQPOLL is an option ([`UringOptions::sqpoll`]) because its
//! poller thread competes with the application for cores.
//!
//! Memory safety with the kernel: a buffer handed to an in-flight operation is owned by the
//! connection until the operation's completion is reaped; dropping a connection or stopping a
//! server cancels its operations and waits for their completions first (see the `Drop` impls).

mod buf_ring;
mod client;
mod connection;
mod server;

use std::io;
use std::time::Duration;

use io_uring::IoUring;

pub use client::Client;
pub use connection::Connection;
pub use server::Server;

/// io_uring settings of a client connection or server thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UringOptions {
    /// Submission queue entries. Default: 256.
    pub entries: u32,
    /// Busy-poll the completion queue this long before blocking. Default: zero (never spin).
    ///
    /// On a machine where caller and server run on different cores, a blocking wake-up costs tens
    /// of microseconds; spinning avoids it at the cost of one core busy for up to this long per
    /// call.
    pub spin: Duration,
    /// Use a kernel submission-polling thread (`IORING_SETUP_SQPOLL`) with this idle time in
    /// milliseconds. Default: `None`.
    pub sqpoll: Option<u32>,
    /// CPUs to pin server threads to, thread `i` on `cpus[i % len]`. Default: empty (no pinning).
    pub cpus: Vec<usize>,
}

impl Default for UringOptions {
    fn default() -> Self {
        Self { entries: 256, spin: Duration::ZERO, sqpoll: None, cpus: Vec::new() }
    }
}

impl UringOptions {
    /// Sets [`UringOptions::spin`].
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Sets [`UringOptions::sqpoll`].
    pub fn sqpoll(mut self, idle_ms: Option<u32>) -> Self {
        self.sqpoll = idle_ms;
        self
    }

    /// Sets [`UringOptions::cpus`].
    pub fn cpus(mut self, cpus: Vec<usize>) -> Self {
        self.cpus = cpus;
        self
    }

    /// Sets [`UringOptions::entries`].
    pub fn entries(mut self, entries: u32) -> Self {
        self.entries = entries;
        self
    }

    /// Builds a ring for the calling thread, falling back to fewer setup flags on kernels that
    /// lack them.
    fn build_ring(&self) -> io::Result<IoUring> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(self.entries * 4);
        if let Some(idle) = self.sqpoll {
            builder.setup_sqpoll(idle);
            return builder.build(self.entries);
        }
        let mut tuned = builder.clone();
        tuned.setup_single_issuer().setup_defer_taskrun().setup_coop_taskrun().setup_taskrun_flag();
        tuned.build(self.entries).or_else(|_| builder.build(self.entries))
    }
}

/// `user_data` tags of the operations this backend submits.
mod tag {
    pub const SEND: u64 = 1;
    pub const RECV: u64 = 2;
    pub const CANCEL: u64 = 3;
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is plain data; zeroed is the empty set, filled by CPU_SET below.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: CPU_SET writes inside `set` for any cpu below CPU_SETSIZE, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the given size.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn errno(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

#[cfg(test)]
mod tests;
