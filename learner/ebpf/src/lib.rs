//! An eBPF latency probe for the Hatch learner.
//!
//! [`EbpfProbe`] implements [`LatencyProbe`]: it times a server's requests
//! from the kernel, so the process being measured runs no timing code. It is
//! the alternative to [`InProcessProbe`](hatch_learner::probe::InProcessProbe)
//! where the server's code cannot (or should not) be instrumented; where the
//! probe cannot load, [`probe_or_fallback`] returns the in-process one.
//!
//! # What is measured
//!
//! Each slot is one [`Metric`] on the TCP sockets whose *local* port is the
//! slot's port (a server's accepted connections; clients of that port are
//! ignored), optionally only on sockets given processes send on. One
//! tracepoint does the measuring: `tcp:tcp_probe`, which fires in
//! `tcp_rcv_established` for every segment an established socket receives,
//! attached as a BTF-typed raw tracepoint (`tp_btf`). On a watched socket it
//!
//! - samples the smoothed RTT (`srtt_us >> 3`) for [`Metric::Rtt`];
//! - stamps the arrival of a request: the first segment with payload while
//!   no request is pending, together with the socket's `snd_nxt`;
//! - recognises a reply after the fact: when a segment arrives (the next
//!   request, or the ACK of the reply) and `snd_nxt` moved since the pending
//!   request came, the server answered it, and the reply left at
//!   `tcp_wstamp_ns` (departure time of the last segment TCP sent). It then
//!   records [`Metric::Service`] = departure − arrival and [`Metric::Reply`]
//!   = `Service` + smoothed RTT.
//!
//! With a process filter, `sock:sock_send_length` (end of `sock_sendmsg`)
//! marks the sockets a listed process sends on; without one it is not
//! attached. Values are nanoseconds of `CLOCK_MONOTONIC`, as
//! [`LatencyProbe::read`] requires; RTTs have the kernel's microsecond
//! resolution.
//!
//! # Approximations
//!
//! - One request in flight per connection is assumed, as Hatch's
//!   `Connection::call` does: then there is one sample per call. With
//!   pipelined requests, a reply is timed from the oldest unanswered arrival
//!   and requests that arrive while one is pending are not timed on their
//!   own: the mean leans towards requests that found the connection idle.
//!   Data the server sends unprompted ends the pending request early.
//! - A reply is recorded when the next segment arrives: the following
//!   request, else the peer's delayed ACK (tens of ms later), so a window
//!   may hold its predecessor's last reply instead of its own; the last
//!   reply before the peer closes is recorded only if the FIN is processed
//!   in the established state.
//! - The RTT estimate includes the peer's delayed ACK: on a request-reply
//!   connection the server's reply is acknowledged by the client's next
//!   request, so `Rtt` (and `Reply`) include the client's time between
//!   calls. In a closed loop `Reply` then matches the client's call latency
//!   closely (`tests/agreement.rs`: within 1 to 3% here, asserted within
//!   25%); with idle gaps between calls, prefer `Service`.
//! - Counters are per-CPU and updated without atomics; a read racing an
//!   update may see a sample's count before its sum (a one-sample bias, as
//!   in [`hatch_learner::shard`]).
//!
//! # Overhead
//!
//! `tcp_probe` runs for every TCP segment received in the system. An
//! unrelated socket costs a tracepoint call, one load and one array lookup
//! on the local port; a watched one adds a socket-local storage lookup
//! (`BPF_MAP_TYPE_SK_STORAGE`: no hashing, freed with the socket), a clock
//! read and per-CPU adds. Fields are read with plain BTF-typed loads, not
//! `bpf_probe_read_kernel` calls. On an io_uring echo with one call in flight
//! (`benches/overhead.rs`; figures and the command in `README.md`) the
//! kernel accounts about 0.35 µs of BPF time per call (1.7% of a 21 µs call)
//! and the median call is 2.5 to 4% slower with the probe loaded. Kernel
//! facts behind the design: uprobes cost about 16 µs per probed call on the
//! development kernel (6.18) and fentry/fexit do not load there; `tp_btf`
//! needs neither, nor a tracefs mount. [`EbpfProbe::program_stats`] reports
//! the kernel's own accounting.
//!
//! # Fallback
//!
//! Loading needs Linux, CAP_BPF and CAP_PERFMON (or root), kernel BTF
//! (`/sys/kernel/btf/vmlinux`, for the typed tracepoints and the CO-RE field
//! relocations), `tcp_probe` (and `sock_send_length`, Linux 6.3 and later,
//! with a process filter) and the `bpf_rdonly_cast` kfunc (Linux 6.2). Each failure is a [`ProbeError`] variant; [`probe_or_fallback`]
//! logs it once and returns the in-process probe instead.
//!
//! # Examples
//! ```no_run
//! use hatch_learner::probe::{InProcessProbe, LatencyProbe};
//! use hatch_learner::shard::SlotTotals;
//! use hatch_probe_ebpf::{probe_or_fallback, ProbeConfig};
//!
//! let probe = probe_or_fallback(&ProbeConfig::server(7000), InProcessProbe::new(3));
//! let mut totals = [SlotTotals::default(); 3];
//! probe.read(&mut totals); // once per window; subtract the previous read
//! ```

mod config;
mod error;
mod layout;
#[cfg(target_os = "linux")]
mod linux;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use hatch_learner::probe::LatencyProbe;
use hatch_learner::shard::SlotTotals;

pub use config::{Metric, ProbeConfig, SlotSpec};
pub use error::ProbeError;
pub use layout::{MAX_PIDS, MAX_SLOTS};

/// The eBPF probe: programs attached to kernel tracepoints, per-CPU totals
/// read once per window. Detaches when dropped.
#[derive(Debug)]
pub struct EbpfProbe {
    #[cfg(target_os = "linux")]
    loaded: linux::Loaded,
    config: ProbeConfig,
    /// The last totals read, returned again if a map read ever fails (so a
    /// window sees no samples rather than garbage).
    last: Mutex<Vec<SlotTotals>>,
}

impl EbpfProbe {
    /// Loads the BPF object, writes `config` into its maps and attaches the
    /// tracepoints the configured metrics need. Totals start at zero.
    pub fn load(config: &ProbeConfig) -> Result<EbpfProbe, ProbeError> {
        config.validate()?;
        #[cfg(target_os = "linux")]
        {
            Ok(EbpfProbe {
                loaded: linux::Loaded::load(config)?,
                config: config.clone(),
                last: Mutex::new(vec![SlotTotals::default(); config.slots().len()]),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(ProbeError::NotLinux(std::env::consts::OS))
        }
    }

    /// The configuration the probe was loaded with.
    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// The kernel's counters of each attached program: how often it ran and
    /// for how long. Run time is counted only while a [`RunTimeStats`] from
    /// [`EbpfProbe::enable_run_time_stats`] is alive (anywhere in the system).
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>, ProbeError> {
        #[cfg(target_os = "linux")]
        {
            self.loaded.program_stats()
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(Vec::new())
        }
    }

    /// Turns on the kernel's BPF run-time accounting until the guard drops.
    /// The accounting itself adds two clock reads per program run, so use it
    /// to measure, not in production. Needs CAP_SYS_ADMIN.
    pub fn enable_run_time_stats() -> Result<RunTimeStats, ProbeError> {
        #[cfg(target_os = "linux")]
        {
            linux::enable_run_time_stats()
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(ProbeError::NotLinux(std::env::consts::OS))
        }
    }
}

/// The kernel's counters of one attached program ([`EbpfProbe::program_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    /// The raw tracepoint the program is attached to.
    pub tracepoint: &'static str,
    /// Times it ran (every hit of the tracepoint, watched socket or not)
    /// while run-time stats were enabled.
    pub runs: u64,
    /// Total time it ran, in nanoseconds, while run-time stats were enabled.
    pub run_time_ns: u64,
}

/// Keeps the kernel's BPF run-time accounting on; dropping it turns it off
/// (unless another holder keeps it on).
#[derive(Debug)]
pub struct RunTimeStats {
    #[cfg(target_os = "linux")]
    _fd: std::os::fd::OwnedFd,
}

impl LatencyProbe for EbpfProbe {
    fn slots(&self) -> usize {
        self.config.slots().len()
    }

    /// Sums each slot's per-CPU counters: one map lookup per slot.
    ///
    /// # Panics
    /// Panics if `out.len() != self.slots()`.
    fn read(&self, out: &mut [SlotTotals]) {
        assert_eq!(out.len(), self.slots(), "one total per slot");
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(target_os = "linux")]
        for (slot, t) in last.iter_mut().enumerate() {
            match self.loaded.read_slot(slot) {
                Ok(now) => *t = now,
                Err(e) => tracing::error!(slot, "reading the eBPF probe's totals failed: {e:#}"),
            }
        }
        out.copy_from_slice(&last);
    }
}

/// The probe [`probe_or_fallback`] chose.
#[derive(Debug)]
pub enum ChosenProbe<P> {
    /// The eBPF probe loaded.
    Ebpf(EbpfProbe),
    /// It did not; the fallback probe, with the reason.
    Fallback(P, ProbeError),
}

impl<P> ChosenProbe<P> {
    /// Whether the eBPF probe is in use.
    pub fn is_ebpf(&self) -> bool {
        matches!(self, ChosenProbe::Ebpf(_))
    }
}

impl<P: LatencyProbe> LatencyProbe for ChosenProbe<P> {
    fn slots(&self) -> usize {
        match self {
            ChosenProbe::Ebpf(p) => p.slots(),
            ChosenProbe::Fallback(p, _) => p.slots(),
        }
    }

    fn read(&self, out: &mut [SlotTotals]) {
        match self {
            ChosenProbe::Ebpf(p) => p.read(out),
            ChosenProbe::Fallback(p, _) => p.read(out),
        }
    }
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// The eBPF probe for `config` if it loads, else `in_process` (which should
/// have as many slots, timing the same boundaries). The first fallback in
/// the process is logged with `tracing::warn!`, later ones at debug level.
pub fn probe_or_fallback<P: LatencyProbe>(config: &ProbeConfig, in_process: P) -> ChosenProbe<P> {
    match EbpfProbe::load(config) {
        Ok(p) => ChosenProbe::Ebpf(p),
        Err(e) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!("eBPF latency probe unavailable, using the in-process probe: {e}");
            } else {
                tracing::debug!("eBPF latency probe unavailable, using the in-process probe: {e}");
            }
            ChosenProbe::Fallback(in_process, e)
        }
    }
}
