//! The generated async client over an `AsyncChannel`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{BlockingAsAsync, Flaky, dead, loopback, panic_message};
use hatch::codegen::{Config, Failure, Recovery, RemoteError};
use hatch_proxygen_e2e::kv::{KeyValue, KeyValueAsyncClient, KeyValueServer, KvError, MemoryKv, Query, key_value_wire};
use hatch_proxygen_e2e::primes::{LocalPrimes, PrimesAsyncClient, PrimesServer, primes_wire};

#[tokio::test]
async fn async_client_calls_every_method_form() {
    let store = Arc::new(MemoryKv::new(3));
    let channel = loopback(
        KeyValueServer::new(store.clone()),
        key_value_wire::client_config(Config::default()),
        key_value_wire::server_config(Config::default()),
    );
    let kv = KeyValueAsyncClient::new(BlockingAsAsync(channel));
    kv.put("a".into(), vec![1, 2]).await;
    kv.flush().await.unwrap();
    assert_eq!(store.len(), 1);
    assert_eq!(kv.get("a").await, Some(vec![1, 2]));
    assert_eq!(kv.checksum(b"abc").await, store.checksum(b"abc"));
    assert_eq!(kv.find(&Query { prefix: "a".into(), limit: None }).await.len(), 1);
    assert_eq!(kv.put_all(BTreeMap::from([("b".into(), vec![]), ("c".into(), vec![])])).await, Ok(2));
    assert_eq!(kv.put_all(BTreeMap::from([("d".into(), vec![])])).await, Err(KvError::Full { capacity: 3 }));
    assert_eq!(kv.validate("").await, Err("empty key".to_string()));
    kv.clear().await;
    assert!(store.is_empty());

    let primes = PrimesAsyncClient::new(BlockingAsAsync(loopback(
        PrimesServer::new(Arc::new(LocalPrimes)),
        primes_wire::client_config(Config::default()),
        primes_wire::server_config(Config::default()),
    )));
    assert!(primes.is_prime(104_729).await);
    assert_eq!(primes.count(0, 1000).await, 168);
}

#[tokio::test]
async fn async_client_routes_failures_like_the_blocking_proxy() {
    let kv = KeyValueAsyncClient::new(BlockingAsAsync(dead()));
    let err = kv.put_all(BTreeMap::new()).await.unwrap_err();
    assert_eq!(err, KvError::Remote(RemoteError::ConnectionClosed("flaky".into()).to_string()));

    let store = Arc::new(MemoryKv::new(3));
    store.put("k".into(), vec![5]);
    let flaky = Flaky::new(loopback(KeyValueServer::new(store), Config::default(), Config::default()), 2);
    let kv = KeyValueAsyncClient::new(BlockingAsAsync(flaky.clone()));
    assert_eq!(kv.get("k").await, Some(vec![5]), "the default handler retries");
    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 3);

    let kv = KeyValueAsyncClient::new(BlockingAsAsync(dead()))
        .with_failure_handler(Arc::new(|_: &Failure<'_>| Recovery::Panic));
    let panic = tokio::spawn(async move { kv.len().await }).await.unwrap_err().into_panic();
    let message = panic_message(panic);
    assert!(message.contains("KeyValue::len"), "{message}");
}
