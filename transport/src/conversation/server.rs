//! The server's side of a conversation: run the implementation on a worker, turn its reverse
//! calls into callback replies, and hand the caller's answers back to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use super::{HEADER_LEN, Header, Kind, pool};
use crate::channel::Channel;
use crate::error::{ErrorCode, RemoteError};
use crate::proto::MethodId;
use crate::service::{ServiceError, guarded};

/// The conversations of one server (a generated dispatcher holds one).
///
/// Limits, because the caller is untrusted: at most [`Conversations::with_max_sessions`]
/// conversations at once (more are refused with [`ErrorCode::Unavailable`]), and a worker whose
/// caller does not answer a callback within [`Conversations::with_idle_timeout`] gives up, so a
/// vanished caller does not pin a thread forever.
pub struct Conversations {
    table: Arc<Table>,
}

struct Table {
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    idle_timeout: Duration,
    max_sessions: usize,
    next: AtomicU64,
}

/// The server's end of one conversation.
struct Session {
    id: u64,
    /// The worker's messages: a callback request, or the end.
    events: Mutex<mpsc::Receiver<Event>>,
    /// The caller's answers to callbacks.
    answers: mpsc::Sender<Answer>,
    /// Set while a callback request is out and its answer not yet in.
    awaiting: AtomicBool,
}

enum Event {
    Callback { slot: u8, method: MethodId, request: Vec<u8> },
    Done(Result<Vec<u8>, ServiceError>),
}

type Answer = Result<Bytes, RemoteError>;

impl Default for Conversations {
    fn default() -> Self {
        Self::new()
    }
}

impl Conversations {
    /// Default limits: 1024 conversations at once, 30 s to answer a callback.
    pub fn new() -> Self {
        // Session ids start at a per-process random point, so they are not guessable from 0.
        let seed = {
            use std::hash::{BuildHasher, Hasher as _};
            std::collections::hash_map::RandomState::new().build_hasher().finish()
        };
        Self {
            table: Arc::new(Table {
                sessions: Mutex::new(HashMap::new()),
                idle_timeout: Duration::from_secs(30),
                max_sessions: 1024,
                next: AtomicU64::new(seed),
            }),
        }
    }

    /// How long a worker waits for the caller's answer to a callback before giving up.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        Arc::get_mut(&mut self.table).expect("configured before use").idle_timeout = timeout;
        self
    }

    /// How many conversations may run at once.
    pub fn with_max_sessions(mut self, max: usize) -> Self {
        Arc::get_mut(&mut self.table).expect("configured before use").max_sessions = max;
        self
    }

    /// Conversations currently running.
    pub fn active(&self) -> usize {
        self.table.sessions.lock().len()
    }

    /// Starts a conversation: runs `body` on a worker thread and appends to `reply` its first
    /// message (a callback request, or the result if `body` returns without calling back). `body`
    /// gets the [`Reverse`] channels to build reverse proxies on, and returns its serialised
    /// reply; a panic in it becomes an [`ErrorCode::Internal`] error.
    pub fn start<F>(&self, reply: &mut Vec<u8>, body: F) -> Result<(), ServiceError>
    where
        F: FnOnce(&Reverse) -> Result<Vec<u8>, ServiceError> + Send + 'static,
    {
        let (events_tx, events_rx) = mpsc::channel();
        let (answers_tx, answers_rx) = mpsc::channel();
        let session = {
            let mut sessions = self.table.sessions.lock();
            if sessions.len() >= self.table.max_sessions {
                return Err(ServiceError::new(
                    ErrorCode::Unavailable,
                    format!("too many conversations at once ({})", self.table.max_sessions),
                ));
            }
            let id = self.table.next.fetch_add(1, Ordering::Relaxed);
            let session =
                Arc::new(Session { id, events: Mutex::new(events_rx), answers: answers_tx, awaiting: false.into() });
            sessions.insert(id, session.clone());
            session
        };
        let link = Arc::new(Link {
            table: self.table.clone(),
            session: session.id,
            turn: Mutex::new(answers_rx),
            events: events_tx.clone(),
        });
        let spawned = pool::spawn(move || {
            let reverse = Reverse { link };
            let result = guarded(|| body(&reverse));
            let _ = events_tx.send(Event::Done(result));
        });
        if let Err(error) = spawned {
            self.table.sessions.lock().remove(&session.id);
            return Err(ServiceError::new(ErrorCode::Unavailable, format!("no worker thread: {error}")));
        }
        self.table.wait(&session, reply)
    }

    /// Continues a conversation with the caller's answer (`payload` of a
    /// [`CONTINUE`](super::CONTINUE) call) and appends the next message to `reply`.
    pub fn resume(&self, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        let (header, body) = Header::split(payload).map_err(ServiceError::bad_request)?;
        let answer = match header.kind {
            Kind::Answer => Ok(payload.slice(HEADER_LEN..)),
            Kind::Failed => Err(RemoteError::Service {
                code: ErrorCode::from_u32(header.word),
                message: String::from_utf8_lossy(body).into(),
            }),
            Kind::Done | Kind::Callback => {
                return Err(ServiceError::bad_request("conversation: a server's message in a request"));
            }
        };
        let session = self.table.sessions.lock().get(&header.session).cloned().ok_or_else(|| {
            ServiceError::bad_request(format!("conversation {:#x} is unknown or finished", header.session))
        })?;
        if !session.awaiting.swap(false, Ordering::AcqRel) {
            return Err(ServiceError::bad_request(format!(
                "conversation {:#x} is not waiting for an answer",
                header.session
            )));
        }
        // A worker that already gave up still ends with `Done`, which `wait` reports.
        let _ = session.answers.send(answer);
        self.table.wait(&session, reply)
    }
}

impl Table {
    /// Waits for the worker's next message and appends it to `reply`.
    fn wait(&self, session: &Session, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        let event = session.events.lock().recv();
        match event {
            Ok(Event::Callback { slot, method, request }) => {
                Header { kind: Kind::Callback, slot, word: method, session: session.id }.write(reply);
                reply.extend_from_slice(&request);
                session.awaiting.store(true, Ordering::Release);
                Ok(())
            }
            Ok(Event::Done(result)) => {
                self.sessions.lock().remove(&session.id);
                let bytes = result?;
                Header { kind: Kind::Done, slot: 0, word: 0, session: session.id }.write(reply);
                reply.extend_from_slice(&bytes);
                Ok(())
            }
            Err(mpsc::RecvError) => {
                self.sessions.lock().remove(&session.id);
                Err(ServiceError::new(ErrorCode::Internal, "the conversation's worker vanished"))
            }
        }
    }
}

/// What an implementation running in a conversation calls back through: one [`Channel`] per
/// interface argument, for the reverse proxies.
pub struct Reverse {
    link: Arc<Link>,
}

impl Reverse {
    /// The channel to the caller's interface argument number `slot`. Its calls are answered by
    /// the caller's object while the conversation lasts; afterwards they fail.
    pub fn channel(&self, slot: u8) -> Arc<dyn Channel> {
        Arc::new(SlotChannel { link: self.link.clone(), slot })
    }
}

/// The worker's end of one conversation.
struct Link {
    table: Arc<Table>,
    session: u64,
    /// One callback at a time per conversation: taken for the whole request/answer exchange.
    turn: Mutex<mpsc::Receiver<Answer>>,
    events: mpsc::Sender<Event>,
}

impl Link {
    fn call(
        &self,
        slot: u8,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Bytes, RemoteError> {
        let answers = self.turn.lock();
        let ended = || RemoteError::ConnectionClosed("the conversation with the caller has ended".into());
        self.events.send(Event::Callback { slot, method, request: request.to_vec() }).map_err(|_| ended())?;
        let idle = self.table.idle_timeout;
        let wait = deadline.map_or(idle, |deadline| deadline.saturating_duration_since(Instant::now()).min(idle));
        match answers.recv_timeout(wait) {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The caller is gone or stuck: forget the conversation, so a late answer is refused.
                self.table.sessions.lock().remove(&self.session);
                Err(if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    RemoteError::DeadlineExceeded
                } else {
                    RemoteError::ConnectionClosed(
                        format!("the caller did not answer a callback within {idle:?}").into(),
                    )
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ended()),
        }
    }
}

struct SlotChannel {
    link: Arc<Link>,
    slot: u8,
}

impl Channel for SlotChannel {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        self.link.call(self.slot, method, request, deadline)
    }

    /// One-way calls back to the caller wait for it like two-way calls: the caller's object is
    /// only reachable while the conversation lasts, so nothing may be left queued.
    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.link.call(self.slot, method, request, None).map(drop)
    }

    fn flush(&self) -> Result<(), RemoteError> {
        Ok(())
    }
}
