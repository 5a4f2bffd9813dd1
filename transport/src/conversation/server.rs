//! The server's side of a conversation: run the implementation on a worker, turn its reverse
//! calls into callback replies, and hand the caller's answers back to it.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::{HEADER_LEN, Header, Kind, pool};
use crate::channel::Channel;
use crate::error::{ErrorCode, RemoteError};
use crate::proto::MethodId;
use crate::service::{ServiceError, guarded};

/// The conversations of one server (a generated dispatcher holds one).
///
/// The caller is untrusted, so:
/// - session ids are unguessable (a keyed hash of a counter): a continuation carries nothing
///   else, and one caller must not be able to answer another's callbacks;
/// - at most [`Conversations::with_max_workers`] implementations run at once (more calls are
///   refused with [`ErrorCode::Unavailable`]);
/// - a worker whose caller does not answer a callback within
///   [`Conversations::with_idle_timeout`] gives the conversation up;
/// - a server thread waits for a worker at most [`Conversations::with_max_wait`] per request, then
///   answers [`Kind::Pending`], so an implementation that blocks (on a lock another conversation
///   holds across its callback, say) cannot stall the connection or the server thread.
pub struct Conversations {
    table: Arc<Table>,
}

struct Table {
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    ids: RandomState,
    counter: AtomicU64,
    /// Implementations running now (their sessions may already be gone).
    workers: AtomicUsize,
    max_workers: AtomicUsize,
    idle_timeout_ms: AtomicU64,
    max_wait_us: AtomicU64,
}

/// The server's end of one conversation.
struct Session {
    id: u64,
    /// The worker's messages: a callback request, or the end.
    events: Mutex<Receiver<Event>>,
    /// The caller's answers, to the worker.
    answers: Sender<ToWorker>,
    /// The callback whose answer the worker waits for.
    awaiting: Mutex<Option<u16>>,
    /// The caller gave up, or stopped answering.
    abandoned: Arc<AtomicBool>,
    /// When the worker finished, for sweeping results nobody collects.
    finished: Arc<Mutex<Option<Instant>>>,
}

enum Event {
    Callback { slot: u8, seq: u16, method: MethodId, request: Vec<u8> },
    Done(Result<Vec<u8>, ServiceError>),
}

enum ToWorker {
    Answer(u16, Result<Bytes, RemoteError>),
    Abandon,
}

impl Default for Conversations {
    fn default() -> Self {
        Self::new()
    }
}

impl Conversations {
    /// Default limits: 256 implementations at once, 30 s to answer a callback, 5 ms of waiting
    /// for a worker per request.
    pub fn new() -> Self {
        Self {
            table: Arc::new(Table {
                sessions: Mutex::new(HashMap::new()),
                ids: RandomState::new(),
                counter: AtomicU64::new(0),
                workers: AtomicUsize::new(0),
                max_workers: AtomicUsize::new(256),
                idle_timeout_ms: AtomicU64::new(30_000),
                max_wait_us: AtomicU64::new(5_000),
            }),
        }
    }

    /// How long a worker waits for the caller's answer to a callback before giving up.
    pub fn with_idle_timeout(self, timeout: Duration) -> Self {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        self.table.idle_timeout_ms.store(ms, Ordering::Relaxed);
        self
    }

    /// How many implementations may run at once (each on its own thread).
    pub fn with_max_workers(self, max: usize) -> Self {
        self.table.max_workers.store(max, Ordering::Relaxed);
        self
    }

    /// How long a request waits for the worker's next message before the reply is
    /// [`Kind::Pending`].
    pub fn with_max_wait(self, wait: Duration) -> Self {
        let us = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.table.max_wait_us.store(us, Ordering::Relaxed);
        self
    }

    /// Conversations whose result has not been collected yet.
    pub fn active(&self) -> usize {
        self.table.sessions.lock().len()
    }

    /// Implementations running now, including ones whose caller is gone.
    pub fn workers(&self) -> usize {
        self.table.workers.load(Ordering::Acquire)
    }

    /// Starts a conversation: runs `body` on a worker thread and appends to `reply` its first
    /// message (a callback request, the result, or [`Kind::Pending`]). `body` gets the
    /// [`Reverse`] channels to build reverse proxies on, and returns its serialised reply; a
    /// panic in it becomes an [`ErrorCode::Internal`] error.
    pub fn start<F>(&self, reply: &mut Vec<u8>, body: F) -> Result<(), ServiceError>
    where
        F: FnOnce(&Reverse) -> Result<Vec<u8>, ServiceError> + Send + 'static,
    {
        if crate::service::in_one_way_call() {
            // Its callback requests would be thrown away, and its worker wait for answers.
            return Err(ServiceError::bad_request("a call with interface arguments cannot be sent one-way"));
        }
        let table = &self.table;
        let max = table.max_workers.load(Ordering::Relaxed);
        if table.workers.fetch_add(1, Ordering::AcqRel) >= max {
            table.workers.fetch_sub(1, Ordering::AcqRel);
            return Err(ServiceError::new(ErrorCode::Unavailable, format!("too many conversations at once ({max})")));
        }
        let worker = WorkerCount(table.clone());
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        let (answers_tx, answers_rx) = crossbeam_channel::unbounded();
        let (abandoned, finished) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(None)));
        let session = {
            let mut sessions = table.sessions.lock();
            table.sweep(&mut sessions);
            let id = loop {
                let id = table.ids.hash_one(table.counter.fetch_add(1, Ordering::Relaxed));
                if !sessions.contains_key(&id) {
                    break id;
                }
            };
            let session = Arc::new(Session {
                id,
                events: Mutex::new(events_rx),
                answers: answers_tx,
                awaiting: Mutex::new(None),
                abandoned: abandoned.clone(),
                finished: finished.clone(),
            });
            sessions.insert(id, session.clone());
            session
        };
        let link = Arc::new(Link {
            table: table.clone(),
            session: session.id,
            abandoned,
            turn: Mutex::new(Turn { answers: answers_rx, next_seq: 0 }),
            events: events_tx.clone(),
        });
        let spawned = pool::spawn(move || {
            let reverse = Reverse { link };
            let result = guarded(|| body(&reverse));
            *finished.lock() = Some(Instant::now());
            // Counted out before the result leaves, so a caller that starts its next
            // conversation on receiving it finds the slot free.
            drop(worker);
            let _ = events_tx.send(Event::Done(result));
        });
        if let Err(error) = spawned {
            table.sessions.lock().remove(&session.id);
            return Err(ServiceError::new(ErrorCode::Unavailable, format!("no worker thread: {error}")));
        }
        table.wait(&session, reply)
    }

    /// Continues a conversation with the caller's message (`payload` of a
    /// [`CONTINUE`](super::CONTINUE) call) and appends the next message to `reply`.
    pub fn resume(&self, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        let (header, body) = Header::split(payload).map_err(ServiceError::bad_request)?;
        if header.kind.from_server() {
            return Err(ServiceError::bad_request("conversation: a server's message in a request"));
        }
        let Some(session) = self.table.sessions.lock().get(&header.session).cloned() else {
            if header.kind == Kind::Abandon {
                // Leaving a conversation that already ended (or gave up on its caller) is done.
                Header::of(Kind::Done, header.session).write(reply);
                return Ok(());
            }
            return Err(ServiceError::bad_request(format!(
                "conversation {:#x} is unknown or finished",
                header.session
            )));
        };
        let answer = match header.kind {
            Kind::Answer => Some(Ok(payload.slice(HEADER_LEN..))),
            Kind::Failed => Some(Err(RemoteError::Service {
                code: ErrorCode::from_u32(header.word),
                message: String::from_utf8_lossy(body).into(),
            })),
            Kind::Abandon => {
                self.table.abandon(&session);
                Header::of(Kind::Done, session.id).write(reply);
                return Ok(());
            }
            _ => None, // a poll
        };
        if let Some(answer) = answer {
            let mut awaiting = session.awaiting.lock();
            // Otherwise a late or repeated answer: the worker gave up on that callback.
            if *awaiting == Some(header.seq) {
                *awaiting = None;
                let _ = session.answers.send(ToWorker::Answer(header.seq, answer));
            }
        }
        self.table.wait(&session, reply)
    }
}

impl Table {
    /// Waits (boundedly) for the worker's next message and appends it to `reply`.
    fn wait(&self, session: &Session, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        let max_wait = Duration::from_micros(self.max_wait_us.load(Ordering::Relaxed));
        let pending = |reply: &mut Vec<u8>| {
            Header::of(Kind::Pending, session.id).write(reply);
            Ok(())
        };
        // Another request of this conversation is waiting already (a hostile or confused caller).
        let Some(events) = session.events.try_lock_for(max_wait) else { return pending(reply) };
        match events.recv_timeout(max_wait) {
            Ok(Event::Callback { slot, seq, method, request }) => {
                *session.awaiting.lock() = Some(seq);
                Header { kind: Kind::Callback, slot, seq, word: method, session: session.id }.write(reply);
                reply.extend_from_slice(&request);
                Ok(())
            }
            Ok(Event::Done(result)) => {
                self.sessions.lock().remove(&session.id);
                let bytes = result?;
                Header::of(Kind::Done, session.id).write(reply);
                reply.extend_from_slice(&bytes);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => pending(reply),
            Err(RecvTimeoutError::Disconnected) => {
                self.sessions.lock().remove(&session.id);
                Err(ServiceError::new(ErrorCode::Internal, "the conversation's worker vanished"))
            }
        }
    }

    /// Ends a conversation from the caller's side: the worker's reverse calls fail from now on.
    fn abandon(&self, session: &Session) {
        session.abandoned.store(true, Ordering::Release);
        self.sessions.lock().remove(&session.id);
        let _ = session.answers.send(ToWorker::Abandon);
    }

    /// Drops results whose caller never came back for them (it vanished while the
    /// implementation ran), once they are an idle timeout old.
    fn sweep(&self, sessions: &mut HashMap<u64, Arc<Session>>) {
        let running = self.workers.load(Ordering::Acquire);
        if sessions.len() <= running {
            return;
        }
        let idle = Duration::from_millis(self.idle_timeout_ms.load(Ordering::Relaxed));
        sessions.retain(|_, session| session.finished.lock().is_none_or(|at| at.elapsed() < idle));
    }
}

/// Counts a running implementation for as long as it lives.
struct WorkerCount(Arc<Table>);

impl Drop for WorkerCount {
    fn drop(&mut self) {
        self.0.workers.fetch_sub(1, Ordering::AcqRel);
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
    abandoned: Arc<AtomicBool>,
    /// One callback at a time per conversation: taken for the whole request/answer exchange.
    turn: Mutex<Turn>,
    events: Sender<Event>,
}

struct Turn {
    answers: Receiver<ToWorker>,
    next_seq: u16,
}

impl Link {
    fn call(
        &self,
        slot: u8,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Bytes, RemoteError> {
        let abandoned = || RemoteError::ConnectionClosed("the caller has left the conversation".into());
        let mut turn = self.turn.lock();
        if self.abandoned.load(Ordering::Acquire) {
            return Err(abandoned());
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(RemoteError::DeadlineExceeded);
        }
        let seq = turn.next_seq;
        turn.next_seq = seq.wrapping_add(1);
        let request = request.to_vec();
        self.events.send(Event::Callback { slot, seq, method, request }).map_err(|_| abandoned())?;
        let idle = Duration::from_millis(self.table.idle_timeout_ms.load(Ordering::Relaxed));
        let give_up = Instant::now() + idle;
        loop {
            let until = deadline.map_or(give_up, |deadline| deadline.min(give_up));
            match turn.answers.recv_deadline(until) {
                Ok(ToWorker::Answer(answered, answer)) if answered == seq => return answer,
                Ok(ToWorker::Answer(..)) => {} // the late answer of a callback that gave up
                Ok(ToWorker::Abandon) | Err(RecvTimeoutError::Disconnected) => return Err(abandoned()),
                Err(RecvTimeoutError::Timeout) if deadline.is_some_and(|deadline| deadline < give_up) => {
                    // This callback gives up; the conversation goes on, and its late answer
                    // will be recognised by its sequence number and dropped.
                    return Err(RemoteError::DeadlineExceeded);
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.abandoned.store(true, Ordering::Release);
                    self.table.sessions.lock().remove(&self.session);
                    return Err(RemoteError::ConnectionClosed(
                        format!("the caller did not answer a callback within {idle:?}").into(),
                    ));
                }
            }
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
