//! The error model: what can go wrong with bytes from a peer ([`FrameError`]), during the
//! connection handshake ([`HandshakeError`]), and what a caller of a remote method sees
//! ([`RemoteError`]).

use std::io;
use std::sync::Arc;

/// A frame from the peer broke the protocol. The connection that carried it is closed; other
/// connections are not affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The kind byte names no known frame kind.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// Flag bits this protocol version does not define were set.
    #[error("unknown frame flags {0:#04x}")]
    UnknownFlags(u8),
    /// The reserved header bytes were not zero.
    #[error("reserved header bytes are not zero")]
    ReservedNotZero,
    /// The payload length exceeds the configured maximum.
    #[error("frame payload of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Declared payload length.
        len: u32,
        /// Configured maximum ([`crate::Config::max_frame`]).
        max: u32,
    },
    /// A frame kind arrived that is not allowed at this point (e.g. a request before the hello,
    /// or a request sent to a client).
    #[error("unexpected {kind:?} frame {context}")]
    Unexpected {
        /// The kind that arrived.
        kind: crate::FrameKind,
        /// Where it arrived.
        context: &'static str,
    },
    /// A handshake or error payload could not be parsed.
    #[error("malformed {0} payload")]
    MalformedPayload(&'static str),
    /// The peer closed the stream in the middle of a frame.
    #[error("connection closed with {0} bytes of a partial frame buffered")]
    Truncated(usize),
}

/// The two ends of a connection do not speak the same protocol or interface.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The first bytes were not a Hatch hello.
    #[error("peer is not speaking the Hatch protocol (bad magic)")]
    BadMagic,
    /// Protocol versions differ.
    #[error("protocol version mismatch: we speak {ours}, the peer speaks {theirs}")]
    Version {
        /// Our protocol version.
        ours: u16,
        /// The peer's protocol version.
        theirs: u16,
    },
    /// The interface fingerprints differ: client and server were generated from different
    /// versions of the interface.
    #[error("interface fingerprint mismatch: client {client:#018x}, server {server:#018x}")]
    Fingerprint {
        /// The client's fingerprint.
        client: u64,
        /// The server's fingerprint.
        server: u64,
    },
}

/// Error codes carried by [`crate::FrameKind::Error`] frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The service has no method with this id.
    UnknownMethod,
    /// The request payload could not be decoded by the service.
    BadRequest,
    /// The service failed (for example, the implementation panicked).
    Internal,
    /// The server refused the call because it is overloaded or shutting down.
    Unavailable,
    /// A code this version does not know.
    Other(u32),
}

impl ErrorCode {
    /// Wire value of the code.
    pub fn to_u32(self) -> u32 {
        match self {
            Self::UnknownMethod => 1,
            Self::BadRequest => 2,
            Self::Internal => 3,
            Self::Unavailable => 4,
            Self::Other(code) => code,
        }
    }

    /// Code for a wire value.
    pub fn from_u32(code: u32) -> Self {
        match code {
            1 => Self::UnknownMethod,
            2 => Self::BadRequest,
            3 => Self::Internal,
            4 => Self::Unavailable,
            other => Self::Other(other),
        }
    }
}

/// Why a remote call failed, as its caller sees it.
///
/// Explicit interfaces (methods returning `Result<T, E>` with `E: From<RemoteError>`) receive this
/// directly; implicit interfaces hand it to a failure handler.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The call's deadline passed before its reply arrived.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// An outgoing connect got no answer within [`crate::Config::connect_timeout`]: the host is
    /// unreachable (down, partitioned, or its packets are dropped).
    #[error("connect to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// The address connected to.
        addr: std::net::SocketAddr,
        /// The timeout that passed.
        after: std::time::Duration,
    },
    /// The connection closed (peer gone, reset, or closed by us) before the reply arrived.
    #[error("connection closed: {0}")]
    ConnectionClosed(Arc<str>),
    /// An I/O error on the connection.
    #[error("i/o error: {0}")]
    Io(Arc<io::Error>),
    /// The peer broke the protocol; the connection was closed.
    #[error("protocol error: {0}")]
    Protocol(#[from] FrameError),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer closed the connection and said why.
    #[error("peer closed the connection: {0}")]
    GoAway(Arc<str>),
    /// The service answered the call with an error.
    #[error("remote service error {code:?}: {message}")]
    Service {
        /// What kind of failure.
        code: ErrorCode,
        /// The service's message.
        message: Arc<str>,
    },
    /// Too many calls are outstanding on this connection ([`crate::Config::max_in_flight`]).
    #[error("too many calls in flight ({0})")]
    TooManyInFlight(usize),
    /// A reply was awaited for a call id that is not outstanding (never started, or its result was
    /// already collected).
    #[error("call {0} is not outstanding")]
    UnknownCall(u32),
    /// The request is larger than the peer accepts.
    #[error("request of {len} bytes exceeds the maximum frame size of {max}")]
    RequestTooLarge {
        /// Request payload length.
        len: usize,
        /// Largest payload allowed.
        max: u32,
    },
}

impl RemoteError {
    /// Wraps an I/O error, mapping the ways a peer disappears to [`RemoteError::ConnectionClosed`].
    pub fn from_io(err: io::Error) -> Self {
        use io::ErrorKind::*;
        match err.kind() {
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected => {
                Self::ConnectionClosed(err.to_string().into())
            }
            _ => Self::Io(Arc::new(err)),
        }
    }

    /// The error of a failed connect to `addr` with `timeout`: a timeout becomes
    /// [`RemoteError::ConnectTimeout`], anything else as in [`RemoteError::from_io`].
    pub fn from_connect(err: io::Error, addr: std::net::SocketAddr, timeout: std::time::Duration) -> Self {
        if err.kind() == io::ErrorKind::TimedOut {
            Self::ConnectTimeout { addr, after: timeout }
        } else {
            Self::from_io(err)
        }
    }

    /// True when retrying on a new connection could succeed (the failure was the connection's,
    /// not the service's answer).
    pub fn is_transport_failure(&self) -> bool {
        !matches!(self, Self::Service { .. } | Self::RequestTooLarge { .. } | Self::Handshake(_) | Self::UnknownCall(_))
    }
}

impl From<io::Error> for RemoteError {
    fn from(err: io::Error) -> Self {
        Self::from_io(err)
    }
}

impl From<RemoteError> for io::Error {
    fn from(err: RemoteError) -> Self {
        let kind = match &err {
            RemoteError::DeadlineExceeded | RemoteError::ConnectTimeout { .. } => io::ErrorKind::TimedOut,
            RemoteError::ConnectionClosed(_) | RemoteError::GoAway(_) => io::ErrorKind::ConnectionAborted,
            RemoteError::Io(inner) => inner.kind(),
            RemoteError::Protocol(_) | RemoteError::Handshake(_) => io::ErrorKind::InvalidData,
            RemoteError::TooManyInFlight(_) => io::ErrorKind::WouldBlock,
            RemoteError::RequestTooLarge { .. } | RemoteError::UnknownCall(_) => io::ErrorKind::InvalidInput,
            RemoteError::Service { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        for code in [ErrorCode::UnknownMethod, ErrorCode::BadRequest, ErrorCode::Internal, ErrorCode::Unavailable] {
            assert_eq!(ErrorCode::from_u32(code.to_u32()), code);
        }
        assert_eq!(ErrorCode::from_u32(77), ErrorCode::Other(77));
    }

    #[test]
    fn peer_disappearing_maps_to_connection_closed() {
        let err = RemoteError::from_io(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(matches!(err, RemoteError::ConnectionClosed(_)));
        assert!(err.is_transport_failure());
        let io: io::Error = RemoteError::DeadlineExceeded.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn fingerprint_mismatch_names_both() {
        let msg = HandshakeError::Fingerprint { client: 1, server: 2 }.to_string();
        assert!(msg.contains("0x0000000000000001") && msg.contains("0x0000000000000002"), "{msg}");
    }
}
