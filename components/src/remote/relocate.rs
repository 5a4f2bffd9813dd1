//! Relocation: the component behind a [`Slot`] moves to an agent and back, with
//! its state, without losing a call; a lost host is recovered from locally.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hatch_transport::uring::Client;
use hatch_transport::{Channel, Config, RemoteError};
use parking_lot::{Condvar, Mutex};

use super::auth::TokenChannel;
use super::balance::{BalancedChannel, Balancer, Replica, Sharding, StateManager};
use super::catalog::{Catalog, Remotable, export};
use super::error::{HostError, RelocateError};
use super::failover::{DirectChannel, FailoverChannel};
use super::host::Host;
use super::protocol::Served;
use crate::composition::Composition;
use crate::slot::Slot;
use crate::state::StateMove;

/// What happened when a relocated component's host failed and the component was
/// recovered locally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The failure that triggered recovery.
    pub error: String,
    /// From the first failed call to the slot running a plain local instance again.
    pub swapped_back_after: Duration,
    /// Calls that failed remotely and were re-fired locally.
    pub refired: u64,
}

/// Where a relocated component is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Whereabouts {
    /// Served by the agent.
    Remote,
    /// The agent failed; the slot runs a local instance again.
    Recovered(RecoveryReport),
    /// Moved back by [`Relocation::back`].
    Returned,
}

/// A component relocated by [`relocate`] (or replicated by [`replicate`]): the
/// handle that brings it back and reports recovery. Dropping the handle leaves the component where it is; a
/// failure of its host is still recovered from (calls keep being re-fired
/// locally), but the slot is then no longer swapped back to a plain local
/// instance.
pub struct Relocation<I: ?Sized + Remotable> {
    shared: Arc<Shared<I>>,
}

struct Shared<I: ?Sized> {
    slot: Slot<I>,
    catalog: Arc<Catalog>,
    composition: Composition,
    /// Each replica's agent and instance; one for a relocation.
    placements: Vec<(Arc<Host>, Served)>,
    replicas: Option<Arc<[Replica]>>,
    homecoming: Homecoming,
    /// The failover channel, when the relocation recovers transparently.
    failover: Option<Weak<FailoverChannel>>,
    whereabouts: Mutex<Whereabouts>,
    changed: Condvar,
}

impl<I: ?Sized + Remotable> std::fmt::Debug for Relocation<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relocation")
            .field("interface", &I::NAME)
            .field(
                "placements",
                &self.shared.placements.iter().map(|(h, s)| (h.addr(), s.instance)).collect::<Vec<_>>(),
            )
            .field("whereabouts", &*self.shared.whereabouts.lock())
            .finish()
    }
}

/// Moves the component behind `slot` to the agent behind `host`.
///
/// Holds the slot (new calls wait, calls in flight finish), exports the
/// component's state, has the agent build `composition` (an identifier rooted at
/// `I`, naming the variants to run there) with that state and serve it, installs
/// a proxy to it, and releases the waiting calls, which then run remotely. On any
/// error the slot keeps its local component.
///
/// A stateless component of an implicit interface is recovered transparently
/// if its host fails: calls that fail are re-fired on a local instance built from
/// `catalog`, and a background thread swaps the slot back to a local instance.
/// A stateful component, or one of an explicit interface
/// ([`Remotable::EXPLICIT`]), is not: its proxy reports the failure (explicit
/// methods return it; implicit ones hand it to the proxy's failure handler).
pub fn relocate<I: ?Sized + Remotable>(
    slot: &Slot<I>,
    catalog: &Arc<Catalog>,
    host: &Arc<Host>,
    composition: &Composition,
) -> Result<Relocation<I>, RelocateError> {
    place(slot, catalog, std::slice::from_ref(host), composition, Mode::Relocate)
}

/// Replicates the stateless component behind `slot` on every agent of `hosts`,
/// behind a proxy whose calls `balancer` spreads over the replicas
/// ([`RoundRobin`](super::RoundRobin), [`LeastOutstanding`](super::LeastOutstanding),
/// or a plug-in of the program's own).
///
/// Works like [`relocate`]; a replica whose host fails is skipped and its calls are
/// re-fired on the others, and once every replica is down the component is
/// recovered locally as after a relocation.
///
/// # Errors
///
/// [`RelocateError::Stateful`] for a stateful component: see
/// [`replicate_stateful`] and [`shard`].
pub fn replicate<I: ?Sized + Remotable>(
    slot: &Slot<I>,
    catalog: &Arc<Catalog>,
    hosts: &[Arc<Host>],
    composition: &Composition,
    balancer: Arc<dyn Balancer>,
) -> Result<Relocation<I>, RelocateError> {
    place(slot, catalog, hosts, composition, Mode::Replicate(balancer))
}

/// Replicates a stateful component on every agent of `hosts` under the
/// single-writer [`StateManager`] plug-in `manager`: each replica starts with the
/// component's state, writes go to all of them, reads to the one `balancer`
/// picks. While one replica is left, a lost host is recovered from transparently;
/// [`Relocation::back`] brings the state home from the first replica that answers.
pub fn replicate_stateful<I: ?Sized + Remotable>(
    slot: &Slot<I>,
    catalog: &Arc<Catalog>,
    hosts: &[Arc<Host>],
    composition: &Composition,
    manager: Arc<dyn StateManager>,
    balancer: Arc<dyn Balancer>,
) -> Result<Relocation<I>, RelocateError> {
    place(slot, catalog, hosts, composition, Mode::Stateful(manager, balancer))
}

/// Shards a stateful component over every agent of `hosts`: `sharding` splits
/// its state into one part per agent, routes each call to the part's replica,
/// and [`Relocation::back`] merges the parts into one local component again.
pub fn shard<I: ?Sized + Remotable>(
    slot: &Slot<I>,
    catalog: &Arc<Catalog>,
    hosts: &[Arc<Host>],
    composition: &Composition,
    sharding: Arc<dyn Sharding>,
) -> Result<Relocation<I>, RelocateError> {
    place(slot, catalog, hosts, composition, Mode::Shard(sharding))
}

/// How a component is placed on its hosts.
enum Mode {
    Relocate,
    Replicate(Arc<dyn Balancer>),
    Stateful(Arc<dyn StateManager>, Arc<dyn Balancer>),
    Shard(Arc<dyn Sharding>),
}

/// How [`Relocation::back`] gets the state home.
#[derive(Clone)]
enum Homecoming {
    /// Stateless: nothing to bring.
    Nothing,
    /// From the one instance, or from the first replica that answers.
    FirstAnswer,
    /// From every shard, merged.
    Merge(Arc<dyn Sharding>),
}

fn place<I: ?Sized + Remotable>(
    slot: &Slot<I>,
    catalog: &Arc<Catalog>,
    hosts: &[Arc<Host>],
    composition: &Composition,
    mode: Mode,
) -> Result<Relocation<I>, RelocateError> {
    assert!(!hosts.is_empty(), "place a component on at least one host");
    let mut hold = slot.hold();
    let state = export(&*hold).transpose()?;
    let stateful = state.is_some();
    let states: Vec<_> = match (&mode, &state) {
        (Mode::Replicate(_), Some(_)) => return Err(RelocateError::Stateful(I::NAME)),
        (Mode::Shard(sharding), Some(state)) => sharding.split(state, hosts.len())?.into_iter().map(Some).collect(),
        _ => vec![state; hosts.len()],
    };
    let max = super::protocol::CONTROL_MAX_FRAME as usize - super::protocol::CONTROL_OVERHEAD;
    if let Some(bytes) = states.iter().flatten().map(|s| s.bytes.len()).find(|&n| n > max) {
        return Err(RelocateError::StateTooLarge { bytes, max });
    }
    if states.len() != hosts.len() {
        return Err(
            crate::StateError::Codec(format!("split into {} parts for {} hosts", states.len(), hosts.len())).into()
        );
    }
    let mut placements: Vec<(Arc<Host>, Served)> = Vec::with_capacity(hosts.len());
    let mut remotes = Vec::with_capacity(hosts.len());
    let stop_all = |placements: &[(Arc<Host>, Served)]| {
        for (host, served) in placements {
            let _ = host.stop(served.instance, false);
        }
    };
    for (host, state) in hosts.iter().zip(states) {
        let served = match host.instantiate(I::NAME, &composition.to_string(), state) {
            Ok(served) => served,
            Err(err) => {
                stop_all(&placements);
                return Err(err.into());
            }
        };
        placements.push((host.clone(), served.clone()));
        match connect(host, &served, I::FINGERPRINT) {
            Ok(remote) => remotes.push(remote),
            Err(err) => {
                stop_all(&placements);
                return Err(err);
            }
        }
    }
    let replicas: Arc<[Replica]> = placements.iter().map(|(_, s)| Replica::new(s.addr.clone())).collect();
    let (remote, replicas, homecoming): (Arc<dyn Channel>, _, _) = match mode {
        Mode::Relocate => {
            let home = if stateful { Homecoming::FirstAnswer } else { Homecoming::Nothing };
            (remotes.pop().expect("one host"), None, home)
        }
        Mode::Replicate(balancer) => (
            Arc::new(BalancedChannel::new(replicas.clone(), remotes, balancer)),
            Some(replicas.clone()),
            Homecoming::Nothing,
        ),
        Mode::Stateful(manager, balancer) => {
            let home = if stateful { Homecoming::FirstAnswer } else { Homecoming::Nothing };
            (
                Arc::new(BalancedChannel::new(replicas.clone(), remotes, balancer).with_state_manager(manager)),
                Some(replicas.clone()),
                home,
            )
        }
        Mode::Shard(sharding) => {
            let home = if stateful { Homecoming::Merge(sharding.clone()) } else { Homecoming::Nothing };
            (Arc::new(BalancedChannel::new(replicas.clone(), remotes, sharding)), Some(replicas.clone()), home)
        }
    };
    // Transparent recovery needs every call to be executable by a fresh local
    // instance: stateless, implicit.
    let recover = !I::EXPLICIT && !stateful;
    let shared = Arc::new_cyclic(|weak: &Weak<Shared<I>>| {
        let (channel, failover): (Arc<dyn Channel>, _) = if recover {
            let channel = Arc::new(failover_channel(remote, weak.clone(), catalog.clone(), composition.clone()));
            let failover = Some(Arc::downgrade(&channel));
            (channel, failover)
        } else {
            (remote, None)
        };
        let old = hold.replace(I::proxy(channel));
        // Dropped while still held: nothing can call it any more.
        drop(old);
        Shared {
            slot: slot.clone(),
            catalog: catalog.clone(),
            composition: composition.clone(),
            placements,
            replicas,
            homecoming,
            failover,
            whereabouts: Mutex::new(Whereabouts::Remote),
            changed: Condvar::new(),
        }
    });
    drop(hold);
    Ok(Relocation { shared })
}

/// A data channel to a served instance: io_uring client, our own interface
/// fingerprint checked in the handshake (an agent built from another version of
/// the interface is refused), data token in front of every request.
fn connect(host: &Host, served: &Served, fingerprint: u64) -> Result<Arc<dyn Channel>, RelocateError> {
    let addr: SocketAddr =
        served.addr.parse().map_err(|_| HostError::Malformed(format!("instance address `{}`", served.addr)))?;
    let client = Client::connect(addr, Config::default().fingerprint(fingerprint)).map_err(RelocateError::Connect)?;
    let token = host.key().data_token(&served.salt, served.instance);
    Ok(Arc::new(TokenChannel::new(Arc::new(client), token).with_timeout(host.call_timeout())))
}

fn failover_channel<I: ?Sized + Remotable>(
    remote: Arc<dyn Channel>,
    weak: Weak<Shared<I>>,
    catalog: Arc<Catalog>,
    composition: Composition,
) -> FailoverChannel {
    let make_fallback = Box::new(move || match catalog.build::<I>(&composition) {
        Ok(local) => Some(Arc::new(DirectChannel::new(I::serve(Arc::from(local)))) as Arc<dyn Channel>),
        Err(err) => {
            super::agent::log(&format!("cannot build a local {} to recover with: {err}", I::NAME));
            None
        }
    });
    let on_failover = Box::new(move |error: &RemoteError, at: Instant| {
        let Some(shared) = weak.upgrade() else { return };
        let error = error.to_string();
        // Not on the calling thread: that thread is inside a call on the slot,
        // and the swap waits for calls in flight to finish.
        std::thread::Builder::new()
            .name("hatch-recover".into())
            .spawn(move || shared.swap_back_after_failure(error, at))
            .expect("spawn the recovery thread");
    });
    FailoverChannel::new(remote, make_fallback, on_failover)
}

impl<I: ?Sized + Remotable> Shared<I> {
    fn swap_back_after_failure(&self, error: String, at: Instant) {
        let local = match self.catalog.build::<I>(&self.composition) {
            Ok(local) => local,
            Err(err) => {
                super::agent::log(&format!("cannot rebuild {} locally: {err}; calls stay re-fired", I::NAME));
                return;
            }
        };
        let mut hold = self.slot.hold();
        let mut whereabouts = self.whereabouts.lock();
        if *whereabouts != Whereabouts::Remote {
            return;
        }
        let old = hold.replace(local);
        drop(hold);
        let swapped_back_after = at.elapsed();
        let refired = self
            .failover
            .as_ref()
            .and_then(Weak::upgrade)
            .map_or(0, |f| f.refired.load(std::sync::atomic::Ordering::Relaxed));
        *whereabouts = Whereabouts::Recovered(RecoveryReport { error, swapped_back_after, refired });
        drop(whereabouts);
        self.changed.notify_all();
        drop(old);
    }
}

impl<I: ?Sized + Remotable> Relocation<I> {
    /// Where the instance is served (the first replica's, for a replication).
    pub fn served(&self) -> &Served {
        &self.shared.placements[0].1
    }

    /// Every replica's agent and instance (one for a relocation).
    pub fn placements(&self) -> &[(Arc<Host>, Served)] {
        &self.shared.placements
    }

    /// The replicas as the balancer sees them (calls, outstanding, up), for a
    /// replication.
    pub fn replicas(&self) -> Option<&[Replica]> {
        self.shared.replicas.as_deref()
    }

    /// Where the component is now.
    pub fn whereabouts(&self) -> Whereabouts {
        self.shared.whereabouts.lock().clone()
    }

    /// Tells the relocation that the agent at `control` is gone (e.g. a
    /// [`Membership`](super::Membership) declared it down), so that calls stop
    /// going there before any of them fails: its replica leaves the rotation, and
    /// once no replica is left a transparently recoverable component is recovered
    /// locally at once. Returns whether any placement was on that agent.
    pub fn host_down(&self, control: std::net::SocketAddr) -> bool {
        let shared = &self.shared;
        let mut hit = false;
        for (i, (host, _)) in shared.placements.iter().enumerate() {
            if host.addr() == control {
                hit = true;
                if let Some(replicas) = &shared.replicas {
                    replicas[i].mark_down();
                }
            }
        }
        let all_down = shared.replicas.as_ref().is_none_or(|r| r.iter().all(|r| !r.is_up()));
        if hit
            && all_down
            && let Some(failover) = shared.failover.as_ref().and_then(Weak::upgrade)
        {
            failover.fail_over(&RemoteError::ConnectionClosed(format!("agent {control} declared down").into()));
        }
        hit
    }

    /// Waits until the component has been recovered locally after a host
    /// failure, for at most `limit`; `None` if it has not been by then.
    pub fn wait_recovered(&self, limit: Duration) -> Option<RecoveryReport> {
        let deadline = Instant::now() + limit;
        let mut whereabouts = self.shared.whereabouts.lock();
        loop {
            if let Whereabouts::Recovered(report) = &*whereabouts {
                return Some(report.clone());
            }
            if self.shared.changed.wait_until(&mut whereabouts, deadline).timed_out() {
                return None;
            }
        }
    }

    /// Brings the component back into this process: holds the slot, stops the
    /// remote instance (taking its state), builds a local instance of the same
    /// composition with that state, installs it and releases the waiting calls.
    ///
    /// The state comes from the one instance, from the first replica that
    /// answers, or from all shards merged; only once it is home and the local
    /// instance is installed are the remote instances stopped (their agents answer
    /// before their servers' graceful close, so this costs a round trip each). If the component was recovered locally already, nothing
    /// happens. A stateless component comes back even if its hosts are gone; a
    /// stateful one whose state cannot be had (its host, or one shard's, is
    /// unreachable) stays where it is, still served, and the error is returned.
    pub fn back(self) -> Result<StateMove, RelocateError> {
        let shared = &self.shared;
        let mut hold = shared.slot.hold();
        let mut whereabouts = shared.whereabouts.lock();
        if *whereabouts != Whereabouts::Remote {
            return Ok(StateMove::None);
        }
        // The state comes home before anything is stopped, so a failure leaves
        // every instance serving and the slot as it was.
        let state = match &shared.homecoming {
            Homecoming::Nothing => None,
            Homecoming::FirstAnswer => {
                let mut last_error = None;
                let mut state = None;
                for (host, served) in &shared.placements {
                    match host.export(served.instance) {
                        Ok(exported) => {
                            state = exported;
                            last_error = None;
                            break;
                        }
                        Err(err) => last_error = Some(err),
                    }
                }
                if let Some(err) = last_error {
                    return Err(err.into());
                }
                state
            }
            Homecoming::Merge(sharding) => {
                let mut parts = Vec::with_capacity(shared.placements.len());
                for (host, served) in &shared.placements {
                    match host.export(served.instance)? {
                        Some(part) => parts.push(part),
                        None => return Err(crate::StateError::Codec("a shard exported no state".into()).into()),
                    }
                }
                Some(sharding.merge(parts)?)
            }
        };
        let local = shared.catalog.build_with_state::<I>(&shared.composition, state.as_ref())?;
        // Swap first: the waiting calls run locally at once; the remote side is stopped after,
        // and nothing on this path waits for a remote connection to close.
        let old = hold.replace(local);
        *whereabouts = Whereabouts::Returned;
        drop(whereabouts);
        drop(hold);
        shared.changed.notify_all();
        drop(old);
        for (host, served) in &shared.placements {
            if let Err(err) = host.stop(served.instance, false) {
                super::agent::log(&format!("stopping a remote {} failed: {err}", I::NAME));
            }
        }
        Ok(if state.is_some() { StateMove::Moved } else { StateMove::None })
    }
}
