//! The server's side of a conversation: run the implementation on a worker, turn its reverse
//! calls into callback replies (batching the one-way ones), and hand the caller's answers back
//! to it.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::batch::Batch;
use super::{HEADER_LEN, Header, Kind, MAX_BATCH_BYTES, MAX_BATCH_CALLS, pool};
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
///   holds across its callback, say) cannot stall the connection or the server thread;
/// - a worker's batch of one-way callbacks is bounded ([`Conversations::with_max_batch`]): a
///   callee that only sends one-way calls waits for its caller once per full batch, so it
///   cannot queue without limit, and its idle timeout applies to those waits.
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
    max_batch_bytes: AtomicUsize,
    max_batch_calls: AtomicUsize,
}

/// The server's end of one conversation.
struct Session {
    id: u64,
    /// The worker's messages.
    inbox: Mutex<Inbox>,
    /// The caller's answers, to the worker.
    answers: Sender<ToWorker>,
    /// The callback whose answer the worker waits for.
    awaiting: Mutex<Option<u16>>,
    /// The caller gave up, or stopped answering.
    abandoned: Arc<AtomicBool>,
    /// When the worker finished, for sweeping results nobody collects.
    finished: Arc<Mutex<Option<Instant>>>,
}

struct Inbox {
    events: Receiver<Event>,
    /// A message that could not ride with the batch in front of it (see
    /// [`Message::rides_with`]): the reply to the caller's next poll.
    held: Option<Message>,
}

/// What the worker has to say: the one-way callbacks it queued, then a message they travel in
/// front of, so that the caller runs them first.
struct Event {
    batch: Batch,
    message: Message,
}

enum Message {
    /// A two-way callback: the worker waits for its answer.
    Callback { slot: u8, seq: u16, method: MethodId, request: Vec<u8> },
    /// The worker waits until the caller has run every callback before it.
    Flush { seq: u16 },
    /// The implementation returned.
    Done(Result<Vec<u8>, ServiceError>),
}

impl Message {
    /// Whether the message may follow `batch` in one reply. An error result may not (an error
    /// reply has no body to carry the batch in). Nor may a message larger than the batch bound,
    /// or any message behind a batch over it (one request larger than the bound): then each
    /// travels on its own, so a reply with a batch is never more than twice the bound, or a few
    /// headers more than the same messages unbatched, and what fits in a frame alone still does.
    fn rides_with(&self, batch: &Batch, max_bytes: usize) -> bool {
        if batch.bytes() > max_bytes {
            return false;
        }
        match self {
            Message::Callback { request, .. } => request.len() <= max_bytes,
            Message::Flush { .. } => true,
            Message::Done(Ok(result)) => result.len() <= max_bytes,
            Message::Done(Err(_)) => false,
        }
    }
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
    /// for a worker per request, batches of one-way callbacks of [`MAX_BATCH_BYTES`] and
    /// [`MAX_BATCH_CALLS`].
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
                max_batch_bytes: AtomicUsize::new(MAX_BATCH_BYTES),
                max_batch_calls: AtomicUsize::new(MAX_BATCH_CALLS),
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

    /// Bounds a conversation's batch of one-way callbacks: at most `bytes` of encoded callbacks
    /// (16 bytes each plus its request padded to 16; a single larger request makes a batch of its
    /// own) and at most `calls` callbacks (at least 1). A one-way reverse call that would take
    /// the batch past either bound flushes it first, in one round trip.
    ///
    /// A batch travels in one message with the next callback request or result when that is at
    /// most `bytes` long, so keep `bytes` well below the connection's
    /// [`max_frame`](crate::Config::max_frame) (at most half of it).
    pub fn with_max_batch(self, bytes: usize, calls: usize) -> Self {
        self.table.max_batch_bytes.store(bytes, Ordering::Relaxed);
        self.table.max_batch_calls.store(calls.max(1), Ordering::Relaxed);
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
                inbox: Mutex::new(Inbox { events: events_rx, held: None }),
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
            turn: Mutex::new(Turn {
                answers: answers_rx,
                next_seq: 0,
                batch: Batch::default(),
                unconfirmed: false,
                one_way_failure: None,
                ended: false,
            }),
            events: events_tx.clone(),
        });
        let spawned = pool::spawn(move || {
            let reverse = Reverse { link };
            let result = guarded(|| body(&reverse));
            let batch = reverse.link.finish();
            *finished.lock() = Some(Instant::now());
            // Counted out before the result leaves, so a caller that starts its next
            // conversation on receiving it finds the slot free.
            drop(worker);
            let _ = events_tx.send(Event { batch, message: Message::Done(result) });
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
    /// Waits (boundedly) for the worker's next message and appends it to `reply`, behind the
    /// batch of one-way callbacks queued before it.
    fn wait(&self, session: &Session, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        let max_wait = Duration::from_micros(self.max_wait_us.load(Ordering::Relaxed));
        let pending = |reply: &mut Vec<u8>| {
            Header::of(Kind::Pending, session.id).write(reply);
            Ok(())
        };
        // Another request of this conversation is waiting already (a hostile or confused caller).
        let Some(mut inbox) = session.inbox.try_lock_for(max_wait) else { return pending(reply) };
        let Event { batch, message } = match inbox.held.take() {
            Some(message) => Event { batch: Batch::default(), message },
            None => match inbox.events.recv_timeout(max_wait) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => return pending(reply),
                Err(RecvTimeoutError::Disconnected) => {
                    self.sessions.lock().remove(&session.id);
                    return Err(ServiceError::new(ErrorCode::Internal, "the conversation's worker vanished"));
                }
            },
        };
        if !batch.is_empty() {
            batch.write(session.id, reply);
            if !message.rides_with(&batch, self.max_batch_bytes.load(Ordering::Relaxed)) {
                inbox.held = Some(message);
                return pending(reply);
            }
        }
        match message {
            Message::Callback { slot, seq, method, request } => {
                *session.awaiting.lock() = Some(seq);
                Header { kind: Kind::Callback, slot, seq, word: method, session: session.id }.write(reply);
                reply.extend_from_slice(&request);
                Ok(())
            }
            Message::Flush { seq } => {
                *session.awaiting.lock() = Some(seq);
                Header { seq, ..Header::of(Kind::Flush, session.id) }.write(reply);
                Ok(())
            }
            Message::Done(result) => {
                self.sessions.lock().remove(&session.id);
                // Never with a batch in front: an error result does not ride with one.
                let bytes = result?;
                Header::of(Kind::Done, session.id).write(reply);
                reply.extend_from_slice(&bytes);
                Ok(())
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
    /// One exchange with the caller at a time per conversation: taken for the whole
    /// request/answer exchange, and to queue a one-way callback (so the batch keeps the order
    /// in which the implementation's threads made their calls).
    turn: Mutex<Turn>,
    events: Sender<Event>,
}

struct Turn {
    answers: Receiver<ToWorker>,
    next_seq: u16,
    /// One-way callbacks not sent yet.
    batch: Batch,
    /// One-way callbacks have left with a two-way callback since the last flush, so the caller
    /// may hold a failure of theirs that only a flush brings back.
    unconfirmed: bool,
    /// The first one-way failure a flush for a full batch brought back, for the next `flush()`.
    one_way_failure: Option<RemoteError>,
    /// The implementation returned: the reverse channels are dead.
    ended: bool,
}

impl Turn {
    fn next_seq(&mut self) -> u16 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }
}

fn abandoned() -> RemoteError {
    RemoteError::ConnectionClosed("the caller has left the conversation".into())
}

impl Link {
    /// A two-way callback; the batch leaves in front of it.
    fn call(
        &self,
        slot: u8,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Bytes, RemoteError> {
        let mut turn = self.turn.lock();
        self.check_open(&mut turn)?;
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(RemoteError::DeadlineExceeded);
        }
        let seq = turn.next_seq();
        let batch = std::mem::take(&mut turn.batch);
        turn.unconfirmed |= !batch.is_empty();
        let message = Message::Callback { slot, seq, method, request: request.to_vec() };
        self.exchange(&mut turn, Event { batch, message }, seq, deadline)
    }

    /// A one-way callback: queued, unless the batch is full (then it is flushed first).
    fn send_one_way(&self, slot: u8, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        let mut turn = self.turn.lock();
        self.check_open(&mut turn)?;
        let max_bytes = self.table.max_batch_bytes.load(Ordering::Relaxed);
        let max_calls = self.table.max_batch_calls.load(Ordering::Relaxed);
        if turn.batch.is_full_for(request.len(), max_bytes, max_calls) {
            // Its failures are not this call's: they wait for the implementation's `flush()`.
            if let Some(failure) = self.flush_batch(&mut turn)? {
                turn.one_way_failure.get_or_insert(failure);
            }
        }
        turn.batch.push(slot, method, request)
    }

    /// Waits until the caller has run every one-way callback queued so far, and reports the
    /// first of them that failed since the last flush.
    fn flush(&self) -> Result<(), RemoteError> {
        let mut turn = self.turn.lock();
        self.check_open(&mut turn)?;
        let reported = self.flush_batch(&mut turn)?;
        match turn.one_way_failure.take().or(reported) {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Sends the batch with a flush request and waits for the caller's answer. `Ok(Some(_))` is
    /// the first one-way failure the caller reported. No round trip when nothing was sent since
    /// the last flush.
    fn flush_batch(&self, turn: &mut Turn) -> Result<Option<RemoteError>, RemoteError> {
        if turn.batch.is_empty() && !turn.unconfirmed {
            return Ok(None);
        }
        let seq = turn.next_seq();
        let batch = std::mem::take(&mut turn.batch);
        let reported = match self.exchange(turn, Event { batch, message: Message::Flush { seq } }, seq, None) {
            Ok(_) => None,
            // The caller answers a flush with a failure only for a one-way callback's.
            Err(failure @ RemoteError::Service { .. }) => Some(failure),
            Err(error) => return Err(error),
        };
        turn.unconfirmed = false;
        Ok(reported)
    }

    /// Fails once the conversation is over for the reverse channels; a caller that left takes
    /// the queued callbacks with it.
    fn check_open(&self, turn: &mut Turn) -> Result<(), RemoteError> {
        if turn.ended {
            return Err(RemoteError::ConnectionClosed("the call this reverse channel belongs to has returned".into()));
        }
        if self.abandoned.load(Ordering::Acquire) {
            turn.batch = Batch::default();
            return Err(abandoned());
        }
        Ok(())
    }

    /// Ends the reverse channels (the implementation returned) and takes the batch, which
    /// travels with the result.
    fn finish(&self) -> Batch {
        let mut turn = self.turn.lock();
        turn.ended = true;
        if self.abandoned.load(Ordering::Acquire) {
            return Batch::default();
        }
        std::mem::take(&mut turn.batch)
    }

    /// Posts `event` and waits for the caller's answer to `seq`.
    fn exchange(
        &self,
        turn: &mut Turn,
        event: Event,
        seq: u16,
        deadline: Option<Instant>,
    ) -> Result<Bytes, RemoteError> {
        self.events.send(event).map_err(|_| abandoned())?;
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

/// A reverse channel: the calls of the reverse proxy of one interface argument.
///
/// The one-way callbacks of all of a conversation's slots share one batch, so the caller runs
/// them in the order they were made whatever their slot; a flush on any slot flushes them all.
struct SlotChannel {
    link: Arc<Link>,
    slot: u8,
}

impl Channel for SlotChannel {
    /// A two-way callback: one round trip to the caller, carrying the batched one-way callbacks
    /// made before it, which run first.
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        self.link.call(self.slot, method, request, deadline)
    }

    /// Queues a one-way callback in the conversation's batch and returns at once. The batch
    /// reaches the caller, in order, with the next two-way callback, the next [`Self::flush`], or
    /// the result when the implementation returns; a call that would take it past its bound
    /// ([`Conversations::with_max_batch`]) flushes it first, waiting one round trip. So the
    /// caller's object is only ever called while the conversation lasts, and the result never
    /// overtakes a callback.
    ///
    /// Fails at once when the caller has left the conversation (the batch is dropped) or the
    /// implementation has returned. Failures of the callback itself on the caller's side
    /// surface from a later [`Self::flush`].
    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.link.send_one_way(self.slot, method, request)
    }

    /// Sends the batch and waits until the caller has run it (one round trip; none if no
    /// one-way callback was sent since the last flush), then reports the first one-way callback
    /// that failed on the caller's side since the last flush, as
    /// [`RemoteError::Service`] with the code the caller's dispatcher gave it.
    fn flush(&self) -> Result<(), RemoteError> {
        self.link.flush()
    }
}
