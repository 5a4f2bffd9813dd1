//! Transport failures: explicit methods return them, implicit methods hand them to the failure
//! handler, which can retry, re-target the proxy (another channel, or a local implementation), or
//! panic; and a client generated from another version of the interface is refused.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use common::{Flaky, dead, loopback, panic_message};
use hatch::codegen::{Config, Failure, Recovery, RemoteError};
use hatch::transport::HandshakeError;
use hatch_proxygen_e2e::kv::{KeyValue, KeyValueProxy, KeyValueServer, KvError, MemoryKv, key_value_wire};
use hatch_proxygen_e2e::primes::{LocalPrimes, Primes, PrimesProxy, PrimesServer, primes_wire};
use hatch_proxygen_e2e::primes_v2::{self, Primes as _};

fn kv_channel(store: Arc<MemoryKv>) -> Arc<dyn hatch::codegen::Channel> {
    loopback(
        KeyValueServer::new(store),
        key_value_wire::client_config(Config::default()),
        key_value_wire::server_config(Config::default()),
    )
}

#[test]
fn explicit_methods_return_transport_failures_without_consulting_the_handler() {
    let handler_calls = Arc::new(AtomicU32::new(0));
    let counter = handler_calls.clone();
    let kv = KeyValueProxy::new(dead()).with_failure_handler(Arc::new(move |_: &Failure<'_>| {
        counter.fetch_add(1, Ordering::SeqCst);
        Recovery::Panic
    }));
    let err = kv.put_all(BTreeMap::from([("k".into(), vec![1])])).unwrap_err();
    assert_eq!(err, KvError::Remote(RemoteError::ConnectionClosed("flaky".into()).to_string()));
    assert_eq!(handler_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn implicit_methods_panic_naming_interface_method_and_error_when_the_handler_gives_up() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let kv = KeyValueProxy::new(dead()).with_failure_handler(Arc::new(move |failure: &Failure<'_>| {
        log.lock().unwrap().push((failure.interface, failure.method, failure.attempt, failure.error.to_string()));
        if failure.attempt < 3 { Recovery::Retry } else { Recovery::Panic }
    }));
    // `validate` returns `Result<(), String>`: implicit, as `String` is not `From<RemoteError>`.
    let message = panic_message(catch_unwind(AssertUnwindSafe(|| kv.validate("k"))).unwrap_err());
    assert!(message.contains("KeyValue::validate") && message.contains("connection closed: flaky"), "{message}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2], ("KeyValue", "validate", 3, "connection closed: flaky".to_string()));
}

#[test]
fn default_handler_retries_transport_failures_until_the_call_gets_through() {
    let store = Arc::new(MemoryKv::new(10));
    store.put("k".into(), vec![42]);
    let flaky = Flaky::new(kv_channel(store), 3);
    let kv = KeyValueProxy::new(flaky.clone());
    assert_eq!(kv.get("k"), Some(vec![42]));
    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 4);
    // One-way calls too: failing to queue is retried.
    flaky.failures_left.store(2, Ordering::SeqCst);
    kv.put("j".into(), vec![1]);
    kv.flush().unwrap();
    assert_eq!(kv.get("j"), Some(vec![1]));
}

#[test]
fn a_handler_can_move_the_call_to_another_channel_and_refire_it() {
    let store = Arc::new(MemoryKv::new(10));
    store.put("k".into(), vec![7]);
    let healthy = kv_channel(store);
    let kv = Arc::new(KeyValueProxy::new(dead()));
    let proxy: Weak<KeyValueProxy> = Arc::downgrade(&kv);
    kv.set_failure_handler(Arc::new(move |_: &Failure<'_>| {
        proxy.upgrade().unwrap().set_channel(healthy.clone());
        Recovery::Retry
    }));
    assert_eq!(kv.get("k"), Some(vec![7]));
    assert_eq!(kv.len(), 1);
}

/// Counts calls, to tell local calls from remote ones.
struct Counting {
    calls: AtomicU32,
}

impl Primes for Counting {
    fn is_prime(&self, n: u64) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        LocalPrimes.is_prime(n)
    }
    fn count(&self, lo: u64, hi: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        LocalPrimes.count(lo, hi)
    }
}

#[test]
fn a_handler_can_move_the_component_back_and_refire_the_call_locally() {
    let local = Arc::new(Counting { calls: AtomicU32::new(0) });
    let primes = Arc::new(PrimesProxy::new(dead()));
    let (proxy, fallback) = (Arc::downgrade(&primes), local.clone());
    primes.set_failure_handler(Arc::new(move |_: &Failure<'_>| {
        proxy.upgrade().unwrap().set_local(fallback.clone());
        Recovery::Retry
    }));
    let as_trait: Arc<dyn Primes> = primes.clone();
    assert!(as_trait.is_prime(13));
    assert_eq!(as_trait.count(0, 10), 4);
    assert_eq!(local.calls.load(Ordering::SeqCst), 2, "the failed call and the next both ran locally");
    primes.flush().unwrap();
}

#[test]
fn a_client_of_another_interface_version_is_refused_naming_both_fingerprints() {
    assert_ne!(primes_wire::FINGERPRINT, primes_v2::primes_wire::FINGERPRINT);
    let server = PrimesServer::new(Arc::new(LocalPrimes));
    let channel = loopback(
        server,
        primes_v2::primes_wire::client_config(Config::default()),
        primes_wire::server_config(Config::default()),
    );
    let err = channel.call(primes_v2::primes_wire::IS_PRIME, &[], None).unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Handshake(HandshakeError::Fingerprint { client, server })
                if client == primes_v2::primes_wire::FINGERPRINT && server == primes_wire::FINGERPRINT
        ),
        "{err}"
    );
    // Through an implicit method, the default handler gives up at once (retrying cannot help) and
    // the panic names both fingerprints.
    let proxy = primes_v2::PrimesProxy::new(channel);
    let message = panic_message(catch_unwind(AssertUnwindSafe(|| proxy.is_prime(7))).unwrap_err());
    assert!(message.contains("Primes::is_prime"), "{message}");
    assert!(message.contains(&format!("{:#018x}", primes_v2::primes_wire::FINGERPRINT)), "{message}");
    assert!(message.contains(&format!("{:#018x}", primes_wire::FINGERPRINT)), "{message}");
}

#[test]
fn matching_fingerprints_and_wildcards_connect() {
    let server = || PrimesServer::new(Arc::new(LocalPrimes));
    let configs = [
        (primes_wire::client_config(Config::default()), primes_wire::server_config(Config::default())),
        (Config::default(), primes_wire::server_config(Config::default())),
        (primes_wire::client_config(Config::default()), Config::default()),
    ];
    for (client, server_config) in configs {
        assert!(PrimesProxy::new(loopback(server(), client, server_config)).is_prime(2));
    }
}
