//! Membership and failure detection: the SWIM protocol, as implemented by the
//! `foca` crate, over UDP, with every datagram authenticated by the shared key.
//!
//! Each member is known by one socket address, which is both its gossip (UDP)
//! address and, for agents, its control (TCP) address: an agent gossips on the UDP
//! port with the number of its TCP control port. So the members a host sees are
//! directly the agents it can [`Host::connect`](super::Host::connect) to, e.g. to
//! offer as placements ([`PlacedSpace`](super::PlacedSpace)), and a member
//! declared down names the host whose components to recover
//! ([`Relocation::host_down`](super::Relocation::host_down)), before any call
//! meets the failure.
//!
//! Every datagram is sealed (see the private `gossip_seal` module): a MAC over the
//! body, a random sender id and a strictly increasing timestamp, so a datagram
//! without the key, or a recorded one replayed, is dropped.
//!
//! Per-call detection (see [`remote`](super) on failures) stays the authority for
//! the calls themselves; gossip only makes it earlier and tells who is there.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use foca::{AccumulatingRuntime, Foca, OwnedNotification, PostcardCodec, Timer};
use parking_lot::{Condvar, Mutex};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashMap;

use super::auth::{Key, random};
use super::error::KeyError;
use super::gossip_seal::{Opener, Sealer, now_micros};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 1500;
/// Longest the loop sleeps without looking at its timers and stop flag.
const TICK: Duration = Duration::from_millis(50);

/// A member's identity in the gossip: its address and a generation, the start time
/// of its process in microseconds. A restarted member on the same address has a
/// higher generation and replaces its former self at once (an address-only identity
/// stays banned for foca's `remove_down_after`, 24 h by default); a member wrongly
/// declared down (a stall) renews itself with the next generation and rejoins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct Member {
    addr: SocketAddr,
    generation: u64,
}

impl foca::Identity for Member {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Member { addr: self.addr, generation: self.generation + 1 })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

/// A change of membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// A member joined (or came back).
    Up(SocketAddr),
    /// A member was declared down by the cluster.
    Down(SocketAddr),
}

type Listener = Box<dyn Fn(MemberEvent) + Send>;

struct State {
    up: BTreeSet<SocketAddr>,
    /// Listeners added since the gossip thread last looked; it moves them into its own list,
    /// and calls them with no lock held.
    new_listeners: Vec<Listener>,
}

/// This process's membership in the cluster: a thread running SWIM on a UDP
/// socket. Dropping it stops the thread without leaving (as a crash would);
/// [`Membership::leave`] leaves gracefully.
pub struct Membership {
    addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    leave: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership").field("addr", &self.addr).field("members", &self.members()).finish()
    }
}

/// Failure detection tuned for a LAN of a few hosts: a member that stops
/// answering is suspected after one probe period and declared down about a
/// second later.
fn config() -> foca::Config {
    let mut config = foca::Config::simple();
    config.probe_period = Duration::from_millis(300);
    config.probe_rtt = Duration::from_millis(150);
    config.suspect_to_down_after = Duration::from_millis(900);
    config.periodic_announce =
        Some(foca::PeriodicParams { frequency: Duration::from_secs(2), num_members: 1.try_into().expect("1 > 0") });
    config
}

impl Membership {
    /// Joins the cluster as `addr` (a UDP address to bind; port 0 picks one),
    /// announcing itself to `seeds`. Datagrams without a valid tag under `key` are
    /// dropped.
    pub fn start(addr: SocketAddr, key: Key, seeds: &[SocketAddr]) -> Result<Membership, MembershipError> {
        let socket = UdpSocket::bind(addr)?;
        let addr = socket.local_addr()?;
        socket.set_read_timeout(Some(TICK))?;
        let rng = StdRng::from_seed(random::<32>()?);
        let me = Member { addr, generation: super::gossip_seal::now_micros() };
        let mut foca = Foca::new(me, config(), rng, PostcardCodec);
        let mut runtime = AccumulatingRuntime::new();
        for &seed in seeds {
            // The seed's generation is not known yet; its answer carries its real identity.
            foca.announce(Member { addr: seed, generation: 0 }, &mut runtime)
                .map_err(|e| MembershipError::Protocol(e.to_string()))?;
        }
        let state = Arc::new((Mutex::new(State { up: BTreeSet::new(), new_listeners: Vec::new() }), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let leave = Arc::new(AtomicBool::new(false));
        let sealer = Sealer::new(key.clone(), random::<8>()?);
        let opener = Opener::new(key);
        let mut swim = Swim {
            socket,
            sealer,
            opener,
            foca,
            runtime,
            timers: BinaryHeap::new(),
            state: state.clone(),
            listeners: Vec::new(),
            generations: HashMap::new(),
        };
        let (thread_stop, thread_leave) = (stop.clone(), leave.clone());
        let thread = std::thread::Builder::new()
            .name("hatch-swim".into())
            .spawn(move || swim.run(&thread_stop, &thread_leave))?;
        Ok(Membership { addr, state, stop, leave, thread: Some(thread) })
    }

    /// This member's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The other members that are up.
    pub fn members(&self) -> Vec<SocketAddr> {
        self.state.0.lock().up.iter().copied().collect()
    }

    /// Calls `listener` on every later change of membership, on the gossip thread
    /// (keep it short: e.g. start a failover, or send to a channel). No lock is held
    /// while it runs, so it may call [`Membership::members`] or add listeners; gossip
    /// waits for it.
    pub fn on_change(&self, listener: impl Fn(MemberEvent) + Send + 'static) {
        self.state.0.lock().new_listeners.push(Box::new(listener));
    }

    /// Waits until the set of members that are up satisfies `done`, for at most
    /// `limit`; returns whether it did.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&BTreeSet<SocketAddr>) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let (lock, changed) = &*self.state;
        let mut state = lock.lock();
        while !done(&state.up) {
            if changed.wait_until(&mut state, deadline).timed_out() {
                return done(&state.up);
            }
        }
        true
    }

    /// Tells the cluster this member leaves, then stops.
    pub fn leave(mut self) {
        self.leave.store(true, Ordering::Release);
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Membership could not start.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The UDP socket or the thread could not be made.
    #[error("membership i/o: {0}")]
    Io(#[from] std::io::Error),
    /// No randomness for the protocol.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The protocol refused an operation.
    #[error("membership protocol: {0}")]
    Protocol(String),
}

/// The gossip thread's state.
struct Swim {
    socket: UdpSocket,
    sealer: Sealer,
    opener: Opener,
    foca: Foca<Member, PostcardCodec, StdRng, foca::NoCustomBroadcast>,
    runtime: AccumulatingRuntime<Member>,
    timers: BinaryHeap<Reverse<(Instant, Timer<Member>)>>,
    /// The generation each address that is up has now: a late "down" of an older
    /// generation must not remove its successor.
    generations: HashMap<SocketAddr, u64>,
    state: Arc<(Mutex<State>, Condvar)>,
    /// Owned by the gossip thread: called without any lock.
    listeners: Vec<Listener>,
}

impl Swim {
    fn run(&mut self, stop: &AtomicBool, leave: &AtomicBool) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        self.drain();
        while !stop.load(Ordering::Acquire) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => self.receive(&buf[..n], from),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => tracing::warn!(%e, "gossip socket error"),
            }
            let now = Instant::now();
            while let Some(Reverse((due, _))) = self.timers.peek()
                && *due <= now
            {
                let Reverse((_, timer)) = self.timers.pop().expect("peeked");
                if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                    tracing::debug!(%e, "gossip timer");
                }
            }
            self.drain();
        }
        if leave.load(Ordering::Acquire) && self.foca.leave_cluster(&mut self.runtime).is_ok() {
            self.drain();
        }
    }

    fn receive(&mut self, datagram: &[u8], from: SocketAddr) {
        let body = match self.opener.open(datagram, now_micros()) {
            Ok(body) => body,
            Err(why) => {
                tracing::warn!(%from, ?why, "dropped a gossip datagram");
                return;
            }
        };
        if let Err(e) = self.foca.handle_data(body, &mut self.runtime) {
            tracing::debug!(%e, %from, "gossip datagram refused");
        }
    }

    /// Sends what foca queued, schedules its timers, applies its notifications.
    fn drain(&mut self) {
        while let Some((to, body)) = self.runtime.to_send() {
            let datagram = self.sealer.seal(&body, now_micros());
            let _ = self.socket.send_to(&datagram, to.addr);
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.timers.push(Reverse((Instant::now() + after, timer)));
        }
        while let Some(notification) = self.runtime.to_notify() {
            let event = match notification {
                OwnedNotification::MemberUp(member) | OwnedNotification::Rename(_, member) => {
                    let previous = self.generations.insert(member.addr, member.generation);
                    if previous.is_some() {
                        // Already up under an older generation: a renewal, not a change.
                        continue;
                    }
                    MemberEvent::Up(member.addr)
                }
                OwnedNotification::MemberDown(member) => {
                    if self.generations.get(&member.addr) != Some(&member.generation) {
                        continue;
                    }
                    self.generations.remove(&member.addr);
                    MemberEvent::Down(member.addr)
                }
                _ => continue,
            };
            let (lock, changed) = &*self.state;
            let mut state = lock.lock();
            match event {
                MemberEvent::Up(addr) => state.up.insert(addr),
                MemberEvent::Down(addr) => state.up.remove(&addr),
            };
            self.listeners.append(&mut state.new_listeners);
            drop(state);
            changed.notify_all();
            for listener in &self.listeners {
                listener(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_without_the_key_are_not_admitted() {
        let key = Key::generate().unwrap();
        let local = "127.0.0.1:0".parse().unwrap();
        let host = Membership::start(local, key.clone(), &[]).unwrap();
        // Announced first: its datagrams reach the host's socket before the honest one's.
        let intruder = Membership::start(local, Key::generate().unwrap(), &[host.addr()]).unwrap();
        let honest = Membership::start(local, key, &[host.addr()]).unwrap();
        assert!(host.wait_until(Duration::from_secs(60), |up| up.contains(&honest.addr())));
        assert!(!host.members().contains(&intruder.addr()), "{:?}", host.members());
        assert!(honest.wait_until(Duration::from_secs(60), |up| up.contains(&host.addr())));
        assert!(intruder.members().is_empty());
        // A graceful leave is seen as a departure.
        honest.leave();
        assert!(host.wait_until(Duration::from_secs(60), |up| up.is_empty()));
    }

    #[test]
    fn a_member_restarted_on_the_same_address_rejoins_within_seconds() {
        let key = Key::generate().unwrap();
        let host = Membership::start("127.0.0.1:0".parse().unwrap(), key.clone(), &[]).unwrap();
        let agent = Membership::start("127.0.0.1:0".parse().unwrap(), key.clone(), &[host.addr()]).unwrap();
        let addr = agent.addr();
        assert!(host.wait_until(Duration::from_secs(30), |up| up.contains(&addr)));
        drop(agent); // a crash: no leave
        assert!(host.wait_until(Duration::from_secs(30), |up| !up.contains(&addr)), "declared down");
        let restarted_at = Instant::now();
        let restarted = Membership::start(addr, key, &[host.addr()]).unwrap();
        assert!(
            host.wait_until(Duration::from_secs(5), |up| up.contains(&addr)),
            "the restarted member was not readmitted within 5 s"
        );
        println!("restarted member up again after {:?}", restarted_at.elapsed());
        assert!(restarted.wait_until(Duration::from_secs(5), |up| up.contains(&host.addr())));
    }

    #[test]
    fn listeners_may_call_back_into_the_membership() {
        let key = Key::generate().unwrap();
        let local = "127.0.0.1:0".parse().unwrap();
        let host = Arc::new(Membership::start(local, key.clone(), &[]).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let weak = Arc::downgrade(&host);
        host.on_change(move |event| {
            // Under the old state lock this deadlocked the gossip thread.
            let members = weak.upgrade().map(|m| m.members()).unwrap_or_default();
            if let Some(m) = weak.upgrade() {
                m.on_change(|_| {});
            }
            let _ = tx.send((event, members));
        });
        let peer = Membership::start(local, key, &[host.addr()]).unwrap();
        let (event, members) = rx.recv_timeout(Duration::from_secs(30)).expect("the listener ran and returned");
        assert_eq!(event, MemberEvent::Up(peer.addr()));
        assert_eq!(members, vec![peer.addr()], "members() inside the listener sees the change");
    }
}
