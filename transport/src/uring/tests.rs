use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::channel::Channel;
use crate::config::Config;
use crate::service::Echo;

fn echo_server(threads: usize) -> Server {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Server::bind(addr, Config::default(), Arc::new(Echo), threads).unwrap()
}

#[test]
fn call_pipeline_and_one_way_over_a_real_socket() {
    let server = echo_server(1);
    let mut conn = Connection::connect(server.local_addr(), Config::default(), UringOptions::default()).unwrap();
    conn.handshake(Duration::from_secs(5)).unwrap();
    assert_eq!(&conn.call(1, b"hello", None).unwrap()[..], b"hello");
    let ids: Vec<_> = (0..64u32).map(|i| conn.start_call(1, &i.to_le_bytes(), None).unwrap()).collect();
    for (i, id) in ids.into_iter().enumerate() {
        assert_eq!(&conn.wait(id).unwrap()[..], &(i as u32).to_le_bytes());
    }
    for _ in 0..1000 {
        conn.send_one_way(1, b"x").unwrap();
    }
    conn.flush().unwrap();
    let big = vec![7u8; 1 << 20];
    let deadline = Some(Instant::now() + Duration::from_secs(10));
    assert_eq!(conn.call(1, &big, deadline).unwrap().len(), big.len());
    drop(conn);
    server.shutdown();
}

#[test]
fn client_is_shared_by_threads_each_on_its_own_ring() {
    let server = echo_server(2);
    let client = Client::connect(server.local_addr(), Config::default()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let client = client.clone();
            scope.spawn(move || {
                for i in 0..500u32 {
                    let payload = [t.to_le_bytes(), i.to_le_bytes()].concat();
                    assert_eq!(client.call(1, &payload, None).unwrap().to_vec(), payload);
                }
            });
        }
    });
    drop(client);
    server.shutdown();
}

#[test]
fn shutdown_with_open_connections_fails_calls_instead_of_hanging() {
    let server = echo_server(1);
    let client = Client::connect(server.local_addr(), Config::default()).unwrap();
    client.call(1, b"x", None).unwrap();
    server.shutdown();
    let err = client.call(1, b"x", Some(Instant::now() + Duration::from_secs(5))).unwrap_err();
    assert!(err.is_transport_failure(), "{err:?}");
}

#[test]
fn a_call_after_unflushed_one_way_calls_completes() {
    let server = echo_server(1);
    let mut conn = Connection::connect(server.local_addr(), Config::default(), UringOptions::default()).unwrap();
    for round in 0..50u32 {
        for _ in 0..=round % 5 {
            conn.send_one_way(1, b"one way").unwrap();
        }
        // Short enough that a request stuck behind an in-flight write fails the test.
        let deadline = Some(Instant::now() + Duration::from_secs(2));
        assert_eq!(&conn.call(1, &round.to_le_bytes(), deadline).unwrap()[..], &round.to_le_bytes());
    }
    drop(conn);
    server.shutdown();
}
