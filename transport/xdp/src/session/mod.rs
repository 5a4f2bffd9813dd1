//! The session layer: a reliable, ordered byte stream per session over an unreliable datagram
//! path, as a sans-IO state machine (no sockets, no clock: time comes in as an argument).
//!
//! The unchanged Hatch protocol core ([`hatch_transport::proto`]) runs on top of a session, as it
//! runs on top of a TCP stream elsewhere: framing, call ids, multiplexing, handshake and deadlines
//! all come from it. The session only has to make the byte stream reliable, in eRPC's style:
//!
//! - **Packetisation.** Bytes written with [`Session::write`] are cut into segments of at most
//!   [`SessionConfig::max_payload`] bytes, one per data packet, numbered by a per-direction
//!   packet sequence number starting at 0. A segment is cut as soon as there is a credit for it
//!   (no Nagle delay): a small call leaves in one packet at once.
//! - **Credits.** At most `min(cwnd, peer window)` segments are unacknowledged at a time
//!   ([`SessionConfig::initial_window`], [`SessionConfig::max_window`]).
//! - **Acks.** Every packet carries a cumulative ack and a 64-bit selective-ack bitmap (see
//!   [`packet`]). Acks ride on data going the other way (a reply acks its request); a pure ack
//!   leaves only when no data did within [`SessionConfig::ack_delay`], or at once when a segment
//!   arrived out of order or twice (so the sender learns of the gap quickly).
//! - **Retransmission.** A retransmission timer (RFC 6298 estimator: `srtt + 4 * rttvar`, clamped
//!   to [`SessionConfig::min_rto`]..[`SessionConfig::max_rto`], Karn's rule, exponential backoff)
//!   resends every unacknowledged, un-sacked segment. A segment with three later segments
//!   sacked is resent at once (fast retransmit). After [`SessionConfig::max_retransmits`] timeouts
//!   in a row without progress the session fails with [`SessionError::Unresponsive`] (client
//!   side), or parks (server side, [`SessionConfig::park_when_unresponsive`]): a client acks a reply
//!   only with its next packet, so a silent client is normal, and it is the client, whose calls
//!   wait, that drives recovery, as in eRPC: any packet from it resumes the retransmission.
//! - **Congestion response.** The window halves on a loss (once per window of data: not again
//!   until the segments in flight at the loss are acked) and grows by one segment per window of
//!   acked segments (additive increase).
//! - **Duplicate suppression.** The receiver delivers each sequence number exactly once, in
//!   order; out-of-order segments wait in a ring of [`SessionConfig::recv_window`] slots. A
//!   retransmitted request is therefore never handed to the server twice, so never executed
//!   twice.
//!
//! Calling protocol: feed every datagram of this session to [`Session::handle_packet`] (after
//! [`PacketHeader::decode`]); call [`Session::poll_transmit`] until it returns `false` and send
//! each packet it writes; sleep until [`Session::poll_timeout`] and then call
//! [`Session::handle_timeout`].

pub mod packet;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hatch_transport::proto::RecvBuf;

use crate::error::SessionError;
pub use packet::{HEADER_LEN, PacketHeader, PacketKind};

/// Settings of a session. Build with [`SessionConfig::default`] and the setters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Largest segment per packet (bytes after the session header). Default: 1444, so that a
    /// packet fits a 1500-byte IPv4 MTU (1500 - 20 IPv4 - 8 UDP - 28 session header).
    pub max_payload: usize,
    /// Congestion window at the start, in packets. Default: 8.
    pub initial_window: u32,
    /// Largest congestion window, in packets. Default: 64.
    pub max_window: u32,
    /// Out-of-order segments this side buffers (advertised as its window); rounded up to a
    /// power of two so that slots stay distinct across sequence number wrap-around. Default: 64.
    pub recv_window: u16,
    /// How long a pure ack may wait for data to ride on. Default: 50 µs.
    pub ack_delay: Duration,
    /// Retransmission timeout before the first round-trip sample. Default: 5 ms.
    pub initial_rto: Duration,
    /// Smallest retransmission timeout. Default: 1 ms.
    pub min_rto: Duration,
    /// Largest retransmission timeout (the backoff cap). Default: 200 ms.
    pub max_rto: Duration,
    /// Timeouts in a row without progress before the session fails (or parks). Default: 12.
    pub max_retransmits: u32,
    /// After `max_retransmits`, stop retransmitting until the peer sends anything, instead of
    /// failing. [`crate::ServerEndpoint`] sets it for its sessions. Default: false.
    pub park_when_unresponsive: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_payload: 1500 - 20 - 8 - HEADER_LEN,
            initial_window: 8,
            max_window: 64,
            recv_window: 64,
            ack_delay: Duration::from_micros(50),
            initial_rto: Duration::from_millis(5),
            min_rto: Duration::from_millis(1),
            max_rto: Duration::from_millis(200),
            max_retransmits: 12,
            park_when_unresponsive: false,
        }
    }
}

impl SessionConfig {
    /// Sets [`SessionConfig::max_payload`] (at least 16).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes.clamp(16, usize::from(u16::MAX));
        self
    }

    /// Sets [`SessionConfig::max_payload`] from an IPv4 MTU, for UDP over IPv4.
    pub fn for_ipv4_mtu(self, mtu: usize) -> Self {
        self.max_payload(mtu.saturating_sub(20 + 8 + HEADER_LEN))
    }

    /// Sets [`SessionConfig::initial_window`] (at least 1).
    pub fn initial_window(mut self, packets: u32) -> Self {
        self.initial_window = packets.max(1);
        self
    }

    /// Sets [`SessionConfig::max_window`] (at least 1).
    pub fn max_window(mut self, packets: u32) -> Self {
        self.max_window = packets.max(1);
        self
    }

    /// Sets [`SessionConfig::recv_window`] (a power of two from 1 to 32768).
    pub fn recv_window(mut self, packets: u16) -> Self {
        self.recv_window = packets.clamp(1, 1 << 15).next_power_of_two();
        self
    }

    /// Sets [`SessionConfig::ack_delay`].
    pub fn ack_delay(mut self, delay: Duration) -> Self {
        self.ack_delay = delay;
        self
    }

    /// Sets [`SessionConfig::initial_rto`].
    pub fn initial_rto(mut self, rto: Duration) -> Self {
        self.initial_rto = rto;
        self
    }

    /// Sets [`SessionConfig::min_rto`].
    pub fn min_rto(mut self, rto: Duration) -> Self {
        self.min_rto = rto;
        self
    }

    /// Sets [`SessionConfig::max_rto`].
    pub fn max_rto(mut self, rto: Duration) -> Self {
        self.max_rto = rto;
        self
    }

    /// Sets [`SessionConfig::max_retransmits`].
    pub fn max_retransmits(mut self, n: u32) -> Self {
        self.max_retransmits = n;
        self
    }

    /// Sets [`SessionConfig::park_when_unresponsive`].
    pub fn park_when_unresponsive(mut self, park: bool) -> Self {
        self.park_when_unresponsive = park;
        self
    }
}

/// Counters of one session (add them up with `+=` across sessions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Packets written by [`Session::poll_transmit`].
    pub packets_sent: u64,
    /// Data segments sent for the first time.
    pub segments_sent: u64,
    /// Data segments sent again (timeout or fast retransmit).
    pub retransmissions: u64,
    /// Retransmission timeouts that fired.
    pub timeouts: u64,
    /// Data segments received that were already received (dropped).
    pub duplicates: u64,
    /// Data segments received ahead of a gap (buffered).
    pub out_of_order: u64,
}

impl std::ops::AddAssign for SessionStats {
    fn add_assign(&mut self, other: Self) {
        self.packets_sent += other.packets_sent;
        self.segments_sent += other.segments_sent;
        self.retransmissions += other.retransmissions;
        self.timeouts += other.timeouts;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
    }
}

#[derive(Debug)]
struct Segment {
    data: Bytes,
    /// When it was last sent; `None` while it waits to be (re)sent.
    sent_at: Option<Instant>,
    transmissions: u32,
    sacked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    /// Ended; `close_pending` says a `Close` packet still has to go out.
    Ended {
        err: SessionError,
        close_pending: bool,
    },
}

/// One side of a session. See the module docs.
#[derive(Debug)]
pub struct Session {
    id: u32,
    config: SessionConfig,
    state: State,
    // Sending.
    stream: BytesMut,
    /// Unacknowledged segments; the first has sequence number `una`.
    unacked: VecDeque<Segment>,
    una: u32,
    cwnd: u32,
    /// Segments acked since the window last grew.
    acked_in_window: u32,
    /// No window halving until `una` passes this (one halving per window of data).
    recovery_until: Option<u32>,
    peer_window: u32,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    rto_deadline: Option<Instant>,
    backoff: u32,
    /// Retransmission gave up until the peer is heard from again (see the module docs).
    parked: bool,
    // Receiving.
    rcv_next: u32,
    /// Out-of-order segments, slot `seq % recv_window`.
    ooo: Vec<Option<Bytes>>,
    ooo_count: usize,
    ack_now: bool,
    ack_due: Option<Instant>,
    stats: SessionStats,
}

impl Session {
    /// A new open session with id `id`.
    pub fn new(id: u32, config: SessionConfig) -> Self {
        Self::starting_at(id, config, 0, 0)
    }

    /// A session whose first segment out is `send_seq` and first expected in is `recv_seq` (the
    /// protocol starts both at 0; other values test sequence number wrap-around).
    #[doc(hidden)]
    pub fn starting_at(id: u32, mut config: SessionConfig, send_seq: u32, recv_seq: u32) -> Self {
        config.recv_window = config.recv_window.clamp(1, 1 << 15).next_power_of_two();
        Self {
            id,
            state: State::Open,
            stream: BytesMut::new(),
            unacked: VecDeque::new(),
            una: send_seq,
            cwnd: config.initial_window.min(config.max_window),
            acked_in_window: 0,
            recovery_until: None,
            peer_window: u32::from(config.recv_window),
            srtt: None,
            rttvar: Duration::ZERO,
            rto: config.initial_rto,
            rto_deadline: None,
            backoff: 0,
            parked: false,
            rcv_next: recv_seq,
            ooo: vec![None; usize::from(config.recv_window)],
            ooo_count: 0,
            ack_now: false,
            ack_due: None,
            stats: SessionStats::default(),
            config,
        }
    }

    /// The session id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// The congestion window, in packets.
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// Why the session ended, if it did.
    pub fn error(&self) -> Option<&SessionError> {
        match &self.state {
            State::Open => None,
            State::Ended { err, .. } => Some(err),
        }
    }

    /// True when every byte written was acknowledged by the peer.
    pub fn is_idle(&self) -> bool {
        self.stream.is_empty() && self.unacked.is_empty()
    }

    /// Bytes written but not yet acknowledged.
    pub fn unacked_bytes(&self) -> usize {
        self.stream.len() + self.unacked.iter().map(|s| s.data.len()).sum::<usize>()
    }

    /// Appends bytes to the outgoing stream (ignored once the session ended).
    pub fn write(&mut self, bytes: &[u8]) {
        if self.state == State::Open {
            self.stream.extend_from_slice(bytes);
        }
    }

    /// Closes the session from this side: one best-effort `Close` packet goes out next.
    pub fn close(&mut self) {
        self.end(SessionError::Closed, true);
    }

    fn end(&mut self, err: SessionError, close_pending: bool) {
        if self.state == State::Open {
            self.state = State::Ended { err, close_pending };
            self.unacked.clear();
            self.stream.clear();
            self.rto_deadline = None;
            self.ack_due = None;
            self.ack_now = false;
        }
    }

    /// Processes a packet of this session (already decoded and validated), appending newly
    /// in-order stream bytes to `sink`. Returns how many stream bytes were delivered.
    pub fn handle_packet(&mut self, now: Instant, header: &PacketHeader, payload: &[u8], sink: &mut RecvBuf) -> usize {
        if self.state != State::Open {
            return 0;
        }
        match header.kind {
            PacketKind::Close => {
                self.end(SessionError::PeerClosed, false);
                return 0;
            }
            PacketKind::Reset => {
                self.end(SessionError::Reset, false);
                return 0;
            }
            PacketKind::Data | PacketKind::Ack => {}
        }
        if std::mem::take(&mut self.parked) {
            self.backoff = 0;
            for segment in self.unacked.iter_mut().filter(|s| !s.sacked) {
                segment.sent_at = None;
            }
        }
        self.handle_ack(now, header);
        if header.kind == PacketKind::Data { self.handle_data(now, header.seq, payload, sink) } else { 0 }
    }

    fn handle_ack(&mut self, now: Instant, header: &PacketHeader) {
        self.peer_window = u32::from(header.window).max(1);
        let advanced = header.ack.wrapping_sub(self.una);
        if advanced as usize > self.unacked.len() {
            // Older than what we know (reordered) or beyond what we sent (bogus): ignore.
            return;
        }
        let mut rtt_sample = None;
        for _ in 0..advanced {
            let segment = self.unacked.pop_front().expect("advanced is within unacked");
            if segment.transmissions == 1
                && let Some(sent_at) = segment.sent_at
            {
                rtt_sample = Some(now.saturating_duration_since(sent_at));
            }
        }
        self.una = header.ack;
        if advanced > 0 {
            self.backoff = 0;
            self.grow_window(advanced);
            if let Some(rtt) = rtt_sample {
                self.update_rtt(rtt);
            }
            self.rto_deadline =
                if self.unacked.iter().any(|s| s.sent_at.is_some()) { Some(now + self.rto) } else { None };
            if self.recovery_until.is_some_and(|until| seq_le(until, self.una)) {
                self.recovery_until = None;
            }
        }
        let mut sack = header.sack;
        while sack != 0 {
            let bit = sack.trailing_zeros();
            sack &= sack - 1;
            let seq = header.ack.wrapping_add(1 + bit);
            if let Some(segment) = self.unacked.get_mut(seq.wrapping_sub(self.una) as usize) {
                segment.sacked = true;
            }
        }
        self.fast_retransmit();
    }

    /// Resends a segment that three later segments overtook.
    fn fast_retransmit(&mut self) {
        const DUP_THRESHOLD: usize = 3;
        let mut sacked_after = 0;
        let mut lost = false;
        for segment in self.unacked.iter_mut().rev() {
            if segment.sacked {
                sacked_after += 1;
            } else if sacked_after >= DUP_THRESHOLD && segment.transmissions == 1 && segment.sent_at.is_some() {
                segment.sent_at = None;
                lost = true;
            }
        }
        if lost {
            self.on_loss();
        }
    }

    fn on_loss(&mut self) {
        if self.recovery_until.is_none() {
            self.cwnd = (self.cwnd / 2).max(1);
            self.acked_in_window = 0;
            self.recovery_until = Some(self.una.wrapping_add(self.unacked.len() as u32));
        }
    }

    fn grow_window(&mut self, acked: u32) {
        if self.recovery_until.is_some() {
            return;
        }
        self.acked_in_window += acked;
        if self.acked_in_window >= self.cwnd {
            self.acked_in_window -= self.cwnd;
            self.cwnd = (self.cwnd + 1).min(self.config.max_window);
        }
    }

    fn update_rtt(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        self.rto = (srtt + self.rttvar * 4).clamp(self.config.min_rto, self.config.max_rto);
    }

    fn handle_data(&mut self, now: Instant, seq: u32, payload: &[u8], sink: &mut RecvBuf) -> usize {
        let offset = seq.wrapping_sub(self.rcv_next);
        let window = self.ooo.len() as u32;
        if offset == 0 {
            sink.extend_from_slice(payload);
            let mut delivered = payload.len();
            self.rcv_next = self.rcv_next.wrapping_add(1);
            while self.ooo_count > 0 {
                let slot = (self.rcv_next % window) as usize;
                let Some(segment) = self.ooo[slot].take() else { break };
                self.ooo_count -= 1;
                sink.extend_from_slice(&segment);
                delivered += segment.len();
                self.rcv_next = self.rcv_next.wrapping_add(1);
            }
            if self.ooo_count > 0 || self.config.ack_delay.is_zero() {
                self.ack_now = true;
            } else if self.ack_due.is_none() {
                self.ack_due = Some(now + self.config.ack_delay);
            }
            delivered
        } else {
            if offset < window {
                let slot = (seq % window) as usize;
                if self.ooo[slot].is_none() {
                    self.ooo[slot] = Some(Bytes::copy_from_slice(payload));
                    self.ooo_count += 1;
                    self.stats.out_of_order += 1;
                } else {
                    self.stats.duplicates += 1;
                }
            } else if offset > u32::MAX / 2 {
                // Behind `rcv_next`: a retransmission of something already delivered. Our ack
                // was lost, and probably the data it rode on: repeat both. (A server's RTO can be
                // long, as its samples include the client's time between calls; this lets the
                // client's retransmission drive the recovery of a lost reply, as in eRPC.)
                self.stats.duplicates += 1;
                if let Some(oldest) = self.unacked.front_mut()
                    && oldest.sent_at.is_some_and(|at| at + self.config.min_rto <= now)
                {
                    oldest.sent_at = None;
                }
            }
            // Beyond the window: the sender broke the window; drop and tell it where we are.
            self.ack_now = true;
            0
        }
    }

    fn sack_bits(&self) -> u64 {
        if self.ooo_count == 0 {
            return 0;
        }
        let window = self.ooo.len() as u32;
        let mut bits = 0u64;
        for i in 0..(window.saturating_sub(1)).min(64) {
            let seq = self.rcv_next.wrapping_add(1 + i);
            if self.ooo[(seq % window) as usize].is_some() {
                bits |= 1 << i;
            }
        }
        bits
    }

    fn header(&self, kind: PacketKind, seq: u32, len: usize) -> PacketHeader {
        PacketHeader {
            kind,
            session: self.id,
            seq,
            ack: self.rcv_next,
            sack: self.sack_bits(),
            len: len as u16,
            window: self.config.recv_window,
        }
    }

    /// Writes the next packet to send into `out` (cleared first) and returns `true`, or returns
    /// `false` when there is nothing to send now. Call until it returns `false`.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        if let State::Ended { close_pending, .. } = &mut self.state {
            if std::mem::take(close_pending) {
                self.header(PacketKind::Close, 0, 0).encode(out);
                self.stats.packets_sent += 1;
                return true;
            }
            return false;
        }
        // Retransmissions first: they hold back the receiver's in-order delivery.
        if let Some(index) = self.unacked.iter().position(|s| s.sent_at.is_none() && !s.sacked) {
            let seq = self.una.wrapping_add(index as u32);
            let data = self.unacked[index].data.clone();
            self.emit_data(now, seq, &data, out);
            let segment = &mut self.unacked[index];
            if segment.transmissions > 0 {
                self.stats.retransmissions += 1;
            }
            segment.transmissions += 1;
            segment.sent_at = Some(now);
            return true;
        }
        let credits = self.cwnd.min(self.peer_window) as usize;
        if !self.stream.is_empty() && self.unacked.len() < credits {
            let len = self.stream.len().min(self.config.max_payload);
            let data = self.stream.split_to(len).freeze();
            let seq = self.una.wrapping_add(self.unacked.len() as u32);
            self.emit_data(now, seq, &data, out);
            self.unacked.push_back(Segment { data, sent_at: Some(now), transmissions: 1, sacked: false });
            self.stats.segments_sent += 1;
            return true;
        }
        if self.ack_now || self.ack_due.is_some_and(|due| due <= now) {
            self.header(PacketKind::Ack, 0, 0).encode(out);
            self.acked();
            return true;
        }
        false
    }

    fn emit_data(&mut self, now: Instant, seq: u32, data: &[u8], out: &mut Vec<u8>) {
        self.header(PacketKind::Data, seq, data.len()).encode(out);
        out.extend_from_slice(data);
        self.acked();
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rto);
        }
    }

    fn acked(&mut self) {
        self.ack_now = false;
        self.ack_due = None;
        self.stats.packets_sent += 1;
    }

    /// When [`Self::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.rto_deadline, self.ack_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the retransmission timer if it is due (the delayed ack needs no action here: the
    /// next [`Self::poll_transmit`] sends it).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state != State::Open || self.rto_deadline.is_none_or(|due| due > now) {
            return;
        }
        self.rto_deadline = None;
        if self.unacked.is_empty() {
            return;
        }
        self.stats.timeouts += 1;
        self.backoff += 1;
        if self.backoff > self.config.max_retransmits {
            if self.config.park_when_unresponsive {
                self.parked = true;
            } else {
                self.end(SessionError::Unresponsive(self.config.max_retransmits), false);
            }
            return;
        }
        for segment in self.unacked.iter_mut().filter(|s| !s.sacked) {
            segment.sent_at = None;
        }
        self.on_loss();
        self.rto = (self.rto * 2).min(self.config.max_rto);
    }
}

/// `a <= b` in wrapping sequence space.
fn seq_le(a: u32, b: u32) -> bool {
    b.wrapping_sub(a) < u32::MAX / 2
}

#[cfg(test)]
mod tests;
