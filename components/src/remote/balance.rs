//! Replication of stateless components: a [`Channel`] over several replicas, each
//! call sent to the one a pluggable [`Balancer`] picks.
//!
//! A replica whose connection fails is marked down and the call is re-fired on
//! another; once every replica is down the channel reports a transport failure,
//! which the relocation's failover turns into local execution (see
//! [`relocate`](super::relocate())).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use hatch_transport::conversation::OnCallback;
use hatch_transport::{Channel, MethodId, RemoteError};
use parking_lot::Mutex;

use super::protocol::StateBlob;
use crate::error::StateError;

/// One call, as a [`Balancer`] sees it: its method and its encoded arguments (the
/// rkyv archive of the generated `…Args` struct, for plug-ins that route by key).
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The method id.
    pub method: MethodId,
    /// The encoded request.
    pub request: &'a [u8],
}

/// What a [`Balancer`] knows of one replica.
#[derive(Debug)]
pub struct Replica {
    addr: String,
    outstanding: AtomicUsize,
    calls: AtomicU64,
    up: AtomicBool,
}

impl Replica {
    pub(crate) fn new(addr: String) -> Self {
        Self { addr, outstanding: AtomicUsize::new(0), calls: AtomicU64::new(0), up: AtomicBool::new(true) }
    }

    /// The replica's server address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Calls sent to it and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Calls sent to it so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Whether its connection has not failed.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Takes the replica out of rotation (e.g. its host was declared down).
    pub(crate) fn mark_down(&self) {
        self.up.store(false, Ordering::Relaxed);
    }
}

/// Picks the replica each call goes to. Implementations must return a replica
/// that [`is_up`](Replica::is_up), or `None` when there is none.
pub trait Balancer: Send + Sync + 'static {
    /// The index into `replicas` of the replica for `call`.
    fn pick(&self, call: &Call<'_>, replicas: &[Replica]) -> Option<usize>;
}

/// Each call to the next replica that is up, in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl Balancer for RoundRobin {
    fn pick(&self, _call: &Call<'_>, replicas: &[Replica]) -> Option<usize> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..replicas.len()).map(|k| (start + k) % replicas.len()).find(|&i| replicas[i].is_up())
    }
}

/// Each call to the replica that is up with the fewest calls outstanding; ties
/// go round-robin, so an idle system still spreads its calls.
#[derive(Debug, Default)]
pub struct LeastOutstanding {
    next: AtomicUsize,
}

impl Balancer for LeastOutstanding {
    fn pick(&self, _call: &Call<'_>, replicas: &[Replica]) -> Option<usize> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..replicas.len())
            .map(|k| (start + k) % replicas.len())
            .filter(|&i| replicas[i].is_up())
            .min_by_key(|&i| replicas[i].outstanding())
    }
}

/// State-manager plug-in that replicates a stateful component (single writer,
/// many readers): calls that change state go to every replica that is up, one at
/// a time in one order (this host is the single writer), so every replica holds
/// the same state; other calls go to one replica, as the balancer picks.
///
/// A replica that fails is dropped and the others carry on, with the state, so a
/// lost host is recovered from transparently as long as one replica is left.
pub trait StateManager: Send + Sync + 'static {
    /// Whether `method` may change the component's state.
    fn is_write(&self, method: MethodId) -> bool;
}

/// Sharding plug-in of a stateful component: splits its state into one part per
/// replica, routes each call to the replica holding its part (as a [`Balancer`],
/// e.g. by a hash of the key it decodes from the request), and merges the parts
/// back when the component comes home.
///
/// A sharded component is not recovered from a lost host: its part of the state
/// is gone, so calls routed there fail (the [`Balancer::pick`] of a shard that is
/// down returns `None`).
pub trait Sharding: Balancer {
    /// Splits exported state into `shards` parts, one per replica, in order.
    fn split(&self, state: &StateBlob, shards: usize) -> Result<Vec<StateBlob>, StateError>;

    /// Joins the parts exported from the replicas, in order, into one state.
    fn merge(&self, parts: Vec<StateBlob>) -> Result<StateBlob, StateError>;
}

/// See the module docs.
pub(crate) struct BalancedChannel {
    replicas: Arc<[Replica]>,
    channels: Vec<Arc<dyn Channel>>,
    balancer: Arc<dyn Balancer>,
    /// With a state manager: writes go to every replica, one writer at a time.
    writes: Option<(Arc<dyn StateManager>, Mutex<()>)>,
}

impl BalancedChannel {
    pub(crate) fn new(replicas: Arc<[Replica]>, channels: Vec<Arc<dyn Channel>>, balancer: Arc<dyn Balancer>) -> Self {
        assert_eq!(replicas.len(), channels.len(), "one channel per replica");
        Self { replicas, channels, balancer, writes: None }
    }

    /// Sends the calls `manager` calls writes to every replica.
    pub(crate) fn with_state_manager(mut self, manager: Arc<dyn StateManager>) -> Self {
        self.writes = Some((manager, Mutex::new(())));
        self
    }

    /// Sends a write to every replica that is up, in replica order, under the
    /// writer lock; answers with the first reply (the replicas agree).
    fn write_all<R>(
        &self,
        mut send: impl FnMut(&dyn Channel) -> Result<R, RemoteError>,
        lock: &Mutex<()>,
    ) -> Result<R, RemoteError> {
        let _writer = lock.lock();
        let mut first: Option<Result<R, RemoteError>> = None;
        let mut last_failure = None;
        for (replica, channel) in self.replicas.iter().zip(&self.channels) {
            if !replica.is_up() {
                continue;
            }
            replica.calls.fetch_add(1, Ordering::Relaxed);
            match send(&**channel) {
                Err(error) if super::failover::instance_lost(&error) => {
                    self.mark_down(replica, &error);
                    last_failure = Some(error);
                }
                result => {
                    if first.is_none() {
                        first = Some(result);
                    }
                }
            }
        }
        first.unwrap_or_else(|| {
            Err(last_failure.unwrap_or_else(|| RemoteError::ConnectionClosed("every replica is down".into())))
        })
    }

    fn mark_down(&self, replica: &Replica, error: &RemoteError) {
        if replica.up.swap(false, Ordering::Relaxed) {
            super::agent::log(&format!("replica at {} failed ({error}); re-firing on the others", replica.addr));
        }
    }

    fn route<R>(
        &self,
        method: MethodId,
        request: &[u8],
        mut send: impl FnMut(&dyn Channel) -> Result<R, RemoteError>,
    ) -> Result<R, RemoteError> {
        if let Some((manager, lock)) = &self.writes
            && manager.is_write(method)
        {
            return self.write_all(send, lock);
        }
        let call = Call { method, request };
        let mut last = None;
        while let Some(i) = self.balancer.pick(&call, &self.replicas) {
            let replica = &self.replicas[i];
            replica.outstanding.fetch_add(1, Ordering::Relaxed);
            replica.calls.fetch_add(1, Ordering::Relaxed);
            let result = send(&*self.channels[i]);
            replica.outstanding.fetch_sub(1, Ordering::Relaxed);
            match result {
                Err(error) if super::failover::instance_lost(&error) => {
                    self.mark_down(replica, &error);
                    last = Some(error);
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| RemoteError::ConnectionClosed("every replica is down".into())))
    }
}

impl Channel for BalancedChannel {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        self.route(method, request, |channel| channel.call(method, request, deadline))
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.route(method, request, |channel| channel.send_one_way(method, request))
    }

    /// A whole conversation goes to the replica the balancer picks; a replica that fails before
    /// the first callback ran re-fires it on another (after, the conversation's error says it was
    /// not re-fired). A state manager's write is refused: sent to every replica, its callbacks
    /// would run once per replica.
    fn converse(
        &self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
        on_callback: &mut OnCallback<'_>,
    ) -> Result<Bytes, RemoteError> {
        if let Some((manager, _)) = &self.writes
            && manager.is_write(method)
        {
            return Err(RemoteError::Service {
                code: hatch_transport::ErrorCode::BadRequest,
                message: "a write with interface arguments cannot go to every replica: its callbacks would \
                          run once per replica"
                    .into(),
            });
        }
        self.route(method, request, |channel| channel.converse(method, request, deadline, &mut *on_callback))
    }

    fn flush(&self) -> Result<(), RemoteError> {
        let mut first = Ok(());
        for (replica, channel) in self.replicas.iter().zip(&self.channels) {
            if replica.is_up()
                && let Err(error) = channel.flush()
            {
                first = first.and(Err(error));
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replicas(outstanding: &[usize]) -> Vec<Replica> {
        outstanding
            .iter()
            .map(|&n| {
                let r = Replica::new(String::new());
                r.outstanding.store(n, Ordering::Relaxed);
                r
            })
            .collect()
    }

    const CALL: Call<'static> = Call { method: 1, request: &[] };

    #[test]
    fn round_robin_takes_turns_and_skips_replicas_that_are_down() {
        let rs = replicas(&[0, 0, 0]);
        let rr = RoundRobin::default();
        let picks: Vec<_> = (0..6).map(|_| rr.pick(&CALL, &rs).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        rs[1].up.store(false, Ordering::Relaxed);
        let picks: Vec<_> = (0..4).map(|_| rr.pick(&CALL, &rs).unwrap()).collect();
        assert!(picks.iter().all(|&i| i != 1), "{picks:?}");
        for r in &rs {
            r.up.store(false, Ordering::Relaxed);
        }
        assert_eq!(rr.pick(&CALL, &rs), None);
    }

    #[test]
    fn least_outstanding_prefers_the_idlest_and_rotates_ties() {
        let lo = LeastOutstanding::default();
        let rs = replicas(&[3, 1, 2]);
        assert_eq!(lo.pick(&CALL, &rs), Some(1));
        assert_eq!(lo.pick(&CALL, &rs), Some(1));
        rs[1].up.store(false, Ordering::Relaxed);
        assert_eq!(lo.pick(&CALL, &rs), Some(2));
        let ties = replicas(&[0, 0]);
        let picks: Vec<_> = (0..4).map(|_| lo.pick(&CALL, &ties).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 2, "{picks:?}");
    }

    struct Down;
    impl Channel for Down {
        fn call(&self, _: MethodId, _: &[u8], _: Option<Instant>) -> Result<Bytes, RemoteError> {
            Err(RemoteError::ConnectionClosed("down".into()))
        }
        fn send_one_way(&self, _: MethodId, _: &[u8]) -> Result<(), RemoteError> {
            Err(RemoteError::ConnectionClosed("down".into()))
        }
        fn flush(&self) -> Result<(), RemoteError> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_replica_is_skipped_and_its_call_re_fired() {
        let echo: Arc<dyn Channel> =
            Arc::new(super::super::failover::DirectChannel::new(Arc::new(hatch_transport::Echo)));
        let rs: Arc<[Replica]> = replicas(&[0, 0]).into();
        let channel = BalancedChannel::new(rs.clone(), vec![Arc::new(Down), echo], Arc::new(RoundRobin::default()));
        for i in 0..10u8 {
            assert_eq!(&channel.call(1, &[i], None).unwrap()[..], &[i]);
        }
        assert!(!rs[0].is_up());
        assert_eq!((rs[0].calls(), rs[1].calls()), (1, 10));
        let all_down =
            BalancedChannel::new(replicas(&[0]).into(), vec![Arc::new(Down)], Arc::new(RoundRobin::default()));
        assert!(all_down.call(1, b"x", None).unwrap_err().is_transport_failure());
    }
}
