//! Distribution: components moved to other hosts while the program runs (Hatch
//! paper §4.1–4.2), with the single-binary model of Service Weaver: every host
//! runs the same executable, so an agent can only ever instantiate variants its
//! own [`Catalog`] registers, by name. No code crosses the network.
//!
//! # Parts
//!
//! * [`Catalog`]: a [`Registry`](crate::Registry) plus the interfaces that are
//!   [`Remotable`] (one small `impl` per interface joins it to the proxy and server
//!   dispatcher hatch-proxygen generates).
//! * [`agent`]: [`run_if_agent`] at the top of `main` turns a process started by
//!   [`AgentProcess::spawn`] into an [`Agent`] that serves control requests: build
//!   a sub-composition with given state and serve it, stop it (returning its
//!   state), report load. The [`protocol`] is rkyv over the Hatch transport.
//! * [`auth`]: hosts share a [`Key`]; control connections pass a mutual
//!   HMAC-SHA256 challenge/response before any other request, and every data
//!   call carries a token derived from the key.
//! * [`Host`]: the authenticated control client of one agent.
//! * [`membership`]: SWIM gossip (the `foca` crate) over UDP with authenticated
//!   datagrams; every [`Agent`] takes part, a host joins with a [`Membership`],
//!   learns which agents are up and which are declared down, and can tell its
//!   relocations ([`Relocation::host_down`]) before a call meets the failure.
//! * [`relocate`]: moves the component behind a slot to an agent, with its state,
//!   and [`Relocation::back`] brings it back; calls made meanwhile wait, none is
//!   lost.
//! * [`placement`]: identifiers with placements, `{A,B_X{host},C|…}`, the
//!   [`PlacedSpace`] of every placement over the known hosts, and a
//!   [`PlacedSystem`] that moves between any two.
//! * [`replicate`]: runs a stateless component on several agents behind a
//!   load-balancing proxy; the [`Balancer`] is a plug-in ([`RoundRobin`],
//!   [`LeastOutstanding`], or one of the program's own). Stateful components
//!   are replicated only under a plug-in: [`replicate_stateful`] with a
//!   single-writer [`StateManager`], or [`shard`] with a [`Sharding`] that splits
//!   the state, routes calls by key and merges the parts back.
//!
//! # Interface arguments
//!
//! A method that takes another interface by reference (`fn sieve(&self, source:
//! &dyn Numbers)`, the paper's `TCPSocket` example) keeps working once its
//! component is relocated or replicated: the component, on the agent, gets a
//! reverse proxy whose calls travel back over the same authenticated data
//! connection and run on the caller's object, on the calling thread, until the
//! call returns (`hatch_transport::conversation`; test
//! `components/demo/tests/callbacks.rs`). Each callback costs a round trip.
//! No callback runs twice: a host that fails before the first callback is
//! recovered from as for any call, but one that fails after a callback ran is
//! not (re-firing would run it again): the caller gets a non-transport error
//! (an implicit method's failure handler then panics by default). A write
//! that a replication state manager would send to every replica is refused
//! when it has interface arguments.
//!
//! # Failures
//!
//! An implicit interface (the default) must never show its caller a remote error
//! (§4.1.3). When the host of a relocated **stateless** component fails, the
//! proxy's channel (see `failover`) re-fires the failed call, and every later
//! one, on a local instance built from the catalog, and a background thread swaps
//! the slot back to a plain local instance ([`Relocation::wait_recovered`] reports
//! how long that took). A call that the dead host executed but did not answer is
//! executed again locally, which is harmless for a stateless component. One-way
//! calls written to the dead host before it failed are not re-fired: the
//! transport cannot tell which of them ran.
//!
//! Stateful components and explicit interfaces ([`Remotable::EXPLICIT`]) are not
//! recovered: their state is gone with the host, so the failure is reported
//! (explicit methods return it as their `Err`, implicit ones hand it to the
//! proxy's failure handler).
//!
//! Failures are detected per call, at the host that holds the proxy (as in the
//! paper's Fig. 4, this gives one consistent view of which host failed). Only
//! connection-level loss counts as a lost instance: a refused, reset or closed
//! connection (a killed process, a rebooted host) at once, a connect that times
//! out ([`Config::connect_timeout`](hatch_transport::Config::connect_timeout)),
//! or a connection the kernel gives up on (keepalive, `TCP_USER_TIMEOUT`). A
//! call's own deadline ([`call timeout`](Host::with_call_timeout)) fails that
//! call and nothing else: the instance may still be running it, so it is neither
//! re-fired nor is the component moved. The host's liveness verdict comes from
//! gossip ([`Membership`]) through [`Relocation::host_down`], which also covers
//! a silent host (a partition, a stalled process), between calls.
//!
//! # Costs
//!
//! From `cargo bench -p hatch-demo --bench distribution` (agents are child
//! processes on loopback; a 2-vCPU VM shared with other builds, so read the
//! numbers as orders of magnitude; BENCHMARKS.md has the run):
//!
//! | what | p50 | p99 |
//! | --- | --- | --- |
//! | relocate a stateless component (hold, instantiate, connect, install) | 1.7 ms | 4.7 ms |
//! | bring it back (swap, then stop the remote instance) | 0.2 ms | 1.6 ms |
//! | relocate with 1 MiB of state | 5.2 ms | 14.4 ms |
//! | bring 1 MiB of state back | 3.1 ms | 6.3 ms |
//! | SIGKILLed agent: first failed call to slot local again | 4.0 ms | 4.4 ms |
//!
//! `Primes::count` (CPU-bound, about 200 µs) from 4 threads: 4,100 calls/s
//! locally, 5,900 / 4,400 / 5,700 on 1 / 2 / 4 replicas: on two vCPUs the
//! replicas share the host's cores, so replication cannot add throughput here;
//! the bench is there to run on real hosts. Gossip ([`Membership`]) declares a
//! killed agent down after about 1.6 s (test
//! `membership_finds_agents_and_recovers_before_a_call_fails`).
//!
//! Calls wait only while their own slot is held. State moves in one control
//! frame, so it is limited to a little under 64 MiB
//! ([`protocol::CONTROL_MAX_FRAME`]); larger state is refused at once with
//! [`RelocateError::StateTooLarge`].
//!
//! # Not done yet
//!
//! Parameters of interface type (reverse proxies, which need proxygen support);
//! replicated stateful components recovering from the loss of every replica;
//! wiring membership into [`PlacedSpace`] automatically (today the program
//! passes [`Membership::members`] as the host list).

pub mod agent;
pub mod auth;
mod balance;
mod catalog;
mod error;
mod failover;
mod gossip_seal;
mod host;
pub mod membership;
pub mod placement;
pub mod protocol;
mod relocate;

pub use agent::{Agent, AgentConfig, AgentProcess, run_if_agent};
pub use auth::Key;
pub use balance::{Balancer, Call, LeastOutstanding, Replica, RoundRobin, Sharding, StateManager};
pub use catalog::{Catalog, Remotable};
pub use error::{AgentError, BuildError, ControlError, HostError, KeyError, RelocateError};
pub use host::Host;
pub use membership::{MemberEvent, Membership, MembershipError};
pub use placement::{Placed, PlacedSpace, PlacedSystem, PlacementError, Site};
pub use protocol::{LoadReport, Served, StateBlob};
pub use relocate::{RecoveryReport, Relocation, Whereabouts, relocate, replicate, replicate_stateful, shard};
