use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hatch_transport::{Channel, Config, Echo, ErrorCode, MethodId, RemoteError, Service, ServiceError};

use super::*;

fn echo_server(options: ServerOptions) -> Server {
    Server::bind("127.0.0.1:0".parse().unwrap(), options, Arc::new(Echo)).unwrap()
}

#[test]
fn calls_round_trip_small_and_multi_packet() {
    let server = echo_server(ServerOptions::default().threads(2));
    let client = Client::connect(server.local_addr(), ClientOptions::default()).unwrap();
    assert_eq!(&client.call(1, b"ping", None).unwrap()[..], b"ping");
    // Larger than one packet: cut into segments and reassembled on both sides.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let reply = client.call(1, &big, None).unwrap();
    assert_eq!(&reply[..], &big[..]);
    assert_eq!(reply.as_ptr() as usize % 16, 0, "reply payloads stay 16-aligned");
}

#[test]
fn concurrent_callers_use_separate_sessions() {
    let server = echo_server(ServerOptions::default().threads(2));
    let client = Client::connect(server.local_addr(), ClientOptions::default()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let client = &client;
            scope.spawn(move || {
                for i in 0..200u32 {
                    let request = format!("thread {t} call {i}");
                    assert_eq!(&client.call(7, request.as_bytes(), None).unwrap()[..], request.as_bytes());
                }
            });
        }
    });
    assert!(client.pooled_sessions() >= 1);
}

struct Counting(AtomicUsize);

impl Service for Counting {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        if method == 2 {
            return Err(ServiceError::new(ErrorCode::BadRequest, "method 2 always fails"));
        }
        reply.extend_from_slice(payload);
        Ok(())
    }
}

#[test]
fn one_way_calls_are_delivered_and_failures_reported_by_flush() {
    let service = Arc::new(Counting(AtomicUsize::new(0)));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerOptions::default(), service.clone()).unwrap();
    let client = Client::connect(server.local_addr(), ClientOptions::default()).unwrap();
    for _ in 0..10 {
        client.send_one_way(1, b"x").unwrap();
    }
    client.flush().unwrap();
    // Flushed means acknowledged by the server's session, which runs the call before acking.
    assert_eq!(service.0.load(Ordering::SeqCst), 10);
    match client.call(2, b"y", None) {
        Err(RemoteError::Service { code: ErrorCode::BadRequest, .. }) => {}
        other => panic!("expected the service error, got {other:?}"),
    }
}

#[test]
fn fingerprint_mismatch_fails_connect() {
    let server = echo_server(ServerOptions::default().config(Config::default().fingerprint(1)));
    let err = Client::connect(server.local_addr(), ClientOptions::default().config(Config::default().fingerprint(2)))
        .unwrap_err();
    assert!(matches!(err, DriverError::Remote(RemoteError::Handshake(_))), "{err}");
}

#[test]
fn server_shutdown_fails_later_calls() {
    let server = echo_server(ServerOptions::default());
    let options = ClientOptions::default().session(
        crate::SessionConfig::default()
            .max_retransmits(3)
            .initial_rto(std::time::Duration::from_millis(1))
            .max_rto(std::time::Duration::from_millis(5)),
    );
    let client = Client::connect(server.local_addr(), options).unwrap();
    assert_eq!(&client.call(1, b"a", None).unwrap()[..], b"a");
    drop(server);
    let err = client.call(1, b"b", None).unwrap_err();
    assert!(err.is_transport_failure(), "{err}");
}

use crate::error::DriverError;

#[test]
fn one_way_calls_lost_with_their_session_are_reported_by_flush() {
    let server = echo_server(ServerOptions::default());
    let options = ClientOptions::default().session(
        crate::SessionConfig::default()
            .max_retransmits(2)
            .initial_rto(std::time::Duration::from_millis(1))
            .max_rto(std::time::Duration::from_millis(2)),
    );
    let client = Client::connect(server.local_addr(), options).unwrap();
    drop(server);
    // The session fails while these are unacknowledged (the server is gone).
    client.send_one_way(1, b"lost").unwrap();
    let err = client.flush().unwrap_err();
    assert!(err.is_transport_failure(), "{err}");
    // Reported once; a new session is opened for what follows.
    assert!(client.flush().is_ok());
}
