//! Interface arguments end to end: a `Handler` behind a proxy gets a reverse proxy of the
//! caller's `&dyn Socket`, whose calls run on the caller's thread, over loopback, TCP (tokio and
//! io_uring) and the async client; hostile or abandoned conversations get typed errors and do not
//! stop the server.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hatch::codegen::{Channel, Config, Conversations, ErrorCode, RemoteError, Service, encode};
use hatch::transport::conversation::{CONTINUE, Header, Kind};
use hatch_proxygen_e2e::socket::{
    Handler, HandlerAsyncClient, HandlerProxy, HandlerServer, MemorySocket, RelayError, Socket, UpperHandler,
    handler_wire, page_line, socket_wire,
};

/// Every conversational method, checked against what the caller's sockets saw.
fn exercise(handler: &dyn Handler) {
    let socket = MemorySocket::new("alice", b"hello, reverse proxies");
    assert_eq!(handler.handle(&socket, 4), 22);
    assert_eq!(socket.output(), b"HELLO, REVERSE PROXIES");
    let me = std::thread::current().id();
    assert!(socket.threads().iter().all(|&thread| thread == me), "callbacks run on the calling thread");
    // 6 reads with data, 1 empty read, 6 writes.
    assert_eq!(socket.threads().len(), 13);

    let greeted = MemorySocket::new("bob", b"");
    handler.greet(&greeted, "hi");
    assert_eq!(greeted.output(), b"hi, bob!");

    let (from, to) = (MemorySocket::new("a", b"payload"), MemorySocket::new("b", b""));
    assert_eq!(handler.relay(&from, &to), Ok(7));
    assert_eq!(to.output(), b"payload");
    assert_eq!(from.output(), b"", "each slot reaches its own argument");
    assert_eq!(handler.relay(&from, &to), Err(RelayError::Empty));
}

fn served() -> (Arc<UpperHandler>, Arc<HandlerServer>) {
    let handler = Arc::new(UpperHandler::default());
    (handler.clone(), Arc::new(HandlerServer::new(handler)))
}

/// A `HandlerServer` that counts the continuations it receives: the round trips conversations
/// take beyond their first call.
struct Counting {
    inner: Arc<HandlerServer>,
    continues: AtomicUsize,
}

impl Counting {
    /// Its server thread waits for the worker as long as it takes, so that a worker slow to be
    /// scheduled on a busy machine adds no "pending" polls to the count.
    fn new() -> Arc<Self> {
        let conversations = Conversations::new().with_max_wait(Duration::from_secs(10));
        let inner = HandlerServer::new(Arc::new(UpperHandler::default())).with_conversations(conversations);
        Arc::new(Self { inner: Arc::new(inner), continues: AtomicUsize::new(0) })
    }

    /// Continuations since the last time this was asked.
    fn take(&self) -> usize {
        self.continues.swap(0, Ordering::SeqCst)
    }
}

impl Service for Counting {
    fn call(
        &self,
        method: u32,
        payload: &hatch::codegen::Bytes,
        reply: &mut Vec<u8>,
    ) -> Result<(), hatch::codegen::ServiceError> {
        if method == CONTINUE {
            self.continues.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.call(method, payload, reply)
    }
}

/// The Hatch paper's Fig. 7 over `channel`: a page written in 500 small `write`s (one-way
/// callbacks) arrives whole, in order, on the calling thread, with the result, so it costs no
/// round trip beyond the call. And `handle`'s writes ride with its next read: one round trip per
/// read, none per write.
fn pages_and_streams(channel: Arc<dyn Channel>, counting: &Counting) {
    let proxy = HandlerProxy::new(channel);
    let socket = MemorySocket::new("browser", b"");
    let page: String = (0..500).map(page_line).collect();
    assert_eq!(proxy.page(&socket, 500), page.len() as u64);
    assert_eq!(socket.output(), page.as_bytes(), "every piece, in order");
    let me = std::thread::current().id();
    assert_eq!(socket.threads().len(), 500);
    assert!(socket.threads().iter().all(|&thread| thread == me), "callbacks run on the calling thread");
    assert_eq!(counting.take(), 0, "no round trip per piece");

    // 22 bytes in chunks of 4: 7 reads (the last one empty) and 6 writes.
    let socket = MemorySocket::new("alice", b"hello, reverse proxies");
    assert_eq!(proxy.handle(&socket, 4), 22);
    assert_eq!(socket.output(), b"HELLO, REVERSE PROXIES");
    assert_eq!(counting.take(), 7, "one round trip per read, the writes ride along");
}

#[test]
fn one_way_callbacks_are_batched_over_loopback() {
    let counting = Counting::new();
    pages_and_streams(common::loopback(counting.clone(), Config::default(), Config::default()), &counting);
}

#[test]
fn the_generator_reserves_the_continuation_id() {
    assert_eq!(hatch_proxygen::fingerprint::CONTINUE_METHOD_ID, CONTINUE);
}

#[test]
fn loopback_callbacks_reach_the_callers_object_on_its_thread() {
    let (handler, server) = served();
    let proxy = HandlerProxy::new(common::loopback(server.clone(), Config::default(), Config::default()));
    exercise(&proxy);
    assert_eq!(proxy.calls(), 4, "ordinary methods still work next to conversational ones");
    assert_eq!(handler.calls(), 4);
    assert_eq!(server.conversations().active(), 0, "every conversation ended");
}

#[test]
fn a_local_target_gets_the_borrowed_socket_itself() {
    let (_, server) = served();
    let proxy = HandlerProxy::new(common::loopback(server, Config::default(), Config::default()));
    let local = Arc::new(UpperHandler::default());
    proxy.set_local(local.clone());
    exercise(&proxy);
    assert_eq!(local.calls(), 4);
}

#[test]
fn callback_failures_end_the_call_without_stopping_the_server() {
    /// A socket whose reads panic.
    struct Broken;
    impl Socket for Broken {
        fn read(&self, _: u32) -> Vec<u8> {
            panic!("the caller's socket broke")
        }
        fn write(&self, _: &[u8]) {}
        fn peer(&self) -> String {
            "broken".into()
        }
    }
    let (_, server) = served();
    let proxy = HandlerProxy::new(common::loopback(server.clone(), Config::default(), Config::default()));
    // The caller's own callback panicked: the panic is the caller's, as for a local call; the
    // server was told, so its worker ends at once.
    let panic = catch_unwind(AssertUnwindSafe(|| proxy.handle(&Broken, 8))).unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the caller's socket broke"));
    assert_eq!(server.conversations().active(), 0);
    // The server goes on.
    let socket = MemorySocket::new("ok", b"abc");
    assert_eq!(proxy.handle(&socket, 2), 3);
}

/// A raw channel to a server whose conversations give up after 200 ms without an answer.
fn impatient() -> (Arc<HandlerServer>, Arc<dyn Channel>) {
    let handler = Arc::new(UpperHandler::default());
    let conversations = Conversations::new().with_idle_timeout(Duration::from_millis(200)).with_max_workers(2);
    let server = Arc::new(HandlerServer::new(handler).with_conversations(conversations));
    (server.clone(), common::loopback(server, Config::default(), Config::default()))
}

/// Starts `handle` without answering its callbacks; returns the first callback's header.
fn start_handle(channel: &dyn Channel) -> Result<Header, RemoteError> {
    let request = encode(&handler_wire::HandleArgs { chunk: 4 });
    let reply = past_pending(channel, channel.call(handler_wire::HANDLE, &request, None)?);
    Ok(Header::split(&reply).unwrap().0)
}

/// The server's next real message: polls while it answers "still running".
fn past_pending(channel: &dyn Channel, mut reply: hatch::codegen::Bytes) -> hatch::codegen::Bytes {
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

fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

fn is_code(result: Result<hatch::codegen::Bytes, RemoteError>, expected: ErrorCode) -> bool {
    matches!(result, Err(RemoteError::Service { code, .. }) if code == expected)
}

#[test]
fn hostile_continuations_get_typed_errors() {
    let (server, channel) = impatient();
    let header = start_handle(&*channel).unwrap();
    assert_eq!((header.kind, header.slot, header.word), (Kind::Callback, 0, socket_wire::READ));

    let message = |kind, session: u64| {
        let mut bytes = Vec::new();
        Header { seq: header.seq, ..Header::of(kind, session) }.write(&mut bytes);
        bytes
    };
    for (bad, why) in [
        (Vec::new(), "empty"),
        (vec![0xFF; 16], "unknown kind"),
        (message(Kind::Answer, header.session)[..15].to_vec(), "truncated"),
        (message(Kind::Answer, header.session ^ 1), "unknown session"),
        (message(Kind::Done, header.session), "a server's message"),
        (message(Kind::Callback, header.session), "a server's message"),
        (message(Kind::Batch, header.session), "a server's message"),
        (message(Kind::Flush, header.session), "a server's message"),
    ] {
        assert!(is_code(channel.call(CONTINUE, &bad, None), ErrorCode::BadRequest), "{why}");
    }
    // None of that disturbed the real conversation: answer its read with no data, ending it.
    let mut answer = message(Kind::Answer, header.session);
    hatch::codegen::reply(&Vec::<u8>::new(), &mut answer).unwrap();
    let done = past_pending(&*channel, channel.call(CONTINUE, &answer, None).unwrap());
    let (last, body) = Header::split(&done).unwrap();
    assert_eq!(last.kind, Kind::Done);
    assert_eq!(hatch::codegen::decode::<u64>(body).unwrap(), 0);
    // The conversation is over: answering again is refused.
    assert!(is_code(channel.call(CONTINUE, &answer, None), ErrorCode::BadRequest));
    assert_eq!(server.conversations().active(), 0);
}

#[test]
fn abandoned_conversations_are_freed_and_limited() {
    let (server, channel) = impatient();
    start_handle(&*channel).unwrap();
    start_handle(&*channel).unwrap();
    assert_eq!(server.conversations().active(), 2);
    assert!(
        matches!(start_handle(&*channel), Err(RemoteError::Service { code: ErrorCode::Unavailable, .. })),
        "over the limit"
    );
    let idle = || server.conversations().active() == 0 && server.conversations().workers() == 0;
    assert!(wait_until(Duration::from_secs(10), idle), "idle conversations time out and their workers end");
    // And the server serves the next caller normally.
    let proxy = HandlerProxy::new(channel);
    exercise(&proxy);
}

mod tokio_backend {
    use hatch::transport::tokio::{BlockingClient, Client, Server};

    use super::*;

    fn serve(runtime: &tokio::runtime::Runtime, service: Arc<dyn Service>) -> Server {
        let config = handler_wire::server_config(Config::default());
        runtime.block_on(Server::bind("127.0.0.1:0", config, service)).unwrap()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    #[test]
    fn conversations_from_many_threads_over_tcp() {
        let runtime = runtime();
        let (handler, server) = served();
        let tcp = serve(&runtime, server.clone());
        let config = handler_wire::client_config(Config::default());
        let proxy = Arc::new(HandlerProxy::new(Arc::new(BlockingClient::connect(tcp.local_addr(), config).unwrap())));
        std::thread::scope(|scope| {
            for t in 0..8u8 {
                let proxy = proxy.clone();
                scope.spawn(move || {
                    for i in 0..50u32 {
                        let input: Vec<u8> = (0..(i % 40)).map(|j| b'a' + ((j as u8 + t) % 26)).collect();
                        let socket = MemorySocket::new("peer", &input);
                        assert_eq!(proxy.handle(&socket, 1 + i % 7), input.len() as u64);
                        assert_eq!(socket.output(), input.to_ascii_uppercase(), "thread {t} call {i}");
                    }
                });
            }
        });
        assert_eq!(handler.calls(), 400);
        assert_eq!(server.conversations().active(), 0);
    }

    #[test]
    fn one_way_callbacks_are_batched_over_tcp() {
        let runtime = runtime();
        let counting = Counting::new();
        let tcp = serve(&runtime, counting.clone());
        let config = handler_wire::client_config(Config::default());
        pages_and_streams(Arc::new(BlockingClient::connect(tcp.local_addr(), config).unwrap()), &counting);
    }

    #[test]
    fn async_client_converses() {
        let runtime = runtime();
        let (_, server) = served();
        let tcp = serve(&runtime, server);
        runtime.block_on(async {
            let config = handler_wire::client_config(Config::default());
            let client = HandlerAsyncClient::new(Client::connect(tcp.local_addr(), config).await.unwrap());
            let socket = MemorySocket::new("carol", b"async bytes");
            assert_eq!(client.handle(&socket, 3).await, 11);
            assert_eq!(socket.output(), b"ASYNC BYTES");
            let greeted = MemorySocket::new("dave", b"");
            client.greet(&greeted, "hello").await;
            assert_eq!(greeted.output(), b"hello, dave!");
            assert_eq!(client.relay(&greeted, &socket).await, Err(RelayError::Empty));
            let page = MemorySocket::new("erin", b"");
            client.page(&page, 300).await;
            assert_eq!(page.output(), (0..300).map(page_line).collect::<String>().as_bytes());
        });
    }
}

#[cfg(target_os = "linux")]
mod uring_backend {
    use hatch::transport::uring::{Client, Server};

    use super::*;

    #[test]
    fn conversations_over_io_uring() {
        let (_, server) = served();
        let config = handler_wire::server_config(Config::default());
        let uring = Server::bind("127.0.0.1:0".parse().unwrap(), config, server.clone(), 1).expect("io_uring server");
        let channel = Client::connect(uring.local_addr(), handler_wire::client_config(Config::default())).unwrap();
        let proxy = Arc::new(HandlerProxy::new(Arc::new(channel)));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let proxy = proxy.clone();
                scope.spawn(move || {
                    for _ in 0..25 {
                        exercise(&*proxy);
                    }
                });
            }
        });
        assert_eq!(server.conversations().active(), 0);
    }

    #[test]
    fn one_way_callbacks_are_batched_over_io_uring() {
        let counting = Counting::new();
        let config = handler_wire::server_config(Config::default());
        let uring = Server::bind("127.0.0.1:0".parse().unwrap(), config, counting.clone(), 1).expect("io_uring server");
        let channel = Client::connect(uring.local_addr(), handler_wire::client_config(Config::default())).unwrap();
        pages_and_streams(Arc::new(channel), &counting);
    }
}
