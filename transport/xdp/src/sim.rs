//! A simulated, faulty datagram link and a driver that runs a [`ClientEndpoint`] against a
//! [`ServerEndpoint`] over it with a simulated clock: for testing the session layer under loss,
//! duplication and reordering, deterministically from a seed, in no wall-clock time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use hatch_transport::Service;

use crate::endpoint::{ClientEndpoint, ServerEndpoint};

/// What the link does to packets. Rates are probabilities in `0.0..=1.0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Probability that a packet is lost.
    pub drop: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet is held back by up to [`Faults::reorder_delay`] extra, so later
    /// packets overtake it.
    pub reorder: f64,
    /// One-way latency of every packet.
    pub latency: Duration,
    /// Largest extra delay of a reordered packet.
    pub reorder_delay: Duration,
}

impl Faults {
    /// A perfect link with `latency`.
    pub fn none(latency: Duration) -> Self {
        Self { drop: 0.0, duplicate: 0.0, reorder: 0.0, latency, reorder_delay: Duration::ZERO }
    }
}

/// A small deterministic generator (SplitMix64), so runs repeat from their seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    /// A duration in `0..=max`.
    pub fn upto(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos() as u64;
        if nanos == 0 { Duration::ZERO } else { Duration::from_nanos(self.next_u64() % (nanos + 1)) }
    }
}

/// Which way a packet travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

/// A packet in flight: arrival time, a tie-breaking send order, direction, bytes.
type InFlight = (Instant, u64, Direction, Vec<u8>);

/// Packets in flight, delivered in order of arrival time.
#[derive(Debug)]
pub struct Link {
    faults: Faults,
    rng: Rng,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Packets handed to the link.
    pub sent: u64,
    /// Packets the link dropped.
    pub dropped: u64,
}

impl Link {
    /// An empty link.
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self { faults, rng: Rng::new(seed), queue: BinaryHeap::new(), order: 0, sent: 0, dropped: 0 }
    }

    /// Sends a packet at `now`.
    pub fn send(&mut self, now: Instant, direction: Direction, packet: &[u8]) {
        self.sent += 1;
        if self.rng.chance(self.faults.drop) {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = now + self.faults.latency;
            if self.rng.chance(self.faults.reorder) {
                at += self.rng.upto(self.faults.reorder_delay);
            }
            self.order += 1;
            self.queue.push(Reverse((at, self.order, direction, packet.to_vec())));
        }
    }

    /// When the next packet arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, ..))| *at)
    }

    /// The next packet if it has arrived by `now`.
    pub fn receive(&mut self, now: Instant) -> Option<(Direction, Vec<u8>)> {
        if self.next_arrival()? > now {
            return None;
        }
        self.queue.pop().map(|Reverse((_, _, direction, packet))| (direction, packet))
    }
}

/// A client and a server endpoint joined by a [`Link`], on a simulated clock.
#[derive(Debug)]
pub struct Pair<T> {
    /// The client.
    pub client: ClientEndpoint<T>,
    /// The server (its only peer address is `()`).
    pub server: ServerEndpoint<()>,
    /// The link between them.
    pub link: Link,
    /// The simulated time.
    pub now: Instant,
    buf: Vec<u8>,
}

impl<T> Pair<T> {
    /// Joins `client` and `server` by `link`, starting the clock at `now`.
    pub fn new(client: ClientEndpoint<T>, server: ServerEndpoint<()>, link: Link, now: Instant) -> Self {
        Self { client, server, link, now, buf: Vec::new() }
    }

    /// Sends everything both ends have to send now.
    pub fn flush(&mut self) {
        while self.client.poll_transmit(self.now, &mut self.buf) {
            self.link.send(self.now, Direction::ToServer, &self.buf);
        }
        while self.server.poll_transmit(self.now, &mut self.buf).is_some() {
            self.link.send(self.now, Direction::ToClient, &self.buf);
        }
    }

    /// One step: send what is due, advance the clock to the next event (an arrival or a timer),
    /// and handle it. Returns `false` when nothing will ever happen again.
    pub fn step(&mut self, service: &dyn Service) -> bool {
        self.flush();
        let next = [self.link.next_arrival(), self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        while let Some((direction, packet)) = self.link.receive(self.now) {
            // Corrupt packets cannot occur here; an error would be a bug in the sender.
            match direction {
                Direction::ToServer => self.server.handle_datagram(self.now, (), &packet, service),
                Direction::ToClient => self.client.handle_datagram(self.now, &packet),
            }
            .expect("the simulated link does not corrupt packets");
        }
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        true
    }
}
