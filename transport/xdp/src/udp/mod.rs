//! The portable driver: sessions over kernel UDP sockets.
//!
//! - [`Client`]: a [`hatch_transport::Channel`] shareable between threads. It keeps a pool of
//!   sessions, each with its own connected UDP socket; a call takes one from the pool, and the
//!   calling thread drives it (sends, waits on the socket, runs the timers) until its reply
//!   arrives: no hand-off to another thread on the hot path. Concurrent callers use different
//!   sessions.
//! - [`Server`]: one thread per core, each with its own `SO_REUSEPORT` socket and its own
//!   [`ServerEndpoint`](crate::ServerEndpoint); the kernel hashes each client socket to one
//!   thread, so a session always lands on the same thread and needs no lock.

mod client;
mod server;

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use hatch_transport::Config;

use crate::session::SessionConfig;
pub use client::Client;
pub use server::Server;

/// How long [`Client::connect`] waits for the handshake by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`Client`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// RPC settings. Default: [`Config::default`].
    pub config: Config,
    /// Session settings. Default: [`SessionConfig::default`].
    pub session: SessionConfig,
    /// Busy-poll the socket this long before blocking. Default: zero (never spin).
    pub spin: Duration,
    /// How long connecting waits for the server's handshake answer. Default: 5 s.
    pub handshake_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            config: Config::default(),
            session: SessionConfig::default(),
            spin: Duration::ZERO,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }
}

impl ClientOptions {
    /// Sets [`ClientOptions::config`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets [`ClientOptions::session`].
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Sets [`ClientOptions::spin`].
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Sets [`ClientOptions::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}

/// Settings of a [`Server`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// RPC settings of every session. Default: [`Config::default`].
    pub config: Config,
    /// Session settings. Default: [`SessionConfig::default`].
    pub session: SessionConfig,
    /// Server threads (one socket each). Default: 1.
    pub threads: usize,
    /// Busy-poll the socket this long before blocking. Default: zero.
    pub spin: Duration,
    /// Forget a session silent this long. Default: 5 minutes.
    pub idle_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            config: Config::default(),
            session: SessionConfig::default(),
            threads: 1,
            spin: Duration::ZERO,
            idle_timeout: crate::endpoint::DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl ServerOptions {
    /// Sets [`ServerOptions::config`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets [`ServerOptions::session`].
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Sets [`ServerOptions::threads`] (at least 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Sets [`ServerOptions::spin`].
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Sets [`ServerOptions::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

/// Waits until `socket` is readable or `timeout` passes (`None`: forever). Returns whether it is
/// readable. Nanosecond resolution (`ppoll`), because retransmission and ack timers are finer
/// than `poll`'s milliseconds.
pub(crate) fn wait_readable(socket: &impl AsRawFd, timeout: Option<Duration>) -> io::Result<bool> {
    let mut fds = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `fds` is one valid pollfd, `ts_ptr` is null or points at a timespec that outlives
    // the call, and a null signal mask leaves the mask unchanged.
    let rc = unsafe { libc::ppoll(&mut fds, 1, ts_ptr, std::ptr::null()) };
    match rc {
        -1 => {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(err) }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// A random session id (from the standard library's per-process random hash keys and a counter).
pub(crate) fn random_session_id() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((n, time)) as u32
}

#[cfg(test)]
mod tests;
