//! Connection settings shared by both ends and every backend.

use std::time::Duration;

use crate::proto::frame::DEFAULT_MAX_FRAME;
use crate::proto::recv_buf::DEFAULT_CHUNK;

/// Settings of a connection. Build with [`Config::default`] and the setters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest payload accepted from the peer; larger frames close the connection with
    /// [`crate::FrameError::TooLarge`]. Default: 4 MiB.
    pub max_frame: u32,
    /// Most calls that may await a reply on one connection; more fail with
    /// [`crate::RemoteError::TooManyInFlight`]. Default: 65,536.
    pub max_in_flight: usize,
    /// Size of each receive chunk. Default: 64 KiB.
    pub recv_chunk: usize,
    /// Interface fingerprint announced in the handshake; 0 accepts any peer. Default: 0.
    pub fingerprint: u64,
    /// Queued outgoing bytes above which one-way calls wait for the socket to drain (client) or
    /// the server stops reading from the connection until its replies drain. Default: 1 MiB.
    pub outbox_high_water: usize,
    /// How long an outgoing connect may take before it fails with
    /// [`crate::RemoteError::ConnectTimeout`]. Without it an unreachable host (SYNs dropped, no
    /// reset) blocks the connecting thread for the kernel's SYN retries, about two minutes.
    /// Default: 3 s (a LAN connect takes well under a millisecond; 3 s leaves room for two
    /// retransmitted SYNs).
    pub connect_timeout: Duration,
    /// Deadline given to a call that carries none of its own; the call then fails with
    /// [`crate::RemoteError::DeadlineExceeded`] and the connection stays up. `None` lets such
    /// calls wait for their reply or for the connection's failure (keepalive and
    /// `TCP_USER_TIMEOUT`, [`crate::socket::USER_TIMEOUT`]). Default: `None`, because the
    /// transport cannot know how long a method runs; callers that do should set it.
    pub request_timeout: Option<Duration>,
}

/// [`Config::connect_timeout`] by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            max_in_flight: 1 << 16,
            recv_chunk: DEFAULT_CHUNK,
            fingerprint: 0,
            outbox_high_water: 1 << 20,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: None,
        }
    }
}

impl Config {
    /// Sets [`Config::max_frame`].
    pub fn max_frame(mut self, bytes: u32) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Sets [`Config::max_in_flight`].
    pub fn max_in_flight(mut self, calls: usize) -> Self {
        self.max_in_flight = calls.max(1);
        self
    }

    /// Sets [`Config::recv_chunk`].
    pub fn recv_chunk(mut self, bytes: usize) -> Self {
        self.recv_chunk = bytes;
        self
    }

    /// Sets [`Config::fingerprint`].
    pub fn fingerprint(mut self, fingerprint: u64) -> Self {
        self.fingerprint = fingerprint;
        self
    }

    /// Sets [`Config::outbox_high_water`].
    pub fn outbox_high_water(mut self, bytes: usize) -> Self {
        self.outbox_high_water = bytes;
        self
    }

    /// Sets [`Config::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`Config::request_timeout`].
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The deadline of a call started now with `deadline`: its own, or else
    /// [`Config::request_timeout`] from now.
    pub fn deadline_of(&self, deadline: Option<std::time::Instant>) -> Option<std::time::Instant> {
        deadline.or_else(|| self.request_timeout.map(|timeout| std::time::Instant::now() + timeout))
    }
}
