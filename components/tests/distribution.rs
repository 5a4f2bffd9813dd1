//! Distribution across processes: agents (this test binary, re-executed in agent
//! mode, or in-process), authentication, relocation under load with and without
//! state, and transparent recovery from a host killed with SIGKILL.
//!
//! Agent children run the ignored test `agent_main`, which calls `run_if_agent`;
//! every child is owned by an `AgentProcess`, which kills and reaps it on drop,
//! also when a test fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_components::remote::auth::UNAUTHENTICATED;
use hatch_components::remote::{
    Agent, AgentProcess, Balancer, Call, Catalog, ControlError, Host, HostError, Key, LeastOutstanding, MemberEvent,
    Membership, Placed, PlacedSpace, PlacedSystem, RelocateError, Remotable, Replica, RoundRobin, Sharding, Site,
    StateBlob, StateManager, Whereabouts, relocate, replicate, replicate_stateful, run_if_agent, shard,
};
use hatch_components::{Component, Composition, Interface, Registry, Slot, StateError, StateTransfer, state};
use hatch_transport::{Channel, Config, MethodId, RemoteError, Service, ServiceError};

// ---------------------------------------------------------------------------------------------
// Fixtures: three interfaces with hand-written proxies and dispatchers (the demo crate uses
// generated ones). Requests and replies are little-endian u64s.

/// Stateless and implicit: `Squarer` requires a `Mul`, so relocating it moves a sub-tree.
trait Math: Component {
    fn square(&self, x: u64) -> u64;
}
impl Interface for dyn Math {
    const NAME: &'static str = "Math";
}
trait Mul: Component {
    fn mul(&self, a: u64, b: u64) -> u64;
}
impl Interface for dyn Mul {
    const NAME: &'static str = "Mul";
}

struct Squarer(Slot<dyn Mul>);
impl Component for Squarer {}
impl Math for Squarer {
    fn square(&self, x: u64) -> u64 {
        self.0.load().mul(x, x)
    }
}
struct Native;
impl Component for Native {}
impl Mul for Native {
    fn mul(&self, a: u64, b: u64) -> u64 {
        if a == SLOW {
            std::thread::sleep(Duration::from_millis(600));
        }
        a.wrapping_mul(b)
    }
}
/// `Native::mul` of this takes 600 ms: a slow call.
const SLOW: u64 = 0x5107;
/// Another `Mul` variant (same results), so the space has two compositions.
struct Wide;
impl Component for Wide {}
impl Mul for Wide {
    fn mul(&self, a: u64, b: u64) -> u64 {
        (u128::from(a) * u128::from(b)) as u64
    }
}
impl Remotable for dyn Mul {
    const FINGERPRINT: u64 = 0x004d_554c;
    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(Dispatch(move |x| implementation.mul(x, x)))
    }
    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(MulProxy(channel))
    }
}
/// The test dispatch carries one u64, so the remote `Mul` squares (all `Squarer` asks of it).
struct MulProxy(Arc<dyn Channel>);
impl Component for MulProxy {}
impl Mul for MulProxy {
    fn mul(&self, a: u64, b: u64) -> u64 {
        assert_eq!(a, b, "the test proxy of Mul only squares");
        reply_of(self.0.call(CALL, &a.to_le_bytes(), None).expect("implicit: recovered below the proxy"))
    }
}

/// Stateful and implicit: every call returns the new total, so the values all calls
/// return together must be exactly 1..=N.
trait Counter: Component {
    fn incr(&self) -> u64;
}
impl Interface for dyn Counter {
    const NAME: &'static str = "Counter";
}
struct Tally(AtomicU64);
impl Component for Tally {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}
impl Counter for Tally {
    fn incr(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}
impl StateTransfer for Tally {
    fn state_format(&self) -> &'static str {
        "tally/v1"
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        state::encode(&self.0.load(Ordering::Relaxed))
    }
    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        *self.0.get_mut() = state::decode(bytes)?;
        Ok(())
    }
}

/// Explicit: remote failures come back as `Err`.
trait Store: Component {
    fn get(&self, key: u64) -> Result<u64, StoreError>;
}
impl Interface for dyn Store {
    const NAME: &'static str = "Store";
}
#[derive(Debug)]
enum StoreError {
    Remote(RemoteError),
}
impl From<RemoteError> for StoreError {
    fn from(e: RemoteError) -> Self {
        StoreError::Remote(e)
    }
}
struct Doubling;
impl Component for Doubling {}
impl Store for Doubling {
    fn get(&self, key: u64) -> Result<u64, StoreError> {
        Ok(key * 2)
    }
}

const CALL: MethodId = 1;

fn arg(payload: &[u8]) -> Result<u64, ServiceError> {
    Ok(u64::from_le_bytes(payload.try_into().map_err(|_| ServiceError::bad_request("want 8 bytes"))?))
}
fn reply_of(bytes: Bytes) -> u64 {
    u64::from_le_bytes(bytes[..].try_into().expect("8-byte reply"))
}

/// One proxy and one dispatcher for all three: `f` picks the method.
struct Proxy(Arc<dyn Channel>);
impl Component for Proxy {}
impl Proxy {
    fn call(&self, x: u64) -> Result<u64, RemoteError> {
        self.0.call(CALL, &x.to_le_bytes(), None).map(reply_of)
    }
}
impl Math for Proxy {
    fn square(&self, x: u64) -> u64 {
        self.call(x).expect("implicit: recovered below the proxy")
    }
}
impl Counter for Proxy {
    fn incr(&self) -> u64 {
        self.call(0).expect("implicit")
    }
}
impl Store for Proxy {
    fn get(&self, key: u64) -> Result<u64, StoreError> {
        Ok(self.call(key)?)
    }
}

struct Dispatch<F>(F);
impl<F: Fn(u64) -> u64 + Send + Sync + 'static> Service for Dispatch<F> {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        if method != CALL {
            return Err(ServiceError::unknown_method(method));
        }
        reply.extend_from_slice(&(self.0)(arg(payload)?).to_le_bytes());
        Ok(())
    }
}

impl Remotable for dyn Math {
    const FINGERPRINT: u64 = 0x4d41_5448;
    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(Dispatch(move |x| implementation.square(x)))
    }
    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(Proxy(channel))
    }
}
impl Remotable for dyn Counter {
    const FINGERPRINT: u64 = 0x434f_554e;
    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(Dispatch(move |_| implementation.incr()))
    }
    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(Proxy(channel))
    }
}
impl Remotable for dyn Store {
    const FINGERPRINT: u64 = 0x5354_4f52;
    const EXPLICIT: bool = true;
    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(Dispatch(move |k| implementation.get(k).unwrap_or(u64::MAX)))
    }
    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(Proxy(channel))
    }
}

/// Stateful key-value store, for sharding and stateful replication. `u64::MAX` is "none".
trait Kv: Component {
    fn put(&self, key: u64, value: u64) -> u64;
    fn get(&self, key: u64) -> u64;
    fn len(&self) -> u64;
}
impl Interface for dyn Kv {
    const NAME: &'static str = "Kv";
}
struct MapKv(parking_lot::Mutex<std::collections::BTreeMap<u64, u64>>);
impl Component for MapKv {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}
impl Kv for MapKv {
    fn put(&self, key: u64, value: u64) -> u64 {
        self.0.lock().insert(key, value).unwrap_or(u64::MAX)
    }
    fn get(&self, key: u64) -> u64 {
        self.0.lock().get(&key).copied().unwrap_or(u64::MAX)
    }
    fn len(&self) -> u64 {
        self.0.lock().len() as u64
    }
}
const KV_FORMAT: &str = "kv/pairs-v1";
impl StateTransfer for MapKv {
    fn state_format(&self) -> &'static str {
        KV_FORMAT
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        state::encode(&self.0.lock().iter().map(|(&k, &v)| (k, v)).collect::<Vec<(u64, u64)>>())
    }
    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        *self.0.get_mut() = state::decode::<Vec<(u64, u64)>>(bytes)?.into_iter().collect();
        Ok(())
    }
}

const PUT: MethodId = 2;
const GET: MethodId = 3;
const LEN: MethodId = 4;

struct KvProxy(Arc<dyn Channel>);
impl Component for KvProxy {}
impl KvProxy {
    fn call(&self, method: MethodId, request: &[u8]) -> u64 {
        reply_of(self.0.call(method, request, None).expect("implicit"))
    }
}
impl Kv for KvProxy {
    fn put(&self, key: u64, value: u64) -> u64 {
        let mut request = key.to_le_bytes().to_vec();
        request.extend_from_slice(&value.to_le_bytes());
        self.call(PUT, &request)
    }
    fn get(&self, key: u64) -> u64 {
        self.call(GET, &key.to_le_bytes())
    }
    fn len(&self) -> u64 {
        self.call(LEN, &[])
    }
}
struct KvServer(Arc<dyn Kv>);
impl Service for KvServer {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        let answer = match method {
            PUT if payload.len() == 16 => self.0.put(arg(&payload[..8])?, arg(&payload[8..])?),
            GET => self.0.get(arg(payload)?),
            LEN => self.0.len(),
            _ => return Err(ServiceError::bad_request("unknown method or size")),
        };
        reply.extend_from_slice(&answer.to_le_bytes());
        Ok(())
    }
}
impl Remotable for dyn Kv {
    const FINGERPRINT: u64 = 0x4b56;
    fn serve(implementation: Arc<Self>) -> Arc<dyn Service> {
        Arc::new(KvServer(implementation))
    }
    fn proxy(channel: Arc<dyn Channel>) -> Box<Self> {
        Box::new(KvProxy(channel))
    }
}

/// Shards by `key % shards`; `len` is not shardable and goes to shard 0.
struct ByKey;
impl Balancer for ByKey {
    fn pick(&self, call: &Call<'_>, replicas: &[Replica]) -> Option<usize> {
        let key = call.request.get(..8).map_or(0, |k| u64::from_le_bytes(k.try_into().unwrap()));
        let shard = (key % replicas.len() as u64) as usize;
        replicas[shard].is_up().then_some(shard)
    }
}
impl Sharding for ByKey {
    fn split(&self, blob: &StateBlob, shards: usize) -> Result<Vec<StateBlob>, StateError> {
        let pairs: Vec<(u64, u64)> = state::decode(&blob.bytes)?;
        (0..shards as u64)
            .map(|s| {
                let part: Vec<(u64, u64)> = pairs.iter().copied().filter(|(k, _)| k % shards as u64 == s).collect();
                Ok(StateBlob { format: blob.format.clone(), bytes: state::encode(&part)? })
            })
            .collect()
    }
    fn merge(&self, parts: Vec<StateBlob>) -> Result<StateBlob, StateError> {
        let mut all = Vec::new();
        for part in &parts {
            all.extend(state::decode::<Vec<(u64, u64)>>(&part.bytes)?);
        }
        Ok(StateBlob { format: KV_FORMAT.into(), bytes: state::encode(&all)? })
    }
}

/// Single writer: `put` goes to every replica.
struct KvWrites;
impl StateManager for KvWrites {
    fn is_write(&self, method: MethodId) -> bool {
        method == PUT
    }
}

fn filled_kv(n: u64) -> MapKv {
    MapKv(parking_lot::Mutex::new((0..n).map(|k| (k, k * 10)).collect()))
}

/// The catalog every process of these tests builds: host and agents alike.
fn catalog() -> Catalog {
    let mut registry = Registry::new();
    registry.variant::<dyn Mul>("Native").build(|_| Box::new(Native)).unwrap();
    registry.variant::<dyn Mul>("Wide").build(|_| Box::new(Wide)).unwrap();
    registry.variant::<dyn Math>("Squarer").requires::<dyn Mul>().build(|deps| Box::new(Squarer(deps.slot()))).unwrap();
    registry.variant::<dyn Counter>("Tally").build(|_| Box::new(Tally(AtomicU64::new(0)))).unwrap();
    registry.variant::<dyn Store>("Doubling").build(|_| Box::new(Doubling)).unwrap();
    registry.variant::<dyn Kv>("MapKv").build(|_| Box::new(filled_kv(0))).unwrap();
    Catalog::new(registry)
        .remotable::<dyn Math>()
        .remotable::<dyn Mul>()
        .remotable::<dyn Counter>()
        .remotable::<dyn Store>()
        .remotable::<dyn Kv>()
}

/// Entry point of agent child processes (not a test: the tests start it).
#[test]
#[ignore = "agent child process entry point, started by the other tests"]
fn agent_main() {
    run_if_agent(catalog);
    panic!("agent_main runs only as an agent child (HATCH_AGENT set)");
}

fn spawn_agent(key: &Key) -> AgentProcess {
    AgentProcess::spawn_self(&["--exact", "agent_main", "--ignored", "--nocapture"], "127.0.0.1:0", key)
        .expect("start an agent child")
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn comp(id: &str) -> Composition {
    id.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Authentication

#[test]
fn hosts_without_the_key_are_refused_on_both_paths() {
    let key = Key::generate().unwrap();
    let agent = Agent::start(local(), Arc::new(catalog()), key.clone()).unwrap();

    // Control: a host with another key cannot pass the agent's proof.
    let other = Key::generate().unwrap();
    match Host::connect(agent.addr(), &other) {
        Err(HostError::Impostor(_)) => {}
        other => panic!("a host with another key got through: {other:?}"),
    }
    // A forged session is refused with a typed error.
    let host = Host::connect(agent.addr(), &key).unwrap();
    match host.request_with_session([0; 16]) {
        Err(HostError::Refused(ControlError::Unauthenticated)) => {}
        other => panic!("forged session accepted: {other:?}"),
    }

    // Data: a client that does not put the token in front of its calls is refused.
    let served = host.instantiate("Math", "{Squarer,Native|0:Mul:1}", None).unwrap();
    let raw = hatch_transport::uring::Client::connect(
        served.addr.parse().unwrap(),
        Config::default().fingerprint(served.fingerprint),
    )
    .unwrap();
    match raw.call(CALL, &3u64.to_le_bytes(), None) {
        Err(RemoteError::Service { code, .. }) => assert_eq!(code, UNAUTHENTICATED),
        other => panic!("untokened data call admitted: {other:?}"),
    }
    // Its connection is not the agent's: the control path still answers.
    assert_eq!(host.load().unwrap().instances, 1);
    assert_eq!(host.load().unwrap().calls, 0, "the refused call was not executed");

    // Only registered variants, by name; typed errors otherwise.
    match host.instantiate("Nope", "{Squarer,Native|0:Mul:1}", None) {
        Err(HostError::Refused(ControlError::UnknownInterface(name))) => assert_eq!(name, "Nope"),
        other => panic!("{other:?}"),
    }
    match host.instantiate("Math", "{Squarer,Evil|0:Mul:1}", None) {
        Err(HostError::Refused(ControlError::Build { .. })) => {}
        other => panic!("{other:?}"),
    }
    match host.instantiate("Math", "{Squarer", None) {
        Err(HostError::Refused(ControlError::Build { .. })) => {}
        other => panic!("{other:?}"),
    }
    host.stop(served.instance, false).unwrap();
    assert_eq!(agent.instances(), 0);
}

/// Bytes that are not the Hatch protocol close only their own connection: the agent keeps
/// serving everyone else.
#[test]
fn hostile_bytes_close_only_their_connection() {
    use std::io::{Read, Write};
    let key = Key::generate().unwrap();
    let agent = Agent::start(local(), Arc::new(catalog()), key.clone()).unwrap();
    let host = Host::connect(agent.addr(), &key).unwrap();
    for garbage in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0xff; 64][..], &[0u8; 3][..]] {
        let mut raw = std::net::TcpStream::connect(agent.addr()).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        raw.write_all(garbage).unwrap();
        raw.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        // Closed by the agent (possibly after a GoAway frame), not left hanging.
        raw.read_to_end(&mut answer).unwrap();
    }
    assert_eq!(host.load().unwrap().instances, 0, "the authenticated session still works");
    assert!(Host::connect(agent.addr(), &key).is_ok(), "and new ones are accepted");
}

// ---------------------------------------------------------------------------------------------
// Relocation

/// Threads call a stateful counter while it moves to an agent and back, repeatedly: the
/// values returned are exactly 1..=N (no call lost or doubled), and the total survived every
/// move.
#[test]
fn stateful_relocation_there_and_back_loses_no_call() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 5_000;
    const MOVES: usize = 6;
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let agent = Agent::start(local(), catalog.clone(), key.clone()).unwrap();
    let host = Arc::new(Host::connect(agent.addr(), &key).unwrap());
    let slot: Slot<dyn Counter> = Slot::new(catalog.build::<dyn Counter>(&comp("{Tally|}")).unwrap());
    let done = AtomicU64::new(0);
    let seen = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (slot, done) = (slot.clone(), &done);
                s.spawn(move || {
                    let values: Vec<u64> = (0..CALLS).map(|_| slot.load().incr()).collect();
                    done.fetch_add(1, Ordering::Relaxed);
                    values
                })
            })
            .collect();
        let mut moves = 0;
        while moves < MOVES || done.load(Ordering::Relaxed) < THREADS {
            if moves < MOVES {
                let relocation = relocate(&slot, &catalog, &host, &comp("{Tally|}")).unwrap();
                assert_eq!(relocation.whereabouts(), Whereabouts::Remote);
                assert_eq!(agent.instances(), 1);
                assert_eq!(relocation.back().unwrap(), hatch_components::StateMove::Moved);
                assert_eq!(agent.instances(), 0);
                moves += 1;
            } else {
                thread::yield_now();
            }
        }
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect::<Vec<u64>>()
    });
    let mut seen = seen;
    seen.sort_unstable();
    assert_eq!(seen, (1..=THREADS * CALLS).collect::<Vec<_>>());
    assert_eq!(slot.load().incr(), THREADS * CALLS + 1, "state came back");
    assert_eq!(slot.swaps(), 2 * MOVES as u64);
}

/// A stateless sub-tree (`Squarer` with its `Mul`) moves to an agent child process and back
/// under load; every result is right.
#[test]
fn stateless_relocation_to_a_child_process_and_back() {
    let key = Key::generate().unwrap();
    let child = spawn_agent(&key);
    let catalog = Arc::new(catalog());
    let host = Arc::new(Host::connect(child.addr(), &key).unwrap());
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let stop = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    thread::scope(|s| {
        for t in 0..4u64 {
            let (slot, stop, calls) = (slot.clone(), &stop, &calls);
            s.spawn(move || {
                let mut x = t;
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(slot.load().square(x), x * x);
                    calls.fetch_add(1, Ordering::Relaxed);
                    x += 4;
                }
            });
        }
        for _ in 0..3 {
            let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
            let before = host.load().unwrap().calls;
            // Wait (without a time limit) until remote calls are observed.
            while host.load().unwrap().calls < before + 100 {
                thread::yield_now();
            }
            relocation.back().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(calls.load(Ordering::Relaxed) > 300);
    assert_eq!(host.load().unwrap().instances, 0);
}

// ---------------------------------------------------------------------------------------------
// Failures

/// 100,000 calls from 4 threads; the agent serving them is killed with SIGKILL in the
/// middle. No call fails, every result is right, and the slot ends up local again.
#[test]
fn killed_host_is_recovered_transparently() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 25_000;
    const KILL_AFTER: u64 = 5_000;
    let key = Key::generate().unwrap();
    let mut child = spawn_agent(&key);
    let catalog = Arc::new(catalog());
    let host = Arc::new(Host::connect(child.addr(), &key).unwrap());
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
    let calls = AtomicU64::new(0);
    let killed = AtomicBool::new(false);
    let started = Instant::now();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (slot, calls, killed) = (slot.clone(), &calls, &killed);
            s.spawn(move || {
                for i in 0..CALLS {
                    // Half the threads wait at their KILL_AFTER-th call for the kill, so calls
                    // certainly reach the dead host; the others run through it.
                    if t % 2 == 0 && i == KILL_AFTER {
                        while !killed.load(Ordering::Acquire) {
                            thread::yield_now();
                        }
                    }
                    let x = t * CALLS + i;
                    assert_eq!(slot.load().square(x), x.wrapping_mul(x));
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while calls.load(Ordering::Relaxed) < THREADS * KILL_AFTER / 2 {
            thread::yield_now();
        }
        child.kill().unwrap();
        killed.store(true, Ordering::Release);
    });
    let elapsed = started.elapsed();
    assert_eq!(calls.load(Ordering::Relaxed), THREADS * CALLS);
    let report = relocation.wait_recovered(Duration::from_secs(60)).expect("recovered locally");
    assert!(report.refired >= 1, "calls after the kill failed remotely and were re-fired: {report:?}");
    assert_eq!(slot.swaps(), 2, "relocated, then swapped back to local");
    println!(
        "recovery: {} calls in {elapsed:?}; slot local again {:?} after the first failed call; {} call(s) \
         re-fired; cause: {}",
        THREADS * CALLS,
        report.swapped_back_after,
        report.refired,
        report.error
    );
}

/// An explicit interface gets the failure back instead.
#[test]
fn explicit_interface_sees_the_failure() {
    let key = Key::generate().unwrap();
    let mut child = spawn_agent(&key);
    let catalog = Arc::new(catalog());
    let host = Arc::new(Host::connect(child.addr(), &key).unwrap());
    let slot: Slot<dyn Store> = Slot::new(catalog.build::<dyn Store>(&comp("{Doubling|}")).unwrap());
    let relocation = relocate(&slot, &catalog, &host, &comp("{Doubling|}")).unwrap();
    assert_eq!(slot.load().get(21).unwrap(), 42);
    assert_eq!(host.load().unwrap().calls, 1, "served remotely");
    child.kill().unwrap();
    match slot.load().get(21) {
        Err(StoreError::Remote(e)) => assert!(e.is_transport_failure(), "{e}"),
        Ok(v) => panic!("explicit call succeeded after its host died: {v}"),
    }
    assert_eq!(relocation.whereabouts(), Whereabouts::Remote, "no transparent recovery");
}

// ---------------------------------------------------------------------------------------------
// Replication

/// Round-robin over two agent processes splits calls exactly; when one agent is killed its
/// calls go to the other, when both are, the component comes back locally; no call fails.
#[test]
fn replicas_share_calls_and_survive_their_hosts_one_by_one() {
    let key = Key::generate().unwrap();
    let mut children = [spawn_agent(&key), spawn_agent(&key)];
    let catalog = Arc::new(catalog());
    let hosts: Vec<_> = children.iter().map(|c| Arc::new(Host::connect(c.addr(), &key).unwrap())).collect();
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let replication = replicate(&slot, &catalog, &hosts, &composition, Arc::new(RoundRobin::default())).unwrap();
    for x in 0..1_000u64 {
        assert_eq!(slot.load().square(x), x * x);
    }
    let replicas = replication.replicas().unwrap();
    assert_eq!((replicas[0].calls(), replicas[1].calls()), (500, 500));
    assert_eq!((hosts[0].load().unwrap().calls, hosts[1].load().unwrap().calls), (500, 500));

    const THREADS: u64 = 4;
    const CALLS: u64 = 5_000;
    let calls = AtomicU64::new(0);
    let kills = AtomicU64::new(0);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (slot, calls, kills) = (slot.clone(), &calls, &kills);
            s.spawn(move || {
                for i in 0..CALLS {
                    // Thread 0 waits for each kill at fixed points, so calls certainly meet
                    // a dead replica, then a dead pair.
                    if t == 0 && (i == CALLS / 4 || i == CALLS / 2) {
                        let want = if i == CALLS / 4 { 1 } else { 2 };
                        while kills.load(Ordering::Acquire) < want {
                            thread::yield_now();
                        }
                    }
                    let x = t * CALLS + i;
                    assert_eq!(slot.load().square(x), x * x);
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for (k, child) in children.iter_mut().enumerate() {
            while calls.load(Ordering::Relaxed) < (k as u64 + 1) * CALLS / 4 {
                thread::yield_now();
            }
            child.kill().unwrap();
            kills.fetch_add(1, Ordering::Release);
        }
    });
    assert_eq!(calls.load(Ordering::Relaxed), THREADS * CALLS);
    assert!(replicas.iter().all(|r| !r.is_up()));
    let report = replication.wait_recovered(Duration::from_secs(60)).expect("recovered locally");
    println!("replicas lost one by one; slot local again after {:?}", report.swapped_back_after);
}

/// Least-outstanding balancing over two in-process agents spreads sequential calls (ties
/// rotate), and stateful components are not replicated without a state manager.
#[test]
fn least_outstanding_spreads_calls_and_state_needs_a_manager() {
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let agents: Vec<_> = (0..2).map(|_| Agent::start(local(), catalog.clone(), key.clone()).unwrap()).collect();
    let hosts: Vec<_> = agents.iter().map(|a| Arc::new(Host::connect(a.addr(), &key).unwrap())).collect();
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let replication = replicate(&slot, &catalog, &hosts, &composition, Arc::new(LeastOutstanding::default())).unwrap();
    for x in 0..100u64 {
        assert_eq!(slot.load().square(x), x * x);
    }
    let calls: Vec<u64> = replication.replicas().unwrap().iter().map(|r| r.calls()).collect();
    assert_eq!(calls, [50, 50]);
    replication.back().unwrap();
    assert_eq!(agents.iter().map(Agent::instances).sum::<usize>(), 0);

    let counter: Slot<dyn Counter> = Slot::new(catalog.build::<dyn Counter>(&comp("{Tally|}")).unwrap());
    match replicate(&counter, &catalog, &hosts, &comp("{Tally|}"), Arc::new(RoundRobin::default())) {
        Err(RelocateError::Stateful("Counter")) => {}
        other => panic!("stateful component replicated: {other:?}"),
    }
    assert_eq!(agents.iter().map(Agent::instances).sum::<usize>(), 0);
}

/// A key-value store sharded over two agents: each holds its half of the state, each call
/// reaches the shard of its key, and the halves merge back into one local store.
#[test]
fn sharded_store_splits_routes_and_merges_its_state() {
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let agents: Vec<_> = (0..2).map(|_| Agent::start(local(), catalog.clone(), key.clone()).unwrap()).collect();
    let hosts: Vec<_> = agents.iter().map(|a| Arc::new(Host::connect(a.addr(), &key).unwrap())).collect();
    let slot: Slot<dyn Kv> = Slot::new(Box::new(filled_kv(1_000)));
    let sharded = shard(&slot, &catalog, &hosts, &comp("{MapKv|}"), Arc::new(ByKey)).unwrap();
    for k in 0..1_000 {
        assert_eq!(slot.load().get(k), k * 10);
    }
    for k in 1_000..1_100 {
        assert_eq!(slot.load().put(k, k * 10), u64::MAX, "new key");
    }
    assert_eq!(slot.load().get(5_000), u64::MAX);
    let calls: Vec<u64> = sharded.replicas().unwrap().iter().map(|r| r.calls()).collect();
    // Even keys (and the missing 5000) on shard 0, odd keys on shard 1.
    assert_eq!(calls, [551, 550]);
    assert_eq!((hosts[0].load().unwrap().calls, hosts[1].load().unwrap().calls), (551, 550));
    assert_eq!(sharded.back().unwrap(), hatch_components::StateMove::Moved);
    assert_eq!(slot.load().len(), 1_100);
    assert_eq!(slot.load().get(1_099), 10_990);
    assert_eq!(agents.iter().map(Agent::instances).sum::<usize>(), 0);
}

/// A stateful store replicated on two agent processes under a single-writer state manager:
/// writes reach both, so when one agent is killed the other answers with all the state.
#[test]
fn stateful_replicas_keep_the_state_when_one_host_dies() {
    let key = Key::generate().unwrap();
    let mut children = [spawn_agent(&key), spawn_agent(&key)];
    let catalog = Arc::new(catalog());
    let hosts: Vec<_> = children.iter().map(|c| Arc::new(Host::connect(c.addr(), &key).unwrap())).collect();
    let slot: Slot<dyn Kv> = Slot::new(Box::new(filled_kv(100)));
    let replicated = replicate_stateful(
        &slot,
        &catalog,
        &hosts,
        &comp("{MapKv|}"),
        Arc::new(KvWrites),
        Arc::new(RoundRobin::default()),
    )
    .unwrap();
    for k in 100..200 {
        assert_eq!(slot.load().put(k, k * 10), u64::MAX);
    }
    let reads_before: Vec<u64> = replicated.replicas().unwrap().iter().map(|r| r.calls()).collect();
    for k in 0..200 {
        assert_eq!(slot.load().get(k), k * 10);
    }
    let reads: Vec<u64> =
        replicated.replicas().unwrap().iter().zip(&reads_before).map(|(r, before)| r.calls() - before).collect();
    assert_eq!(reads, [100, 100], "reads are balanced");
    children[0].kill().unwrap();
    for k in 0..200 {
        assert_eq!(slot.load().get(k), k * 10, "the surviving replica has every write");
    }
    assert_eq!(slot.load().put(7, 1), 70);
    assert!(!replicated.replicas().unwrap()[0].is_up());
    assert_eq!(replicated.back().unwrap(), hatch_components::StateMove::Moved);
    assert_eq!(slot.load().len(), 200);
    assert_eq!(slot.load().get(7), 1);
}

// ---------------------------------------------------------------------------------------------
// Placements

/// The placed space of `Math` over two agents: 2 local compositions, each with 7
/// placements (all local; `Mul` on agent 1, 2, or both; `Squarer` with its `Mul` on agent
/// 1, 2, or both). A running system visits every one of them, and back, under load; each
/// identifier round-trips, and the agents serve exactly what the placement says.
#[test]
fn placed_system_moves_between_every_placement_under_load() {
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let agents: Vec<_> = (0..2).map(|_| Agent::start(local(), catalog.clone(), key.clone()).unwrap()).collect();
    let hosts: std::collections::BTreeMap<String, Arc<Host>> =
        agents.iter().map(|a| (a.addr().to_string(), Arc::new(Host::connect(a.addr(), &key).unwrap()))).collect();
    let space = catalog.registry().space::<dyn Math>().unwrap();
    let placed_space = PlacedSpace::new(space.clone(), catalog.clone(), hosts.keys().cloned().collect());
    assert_eq!(placed_space.count(), 14);
    let all: Vec<_> = placed_space.iter().collect();
    for p in &all {
        assert_eq!(&p.to_string().parse::<Placed>().unwrap(), p);
    }
    let served_by =
        |p: &Placed| -> usize { p.sites().iter().map(|s| if let Site::Remote(h) = s { h.len() } else { 0 }).sum() };
    // Per composition: local 0, Mul on 1, 2, both: 1 + 1 + 2, Squarer on 1, 2, both: 1 + 1 + 2.
    assert_eq!(all.iter().map(served_by).sum::<usize>(), 2 * 8);

    let mut system = PlacedSystem::assemble(&space, catalog.clone(), hosts.clone(), &all[0]).unwrap();
    let root: Slot<dyn Math> = system.system().root().unwrap();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for t in 0..2u64 {
            let (root, stop) = (root.clone(), &stop);
            s.spawn(move || {
                let mut x = t;
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(root.load().square(x), x * x);
                    x += 2;
                }
            });
        }
        for p in all.iter().chain(all.iter().rev()) {
            system.transition(p).unwrap();
            assert_eq!(&system.placed(), p);
            assert_eq!(agents.iter().map(Agent::instances).sum::<usize>(), served_by(p), "{p}");
        }
        stop.store(true, Ordering::Relaxed);
    });
    println!("visited {} placements twice, e.g. {}", all.len(), all[all.len() - 1]);
}

// ---------------------------------------------------------------------------------------------
// Across network namespaces

/// A network namespace joined to ours by a veth pair; removed on drop.
struct Netns {
    name: String,
    outer: String,
    inner_ip: String,
}

impl Netns {
    /// Creates the namespace and the pair, or says why it cannot.
    fn create() -> Result<Netns, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let id = std::process::id();
        let subnet = format!("10.213.{}", id % 250);
        let netns = Netns {
            name: format!("hdist-{id}"),
            outer: format!("hdv{}a", id % 100_000),
            inner_ip: format!("{subnet}.2"),
        };
        let inner = format!("hdv{}b", id % 100_000);
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = std::process::Command::new("ip").args(args).output().map_err(|e| format!("no `ip`: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
            }
        };
        ip(&["netns", "add", &netns.name])?;
        // From here on, drop cleans up whatever was made.
        ip(&["link", "add", &netns.outer, "type", "veth", "peer", "name", &inner])?;
        ip(&["link", "set", &inner, "netns", &netns.name])?;
        ip(&["addr", "add", &format!("{subnet}.1/30"), "dev", &netns.outer])?;
        ip(&["link", "set", &netns.outer, "up"])?;
        ip(&["netns", "exec", &netns.name, "ip", "addr", "add", &format!("{subnet}.2/30"), "dev", &inner])?;
        ip(&["netns", "exec", &netns.name, "ip", "link", "set", &inner, "up"])?;
        ip(&["netns", "exec", &netns.name, "ip", "link", "set", "lo", "up"])?;
        Ok(netns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", &self.outer]).output();
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// An agent in another network namespace, reached over a veth pair: relocation, remote
/// calls, then SIGKILL and transparent recovery. Skipped (with the reason printed) when
/// namespaces cannot be made, e.g. without root.
#[test]
fn relocation_and_recovery_across_network_namespaces() {
    let netns = match Netns::create() {
        Ok(netns) => netns,
        Err(why) => {
            println!("skipped: cannot make a network namespace ({why})");
            return;
        }
    };
    let key = Key::generate().unwrap();
    let mut command = std::process::Command::new("ip");
    command.args(["netns", "exec", &netns.name]).arg(std::env::current_exe().unwrap()).args([
        "--exact",
        "agent_main",
        "--ignored",
        "--nocapture",
    ]);
    let mut child = AgentProcess::spawn(command, &format!("{}:0", netns.inner_ip), &key).expect("agent in netns");
    assert_eq!(child.addr().ip().to_string(), netns.inner_ip);
    let catalog = Arc::new(catalog());
    let host = Arc::new(Host::connect(child.addr(), &key).unwrap());
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
    for x in 0..1_000 {
        assert_eq!(slot.load().square(x), x * x);
    }
    assert_eq!(host.load().unwrap().calls, 1_000, "served across the veth pair");
    child.kill().unwrap();
    for x in 0..1_000 {
        assert_eq!(slot.load().square(x), x * x);
    }
    let report = relocation.wait_recovered(Duration::from_secs(60)).expect("recovered locally");
    println!(
        "across namespaces, agent killed: slot local again {:?} after the first failed call",
        report.swapped_back_after
    );

    // A partition sends no reset: the calls' deadline fails them, and the host's liveness
    // verdict (here given by hand, as a membership listener would) moves the component home.
    let mut command = std::process::Command::new("ip");
    command.args(["netns", "exec", &netns.name]).arg(std::env::current_exe().unwrap()).args([
        "--exact",
        "agent_main",
        "--ignored",
        "--nocapture",
    ]);
    let child = AgentProcess::spawn(command, &format!("{}:0", netns.inner_ip), &key).expect("agent in netns");
    let host = Arc::new(Host::connect(child.addr(), &key).unwrap().with_call_timeout(Duration::from_millis(300)));
    let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
    assert_eq!(slot.load().square(12), 144);
    assert_eq!(host.load().unwrap().calls, 1);
    let down = std::process::Command::new("ip").args(["link", "set", &netns.outer, "down"]).status().unwrap();
    assert!(down.success());
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.load().square(5)))
        .expect_err("a partitioned call fails");
    assert!(panic_text(&*failed).contains("DeadlineExceeded"), "{}", panic_text(&*failed));
    assert_eq!(relocation.whereabouts(), Whereabouts::Remote, "a deadline alone moves nothing");
    assert!(relocation.host_down(child.addr()));
    for x in 0..100 {
        assert_eq!(slot.load().square(x), x * x);
    }
    let report = relocation.wait_recovered(Duration::from_secs(60)).expect("recovered locally");
    assert!(report.error.contains("declared down"), "{report:?}");
    println!(
        "across namespaces, link down: slot local again {:?} after the liveness verdict",
        report.swapped_back_after
    );
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A call that exceeds its deadline fails with the deadline error, and only that call: the
/// component stays remote and keeps serving, and the slow call is not re-fired locally.
#[test]
fn a_call_past_its_deadline_fails_alone_and_the_component_stays_remote() {
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let agent = Agent::start(local(), catalog.clone(), key.clone()).unwrap();
    let host = Arc::new(Host::connect(agent.addr(), &key).unwrap().with_call_timeout(Duration::from_millis(150)));
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
    assert_eq!(slot.load().square(3), 9);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.load().square(SLOW)))
        .expect_err("the slow call fails");
    assert!(panic_text(&*failed).contains("DeadlineExceeded"), "{}", panic_text(&*failed));
    assert!(relocation.wait_recovered(Duration::from_millis(300)).is_none(), "no failover");
    assert_eq!(relocation.whereabouts(), Whereabouts::Remote);
    for x in 0..100 {
        assert_eq!(slot.load().square(x), x * x);
    }
    // 1 + the slow one + 100, all on the agent: nothing ran locally.
    assert_eq!(host.load().unwrap().calls, 102);
    relocation.back().unwrap();
}

/// State larger than the transport's default 4 MiB frame moves both ways; state too
/// large for a control frame is refused at once, and the component stays local and working.
#[test]
fn large_state_moves_and_too_large_state_is_refused() {
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let agent = Agent::start(local(), catalog.clone(), key.clone()).unwrap();
    let host = Arc::new(Host::connect(agent.addr(), &key).unwrap());
    let slot: Slot<dyn Kv> = Slot::new(Box::new(filled_kv(400_000)));
    let relocation = relocate(&slot, &catalog, &host, &comp("{MapKv|}")).unwrap();
    assert_eq!(slot.load().get(399_999), 3_999_990);
    assert_eq!(relocation.back().unwrap(), hatch_components::StateMove::Moved);
    assert_eq!(slot.load().len(), 400_000);

    let slot: Slot<dyn Counter> = Slot::new(Box::new(Ballast(65 << 20)));
    match relocate(&slot, &catalog, &host, &comp("{Tally|}")) {
        Err(RelocateError::StateTooLarge { bytes, max }) => assert!(bytes > max),
        other => panic!("{other:?}"),
    }
    assert_eq!(slot.load().incr(), 7);
    assert_eq!(agent.instances(), 0);
}

/// A counter whose state is `n` bytes of ballast.
struct Ballast(usize);
impl Component for Ballast {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
}
impl Counter for Ballast {
    fn incr(&self) -> u64 {
        7
    }
}
impl StateTransfer for Ballast {
    fn state_format(&self) -> &'static str {
        "ballast/v1"
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        Ok(vec![0; self.0])
    }
    fn import_state(&mut self, _: &[u8]) -> Result<(), StateError> {
        Err(StateError::Codec("ballast is not imported".into()))
    }
}

/// Bringing a sharded store home needs every shard's part: with one shard's host gone the
/// return fails, and nothing is stopped: the other shard still serves its keys.
#[test]
fn sharded_store_stays_put_when_a_shard_is_unreachable() {
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let mut agents: Vec<_> = (0..2).map(|_| Agent::start(local(), catalog.clone(), key.clone()).unwrap()).collect();
    let hosts: Vec<_> = agents.iter().map(|a| Arc::new(Host::connect(a.addr(), &key).unwrap())).collect();
    let slot: Slot<dyn Kv> = Slot::new(Box::new(filled_kv(100)));
    let sharded = shard(&slot, &catalog, &hosts, &comp("{MapKv|}"), Arc::new(ByKey)).unwrap();
    agents.pop().unwrap().shutdown();
    assert!(sharded.back().is_err(), "shard 1 is gone");
    assert_eq!(agents[0].instances(), 1, "shard 0 was not stopped");
    for k in (0..100).step_by(2) {
        assert_eq!(slot.load().get(k), k * 10);
    }
}

// ---------------------------------------------------------------------------------------------
// Membership

/// SWIM gossip (foca) joins this host to the agent processes it announces itself to, and
/// declares one down
/// after SIGKILL; told so, the relocation recovers before any call meets the dead agent.
#[test]
fn membership_finds_agents_and_recovers_before_a_call_fails() {
    let key = Key::generate().unwrap();
    let mut children = [spawn_agent(&key), spawn_agent(&key)];
    let agents: std::collections::BTreeSet<SocketAddr> = children.iter().map(AgentProcess::addr).collect();
    let seeds: Vec<SocketAddr> = agents.iter().copied().collect();
    let membership = Membership::start(local(), key.clone(), &seeds).unwrap();
    let (events, downs) = std::sync::mpsc::channel();
    membership.on_change(move |event| {
        if let MemberEvent::Down(addr) = event {
            let _ = events.send(addr);
        }
    });
    assert!(membership.wait_until(Duration::from_secs(60), |up| *up == agents), "members: {:?}", membership.members());

    let catalog = Arc::new(catalog());
    let host = Arc::new(Host::connect(children[0].addr(), &key).unwrap());
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
    assert_eq!(slot.load().square(9), 81);
    let started = Instant::now();
    children[0].kill().unwrap();
    let down = downs.recv_timeout(Duration::from_secs(60)).expect("declared down");
    let detected = started.elapsed();
    assert_eq!(down, children[0].addr());
    assert!(relocation.host_down(down));
    let report = relocation.wait_recovered(Duration::from_secs(60)).expect("recovered locally");
    assert_eq!(report.refired, 0, "no call went to the dead agent");
    assert_eq!(slot.load().square(11), 121);
    assert_eq!(membership.members(), vec![children[1].addr()]);
    println!(
        "gossip declared the killed agent down after {detected:?}; slot local {:?} later",
        report.swapped_back_after
    );
}

/// A counter whose export always fails.
struct Brittle;
impl Component for Brittle {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
}
impl Counter for Brittle {
    fn incr(&self) -> u64 {
        11
    }
}
impl StateTransfer for Brittle {
    fn state_format(&self) -> &'static str {
        "brittle/v1"
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        Err(StateError::Codec("brittle state does not export".into()))
    }
    fn import_state(&mut self, _: &[u8]) -> Result<(), StateError> {
        Ok(())
    }
}

/// `Stop { export_state: true }` exports before it shuts anything down: a failed export is
/// refused and leaves the instance served; a stop without export then stops it.
#[test]
fn a_stop_whose_export_fails_leaves_the_instance_running() {
    let mut registry = Registry::new();
    registry.variant::<dyn Counter>("Brittle").build(|_| Box::new(Brittle)).unwrap();
    let catalog = Arc::new(Catalog::new(registry).remotable::<dyn Counter>());
    let key = Key::generate().unwrap();
    let agent = Agent::start(local(), catalog.clone(), key.clone()).unwrap();
    let host = Arc::new(Host::connect(agent.addr(), &key).unwrap());
    let served = host.instantiate("Counter", "{Brittle|}", None).unwrap();
    match host.stop(served.instance, true) {
        Err(HostError::Refused(ControlError::State(reason))) => assert!(reason.contains("does not export"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(agent.instances(), 1, "still served after the failed export");
    // Still answering calls on its data connection.
    let client = hatch_transport::uring::Client::connect(
        served.addr.parse().unwrap(),
        Config::default().fingerprint(<dyn Counter as Remotable>::FINGERPRINT),
    )
    .unwrap();
    let token_less = client.call(CALL, &0u64.to_le_bytes(), None);
    assert!(matches!(token_less, Err(RemoteError::Service { code, .. }) if code == UNAUTHENTICATED), "{token_less:?}");
    assert_eq!(host.stop(served.instance, false).unwrap(), None);
    assert_eq!(agent.instances(), 0);
}

/// An agent listening on every interface advertises an address others can reach: the local
/// address of the route towards its seed (here loopback), or the default route's without seeds,
/// and never 0.0.0.0; components placed there are reached at that address.
#[test]
fn an_agent_on_every_interface_advertises_a_routable_address() {
    use hatch_components::remote::AgentConfig;
    let key = Key::generate().unwrap();
    let catalog = Arc::new(catalog());
    let seed = Membership::start(local(), key.clone(), &[]).unwrap();
    let config = AgentConfig { seeds: vec![seed.addr()], ..AgentConfig::new("0.0.0.0:0".parse().unwrap()) };
    let agent = Agent::start_with(&config, catalog.clone(), key.clone()).unwrap();
    assert_eq!(agent.addr().ip().to_string(), "127.0.0.1", "the route towards the seed is loopback");
    let host = Arc::new(Host::connect(agent.addr(), &key).unwrap());
    let composition = comp("{Squarer,Native|0:Mul:1}");
    let slot: Slot<dyn Math> = Slot::new(catalog.build::<dyn Math>(&composition).unwrap());
    let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
    assert!(relocation.served().addr.starts_with("127.0.0.1:"), "{}", relocation.served().addr);
    assert_eq!(slot.load().square(9), 81);
    // The seed learns the agent under its advertised address, not 0.0.0.0.
    assert!(seed.wait_until(Duration::from_secs(30), |up| up.contains(&agent.addr())), "{:?}", seed.members());
    relocation.back().unwrap();

    let unseeded = AgentConfig::new("0.0.0.0:0".parse().unwrap());
    match unseeded.advertised_ip() {
        Ok(ip) => assert!(!ip.is_unspecified()),
        Err(err) => println!("no default route here: {err}"),
    }
    let explicit = AgentConfig { advertise: Some("0.0.0.0".parse().unwrap()), ..unseeded };
    assert!(explicit.advertised_ip().is_err(), "0.0.0.0 is never advertised");
}

/// A child agent gets the key through a private file, not its environment (readable in
/// `/proc/<pid>/environ`), and the file is gone once the child is ready.
#[test]
fn child_agents_get_the_key_without_the_environment() {
    let key = Key::generate().unwrap();
    let child = spawn_agent(&key);
    let environ = std::fs::read(format!("/proc/{}/environ", child.pid())).unwrap();
    let vars: Vec<String> = environ.split(|&b| b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    assert!(!vars.iter().any(|v| v.starts_with("HATCH_KEY=")), "the key is in the child's environment");
    assert!(!vars.iter().any(|v| v.contains(&key.to_hex())));
    let file = vars.iter().find_map(|v| v.strip_prefix("HATCH_KEY_FILE=")).expect("a key file was named");
    assert!(!std::path::Path::new(file).exists(), "the key file outlived the child's start");
    assert!(Host::connect(child.addr(), &key).is_ok());
}
