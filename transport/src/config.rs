//! Connection settings shared by both ends and every backend.

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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            max_in_flight: 1 << 16,
            recv_chunk: DEFAULT_CHUNK,
            fingerprint: 0,
            outbox_high_water: 1 << 20,
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
}
