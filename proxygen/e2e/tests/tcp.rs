//! Generated proxies over real TCP connections: the tokio backend (blocking proxy over
//! `BlockingClient`, async client over `Client`) and the io_uring backend.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::Recording;
use hatch::codegen::{Channel, Config, RemoteError};
use hatch::transport::HandshakeError;
use hatch_proxygen_e2e::kv::{
    KeyValue, KeyValueAsyncClient, KeyValueProxy, KeyValueServer, KvError, MemoryKv, key_value_wire,
};
use hatch_proxygen_e2e::primes::{LocalPrimes, Primes, PrimesAsyncClient, PrimesProxy, PrimesServer, primes_wire};
use hatch_proxygen_e2e::primes_v2;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Checks a key-value proxy end to end; `store` is the implementation behind the server.
fn exercise_kv(kv: &KeyValueProxy, store: &MemoryKv) {
    for i in 0..100u8 {
        kv.put(format!("key{i:03}"), vec![i; usize::from(i)]);
    }
    // `flush` waits until the one-way calls are written; the server runs a connection's requests
    // in order, so the two-way call after them sees their effect.
    kv.flush().unwrap();
    assert_eq!(kv.len(), 100);
    assert_eq!(store.len(), 100);
    assert_eq!(kv.get("key042"), Some(vec![42; 42]));
    let big = vec![0xA5; 256 * 1024];
    assert_eq!(kv.checksum(&big), store.checksum(&big));
    assert_eq!(kv.put_all(BTreeMap::from([("x".into(), vec![])])), Err(KvError::Full { capacity: 100 }));
    assert_eq!(kv.validate(""), Err("empty key".into()));
    kv.clear();
    assert!(kv.is_empty());
}

/// Records where the `&str` argument of `validate` lives.
struct KeyAddress(AtomicUsize);

fn served_kv() -> (Arc<MemoryKv>, Arc<dyn hatch::codegen::Service>) {
    let store = Arc::new(MemoryKv::new(100));
    (store.clone(), Arc::new(KeyValueServer::new(store)))
}

mod tokio_backend {
    use hatch::transport::tokio::{BlockingClient, Client, Server};

    use super::*;

    fn serve(runtime: &tokio::runtime::Runtime, service: Arc<dyn hatch::codegen::Service>, config: Config) -> Server {
        runtime.block_on(Server::bind("127.0.0.1:0", config, service)).unwrap()
    }

    #[test]
    fn blocking_proxy_over_tokio() {
        let runtime = runtime();
        let (store, service) = served_kv();
        let server = serve(&runtime, service, key_value_wire::server_config(Config::default()));
        let channel =
            BlockingClient::connect(server.local_addr(), key_value_wire::client_config(Config::default())).unwrap();
        let kv = KeyValueProxy::new(Arc::new(channel));
        exercise_kv(&kv, &store);
        kv.put("after".into(), vec![1]);
        kv.flush().unwrap();

        let primes_server = serve(&runtime, Arc::new(PrimesServer::new(Arc::new(LocalPrimes))), Config::default());
        let primes: Arc<dyn Primes> = Arc::new(PrimesProxy::new(Arc::new(
            BlockingClient::connect(primes_server.local_addr(), Config::default()).unwrap(),
        )));
        assert_eq!(primes.count(0, 10_000), 1229);
        runtime.block_on(server.shutdown());
    }

    #[test]
    fn async_client_over_tokio() {
        let runtime = runtime();
        let (store, service) = served_kv();
        let server = serve(&runtime, service, key_value_wire::server_config(Config::default()));
        runtime.block_on(async {
            let channel =
                Client::connect(server.local_addr(), key_value_wire::client_config(Config::default())).await.unwrap();
            let kv = KeyValueAsyncClient::new(channel);
            kv.put("a".into(), vec![1, 2, 3]).await;
            kv.flush().await.unwrap();
            // Requests of one connection run in order: the reply to `get` follows the `put`.
            assert_eq!(kv.get("a").await, Some(vec![1, 2, 3]));
            assert_eq!(store.len(), 1);
            assert_eq!(kv.put_all(BTreeMap::from([("b".into(), vec![])])).await, Ok(1));
            // Concurrent calls from spawned tasks: the client and its futures are `Send`.
            let kv = Arc::new(kv);
            let tasks: Vec<_> = (0..64i64)
                .map(|n| {
                    let kv = kv.clone();
                    tokio::spawn(async move { kv.sum(&[n, 1]).await })
                })
                .collect();
            for (n, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), n as i64 + 1);
            }
        });

        let primes_server = serve(&runtime, Arc::new(PrimesServer::new(Arc::new(LocalPrimes))), Config::default());
        runtime.block_on(async {
            let primes =
                PrimesAsyncClient::new(Client::connect(primes_server.local_addr(), Config::default()).await.unwrap());
            assert!(primes.is_prime(1_000_003).await);
        });
    }

    #[test]
    fn borrowed_arguments_are_lent_from_the_tcp_receive_buffer() {
        let address = Arc::new(KeyAddress(AtomicUsize::new(0)));
        let last_payload = Arc::new(Mutex::new(0..0));
        let runtime = runtime();
        let inner = KeyValueServer::new(Arc::new(RecordingKv { address: address.clone() }));
        let service = Arc::new(Recording { inner, last_payload: last_payload.clone() });
        let server = serve(&runtime, service, Config::default());
        let kv = KeyValueProxy::new(Arc::new(BlockingClient::connect(server.local_addr(), Config::default()).unwrap()));
        let key = "borrowed from the socket's receive buffer";
        assert_eq!(kv.validate(key), Ok(()));
        let payload = last_payload.lock().unwrap().clone();
        let at = address.0.load(Ordering::SeqCst);
        assert!(payload.contains(&at) && at + key.len() <= payload.end, "{at:#x} outside {payload:x?}");
    }

    #[test]
    fn fingerprint_mismatch_over_tokio() {
        let runtime = runtime();
        let server = serve(
            &runtime,
            Arc::new(PrimesServer::new(Arc::new(LocalPrimes))),
            primes_wire::server_config(Config::default()),
        );
        let channel =
            BlockingClient::connect(server.local_addr(), primes_v2::primes_wire::client_config(Config::default()));
        let err = match channel {
            Err(err) => err,
            Ok(channel) => channel.call(primes_v2::primes_wire::COUNT, &[], None).unwrap_err(),
        };
        assert!(
            matches!(err, RemoteError::Handshake(HandshakeError::Fingerprint { client, server })
                if client == primes_v2::primes_wire::FINGERPRINT && server == primes_wire::FINGERPRINT),
            "{err}"
        );
    }
}

/// Records the address of `validate`'s `&str`; everything else is a `MemoryKv`.
struct RecordingKv {
    address: Arc<KeyAddress>,
}

impl KeyValue for RecordingKv {
    fn validate(&self, key: &str) -> Result<(), String> {
        self.address.0.store(key.as_ptr() as usize, Ordering::SeqCst);
        Ok(())
    }
    fn get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn put(&self, _: String, _: Vec<u8>) {}
    fn clear(&self) {}
    fn put_all(&self, _: BTreeMap<String, Vec<u8>>) -> Result<u32, KvError> {
        Ok(0)
    }
    fn checksum(&self, _: &[u8]) -> u32 {
        0
    }
    fn find(&self, _: &hatch_proxygen_e2e::kv::Query) -> Vec<hatch_proxygen_e2e::kv::Entry> {
        Vec::new()
    }
    fn sum(&self, _: &[i64]) -> i64 {
        0
    }
    fn mix(&self, c: char, x: f64, flags: [bool; 3], pair: (i8, u16)) -> (char, f64, [bool; 3], (i8, u16)) {
        (c, x, flags, pair)
    }
    fn len(&self) -> u64 {
        0
    }
    fn is_empty(&self) -> bool {
        true
    }
}

#[cfg(target_os = "linux")]
mod uring_backend {
    use hatch::transport::uring::{Client, Server};

    use super::*;

    fn serve(service: Arc<dyn hatch::codegen::Service>, config: Config) -> Server {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        Server::bind(addr, config, service, 1).expect("io_uring server (is io_uring available?)")
    }

    #[test]
    fn blocking_proxy_over_io_uring() {
        let (store, service) = served_kv();
        let server = serve(service, key_value_wire::server_config(Config::default()));
        let channel = Client::connect(server.local_addr(), key_value_wire::client_config(Config::default())).unwrap();
        let kv = Arc::new(KeyValueProxy::new(Arc::new(channel)));
        exercise_kv(&kv, &store);
        // Several threads share one proxy (the uring client gives each thread its own ring).
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let kv = kv.clone();
                std::thread::spawn(move || (0..50).map(|i| kv.sum(&[t, i])).sum::<i64>())
            })
            .collect();
        let total: i64 = threads.into_iter().map(|thread| thread.join().unwrap()).sum();
        assert_eq!(total, (0..4).map(|t| 50 * t + 1225).sum::<i64>());
        server.shutdown();
    }

    /// A two-way call right after several unflushed one-way calls completes on the io_uring
    /// client (a regression test: the request once waited behind the one-way calls' write).
    #[test]
    fn one_way_calls_then_a_call_without_flush_over_io_uring() {
        let (store, service) = served_kv();
        let server = serve(service, Config::default());
        let kv = KeyValueProxy::new(Arc::new(Client::connect(server.local_addr(), Config::default()).unwrap()));
        kv.put("a".into(), vec![1]);
        kv.put("b".into(), vec![2]);
        assert_eq!(kv.len(), 2);
        assert_eq!(store.len(), 2);
        server.shutdown();
    }

    #[test]
    fn fingerprint_mismatch_over_io_uring() {
        let server =
            serve(Arc::new(PrimesServer::new(Arc::new(LocalPrimes))), primes_wire::server_config(Config::default()));
        let channel = Client::connect(server.local_addr(), primes_v2::primes_wire::client_config(Config::default()));
        let err = match channel {
            Err(err) => err,
            Ok(channel) => channel.call(primes_v2::primes_wire::COUNT, &[], None).unwrap_err(),
        };
        assert!(
            matches!(err, RemoteError::Handshake(HandshakeError::Fingerprint { client, server })
                if client == primes_v2::primes_wire::FINGERPRINT && server == primes_wire::FINGERPRINT),
            "{err}"
        );
        server.shutdown();
    }
}
