//! What the probe times: one slot per (server port, metric), plus an optional
//! process filter.

use crate::error::ProbeError;
use crate::layout::{MAX_PIDS, MAX_SLOTS};

/// What a slot measures on the server sockets bound to its port (the local
/// port of accepted connections). All values are nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Server-side request-to-reply time: from the arrival of a request's
    /// first payload segment at the socket to the departure of the reply's
    /// last segment. Includes the server's wake-up, read, handling and send;
    /// one sample per reply, recorded when the next segment arrives on the
    /// socket (the client's next request, or its ACK of the reply).
    Service,
    /// TCP smoothed RTT (`srtt_us >> 3`) of the socket, sampled at every
    /// segment it receives in the established state: a segment-weighted
    /// mean.
    Rtt,
    /// [`Metric::Service`] plus the socket's smoothed RTT: an estimate of the
    /// latency the client sees, one sample per reply.
    Reply,
}

/// One slot: `metric` on the sockets whose local port is `port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotSpec {
    /// Local (server) TCP port.
    pub port: u16,
    /// What is measured.
    pub metric: Metric,
}

/// The probe's configuration, written into BPF maps at load time.
///
/// Slot `i` of [`LatencyProbe::read`](hatch_learner::probe::LatencyProbe::read)
/// is the `i`-th slot added.
///
/// # Examples
/// ```
/// use hatch_probe_ebpf::{Metric, ProbeConfig};
///
/// // Slot 0: the client-visible estimate (the learner's end-to-end slot),
/// // slot 1: server time only, slot 2: smoothed RTT.
/// let config = ProbeConfig::server(7000).pid(std::process::id());
/// assert_eq!(config.slots().len(), 3);
/// assert_eq!(config.slots()[0].metric, Metric::Reply);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeConfig {
    slots: Vec<SlotSpec>,
    pids: Vec<u32>,
}

impl ProbeConfig {
    /// An empty configuration (no slots, no process filter).
    pub fn new() -> Self {
        Self::default()
    }

    /// The usual layout for one server port: slot 0 [`Metric::Reply`],
    /// slot 1 [`Metric::Service`], slot 2 [`Metric::Rtt`].
    pub fn server(port: u16) -> Self {
        Self::new().slot(port, Metric::Reply).slot(port, Metric::Service).slot(port, Metric::Rtt)
    }

    /// Adds a slot (the next index) measuring `metric` on `port`.
    pub fn slot(mut self, port: u16, metric: Metric) -> Self {
        self.slots.push(SlotSpec { port, metric });
        self
    }

    /// Times only sockets that process `pid` (a tgid, as
    /// [`std::process::id`] returns; io_uring's worker and SQPOLL threads
    /// belong to their process) sends on. Default: every process. Applies to
    /// [`Metric::Service`] and [`Metric::Reply`], and attaches a second
    /// tracepoint (`sock:sock_send_length`) to mark those sockets, since
    /// segments arrive in softirq context, where the current process is
    /// unrelated; [`Metric::Rtt`] is filtered by port only. That tracepoint
    /// runs for every send in the system and about doubles the probe's cost
    /// (`README.md`): filter by port alone when the port identifies the
    /// server.
    pub fn pid(mut self, pid: u32) -> Self {
        self.pids.push(pid);
        self
    }

    /// The slots, in index order.
    pub fn slots(&self) -> &[SlotSpec] {
        &self.slots
    }

    /// The process filter (empty: every process).
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Checks the limits of the BPF maps: 1 to [`MAX_SLOTS`] slots, no
    /// (port, metric) twice, port 0 unused, at most [`MAX_PIDS`] pids.
    pub fn validate(&self) -> Result<(), ProbeError> {
        let bad = |why: String| Err(ProbeError::Config(why));
        if self.slots.is_empty() {
            return bad("no slots".into());
        }
        if self.slots.len() > MAX_SLOTS {
            return bad(format!("{} slots, at most {MAX_SLOTS}", self.slots.len()));
        }
        for (i, s) in self.slots.iter().enumerate() {
            if s.port == 0 {
                return bad(format!("slot {i}: port 0"));
            }
            if self.slots[..i].contains(s) {
                return bad(format!("slot {i}: {:?} on port {} twice", s.metric, s.port));
            }
        }
        if self.pids.len() > MAX_PIDS {
            return bad(format!("{} pids, at most {MAX_PIDS}", self.pids.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_layout_is_reply_service_rtt() {
        let c = ProbeConfig::server(80);
        let metrics: Vec<_> = c.slots().iter().map(|s| (s.port, s.metric)).collect();
        assert_eq!(metrics, [(80, Metric::Reply), (80, Metric::Service), (80, Metric::Rtt)]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validation_rejects_what_the_maps_cannot_hold() {
        let err = |c: ProbeConfig| c.validate().unwrap_err().to_string();
        assert!(err(ProbeConfig::new()).contains("no slots"));
        assert!(err(ProbeConfig::new().slot(0, Metric::Rtt)).contains("port 0"));
        assert!(err(ProbeConfig::server(9).slot(9, Metric::Rtt)).contains("twice"));
        let many = (1..=MAX_SLOTS as u16 + 1).fold(ProbeConfig::new(), |c, p| c.slot(p, Metric::Rtt));
        assert!(err(many).contains("at most"));
        let pids = (0..=MAX_PIDS as u32).fold(ProbeConfig::server(9), |c, p| c.pid(p));
        assert!(err(pids).contains("pids"));
        let full = (1..=MAX_SLOTS as u16).fold(ProbeConfig::new(), |c, p| c.slot(p, Metric::Service));
        assert!(full.validate().is_ok());
    }
}
