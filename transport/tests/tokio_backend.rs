//! The conformance suite and tokio-specific tests for `hatch_transport::tokio`.

#![cfg(feature = "tokio")]

mod raw_peer;
mod suite;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hatch_transport::tokio::{BlockingClient, Client, Server, serve};
use hatch_transport::{AsyncChannel, Channel, Config, Echo, RemoteError, Service};
use tokio::runtime::{Builder, Runtime};

use suite::{TestService, method};

/// The tokio server on its own runtime, driven by the blocking client.
struct TokioBackend;

/// Workers for the server runtime: services run inline on them, and the suite has a few calls
/// sleeping in the service at once.
const SERVER_WORKERS: usize = 4;

impl suite::Backend for TokioBackend {
    const NAME: &'static str = "tokio";
    type Server = (Runtime, Server);

    fn serve(service: Arc<dyn Service>, config: Config) -> (Self::Server, SocketAddr) {
        let runtime = Builder::new_multi_thread().worker_threads(SERVER_WORKERS).enable_all().build().unwrap();
        let server = runtime.block_on(Server::bind("127.0.0.1:0", config, service)).unwrap();
        let addr = server.local_addr();
        ((runtime, server), addr)
    }

    fn connect(addr: SocketAddr, config: Config) -> Result<Arc<dyn Channel>, RemoteError> {
        Ok(Arc::new(BlockingClient::connect(addr, config)?))
    }

    fn stop((runtime, server): Self::Server) {
        runtime.block_on(server.shutdown());
    }
}

suite::conformance_tests!(TokioBackend);

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

/// Calls made while the writer has not run yet leave in a single write (request bursting).
#[test]
fn calls_queued_together_leave_in_one_write() {
    current_thread().block_on(async {
        let server = Server::bind("127.0.0.1:0", Config::default(), Arc::new(Echo)).await.unwrap();
        let client = Client::connect(server.local_addr(), Config::default()).await.unwrap();
        // On a current-thread runtime the writer cannot run until this task yields, so the hello
        // and all 100 requests are queued before the first write.
        let calls: Vec<_> = (0..100u32).map(|i| client.call(method::ECHO, &i.to_le_bytes(), deadline())).collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(&call.await.unwrap()[..], &(i as u32).to_le_bytes());
        }
        assert_eq!(client.batching_stats(), (101, 1));
        server.shutdown().await;
    });
}

/// Many tasks on a multi-thread runtime share one client.
#[test]
fn many_tasks_share_one_client() {
    let runtime = Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let server = Server::bind("127.0.0.1:0", Config::default(), Arc::new(Echo)).await.unwrap();
        let client = Client::connect(server.local_addr(), Config::default()).await.unwrap();
        let tasks: Vec<_> = (0..32u32)
            .map(|task| {
                let client = client.clone();
                tokio::spawn(async move {
                    for i in 0..100u32 {
                        let request = [task.to_le_bytes(), i.to_le_bytes()].concat();
                        assert_eq!(client.call(method::ECHO, &request, deadline()).await.unwrap()[..], request[..]);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let (frames, writes) = client.batching_stats();
        assert_eq!(frames, 1 + 32 * 100);
        assert!(writes <= frames, "{writes} writes for {frames} frames");
        server.shutdown().await;
    });
}

/// Dropping a call's future abandons the call; its late reply is discarded.
#[test]
fn dropping_a_call_future_abandons_the_call() {
    let server_runtime = Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let service = Arc::new(TestService::default());
    let server = server_runtime.block_on(Server::bind("127.0.0.1:0", Config::default(), service)).unwrap();
    current_thread().block_on(async {
        let client = Client::connect(server.local_addr(), Config::default()).await.unwrap();
        let slow = client.call(method::SLEEP, &100u64.to_le_bytes(), None);
        assert_eq!(client.in_flight(), 1);
        drop(slow);
        assert_eq!(client.in_flight(), 0);
        // The connection is unaffected and the late reply is not mistaken for this one.
        assert_eq!(&client.call(method::ECHO, b"next", deadline()).await.unwrap()[..], b"next");
    });
    server_runtime.block_on(server.shutdown());
}

/// `ready` holds one-way producers back while the peer does not read, so the outbox stays
/// bounded by the high-water mark.
#[test]
fn ready_bounds_the_outbox_when_the_peer_stops_reading() {
    const HIGH_WATER: usize = 64 * 1024;
    const PAYLOAD: usize = 1024;
    // Far more than the kernel socket buffers can absorb.
    const TOTAL: usize = 256 << 20;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never reads.
    let stalled = std::thread::spawn(move || listener.accept().unwrap().0);
    current_thread().block_on(async {
        let client = Client::connect(addr, Config::default().outbox_high_water(HIGH_WATER)).await.unwrap();
        let producer = {
            let client = client.clone();
            tokio::spawn(async move {
                let payload = vec![0u8; PAYLOAD];
                for _ in 0..TOTAL / PAYLOAD {
                    client.ready().await.unwrap();
                    client.send_one_way(method::COUNT, &payload).unwrap();
                }
            })
        };
        // Watch the outbox while the producer runs into the stalled peer.
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let queued = client.queued_bytes();
            assert!(queued <= HIGH_WATER + PAYLOAD + 32, "{queued} bytes queued");
        }
        assert!(!producer.is_finished(), "the producer queued {TOTAL} bytes into a peer that reads nothing");
        producer.abort();
    });
    drop(stalled.join().unwrap());
}

/// `serve` runs a server on a listener the application owns.
#[test]
fn serve_runs_on_an_existing_listener() {
    let runtime = Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = runtime.spawn(serve(listener, Config::default(), Arc::new(Echo)));
    let channel = BlockingClient::connect(addr, Config::default()).unwrap();
    assert_eq!(&channel.call(method::ECHO, b"served", deadline()).unwrap()[..], b"served");
    serving.abort();
}

/// A blocking client used from async code fails loudly instead of deadlocking.
#[test]
#[should_panic(expected = "Cannot start a runtime from within a runtime")]
fn blocking_client_inside_a_runtime_panics() {
    let runtime = Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = runtime.block_on(Server::bind("127.0.0.1:0", Config::default(), Arc::new(Echo))).unwrap();
    let channel = BlockingClient::connect(server.local_addr(), Config::default()).unwrap();
    current_thread().block_on(async { channel.call(method::ECHO, b"x", deadline()) }).unwrap();
}

/// The server tells a peer that broke the protocol why, in a `GoAway` after its hello ack, and
/// the peer reads it before the connection closes (no reset destroys it).
#[test]
fn protocol_violation_is_explained_with_goaway() {
    use std::io::{Read, Write};

    use hatch_transport::FrameKind;
    use hatch_transport::proto::frame::{DEFAULT_MAX_FRAME, FrameHeader, HEADER_LEN, encode_frame};
    use hatch_transport::proto::handshake::{Hello, PROTOCOL_VERSION};

    let runtime = Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = runtime.block_on(Server::bind("127.0.0.1:0", Config::default(), Arc::new(Echo))).unwrap();
    let mut raw = std::net::TcpStream::connect(server.local_addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bytes = Vec::new();
    let hello = Hello { version: PROTOCOL_VERSION, max_frame: DEFAULT_MAX_FRAME, fingerprint: 0 };
    encode_frame(&mut bytes, FrameKind::Hello, 0, 0, 0, &hello.encode());
    let mut unknown = [0u8; HEADER_LEN];
    unknown[4] = 0x42;
    bytes.extend_from_slice(&unknown);
    // More bytes behind the bad frame, still unread when the server gives up on the connection.
    bytes.extend_from_slice(&vec![0xEE; 1 << 20]);
    raw.write_all(&bytes).unwrap();
    let mut received = Vec::new();
    raw.read_to_end(&mut received).unwrap();

    let mut kinds = Vec::new();
    let mut rest = &received[..];
    while let Some(head) = rest.first_chunk::<HEADER_LEN>() {
        let header = FrameHeader::decode(head, DEFAULT_MAX_FRAME).unwrap();
        let payload = &rest[HEADER_LEN..HEADER_LEN + header.len as usize];
        if header.kind == FrameKind::GoAway {
            let reason = std::str::from_utf8(payload).unwrap();
            assert!(reason.contains("unknown frame kind 66"), "{reason}");
        }
        kinds.push(header.kind);
        rest = &rest[header.wire_len()..];
    }
    assert_eq!(kinds, [FrameKind::HelloAck, FrameKind::GoAway]);
    runtime.block_on(server.shutdown());
}

/// A graceful shutdown tells idle clients why their connection ends.
#[test]
fn shutdown_tells_clients_why() {
    current_thread().block_on(async {
        let server = Server::bind("127.0.0.1:0", Config::default(), Arc::new(Echo)).await.unwrap();
        let client = Client::connect(server.local_addr(), Config::default()).await.unwrap();
        assert_eq!(&client.call(method::ECHO, b"hi", deadline()).await.unwrap()[..], b"hi");
        server.shutdown().await;
        match client.call(method::ECHO, b"gone?", deadline()).await {
            Err(RemoteError::GoAway(reason)) => assert!(reason.contains("shutting down"), "{reason}"),
            other => panic!("expected the server's GoAway, got {other:?}"),
        }
    });
}
