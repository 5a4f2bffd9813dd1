//! Generated proxies and dispatchers talking through the real protocol over the in-process
//! loopback channel.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{Recording, loopback};
use hatch::codegen::{Bytes, Channel, Config, ErrorCode, RemoteError, Service};
use hatch_proxygen_e2e::kv::{
    Entry, KeyValue, KeyValueProxy, KeyValueServer, KvError, MemoryKv, Query, key_value_wire,
};
use hatch_proxygen_e2e::primes::{LocalPrimes, Primes, PrimesProxy, PrimesServer, primes_wire};

fn primes_proxy() -> PrimesProxy {
    let server = PrimesServer::new(Arc::new(LocalPrimes));
    let config = Config::default();
    PrimesProxy::new(loopback(server, primes_wire::client_config(config.clone()), primes_wire::server_config(config)))
}

fn kv_proxy(capacity: u32) -> (KeyValueProxy, Arc<MemoryKv>) {
    let store = Arc::new(MemoryKv::new(capacity));
    let server = KeyValueServer::new(store.clone());
    let channel = loopback(
        server,
        key_value_wire::client_config(Config::default()),
        key_value_wire::server_config(Config::default()),
    );
    (KeyValueProxy::new(channel), store)
}

#[test]
fn proxy_and_local_implementation_are_interchangeable() {
    let implementations: [Arc<dyn Primes>; 2] = [Arc::new(LocalPrimes), Arc::new(primes_proxy())];
    for primes in implementations {
        assert!(primes.is_prime(7_919));
        assert!(!primes.is_prime(7_917));
        assert!(!primes.is_prime(1));
        assert_eq!(primes.count(0, 100), 25);
    }
}

#[test]
fn key_value_round_trips_every_argument_form() {
    let (kv, store) = kv_proxy(100);
    assert!(kv.is_empty());
    assert_eq!(kv.get("missing"), None);

    kv.put("alpha".into(), vec![1, 2, 3]);
    kv.put("alps".into(), vec![4]);
    kv.put("beta".into(), vec![]);
    kv.flush().unwrap();
    assert_eq!(store.len(), 3, "one-way puts reached the store");
    assert_eq!(kv.get("alpha"), Some(vec![1, 2, 3]));
    assert_eq!(kv.len(), 3);

    let query = Query { prefix: "al".into(), limit: Some(5) };
    assert_eq!(kv.find(&query), vec![Entry { key: "alpha".into(), len: 3 }, Entry { key: "alps".into(), len: 1 }]);
    assert_eq!(kv.find(&Query { prefix: "".into(), limit: Some(1) }).len(), 1);

    let data: Vec<u8> = (0..=255).collect();
    assert_eq!(kv.checksum(&data), store.checksum(&data));
    assert_eq!(kv.sum(&[1, -2, 40]), 39);
    assert_eq!(kv.mix('λ', -2.5, [true, false, true], (-7, 65_535)), ('λ', -2.5, [true, false, true], (-7, 65_535)));

    assert_eq!(kv.put_all(BTreeMap::from([("gamma".into(), vec![9]), ("delta".into(), vec![])])), Ok(2));
    assert_eq!(kv.validate("ok"), Ok(()));
    assert_eq!(kv.validate(""), Err("empty key".to_string()), "application errors of implicit methods travel");

    kv.clear();
    assert!(store.is_empty(), "a #[hatch::sync] unit method has run when it returns");
}

#[test]
fn explicit_methods_carry_application_errors() {
    let (kv, _) = kv_proxy(2);
    assert_eq!(kv.put_all(BTreeMap::from([("a".into(), vec![]), ("b".into(), vec![])])), Ok(2));
    assert_eq!(kv.put_all(BTreeMap::from([("c".into(), vec![])])), Err(KvError::Full { capacity: 2 }));
}

/// Records where the `&str` and `&[u8]` arguments it receives live.
#[derive(Default)]
struct AddressRecorder {
    key: AtomicUsize,
    data: AtomicUsize,
}

impl KeyValue for AddressRecorder {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.key.store(key.as_ptr() as usize, Ordering::SeqCst);
        Some(key.as_bytes().to_vec())
    }
    fn checksum(&self, data: &[u8]) -> u32 {
        self.data.store(data.as_ptr() as usize, Ordering::SeqCst);
        data.len() as u32
    }
    fn put(&self, key: String, _: Vec<u8>) {
        assert_ne!(key, "poison", "refusing the poison key");
    }
    fn clear(&self) {}
    fn put_all(&self, _: BTreeMap<String, Vec<u8>>) -> Result<u32, KvError> {
        Ok(0)
    }
    fn validate(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn find(&self, _: &Query) -> Vec<Entry> {
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

#[test]
fn borrowed_arguments_are_lent_from_the_receive_buffer() {
    let recorder = Arc::new(AddressRecorder::default());
    let last_payload = Arc::new(Mutex::new(0..0));
    let service = Recording { inner: KeyValueServer::new(recorder.clone()), last_payload: last_payload.clone() };
    let kv = KeyValueProxy::new(loopback(service, Config::default(), Config::default()));

    let key = "a key long enough to be worth not copying";
    assert_eq!(kv.get(key), Some(key.as_bytes().to_vec()));
    let payload = last_payload.lock().unwrap().clone();
    let at = recorder.key.load(Ordering::SeqCst);
    assert!(payload.contains(&at) && at + key.len() <= payload.end, "&str at {at:#x} outside the payload {payload:x?}");

    let data = vec![7u8; 1000];
    assert_eq!(kv.checksum(&data), 1000);
    let payload = last_payload.lock().unwrap().clone();
    let at = recorder.data.load(Ordering::SeqCst);
    assert!(
        payload.contains(&at) && at + data.len() <= payload.end,
        "&[u8] at {at:#x} outside the payload {payload:x?}"
    );
}

#[test]
fn flush_reports_failures_of_one_way_calls() {
    let kv = KeyValueProxy::new(loopback(
        KeyValueServer::new(Arc::new(AddressRecorder::default())),
        Config::default(),
        Config::default(),
    ));
    kv.put("fine".into(), vec![]);
    kv.flush().unwrap();
    kv.put("poison".into(), vec![]);
    let err = kv.flush().unwrap_err();
    assert!(
        matches!(&err, RemoteError::Service { code: ErrorCode::Internal, message } if message.contains("refusing the poison key")),
        "{err}"
    );
    kv.flush().unwrap();
}

#[test]
fn hostile_payloads_get_bad_request_never_undefined_behaviour() {
    let server = KeyValueServer::new(Arc::new(MemoryKv::new(10)));
    let ids = [
        key_value_wire::GET,
        key_value_wire::PUT,
        key_value_wire::PUT_ALL,
        key_value_wire::VALIDATE,
        key_value_wire::CHECKSUM,
        key_value_wire::FIND,
        key_value_wire::SUM,
        key_value_wire::MIX,
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rejected = 0;
    for round in 0..2_000 {
        let len = round % 64;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut reply = Vec::new();
        match server.call(ids[round % ids.len()], &Bytes::from(bytes), &mut reply) {
            Ok(()) => {}
            Err(err) => {
                assert_eq!(err.code, ErrorCode::BadRequest, "{err}");
                rejected += 1;
            }
        }
    }
    assert!(rejected > 1_000, "random bytes are mostly rejected ({rejected})");

    let channel = loopback(KeyValueServer::new(Arc::new(MemoryKv::new(10))), Config::default(), Config::default());
    let err = channel.call(key_value_wire::GET, &[0xFF; 32], None).unwrap_err();
    assert!(matches!(err, RemoteError::Service { code: ErrorCode::BadRequest, .. }), "{err}");
}

#[test]
fn unknown_methods_are_refused() {
    let channel = loopback(PrimesServer::new(Arc::new(LocalPrimes)), Config::default(), Config::default());
    let err = channel.call(key_value_wire::GET, &[], None).unwrap_err();
    assert!(matches!(err, RemoteError::Service { code: ErrorCode::UnknownMethod, .. }), "{err}");
}

#[test]
fn method_ids_are_stable_hashes_of_the_qualified_name() {
    // FNV-1a 32 of "Primes::is_prime": changing the id scheme breaks every deployed peer.
    assert_eq!(primes_wire::IS_PRIME, hatch_proxygen_fingerprint("Primes::is_prime"));
    assert_eq!(key_value_wire::GET, hatch_proxygen_fingerprint("KeyValue::get"));
}

fn hatch_proxygen_fingerprint(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}
