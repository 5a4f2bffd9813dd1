//! Conversations through the public API: a hand-written [`Service`] whose implementations call
//! back into the caller through [`Conversations`], over [`LoopbackChannel`] and the tokio backend.
//!
//! Besides the protocol's normal course, they pin what review found wrong in the first version:
//! forged continuations, server threads stalled behind a worker, sessions left behind by callers
//! that gave up, and a reverse call's deadline ending the whole conversation; and the batching of
//! one-way callbacks, counting the round trips (`CONTINUE` calls) each conversation took.

#![cfg(feature = "tokio")]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_transport::conversation::{CONTINUE, Callback, Conversations, Header, Kind, MAX_BATCH_BYTES, Reverse};
use hatch_transport::tokio::{BlockingClient, Server};
use hatch_transport::{AsyncChannel, Channel, Config, ErrorCode, LoopbackChannel, RemoteError, Service, ServiceError};
use tokio::runtime::{Builder, Runtime};

type Body = dyn Fn(&Reverse, Bytes) -> Result<Vec<u8>, ServiceError> + Send + Sync;

/// Every method id but `CONTINUE` starts a conversation that runs `body` on the request.
struct Talker {
    conversations: Conversations,
    body: Arc<Body>,
    /// `CONTINUE` calls received: the round trips conversations took beyond their first call.
    continues: AtomicUsize,
}

impl Talker {
    /// The `CONTINUE` calls received since the last time this was asked.
    fn take_continues(&self) -> usize {
        self.continues.swap(0, Ordering::SeqCst)
    }
}

impl Service for Talker {
    fn call(&self, method: u32, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        if method == CONTINUE {
            self.continues.fetch_add(1, Ordering::SeqCst);
            return self.conversations.resume(payload, reply);
        }
        let (body, payload) = (self.body.clone(), payload.clone());
        self.conversations.start(reply, move |reverse| body(reverse, payload))
    }
}

fn talker(
    conversations: Conversations,
    body: impl Fn(&Reverse, Bytes) -> Result<Vec<u8>, ServiceError> + Send + Sync + 'static,
) -> Arc<Talker> {
    Arc::new(Talker { conversations, body: Arc::new(body), continues: AtomicUsize::new(0) })
}

fn loopback(service: &Arc<Talker>) -> LoopbackChannel<Arc<Talker>> {
    LoopbackChannel::new(service.clone(), Config::default(), Config::default())
}

/// A tokio server with `workers` runtime threads (1 models the io_uring server's single loop).
fn tcp(service: &Arc<Talker>, workers: usize) -> (Runtime, Server) {
    let runtime = Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    let server = runtime.block_on(Server::bind("127.0.0.1:0", Config::default(), service.clone())).unwrap();
    (runtime, server)
}

fn connect(server: &Server) -> BlockingClient {
    BlockingClient::connect(server.local_addr(), Config::default()).unwrap()
}

fn internal(error: RemoteError) -> ServiceError {
    ServiceError::new(ErrorCode::Internal, error.to_string())
}

/// Answers every callback with its payload followed by `suffix`.
fn echo(suffix: &'static [u8]) -> impl FnMut(Callback<'_>, &mut Vec<u8>) -> Result<(), ServiceError> {
    move |callback, out| {
        out.extend_from_slice(callback.payload);
        out.extend_from_slice(suffix);
        Ok(())
    }
}

/// A caller's message answering the callback `to` (its slot and sequence number) in `session`.
fn message(kind: Kind, to: &Header, session: u64, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    Header { kind, slot: to.slot, seq: to.seq, word: 0, session }.write(&mut bytes);
    bytes.extend_from_slice(body);
    bytes
}

/// The server's next real message: polls while it answers "still running".
fn past_pending(channel: &dyn Channel, mut reply: Bytes) -> Bytes {
    loop {
        let header = Header::split(&reply).unwrap().0;
        if header.kind != Kind::Pending {
            return reply;
        }
        let mut poll = Vec::new();
        Header::of(Kind::Poll, header.session).write(&mut poll);
        reply = channel.call(CONTINUE, &poll, None).unwrap();
    }
}

/// A reply as comparable values.
fn owned(reply: Result<Bytes, RemoteError>) -> Result<Vec<u8>, String> {
    reply.map(|reply| reply.to_vec()).map_err(|error| format!("{error:?}"))
}

fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

// ---------------------------------------------------------------------------------------------
// The protocol's normal course

/// Three callbacks on two slots, then the result; every body after the 16-byte header is
/// 16-aligned on both sides.
fn round_trip(channel: &dyn Channel, service: &Talker) {
    let mut seen = Vec::new();
    let reply = channel
        .converse(1, b"start", None, &mut |callback: Callback<'_>, out: &mut Vec<u8>| {
            assert_eq!(callback.payload.as_ptr() as usize % 16, 0, "callback request aligned");
            seen.push((callback.slot, callback.method, callback.payload.to_vec()));
            out.extend_from_slice(b"pong");
            out.push(callback.method as u8);
            Ok(())
        })
        .unwrap();
    assert_eq!(&reply[..], b"done:start");
    assert_eq!(reply.as_ptr() as usize % 16, 0, "final reply aligned");
    assert_eq!(seen, [(0, 10, b"ping".to_vec()), (1, 11, b"ping".to_vec()), (0, 12, b"ping".to_vec())]);
    assert_eq!(service.conversations.active(), 0);
}

fn round_trip_service() -> Arc<Talker> {
    talker(Conversations::new(), |reverse, request| {
        for (slot, method) in [(0u8, 10u32), (1, 11), (0, 12)] {
            let answer = reverse.channel(slot).call(method, b"ping", None).map_err(internal)?;
            assert_eq!(answer.as_ptr() as usize % 16, 0, "answer aligned");
            assert_eq!(&answer[..], [&b"pong"[..], &[method as u8]].concat());
        }
        Ok([&b"done:"[..], &request].concat())
    })
}

#[test]
fn callbacks_round_trip_aligned_over_loopback_and_tcp() {
    let service = round_trip_service();
    round_trip(&loopback(&service), &service);
    let (_runtime, server) = tcp(&service, 2);
    let client = connect(&server);
    for _ in 0..3 {
        round_trip(&client, &service);
    }
}

#[test]
fn the_reverse_channel_serves_several_threads_of_the_implementation() {
    let service = talker(Conversations::new(), |reverse, _| {
        let channel = reverse.channel(0);
        std::thread::scope(|scope| {
            for t in 0..4u8 {
                let channel = channel.clone();
                scope.spawn(move || {
                    for i in 0..20u8 {
                        let answer = channel.call(1, &[t, i], None).unwrap();
                        assert_eq!(&answer[..], [t, i, 0xAA], "each thread gets its own answer");
                    }
                });
            }
        });
        Ok(b"ok".to_vec())
    });
    let (_runtime, server) = tcp(&service, 2);
    let client = connect(&server);
    let mut calls = 0;
    let mut answer = echo(&[0xAA]);
    let reply = client
        .converse(1, b"", None, &mut |callback: Callback<'_>, out: &mut Vec<u8>| {
            calls += 1;
            answer(callback, out)
        })
        .unwrap();
    assert_eq!(&reply[..], b"ok");
    assert_eq!(calls, 80);
}

#[test]
fn a_callback_can_hold_a_nested_conversation_on_the_same_channel() {
    let service = talker(Conversations::new(), |reverse, request| {
        let answer = reverse.channel(0).call(1, &request, None).map_err(internal)?;
        Ok([&request[..], b"->", &answer].concat())
    });
    let (_runtime, server) = tcp(&service, 2);
    let client = connect(&server);
    let reply = client
        .converse(1, b"outer", None, &mut |_: Callback<'_>, out: &mut Vec<u8>| {
            let inner = client.converse(1, b"inner", None, &mut echo(b"!")).map_err(internal)?;
            out.extend_from_slice(&inner);
            Ok(())
        })
        .unwrap();
    assert_eq!(&reply[..], b"outer->inner->inner!");
    assert_eq!(service.conversations.active(), 0);
}

#[test]
fn a_panicking_implementation_is_an_internal_error_and_frees_its_session() {
    let service = talker(Conversations::new(), |reverse, _| {
        reverse.channel(0).call(1, b"", None).map_err(internal)?;
        panic!("implementation broke")
    });
    let channel = loopback(&service);
    let error = channel.converse(1, b"", None, &mut echo(b"")).unwrap_err();
    assert!(matches!(error, RemoteError::Service { code: ErrorCode::Internal, .. }), "{error:?}");
    assert_eq!(service.conversations.active(), 0);
    // The server goes on.
    let error = channel.converse(1, b"", None, &mut echo(b"")).unwrap_err();
    assert!(matches!(error, RemoteError::Service { code: ErrorCode::Internal, .. }));
}

#[test]
fn a_callback_error_reaches_the_implementation_with_its_code() {
    let service = talker(Conversations::new(), |reverse, _| match reverse.channel(0).call(1, b"", None) {
        Err(RemoteError::Service { code, message }) => Ok(format!("{code:?}/{message}").into_bytes()),
        other => panic!("expected the callback's error, got {other:?}"),
    });
    let channel = loopback(&service);
    let reply = channel
        .converse(1, b"", None, &mut |_: Callback<'_>, _: &mut Vec<u8>| {
            Err(ServiceError::new(ErrorCode::Other(77), "no such file"))
        })
        .unwrap();
    assert_eq!(&reply[..], b"Other(77)/no such file");
}

#[test]
fn a_reverse_channel_that_escapes_its_conversation_fails_at_once() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (late_tx, late_rx) = mpsc::channel();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let late_tx = Mutex::new(late_tx);
    let service = talker(Conversations::new(), move |reverse, _| {
        let (channel, go, late) = (reverse.channel(0), go_rx.clone(), late_tx.lock().unwrap().clone());
        std::thread::spawn(move || {
            go.lock().unwrap().recv().unwrap();
            let started = Instant::now();
            // Every kind of reverse call: a one-way call must not be queued for nobody.
            let results = [channel.call(1, b"late", None).map(drop), channel.send_one_way(1, b"late"), channel.flush()];
            late.send((results, started.elapsed())).unwrap();
        });
        Ok(b"returned".to_vec())
    });
    let channel = loopback(&service);
    assert_eq!(&channel.converse(1, b"", None, &mut echo(b"")).unwrap()[..], b"returned");
    go_tx.send(()).unwrap();
    let (results, took) = late_rx.recv_timeout(Duration::from_secs(1)).unwrap();
    for result in results {
        assert!(matches!(result, Err(RemoteError::ConnectionClosed(_))), "{result:?}");
    }
    assert!(took < Duration::from_millis(100), "no wait for an idle timeout: {took:?}");
    assert_eq!(service.conversations.active(), 0);
}

#[test]
fn the_worker_limit_counts_running_implementations_only() {
    let service = talker(Conversations::new().with_max_workers(1), |reverse, request| {
        if &request[..] == b"ask" {
            reverse.channel(0).call(1, b"?", None).map_err(internal)?;
        }
        Ok(b"ok".to_vec())
    });
    let channel = loopback(&service);
    // Conversations that never call back do not hold a slot.
    for _ in 0..3 {
        assert_eq!(&channel.converse(1, b"quick", None, &mut echo(b"")).unwrap()[..], b"ok");
    }
    // One waiting for an answer does; a second is refused, and typed.
    let first = past_pending(&channel, channel.call(1, b"ask", None).unwrap());
    let (header, _) = Header::split(&first).unwrap();
    assert_eq!(header.kind, Kind::Callback);
    let refused = channel.call(1, b"ask", None).unwrap_err();
    assert!(matches!(refused, RemoteError::Service { code: ErrorCode::Unavailable, .. }), "{refused:?}");
    let done = channel.call(CONTINUE, &message(Kind::Answer, &header, header.session, b"!"), None).unwrap();
    let done = past_pending(&channel, done);
    assert_eq!(Header::split(&done).unwrap().0.kind, Kind::Done);
    assert_eq!(service.conversations.active(), 0);
    assert_eq!(&channel.converse(1, b"ask", None, &mut echo(b"")).unwrap()[..], b"ok");
}

// ---------------------------------------------------------------------------------------------
// What review found in the first version

/// Session ids are unguessable: a client that starts a conversation of its own cannot derive
/// its neighbours' ids from it (the first version numbered them consecutively, and a forged
/// answer was accepted and got the other client's result).
#[test]
fn a_client_cannot_answer_another_clients_callback() {
    let service = talker(Conversations::new(), |reverse, _| {
        let answer = reverse.channel(0).call(1, b"what is your password?", None).map_err(internal)?;
        Ok([&b"result for "[..], &answer].concat())
    });
    let (_runtime, server) = tcp(&service, 2);
    let (alice, mallory) = (connect(&server), connect(&server));
    let (alices, _) = Header::split(&past_pending(&alice, alice.call(1, b"", None).unwrap())).unwrap();
    let (mallorys, _) = Header::split(&past_pending(&mallory, mallory.call(1, b"", None).unwrap())).unwrap();
    // Mallory guesses Alice's session from her own.
    for guess in [mallorys.session.wrapping_sub(1), mallorys.session.wrapping_add(1)] {
        let forged = mallory.call(CONTINUE, &message(Kind::Answer, &mallorys, guess, b"forged"), None);
        assert!(
            matches!(forged, Err(RemoteError::Service { code: ErrorCode::BadRequest, .. })),
            "another client's session must be refused; mallory got {forged:?}"
        );
    }
    let genuine = alice.call(CONTINUE, &message(Kind::Answer, &alices, alices.session, b"alice"), None);
    let _ = mallory.call(CONTINUE, &message(Kind::Answer, &mallorys, mallorys.session, b"mallory"), None);
    let genuine = past_pending(&alice, genuine.expect("alice's own answer is accepted"));
    assert_eq!(Header::split(&genuine).unwrap().1, b"result for alice");
}

/// An implementation that takes a lock and keeps it across a callback (a common shape:
/// `let state = self.state.lock(); socket.read()`) does not stall the server thread: the second
/// conversation's start answers "pending" instead of waiting for the lock, so the first one's
/// answer gets through. (The first version blocked the thread until the worker's next message:
/// nothing moved until the first worker's idle timeout, and the first call failed.)
fn stalls_behind_a_lock(workers: usize, shared_connection: bool) {
    let lock = Arc::new(Mutex::new(()));
    let service = talker(Conversations::new().with_idle_timeout(Duration::from_secs(3)), move |reverse, _| {
        let _state = lock.lock().unwrap();
        let answer = reverse.channel(0).call(1, b"read", None).map_err(internal)?;
        Ok(answer.to_vec())
    });
    let (_runtime, server) = tcp(&service, workers);
    let first_client = connect(&server);
    let second_client = if shared_connection { None } else { Some(connect(&server)) };
    let second_client: &BlockingClient = second_client.as_ref().unwrap_or(&first_client);
    let (go_tx, go_rx) = mpsc::channel();
    let started = Instant::now();
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(move || {
            go_rx.recv().unwrap();
            second_client.converse(1, b"", None, &mut echo(b"second"))
        });
        let first = first_client.converse(1, b"", None, &mut |callback: Callback<'_>, out: &mut Vec<u8>| {
            // The second caller starts while the first worker holds the lock and waits for us.
            go_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            echo(b"first")(callback, out)
        });
        (first, second.join().unwrap())
    });
    let took = started.elapsed();
    assert_eq!(owned(second), Ok(b"readsecond".to_vec()));
    assert_eq!(owned(first), Ok(b"readfirst".to_vec()), "the first call is lost after {took:?}");
    // Stalled, it would take the idle timeout (3 s) and lose the first call.
    assert!(took < Duration::from_secs(2), "stalled for {took:?}");
}

#[test]
fn a_lock_held_across_a_callback_does_not_stall_a_shared_connection() {
    stalls_behind_a_lock(2, true);
}

/// The same across two connections when the server has one thread (the io_uring server's
/// single event loop, or a small tokio runtime).
#[test]
fn a_lock_held_across_a_callback_does_not_stall_a_one_thread_server() {
    stalls_behind_a_lock(1, false);
}

/// A caller whose callback panics abandons the conversation, so an implementation that goes on
/// (it got an error, not a panic) and calls back again fails at once instead of waiting for the
/// idle timeout (30 s by default) with its session and worker.
#[test]
fn a_panicking_callback_abandons_the_conversation() {
    let service = talker(Conversations::new(), |reverse, _| {
        let channel = reverse.channel(0);
        let first = channel.call(1, b"first", None);
        let second = channel.call(1, b"second", None);
        Ok(format!("{} {}", first.is_ok(), second.is_ok()).into_bytes())
    });
    let channel = loopback(&service);
    let panic = catch_unwind(AssertUnwindSafe(|| {
        channel.converse(1, b"", None, &mut |_: Callback<'_>, _: &mut Vec<u8>| panic!("caller broke"))
    }))
    .unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"caller broke"));
    assert!(
        wait_until(Duration::from_secs(2), || service.conversations.active() == 0),
        "the abandoned session still holds a worker and a slot"
    );
}

/// A reverse call with a deadline (e.g. a reverse proxy built `with_timeout`) that expires ends
/// that call only: the implementation handles the error and returns a result, and the caller's
/// late answer is recognised by its sequence number and dropped.
#[test]
fn a_reverse_call_deadline_does_not_end_the_conversation() {
    let service = talker(Conversations::new(), |reverse, _| {
        let deadline = Instant::now() + Duration::from_millis(50);
        match reverse.channel(0).call(1, b"slow", Some(deadline)) {
            Ok(answer) => Ok(answer.to_vec()),
            Err(RemoteError::DeadlineExceeded) => Ok(b"fallback".to_vec()),
            Err(other) => Err(internal(other)),
        }
    });
    let channel = loopback(&service);
    let reply = channel.converse(1, b"", None, &mut |callback: Callback<'_>, out: &mut Vec<u8>| {
        std::thread::sleep(Duration::from_millis(150));
        echo(b"")(callback, out)
    });
    assert_eq!(owned(reply), Ok(b"fallback".to_vec()));
}

/// A caller whose deadline passes abandons the conversation: the implementation's next callback
/// fails at once instead of waiting for the idle timeout with a worker and a session.
#[test]
fn a_caller_that_times_out_abandons_the_conversation() {
    let service = talker(Conversations::new(), |reverse, _| {
        std::thread::sleep(Duration::from_millis(200));
        let answer = reverse.channel(0).call(1, b"too late", None).map_err(internal)?;
        Ok(answer.to_vec())
    });
    let (_runtime, server) = tcp(&service, 2);
    let client = connect(&server);
    let deadline = Some(Instant::now() + Duration::from_millis(50));
    let error = client.converse(1, b"", deadline, &mut echo(b"")).unwrap_err();
    assert!(matches!(error, RemoteError::DeadlineExceeded), "{error:?}");
    assert!(
        wait_until(Duration::from_secs(2), || service.conversations.active() == 0),
        "the abandoned session still holds a worker and a slot"
    );
}

/// A conversation that fails after one of its callbacks ran is not a transport failure any more:
/// no retry or fail-over layer may re-fire it, which would run the callback twice. Before the
/// first callback the transport error comes back as it is, so re-firing stays possible.
#[test]
fn a_conversation_failing_after_a_callback_is_not_refired() {
    /// Passes the call through; every continuation fails as if the connection broke.
    struct BreaksAfterTheFirstReply<'a>(&'a dyn Channel);
    impl Channel for BreaksAfterTheFirstReply<'_> {
        fn call(&self, method: u32, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
            if method == CONTINUE && Header::split(request).is_ok_and(|(h, _)| h.kind != Kind::Abandon) {
                return Err(RemoteError::ConnectionClosed("broken".into()));
            }
            self.0.call(method, request, deadline)
        }
        fn send_one_way(&self, method: u32, request: &[u8]) -> Result<(), RemoteError> {
            self.0.send_one_way(method, request)
        }
        fn flush(&self) -> Result<(), RemoteError> {
            self.0.flush()
        }
    }
    let service = talker(Conversations::new(), |reverse, _| {
        let answer = reverse.channel(0).call(1, b"?", None).map_err(internal)?;
        Ok(answer.to_vec())
    });
    let inner = loopback(&service);
    let channel = BreaksAfterTheFirstReply(&inner);
    let mut ran = 0;
    let error = channel
        .converse(1, b"", None, &mut |callback: Callback<'_>, out: &mut Vec<u8>| {
            ran += 1;
            echo(b"")(callback, out)
        })
        .unwrap_err();
    assert_eq!(ran, 1);
    assert!(!error.is_transport_failure(), "{error:?}");
    assert!(
        matches!(&error, RemoteError::Service { code: ErrorCode::Unavailable, message } if message.contains("not re-fired"))
    );
    // Broken before any callback: the transport error itself.
    let quick = talker(Conversations::new(), |_, _| Ok(b"no callbacks".to_vec()));
    let quick_inner = loopback(&quick);
    struct Down;
    impl Channel for Down {
        fn call(&self, _: u32, _: &[u8], _: Option<Instant>) -> Result<Bytes, RemoteError> {
            Err(RemoteError::ConnectionClosed("down".into()))
        }
        fn send_one_way(&self, _: u32, _: &[u8]) -> Result<(), RemoteError> {
            Ok(())
        }
        fn flush(&self) -> Result<(), RemoteError> {
            Ok(())
        }
    }
    let error = Down.converse(1, b"", None, &mut echo(b"")).unwrap_err();
    assert!(error.is_transport_failure(), "{error:?}");
    assert_eq!(&quick_inner.converse(1, b"", None, &mut echo(b"")).unwrap()[..], b"no callbacks");
}

/// A conversation sent as a one-way call would have its callback requests thrown away and its
/// worker wait for answers until the idle timeout: it is refused before any worker starts.
#[test]
fn a_one_way_start_is_refused_without_a_worker() {
    let service = talker(Conversations::new(), |reverse, _| {
        let answer = reverse.channel(0).call(1, b"?", None).map_err(internal)?;
        Ok(answer.to_vec())
    });
    let channel = loopback(&service);
    channel.send_one_way(1, b"").unwrap();
    let error = channel.flush().unwrap_err();
    assert!(matches!(error, RemoteError::Service { code: ErrorCode::BadRequest, .. }), "{error:?}");
    assert_eq!((service.conversations.workers(), service.conversations.active()), (0, 0));
    assert_eq!(&channel.converse(1, b"", None, &mut echo(b"!")).unwrap()[..], b"?!");
}

/// An async caller whose future is dropped mid-conversation (a timeout around it, a cancelled
/// task) abandons the conversation, so the worker does not wait 30 s for an answer.
#[test]
fn a_dropped_async_conversation_is_abandoned() {
    let service = talker(Conversations::new(), |reverse, _| {
        std::thread::sleep(Duration::from_millis(200));
        let answer = reverse.channel(0).call(1, b"anyone?", None).map_err(internal)?;
        Ok(answer.to_vec())
    });
    let (runtime, server) = tcp(&service, 2);
    runtime.block_on(async {
        let client = hatch_transport::tokio::Client::connect(server.local_addr(), Config::default()).await.unwrap();
        let mut answer = echo(b"");
        let mut on_callback = |callback: Callback<'_>, out: &mut Vec<u8>| answer(callback, out);
        let call = hatch_transport::conversation::converse_async(&client, 1, b"", None, &mut on_callback);
        assert!(tokio::time::timeout(Duration::from_millis(50), call).await.is_err(), "still running");
        // The abandon is a one-way message: make sure it left.
        client.flush().await.unwrap();
    });
    let conversations = &service.conversations;
    let done = || conversations.active() == 0 && conversations.workers() == 0;
    assert!(wait_until(Duration::from_secs(3), done), "the worker still waits for its caller");
}

// ---------------------------------------------------------------------------------------------
// Batched one-way callbacks

/// Conversations whose server thread waits for the worker as long as it takes, so that a worker
/// thread slow to be scheduled on a busy machine adds no "pending" polls to the round trips the
/// tests count.
fn patient() -> Conversations {
    Conversations::new().with_max_wait(Duration::from_secs(10))
}

/// The callbacks a caller ran: slot, method, request.
type Seen = Vec<(u8, u32, Vec<u8>)>;

/// Records every callback (checking its request is 16-aligned) and answers with its request.
fn recorder(seen: &mut Seen) -> impl FnMut(Callback<'_>, &mut Vec<u8>) -> Result<(), ServiceError> + Send + '_ {
    move |callback, out| {
        assert_eq!(callback.payload.as_ptr() as usize % 16, 0, "callback request aligned");
        seen.push((callback.slot, callback.method, callback.payload.to_vec()));
        out.extend_from_slice(callback.payload);
        Ok(())
    }
}

/// The Hatch paper's Fig. 7: a relocated handler writes its page in many small one-way calls on
/// two slots, then returns. All ride with the result, in order: no round trip beyond the call
/// itself (without batching, each was one: 1000 here).
fn thousand_pieces() -> (Arc<Talker>, Seen) {
    let service = talker(patient(), |reverse, _| {
        let slots = [reverse.channel(0), reverse.channel(1)];
        for i in 0..1000u32 {
            slots[i as usize % 2].send_one_way(7, format!("piece {i}").as_bytes()).map_err(internal)?;
        }
        Ok(b"page done".to_vec())
    });
    let expected = (0..1000u32).map(|i| ((i % 2) as u8, 7, format!("piece {i}").into_bytes())).collect();
    (service, expected)
}

#[test]
fn a_thousand_one_way_callbacks_ride_with_the_result() {
    let (service, expected) = thousand_pieces();
    let check = |channel: &dyn Channel| {
        let mut seen = Vec::new();
        let reply = channel.converse(1, b"", None, &mut recorder(&mut seen)).unwrap();
        assert_eq!(&reply[..], b"page done");
        assert_eq!(reply.as_ptr() as usize % 16, 0, "the result behind the batch is aligned");
        assert!(seen == expected, "every callback, in order ({} seen)", seen.len());
        assert_eq!(service.take_continues(), 0, "no round trip beyond the call");
    };
    check(&loopback(&service));
    let (_runtime, server) = tcp(&service, 2);
    check(&connect(&server));
    assert_eq!(service.conversations.active(), 0);
}

#[test]
fn a_thousand_one_way_callbacks_ride_with_the_result_async() {
    let (service, expected) = thousand_pieces();
    let (runtime, server) = tcp(&service, 2);
    let mut seen = Vec::new();
    let reply = runtime.block_on(async {
        let client = hatch_transport::tokio::Client::connect(server.local_addr(), Config::default()).await.unwrap();
        let mut on_callback = recorder(&mut seen);
        hatch_transport::conversation::converse_async(&client, 1, b"", None, &mut on_callback).await
    });
    assert_eq!(&reply.unwrap()[..], b"page done");
    assert!(seen == expected, "every callback, in order ({} seen)", seen.len());
    assert_eq!(service.take_continues(), 0, "no round trip beyond the call");
}

/// One-way and two-way callbacks on two slots reach the caller in the order the callee made
/// them: each two-way callback is one round trip, carrying the one-way ones made before it.
#[test]
fn one_way_and_two_way_callbacks_keep_their_order() {
    let service = talker(patient(), |reverse, _| {
        let slots = [reverse.channel(0), reverse.channel(1)];
        for i in 0..30u8 {
            let channel = &slots[usize::from(i % 2)];
            if i % 3 == 2 {
                let answer = channel.call(2, &[i], None).map_err(internal)?;
                assert_eq!(&answer[..], [i], "the answer to its own request");
            } else {
                channel.send_one_way(1, &[i]).map_err(internal)?;
            }
        }
        Ok(Vec::new())
    });
    let expected: Seen = (0..30u8).map(|i| (i % 2, if i % 3 == 2 { 2 } else { 1 }, vec![i])).collect();
    let mut seen = Vec::new();
    loopback(&service).converse(1, b"", None, &mut recorder(&mut seen)).unwrap();
    assert_eq!(seen, expected);
    assert_eq!(service.take_continues(), 10, "one round trip per two-way callback, none per one-way");
}

/// `flush()` on a reverse channel sends the batch and returns once the caller has run it: one
/// round trip, and none for a flush with nothing sent since the last one.
#[test]
fn a_flush_from_the_implementation_runs_the_batch() {
    let ran = Arc::new(AtomicUsize::new(0));
    let seen_by_worker = ran.clone();
    let service = talker(patient(), move |reverse, _| {
        let channel = reverse.channel(0);
        for _ in 0..5 {
            channel.send_one_way(5, b"note").map_err(internal)?;
        }
        let queued = seen_by_worker.load(Ordering::SeqCst);
        channel.flush().map_err(internal)?;
        let flushed = seen_by_worker.load(Ordering::SeqCst);
        channel.flush().map_err(internal)?;
        Ok(vec![queued as u8, flushed as u8])
    });
    let ran_in_callback = ran.clone();
    let reply = loopback(&service)
        .converse(1, b"", None, &mut |callback: Callback<'_>, _: &mut Vec<u8>| {
            assert_eq!((callback.method, callback.payload), (5, &b"note"[..]));
            ran_in_callback.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    assert_eq!(&reply[..], [0, 5], "queued by send_one_way, run by flush");
    assert_eq!(service.take_continues(), 1, "one round trip for the flush, none for the empty one");
}

/// A batch that would grow past its bound is flushed first, one round trip per full batch.
/// 1000 requests of 1000 bytes are entries of 16 + 1008 bytes, 64 to a 64 KiB batch: 15 full
/// batches are flushed on the way and the 16th rides with the result.
#[test]
fn a_batch_over_its_bound_flushes_in_several_round_trips() {
    fn piece(i: u32) -> Vec<u8> {
        let mut piece = vec![(i % 251) as u8; 1000];
        piece[..4].copy_from_slice(&i.to_le_bytes());
        piece
    }
    let service = talker(patient(), |reverse, _| {
        let channel = reverse.channel(0);
        for i in 0..1000 {
            channel.send_one_way(3, &piece(i)).map_err(internal)?;
        }
        Ok(b"ok".to_vec())
    });
    let (_runtime, server) = tcp(&service, 2);
    let mut seen = Vec::new();
    let reply = connect(&server).converse(1, b"", None, &mut recorder(&mut seen)).unwrap();
    assert_eq!(&reply[..], b"ok");
    let expected: Seen = (0..1000).map(|i| (0, 3, piece(i))).collect();
    assert!(seen == expected, "every callback, in order ({} seen)", seen.len());
    let continues = service.take_continues();
    assert_eq!(continues, 15);
    let encoded: usize = 1000 * (16 + 1008);
    assert!(continues < encoded.div_ceil(MAX_BATCH_BYTES), "{continues} round trips for {encoded} bytes");

    // The bound on calls: 100 small ones, 10 to a batch, 9 batches flushed on the way.
    let small = talker(patient().with_max_batch(MAX_BATCH_BYTES, 10), |reverse, _| {
        for i in 0..100u8 {
            reverse.channel(0).send_one_way(1, &[i]).map_err(internal)?;
        }
        Ok(Vec::new())
    });
    let mut seen = Vec::new();
    loopback(&small).converse(1, b"", None, &mut recorder(&mut seen)).unwrap();
    assert_eq!(seen, (0..100u8).map(|i| (0, 1, vec![i])).collect::<Seen>());
    assert_eq!(small.take_continues(), 9);
}

/// What a batched callback that fails on the caller's side does: it is a failed one-way call,
/// not a failed conversation. The callbacks after it run; the callee's next `flush()` reports
/// the first failure (with its code) once; a failure no flush asked for leaves the result alone.
#[test]
fn a_failing_one_way_callback_is_reported_by_the_next_flush() {
    type Report = ([Result<(), RemoteError>; 4], Result<(), RemoteError>, Result<(), RemoteError>);
    let report = Arc::new(Mutex::new(None::<Report>));
    let reported = report.clone();
    let service = talker(patient(), move |reverse, _| {
        let channel = reverse.channel(0);
        let sends = [
            channel.send_one_way(1, b"fine"),
            channel.send_one_way(66, b"first failure"),
            channel.send_one_way(66, b"second failure"),
            channel.send_one_way(1, b"fine after"),
        ];
        let (flushed, again) = (channel.flush(), channel.flush());
        *reported.lock().unwrap() = Some((sends, flushed, again));
        channel.send_one_way(66, b"nobody asks about this one").map_err(internal)?;
        Ok(b"result".to_vec())
    });
    let mut seen = Vec::new();
    let reply = loopback(&service).converse(1, b"", None, &mut |callback: Callback<'_>, _: &mut Vec<u8>| {
        seen.push(callback.payload.to_vec());
        match callback.method {
            66 => Err(ServiceError::new(ErrorCode::Other(77), String::from_utf8_lossy(callback.payload))),
            _ => Ok(()),
        }
    });
    assert_eq!(owned(reply), Ok(b"result".to_vec()), "one-way failures do not fail the conversation");
    let expected: [&[u8]; 5] =
        [b"fine", b"first failure", b"second failure", b"fine after", b"nobody asks about this one"];
    assert_eq!(seen, expected, "the callbacks after a failed one still ran");
    let (sends, flushed, again) = report.lock().unwrap().take().unwrap();
    assert!(sends.iter().all(Result::is_ok), "queued, not run: {sends:?}");
    match flushed {
        Err(RemoteError::Service { code: ErrorCode::Other(77), message }) => {
            assert!(message.contains("first failure") && message.contains("1 more"), "{message}");
        }
        other => panic!("the flush reports the first failure: {other:?}"),
    }
    assert!(again.is_ok(), "reported once: {again:?}");
    assert_eq!(service.take_continues(), 1, "the flush");
}

/// A batched callback that panics is the caller's panic, as a two-way one's is: the rest of the
/// batch does not run, the conversation is abandoned, and the callee's reverse calls fail.
#[test]
fn a_panicking_batched_callback_abandons_the_conversation() {
    let report = Arc::new(Mutex::new(None));
    let reported = report.clone();
    let service = talker(patient(), move |reverse, _| {
        let channel = reverse.channel(0);
        for i in 0..3u8 {
            channel.send_one_way(1, &[i]).map_err(internal)?;
        }
        let two_way = channel.call(2, b"carries the batch", None).map(drop);
        let one_way = channel.send_one_way(1, b"later");
        *reported.lock().unwrap() = Some([two_way, one_way]);
        Ok(Vec::new())
    });
    let mut ran = Vec::new();
    let panic = catch_unwind(AssertUnwindSafe(|| {
        loopback(&service).converse(1, b"", None, &mut |callback: Callback<'_>, _: &mut Vec<u8>| {
            ran.push(callback.payload.to_vec());
            assert_ne!(callback.payload, [1], "caller broke");
            Ok(())
        })
    }))
    .unwrap_err();
    assert!(common_message(panic).contains("caller broke"));
    assert_eq!(ran, [[0], [1]], "the batch stops at the panic");
    assert!(wait_until(Duration::from_secs(2), || report.lock().unwrap().is_some()), "the worker is stuck");
    for result in report.lock().unwrap().take().unwrap() {
        assert!(matches!(result, Err(RemoteError::ConnectionClosed(_))), "{result:?}");
    }
    assert!(wait_until(Duration::from_secs(2), || service.conversations.active() == 0));
}

fn common_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Messages a batch cannot ride with follow it on the caller's next poll, after its callbacks
/// ran: an error result (an error reply carries no body), a result or callback request larger
/// than the batch bound, and anything behind a batch over the bound (so a batch never makes a
/// message that fit in a frame too large).
#[test]
fn a_message_that_cannot_carry_the_batch_follows_it() {
    let service = talker(patient().with_max_batch(1024, 1024), |reverse, request| {
        let channel = reverse.channel(0);
        for i in 0..3u8 {
            channel.send_one_way(1, &[i]).map_err(internal)?;
        }
        match &request[..] {
            b"fail" => Err(ServiceError::new(ErrorCode::Other(5), "page failed")),
            b"large result" => Ok(vec![7; 2000]),
            b"large callback" => Ok(channel.call(2, &[9; 2000], None).map_err(internal)?.to_vec()),
            b"large one-way" => {
                channel.send_one_way(1, &[8; 2000]).map_err(internal)?;
                Ok(b"small".to_vec())
            }
            _ => Ok(b"small".to_vec()),
        }
    });
    let channel = loopback(&service);
    let ran = |request: &[u8]| {
        let mut seen = Vec::new();
        let reply = channel.converse(1, request, None, &mut recorder(&mut seen));
        let methods: Vec<u32> = seen.iter().map(|(_, method, _)| *method).collect();
        (reply, methods, service.take_continues())
    };

    let (reply, methods, continues) = ran(b"fail");
    assert!(matches!(reply, Err(RemoteError::Service { code: ErrorCode::Other(5), .. })), "{reply:?}");
    // The batch with a "pending", the poll that gets the error, and the abandon a caller sends
    // after any error reply to a continuation (a no-op for the ended session).
    assert_eq!((methods, continues), (vec![1, 1, 1], 2), "the batch, then the error on the poll");

    let (reply, methods, continues) = ran(b"large result");
    let reply = reply.unwrap();
    assert_eq!((&reply[..], reply.as_ptr() as usize % 16), (&[7; 2000][..], 0));
    assert_eq!((methods, continues), (vec![1, 1, 1], 1));

    let (reply, methods, continues) = ran(b"large callback");
    assert_eq!(owned(reply), Ok(vec![9; 2000]));
    assert_eq!((methods, continues), (vec![1, 1, 1, 2], 2), "the batch, the callback on the poll, its answer");

    // The three small ones are flushed to make room (one round trip); the large one is a batch of
    // its own, over the bound, so even the small result does not ride with it.
    let (reply, methods, continues) = ran(b"large one-way");
    assert_eq!(owned(reply), Ok(b"small".to_vec()));
    assert_eq!((methods, continues), (vec![1, 1, 1, 1], 2));

    let (reply, methods, continues) = ran(b"small");
    assert_eq!(owned(reply), Ok(b"small".to_vec()));
    assert_eq!((methods, continues), (vec![1, 1, 1], 0));
    assert_eq!(service.conversations.active(), 0);
}

/// A server's batch is untrusted bytes: a truncated one, or one whose lengths lie, ends the
/// conversation with a typed protocol error; none of its callbacks run, and the caller abandons
/// the session. (The parser's own tests cut and corrupt a batch at every byte.)
#[test]
fn a_hostile_batch_is_a_protocol_error_and_runs_nothing() {
    const SESSION: u64 = 0x5E55_1011;
    /// Answers the call with `reply`; records the continuations.
    struct Hostile {
        reply: Vec<u8>,
        continued: Mutex<Vec<Header>>,
    }
    impl Channel for Hostile {
        fn call(&self, method: u32, request: &[u8], _: Option<Instant>) -> Result<Bytes, RemoteError> {
            if method != CONTINUE {
                return Ok(Bytes::copy_from_slice(&self.reply));
            }
            self.continued.lock().unwrap().push(Header::split(request).unwrap().0);
            let mut done = Vec::new();
            Header::of(Kind::Done, SESSION).write(&mut done);
            Ok(done.into())
        }
        fn send_one_way(&self, _: u32, _: &[u8]) -> Result<(), RemoteError> {
            Ok(())
        }
        fn flush(&self) -> Result<(), RemoteError> {
            Ok(())
        }
    }
    /// A batch as `conversation/batch.rs` draws it: `count` entries, then a `next` header.
    fn batch(count: u32, entries: &[(u8, u32, u32, &[u8])], next: Kind) -> Vec<u8> {
        let mut bytes = Vec::new();
        Header { word: count, ..Header::of(Kind::Batch, SESSION) }.write(&mut bytes);
        for (slot, method, len, request) in entries {
            bytes.extend_from_slice(&[*slot, 0, 0, 0]);
            bytes.extend_from_slice(&method.to_le_bytes());
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&[0; 4]);
            bytes.extend_from_slice(request);
            bytes.resize(bytes.len().next_multiple_of(16), 0);
        }
        Header::of(next, SESSION).write(&mut bytes);
        bytes
    }
    let converse = |reply: Vec<u8>| {
        let hostile = Hostile { reply, continued: Mutex::new(Vec::new()) };
        let mut ran = 0;
        let result = hostile.converse(1, b"", None, &mut |_: Callback<'_>, _: &mut Vec<u8>| {
            ran += 1;
            Ok(())
        });
        let continued: Vec<Kind> = hostile.continued.into_inner().unwrap().iter().map(|h| h.kind).collect();
        (result, ran, continued)
    };

    let good = batch(2, &[(0, 1, 5, b"first"), (0, 1, 6, b"second")], Kind::Done);
    let (result, ran, continued) = converse(good.clone());
    assert_eq!((owned(result), ran, continued), (Ok(vec![]), 2, vec![]), "the well-formed batch runs");

    let mut reserved = good.clone();
    reserved[16 + 13] = 1;
    for (bad, why) in [
        (good[..good.len() - 1].to_vec(), "truncated next header"),
        (good[..40].to_vec(), "truncated entry"),
        (batch(3, &[(0, 1, 5, b"first"), (0, 1, 6, b"second")], Kind::Done), "a count that lies"),
        (batch(2, &[(0, 1, 5, b"first"), (0, 1, 1 << 20, b"second")], Kind::Done), "a length that lies"),
        (batch(1, &[(0, 1, u32::MAX, b"x")], Kind::Done), "length u32::MAX"),
        (reserved, "reserved bytes set"),
        (batch(1, &[(0, 1, 1, b"x")], Kind::Answer), "a caller's message after the batch"),
        (batch(1, &[(0, 1, 1, b"x")], Kind::Batch), "a batch in a batch"),
    ] {
        let (result, ran, continued) = converse(bad);
        assert!(matches!(result, Err(RemoteError::Protocol(_))), "{why}: {result:?}");
        assert_eq!(ran, 0, "{why}: no callback of a malformed batch runs");
        assert_eq!(continued, [Kind::Abandon], "{why}: the caller leaves the session");
    }
}
