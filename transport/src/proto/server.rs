//! The server end of a connection as a state machine: no sockets, no clock.
//!
//! Write received bytes into [`ServerConnection::recv_buf`], then take requests with
//! [`ServerConnection::poll_request`] until it returns `Ok(None)`; answer each with
//! [`ServerConnection::respond`] (or `respond_with` / `respond_error`); write what
//! [`ServerConnection::poll_transmit`] gives. Replies to all requests found in one read leave in
//! one write.
//!
//! A protocol violation makes `poll_request` return the error after queueing a `GoAway` frame
//! with the reason: write it (best effort) and close the connection.

use bytes::Bytes;

use super::decoder::FrameDecoder;
use super::frame::{CallId, FLAG_ONE_WAY, FrameKind, MethodId};
use super::handshake::{Hello, HelloDecodeError, PROTOCOL_VERSION};
use super::outbox::{Outbox, PushError};
use super::recv_buf::RecvBuf;
use crate::config::Config;
use crate::error::{ErrorCode, FrameError, HandshakeError};

/// Why a server closed a connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The client broke the framing protocol.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The client's hello did not match.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

/// One call received by a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Id to answer with.
    pub call_id: CallId,
    /// Which method.
    pub method: MethodId,
    /// Arguments; 16-aligned, shared with the receive buffer.
    pub payload: Bytes,
    /// True when the client expects no reply (answer only failures, with `respond_error`).
    pub one_way: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingHello,
    Ready,
    Closed,
}

/// Server side of one connection. See the module docs.
#[derive(Debug)]
pub struct ServerConnection {
    config: Config,
    decoder: FrameDecoder,
    outbox: Outbox,
    state: State,
    /// Largest payload the client accepts (from its hello); replies above it become errors.
    peer_max_frame: u32,
}

impl ServerConnection {
    /// A connection waiting for the client's hello.
    pub fn new(config: Config) -> Self {
        Self {
            decoder: FrameDecoder::new(config.max_frame, config.recv_chunk),
            outbox: Outbox::default(),
            state: State::AwaitingHello,
            peer_max_frame: config.max_frame,
            config,
        }
    }

    /// Where the backend writes received bytes.
    pub fn recv_buf(&mut self) -> &mut RecvBuf {
        self.decoder.buffer_mut()
    }

    /// How many more bytes the frame being received needs.
    pub fn wanted(&self) -> usize {
        self.decoder.wanted()
    }

    /// The next request, `Ok(None)` when more bytes are needed or the connection is closed.
    pub fn poll_request(&mut self) -> Result<Option<Request>, ConnectionError> {
        loop {
            if self.state == State::Closed {
                return Ok(None);
            }
            let frame = match self.decoder.decode() {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.fail(err.into())),
            };
            let header = frame.header;
            match (self.state, header.kind) {
                (State::AwaitingHello, FrameKind::Hello) => self.handle_hello(&frame.payload)?,
                (State::Ready, FrameKind::Request | FrameKind::OneWay) => {
                    return Ok(Some(Request {
                        call_id: header.call_id,
                        method: header.aux,
                        payload: frame.payload,
                        one_way: header.kind == FrameKind::OneWay,
                    }));
                }
                (_, FrameKind::GoAway) => self.state = State::Closed,
                (State::AwaitingHello, kind) => {
                    return Err(self.fail(FrameError::Unexpected { kind, context: "before the hello" }.into()));
                }
                (_, kind) => return Err(self.fail(FrameError::Unexpected { kind, context: "at a server" }.into())),
            }
        }
    }

    fn handle_hello(&mut self, payload: &[u8]) -> Result<(), ConnectionError> {
        let theirs = match Hello::decode(payload) {
            Ok(hello) => hello,
            Err(HelloDecodeError::Frame(err)) => return Err(self.fail(err.into())),
            Err(HelloDecodeError::Handshake(err)) => return Err(self.fail(err.into())),
        };
        let ours =
            Hello { version: PROTOCOL_VERSION, max_frame: self.config.max_frame, fingerprint: self.config.fingerprint };
        // Ack first in every case, so the client can name both sides in its error.
        self.outbox.push(FrameKind::HelloAck, 0, 0, 0, &ours.encode());
        if let Err(err) = ours.check(&theirs, false) {
            return Err(self.fail(err.into()));
        }
        self.peer_max_frame = theirs.max_frame;
        self.state = State::Ready;
        Ok(())
    }

    fn fail(&mut self, err: ConnectionError) -> ConnectionError {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.outbox.push(FrameKind::GoAway, 0, 0, 0, err.to_string().as_bytes());
        }
        err
    }

    /// Closes the connection from this side (for example on server shutdown): queues a `GoAway`
    /// carrying `reason`, after which [`Self::poll_request`] returns no more requests. The client
    /// fails its pending calls with [`crate::RemoteError::GoAway`]. Write what is queued, then close.
    pub fn go_away(&mut self, reason: &str) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.outbox.push(FrameKind::GoAway, 0, 0, 0, reason.as_bytes());
        }
    }

    /// Replies to a call. A reply larger than the client accepts becomes an error for that call
    /// alone (rather than a frame the client would reject by closing the connection).
    pub fn respond(&mut self, call_id: CallId, payload: &[u8]) {
        self.try_respond_with(call_id, |buf| {
            buf.extend_from_slice(payload);
            Ok(())
        });
    }

    /// Replies to a call with a payload that `write` appends in place (no staging copy).
    pub fn respond_with(&mut self, call_id: CallId, write: impl FnOnce(&mut Vec<u8>)) {
        self.try_respond_with(call_id, |buf| {
            write(buf);
            Ok(())
        });
    }

    /// Replies to a call with a payload that `write` appends in place, or, if `write` fails, with
    /// an error frame carrying its error (the partial payload is discarded).
    ///
    /// `write` must only append to the buffer it is given (it holds earlier replies). A writer that
    /// removes bytes it did not write has destroyed those replies: the connection is then closed
    /// with a `GoAway` rather than sending corrupt frames.
    pub fn try_respond_with(
        &mut self,
        call_id: CallId,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), (ErrorCode, String)>,
    ) {
        let max = self.peer_max_frame as usize;
        match self.outbox.try_push_with(FrameKind::Response, 0, call_id, 0, max, write) {
            Ok(()) => {}
            Err(PushError::Write((code, message))) => self.respond_error(call_id, false, code, &message),
            Err(PushError::TooLarge(len)) => {
                let message = format!("reply of {len} bytes exceeds the client's maximum frame of {max} bytes");
                self.respond_error(call_id, false, ErrorCode::Internal, &message);
            }
            Err(PushError::Corrupted) => {
                tracing::error!("a service removed reply bytes it had not written; closing the connection");
                self.go_away("server error: a service corrupted the reply buffer");
            }
        }
    }

    /// Answers a call with an error. For one-way calls this is the only answer the client gets.
    /// The message is cut to what the client accepts.
    pub fn respond_error(&mut self, call_id: CallId, one_way: bool, code: ErrorCode, message: &str) {
        let flags = if one_way { FLAG_ONE_WAY } else { 0 };
        let mut end = message.len().min(self.peer_max_frame as usize);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.outbox.push(FrameKind::Error, flags, call_id, code.to_u32(), &message.as_bytes()[..end]);
    }

    /// Bytes to write next, if any. Return the buffer with [`Self::recycle`] once written.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.take()
    }

    /// Gives a written buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.outbox.recycle(buf);
    }

    /// Bytes queued for writing; above [`Config::outbox_high_water`] stop reading until drained.
    pub fn queued_bytes(&self) -> usize {
        self.outbox.len()
    }

    /// True once the connection failed or the client said goodbye.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The peer closed its end: an error if it cut a frame short.
    pub fn handle_eof(&mut self) -> Result<(), ConnectionError> {
        self.state = State::Closed;
        self.decoder.finish().map_err(ConnectionError::from)
    }

    /// The settings this connection was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}
