//! The Hatch RPC protocol core on top of sessions, still sans-IO: [`ClientEndpoint`] is one
//! [`ClientConnection`] over one [`Session`]; [`ServerEndpoint`] is a table of
//! [`ServerConnection`]s, one per session, keyed by peer address and session id, answering with a
//! [`Service`]. Drivers (UDP, AF_XDP) only move datagrams between these and the network, and call
//! the timers.
//!
//! Calling protocol (both ends): hand every received datagram to `handle_datagram`; call
//! `poll_transmit` until it reports nothing and send what it wrote; sleep until `poll_timeout`,
//! then call `handle_timeout`. A client also takes finished calls from
//! [`ClientEndpoint::poll_completion`].

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use hatch_transport::proto::{ClientConnection, Completion, ServerConnection};
use hatch_transport::{CallId, Config, MethodId, RemoteError, Service, dispatch};

use crate::error::PacketError;
use crate::session::{PacketHeader, PacketKind, Session, SessionConfig};

/// The client side of one session: see the module docs.
#[derive(Debug)]
pub struct ClientEndpoint<T> {
    session: Session,
    conn: ClientConnection<T>,
}

impl<T> ClientEndpoint<T> {
    /// A new session `session_id` (pick it at random, so a restarted client is not mistaken for
    /// its earlier self); the RPC hello is queued for the first packet.
    pub fn new(session_id: u32, session: SessionConfig, config: Config) -> Self {
        Self { session: Session::new(session_id, session), conn: ClientConnection::new(config) }
    }

    /// Queues a call; its completion comes out of [`Self::poll_completion`] with `token`.
    pub fn start_call(
        &mut self,
        method: MethodId,
        payload: &[u8],
        deadline: Option<Instant>,
        token: T,
    ) -> Result<CallId, RemoteError> {
        let id = self.conn.start_call(method, payload, deadline, token)?;
        self.move_stream();
        Ok(id)
    }

    /// Queues a one-way call.
    pub fn send_one_way(&mut self, method: MethodId, payload: &[u8]) -> Result<(), RemoteError> {
        self.conn.send_one_way(method, payload)?;
        self.move_stream();
        Ok(())
    }

    fn move_stream(&mut self) {
        while let Some(bytes) = self.conn.poll_transmit() {
            self.session.write(&bytes);
            self.conn.recycle(bytes);
        }
    }

    /// Processes one received datagram. Invalid datagrams and those of other sessions are
    /// dropped and reported; they do not affect the session.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), PacketError> {
        let (header, payload) = PacketHeader::decode(datagram)?;
        if header.session != self.session.id() {
            return Err(PacketError::OtherSession(header.session));
        }
        let delivered = self.session.handle_packet(now, &header, payload, self.conn.recv_buf());
        if delivered > 0 && self.conn.handle_received().is_err() {
            // The connection failed (and failed its calls); the session has nothing left to do.
            self.session.close();
        }
        self.sync_failure();
        Ok(())
    }

    fn sync_failure(&mut self) {
        if let Some(err) = self.session.error()
            && self.conn.closed_error().is_none()
        {
            self.conn.handle_closed(err.clone().into());
        }
    }

    /// Writes the next packet to send into `out` and returns `true`, or `false` if there is none.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        self.move_stream();
        self.session.poll_transmit(now, out)
    }

    /// When [`Self::handle_timeout`] should be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        match (self.session.poll_timeout(), self.conn.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires due timers: retransmissions and call deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.conn.handle_timeout(now);
        self.sync_failure();
    }

    /// The next finished call.
    pub fn poll_completion(&mut self) -> Option<Completion<T>> {
        self.conn.poll_completion()
    }

    /// Gives up on a call (its caller went away). Returns its token.
    pub fn abandon(&mut self, call_id: CallId) -> Option<T> {
        self.conn.abandon(call_id)
    }

    /// Closes the session: pending calls fail, one `Close` packet goes out next.
    pub fn close(&mut self) {
        self.session.close();
        self.sync_failure();
    }

    /// Why the endpoint is closed, if it is.
    pub fn closed_error(&self) -> Option<RemoteError> {
        self.conn.closed_error()
    }

    /// True when everything queued was sent and acknowledged.
    pub fn is_flushed(&self) -> bool {
        self.conn.queued_bytes() == 0 && self.session.is_idle()
    }

    /// The first failure of a one-way call since the last time this was asked, or the
    /// connection's failure.
    pub fn take_one_way_failure(&mut self) -> Option<RemoteError> {
        self.conn.take_one_way_failure()
    }

    /// True once the RPC handshake completed.
    pub fn is_ready(&self) -> bool {
        self.conn.is_ready()
    }

    /// The session underneath (for its counters).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Calls waiting for a reply.
    pub fn in_flight(&self) -> usize {
        self.conn.in_flight()
    }
}

/// The server side: every session of every client, answering with a [`Service`].
#[derive(Debug)]
pub struct ServerEndpoint<A> {
    session_config: SessionConfig,
    config: Config,
    idle_timeout: Duration,
    max_sessions: usize,
    sessions: HashMap<(A, u32), ServerSession>,
    /// Sessions that may have packets to send.
    active: VecDeque<(A, u32)>,
    /// `Reset` packets owed to peers that sent packets of unknown sessions.
    resets: VecDeque<(A, u32)>,
    scratch: Vec<u8>,
}

#[derive(Debug)]
struct ServerSession {
    session: Session,
    conn: ServerConnection,
    last_heard: Instant,
    queued: bool,
}

/// Most `Reset` packets waiting to go out; more are dropped (the peer's next packet asks again).
const MAX_PENDING_RESETS: usize = 1024;
/// Default of [`ServerEndpoint::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default of [`ServerEndpoint::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 1 << 16;

impl<A: Hash + Eq + Clone> ServerEndpoint<A> {
    /// A server with no sessions; each new session gets these settings (with
    /// [`SessionConfig::park_when_unresponsive`] set: a silent client is not a failure).
    pub fn new(session_config: SessionConfig, config: Config) -> Self {
        Self {
            session_config: session_config.park_when_unresponsive(true),
            config,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            sessions: HashMap::new(),
            active: VecDeque::new(),
            resets: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// Sets how long a session may stay silent before it is forgotten. Default: 5 minutes.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets how many sessions may be open at once; packets opening more are answered with a
    /// `Reset` (so a flood of made-up session ids cannot exhaust memory). Default: 65,536.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// Live sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Processes one datagram from `from`, running the requests it completes on `service`.
    /// Invalid datagrams are dropped and reported.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: A,
        datagram: &[u8],
        service: &dyn Service,
    ) -> Result<(), PacketError> {
        let (header, payload) = PacketHeader::decode(datagram)?;
        let key = (from, header.session);
        let entry = match self.sessions.get_mut(&key) {
            Some(entry) => entry,
            None => {
                // Only a data packet of a session's first window that acknowledges nothing opens
                // it (a client acks the hello ack from the server's first packet on, so a session
                // the server forgot never looks new). Anything else is a session we forgot or
                // never had, and the client must hear so rather than retry until it gives up.
                let opens = header.kind == PacketKind::Data
                    && header.ack == 0
                    && header.seq < u32::from(self.session_config.recv_window)
                    && self.sessions.len() < self.max_sessions;
                if !opens {
                    if matches!(header.kind, PacketKind::Data | PacketKind::Ack)
                        && self.resets.len() < MAX_PENDING_RESETS
                    {
                        self.resets.push_back(key);
                    }
                    return Ok(());
                }
                let session = Session::new(header.session, self.session_config.clone());
                let conn = ServerConnection::new(self.config.clone());
                self.sessions.entry(key.clone()).or_insert(ServerSession {
                    session,
                    conn,
                    last_heard: now,
                    queued: false,
                })
            }
        };
        entry.last_heard = now;
        let delivered = entry.session.handle_packet(now, &header, payload, entry.conn.recv_buf());
        if delivered > 0 {
            loop {
                match entry.conn.poll_request() {
                    Ok(Some(request)) => dispatch(&mut entry.conn, service, request, &mut self.scratch),
                    Ok(None) => break,
                    // The GoAway it queued tells the client why; the session carries it out.
                    Err(_) => break,
                }
            }
            while let Some(bytes) = entry.conn.poll_transmit() {
                entry.session.write(&bytes);
                entry.conn.recycle(bytes);
            }
        }
        if entry.session.error().is_some() {
            // The client closed the session (or reset ours): nothing more to send or keep.
            self.sessions.remove(&key);
            return Ok(());
        }
        if !entry.queued {
            entry.queued = true;
            self.active.push_back(key);
        }
        Ok(())
    }

    /// Writes the next packet to send into `out` and returns its destination, or `None`.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<A> {
        if let Some((to, session)) = self.resets.pop_front() {
            out.clear();
            PacketHeader { kind: PacketKind::Reset, session, seq: 0, ack: 0, sack: 0, len: 0, window: 0 }.encode(out);
            return Some(to);
        }
        while let Some(key) = self.active.front() {
            if let Some(entry) = self.sessions.get_mut(key) {
                if entry.session.poll_transmit(now, out) {
                    return Some(key.0.clone());
                }
                entry.queued = false;
            }
            self.active.pop_front();
        }
        None
    }

    /// When [`Self::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .map(|entry| {
                let idle = entry.last_heard + self.idle_timeout;
                entry.session.poll_timeout().map_or(idle, |t| t.min(idle))
            })
            .min()
    }

    /// Fires due retransmission timers, and forgets sessions that failed, were closed by the
    /// client, or stayed silent for the idle timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        let idle_timeout = self.idle_timeout;
        let active = &mut self.active;
        self.sessions.retain(|key, entry| {
            entry.session.handle_timeout(now);
            if entry.session.error().is_some() || entry.last_heard + idle_timeout <= now {
                return false;
            }
            if !entry.queued {
                // A delayed ack may be due or a retransmission scheduled.
                entry.queued = true;
                active.push_back(key.clone());
            }
            true
        });
    }

    /// Closes every session (server shutdown): each client fails its pending calls with
    /// [`RemoteError::GoAway`] once the packets written by `poll_transmit` reach it.
    pub fn go_away(&mut self, reason: &str) {
        for (key, entry) in &mut self.sessions {
            entry.conn.go_away(reason);
            while let Some(bytes) = entry.conn.poll_transmit() {
                entry.session.write(&bytes);
                entry.conn.recycle(bytes);
            }
            if !entry.queued {
                entry.queued = true;
                self.active.push_back(key.clone());
            }
        }
    }
}
