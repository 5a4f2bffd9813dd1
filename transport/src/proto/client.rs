//! The client end of a connection as a state machine: no sockets, no clock.
//!
//! Inputs: [`ClientConnection::start_call`], [`ClientConnection::send_one_way`], received bytes
//! (written into [`ClientConnection::recv_buf`], then [`ClientConnection::handle_received`]),
//! [`ClientConnection::handle_timeout`] and [`ClientConnection::handle_closed`].
//! Outputs: [`ClientConnection::poll_transmit`] (bytes to write), [`ClientConnection::poll_completion`]
//! (finished calls), [`ClientConnection::poll_timeout`] (when to call `handle_timeout` next).
//!
//! A backend loops: write what `poll_transmit` gives, read into `recv_buf`, call
//! `handle_received`, hand out completions, and wake at `poll_timeout`.
//!
//! Each call carries a backend-defined token `T` (a waker, a channel sender, a slot index) that comes
//! back in its [`Completion`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::call_table::CallTable;
use super::decoder::{Frame, FrameDecoder};
use super::frame::{CallId, FLAG_ONE_WAY, FrameKind, MethodId};
use super::handshake::{Hello, HelloDecodeError, PROTOCOL_VERSION};
use super::outbox::Outbox;
use super::recv_buf::RecvBuf;
use crate::config::Config;
use crate::error::{ErrorCode, FrameError, RemoteError};

/// A finished call.
#[derive(Debug)]
pub struct Completion<T> {
    /// The call's id.
    pub call_id: CallId,
    /// The token given to [`ClientConnection::start_call`].
    pub token: T,
    /// The reply payload (16-aligned, shared with the receive buffer) or why there is none.
    pub result: Result<Bytes, RemoteError>,
}

#[derive(Debug)]
struct Pending<T> {
    token: T,
}

#[derive(Debug)]
enum State {
    AwaitingAck,
    Ready,
    Closed(RemoteError),
}

/// Client side of one connection. See the module docs for the calling protocol.
#[derive(Debug)]
pub struct ClientConnection<T> {
    config: Config,
    decoder: FrameDecoder,
    outbox: Outbox,
    state: State,
    next_id: CallId,
    pending: CallTable<Pending<T>>,
    deadlines: BinaryHeap<Reverse<(Instant, CallId)>>,
    completions: VecDeque<Completion<T>>,
    one_way_failure: Option<RemoteError>,
    peer_max_frame: u32,
    late_replies: u64,
}

impl<T> ClientConnection<T> {
    /// A new connection; its hello is queued for the first write.
    pub fn new(config: Config) -> Self {
        let mut outbox = Outbox::default();
        let hello = Hello { version: PROTOCOL_VERSION, max_frame: config.max_frame, fingerprint: config.fingerprint };
        outbox.push(FrameKind::Hello, 0, 0, 0, &hello.encode());
        Self {
            decoder: FrameDecoder::new(config.max_frame, config.recv_chunk),
            outbox,
            state: State::AwaitingAck,
            next_id: 1,
            pending: CallTable::new(),
            deadlines: BinaryHeap::new(),
            completions: VecDeque::new(),
            one_way_failure: None,
            peer_max_frame: config.max_frame,
            late_replies: 0,
            config,
        }
    }

    /// The settings this connection was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Queues a call. Its completion comes out of [`Self::poll_completion`] with `token`.
    pub fn start_call(
        &mut self,
        method: MethodId,
        payload: &[u8],
        deadline: Option<Instant>,
        token: T,
    ) -> Result<CallId, RemoteError> {
        self.check_can_send(payload.len())?;
        if self.pending.len() >= self.config.max_in_flight {
            return Err(RemoteError::TooManyInFlight(self.pending.len()));
        }
        let call_id = self.allocate_id();
        self.outbox.push(FrameKind::Request, 0, call_id, method, payload);
        self.pending.insert(call_id, Pending { token });
        if let Some(deadline) = deadline {
            // Entries of finished calls leave the heap lazily, from the top; one long deadline at
            // the top would let them pile up, so compact when they outnumber live calls.
            if self.deadlines.len() > 2 * self.pending.len() + 64 {
                let pending = &self.pending;
                self.deadlines.retain(|Reverse((_, id))| pending.contains(*id));
            }
            self.deadlines.push(Reverse((deadline, call_id)));
        }
        Ok(call_id)
    }

    /// Queues a one-way call: no reply, no completion. A failure the server reports later comes
    /// out of [`Self::take_one_way_failure`].
    pub fn send_one_way(&mut self, method: MethodId, payload: &[u8]) -> Result<(), RemoteError> {
        self.check_can_send(payload.len())?;
        let call_id = self.allocate_id();
        self.outbox.push(FrameKind::OneWay, 0, call_id, method, payload);
        Ok(())
    }

    fn check_can_send(&self, len: usize) -> Result<(), RemoteError> {
        if let State::Closed(err) = &self.state {
            return Err(err.clone());
        }
        if len > self.peer_max_frame as usize {
            return Err(RemoteError::RequestTooLarge { len, max: self.peer_max_frame });
        }
        Ok(())
    }

    fn allocate_id(&mut self) -> CallId {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if self.pending.is_free(id) {
                return id;
            }
        }
    }

    /// Bytes to write next, if any. Return the buffer with [`Self::recycle`] once written.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.take()
    }

    /// Gives a written buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.outbox.recycle(buf);
    }

    /// Bytes queued for writing.
    pub fn queued_bytes(&self) -> usize {
        self.outbox.len()
    }

    /// Frames written and writes made: their ratio is the batching factor.
    pub fn batching_stats(&self) -> (u64, u64) {
        self.outbox.stats()
    }

    /// Where the backend writes received bytes before calling [`Self::handle_received`].
    pub fn recv_buf(&mut self) -> &mut RecvBuf {
        self.decoder.buffer_mut()
    }

    /// How many more bytes the frame being received needs.
    pub fn wanted(&self) -> usize {
        self.decoder.wanted()
    }

    /// Processes every complete frame in the receive buffer. A protocol violation closes the
    /// connection (every pending call fails with it) and is returned.
    pub fn handle_received(&mut self) -> Result<(), RemoteError> {
        if let State::Closed(err) = &self.state {
            return Err(err.clone());
        }
        loop {
            let frame = match self.decoder.decode() {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(err) => return Err(self.close(err.into())),
            };
            if let Err(err) = self.handle_frame(frame) {
                return Err(self.close(err));
            }
            if let State::Closed(err) = &self.state {
                return Err(err.clone());
            }
        }
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), RemoteError> {
        let header = frame.header;
        match (&self.state, header.kind) {
            (State::AwaitingAck, FrameKind::HelloAck) => {
                let theirs = Hello::decode(&frame.payload).map_err(|err| match err {
                    HelloDecodeError::Frame(err) => RemoteError::Protocol(err),
                    HelloDecodeError::Handshake(err) => RemoteError::Handshake(err),
                })?;
                let ours = Hello {
                    version: PROTOCOL_VERSION,
                    max_frame: self.config.max_frame,
                    fingerprint: self.config.fingerprint,
                };
                ours.check(&theirs, true)?;
                self.peer_max_frame = theirs.max_frame;
                self.state = State::Ready;
            }
            (_, FrameKind::GoAway) => {
                let reason = String::from_utf8_lossy(&frame.payload);
                self.close(RemoteError::GoAway(reason.into()));
            }
            (State::Ready, FrameKind::Response) => self.complete(header.call_id, Ok(frame.payload)),
            (State::Ready, FrameKind::Error) => {
                let err = RemoteError::Service {
                    code: ErrorCode::from_u32(header.aux),
                    message: String::from_utf8_lossy(&frame.payload).into(),
                };
                if header.flags & FLAG_ONE_WAY != 0 {
                    self.one_way_failure.get_or_insert(err);
                } else {
                    self.complete(header.call_id, Err(err));
                }
            }
            (State::AwaitingAck, kind) => {
                return Err(FrameError::Unexpected { kind, context: "before the hello ack" }.into());
            }
            (_, kind) => return Err(FrameError::Unexpected { kind, context: "at a client" }.into()),
        }
        Ok(())
    }

    fn complete(&mut self, call_id: CallId, result: Result<Bytes, RemoteError>) {
        match self.pending.remove(call_id) {
            Some(pending) => self.completions.push_back(Completion { call_id, token: pending.token, result }),
            // A reply after its call timed out, or an id the server made up: nothing waits for it.
            None => self.late_replies += 1,
        }
    }

    /// The next finished call.
    pub fn poll_completion(&mut self) -> Option<Completion<T>> {
        self.completions.pop_front()
    }

    /// The earliest deadline of a pending call.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, id))) = self.deadlines.peek() {
            if self.pending.contains(*id) {
                return Some(*deadline);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Fails every pending call whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((deadline, id))) = self.deadlines.peek().copied() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if let Some(pending) = self.pending.remove(id) {
                self.completions.push_back(Completion {
                    call_id: id,
                    token: pending.token,
                    result: Err(RemoteError::DeadlineExceeded),
                });
            }
        }
    }

    /// Gives up on one call (its caller went away); a late reply is dropped. Returns its token.
    pub fn abandon(&mut self, call_id: CallId) -> Option<T> {
        self.pending.remove(call_id).map(|pending| pending.token)
    }

    /// The stream ended or failed. Every pending call fails with `err` (or a truncation error if
    /// a frame was cut short).
    pub fn handle_closed(&mut self, err: RemoteError) {
        let err = match self.decoder.finish() {
            Err(truncated) if matches!(err, RemoteError::ConnectionClosed(_)) => RemoteError::Protocol(truncated),
            _ => err,
        };
        self.close(err);
    }

    fn close(&mut self, err: RemoteError) -> RemoteError {
        if let State::Closed(existing) = &self.state {
            return existing.clone();
        }
        self.state = State::Closed(err.clone());
        self.deadlines.clear();
        for (call_id, pending) in self.pending.drain() {
            self.completions.push_back(Completion { call_id, token: pending.token, result: Err(err.clone()) });
        }
        err
    }

    /// The first failure of a one-way call reported since the last time this was asked, or the
    /// connection's failure if it is closed.
    pub fn take_one_way_failure(&mut self) -> Option<RemoteError> {
        self.one_way_failure.take().or_else(|| self.closed_error())
    }

    /// Why the connection is closed, if it is.
    pub fn closed_error(&self) -> Option<RemoteError> {
        match &self.state {
            State::Closed(err) => Some(err.clone()),
            _ => None,
        }
    }

    /// True once the hello ack arrived and checked out.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    /// True while `call_id` awaits its reply (its completion has not been produced yet).
    pub fn is_pending(&self, call_id: CallId) -> bool {
        self.pending.contains(call_id)
    }

    /// Calls waiting for a reply.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Replies that arrived for no pending call (late after a timeout, or bogus).
    pub fn late_replies(&self) -> u64 {
        self.late_replies
    }
}
