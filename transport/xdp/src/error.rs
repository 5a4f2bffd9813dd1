//! Errors, one enum per failure domain: a malformed packet ([`PacketError`]), a session that
//! failed ([`SessionError`]), and setting up a driver ([`DriverError`]).

use std::io;
use std::sync::Arc;

use hatch_transport::RemoteError;

use crate::session::packet::PacketKind;

/// A datagram is not a valid session packet. It is dropped; the session is not affected (the
/// datagram path is unauthenticated, so a stray packet must not be able to kill a session).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than a header.
    #[error("datagram of {0} bytes is shorter than a packet header")]
    Short(usize),
    /// The magic bytes are not `"HX"`.
    #[error("not a Hatch session packet (bad magic)")]
    BadMagic,
    /// A session protocol version we do not speak.
    #[error("unsupported session protocol version {0}")]
    Version(u8),
    /// The kind byte names no packet kind.
    #[error("unknown packet kind {0}")]
    UnknownKind(u8),
    /// The header's length field disagrees with the datagram.
    #[error("packet declares {declared} payload bytes but carries {actual}")]
    LengthMismatch {
        /// The length field.
        declared: u16,
        /// Bytes after the header.
        actual: usize,
    },
    /// A data packet without payload.
    #[error("data packet without payload")]
    EmptyData,
    /// A payload on a packet kind that carries none.
    #[error("{0:?} packet with a payload")]
    UnexpectedPayload(PacketKind),
    /// A packet of another session reached a client endpoint.
    #[error("packet of another session ({0:#010x})")]
    OtherSession(u32),
}

/// Why a session ended. The RPC connection on top fails every pending call with it (as
/// [`RemoteError::ConnectionClosed`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The oldest unacknowledged segment was retransmitted this many times without an ack.
    #[error("peer unresponsive: no acknowledgement after {0} retransmissions")]
    Unresponsive(u32),
    /// The peer does not know this session (it restarted, or expired the session).
    #[error("peer reset the session")]
    Reset,
    /// The peer closed the session.
    #[error("peer closed the session")]
    PeerClosed,
    /// This side closed the session.
    #[error("session closed")]
    Closed,
}

impl From<SessionError> for RemoteError {
    fn from(err: SessionError) -> Self {
        RemoteError::ConnectionClosed(err.to_string().into())
    }
}

/// Setting up or running a driver (sockets, threads, XDP program) failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The session or the RPC connection on it failed (including the handshake).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Setting up the AF_XDP driver failed.
    #[cfg(all(feature = "af-xdp", target_os = "linux"))]
    #[error(transparent)]
    Xdp(#[from] crate::xdp::XdpError),
}

impl DriverError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { what, source }
    }
}

impl From<DriverError> for RemoteError {
    fn from(err: DriverError) -> Self {
        match err {
            DriverError::Remote(err) => err,
            DriverError::Io { source, .. } => RemoteError::Io(Arc::new(source)),
            other => RemoteError::Io(Arc::new(io::Error::other(other.to_string()))),
        }
    }
}
