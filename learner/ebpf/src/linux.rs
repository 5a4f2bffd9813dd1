//! Loading the BPF object, filling its maps and attaching its programs.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use hatch_learner::shard::SlotTotals;
use libbpf_rs::{ErrorKind, Link, MapCore, MapFlags, MapHandle, Object, ObjectBuilder, PrintLevel, libbpf_sys};

use crate::config::{Metric, ProbeConfig};
use crate::error::ProbeError;
use crate::layout;
use crate::{ProgramStats, RunTimeStats};

/// The object compiled by `build.rs` from `src/bpf/probe.bpf.c`.
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/probe.bpf.o"));

/// (program, `tp_btf` tracepoint) pairs of the object.
const SEND: (&str, &str) = ("hatch_send", "sock_send_length");
const TCP_PROBE: (&str, &str) = ("hatch_tcp_probe", "tcp_probe");

/// Longest verifier log kept in [`ProbeError::Verifier`] (its tail).
const LOG_TAIL: usize = 8 << 10;

/// A loaded and attached probe.
pub(crate) struct Loaded {
    /// Detach on drop, before the object goes.
    links: Vec<Link>,
    /// (program, tracepoint) of each link.
    attached: Vec<(&'static str, &'static str)>,
    totals: MapHandle,
    object: Object,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded").field("links", &self.links.len()).finish_non_exhaustive()
    }
}

/// What libbpf printed while a load was in progress.
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());
/// Serialises loads, since libbpf's print callback is process-wide.
static LOADING: Mutex<()> = Mutex::new(());

fn capture(_level: PrintLevel, msg: String) {
    LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()).push_str(&msg);
}

fn tail(s: &str) -> String {
    let mut start = s.len().saturating_sub(LOG_TAIL);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].trim().to_owned()
}

fn map_error(e: &libbpf_rs::Error, log: &str) -> ProbeError {
    if log.contains("BEGIN PROG LOAD LOG") {
        return ProbeError::Verifier { error: format!("{e:#}"), log: tail(log) };
    }
    match e.kind() {
        ErrorKind::PermissionDenied => ProbeError::PermissionDenied(format!("{e:#}")),
        _ if log.trim().is_empty() => ProbeError::Load(format!("{e:#}")),
        _ => ProbeError::Load(format!("{e:#}\n{}", tail(log))),
    }
}

/// The (program, tracepoint) pairs `config` needs: an unused tracepoint is
/// neither loaded nor attached, so it costs nothing. `tcp_probe` does all
/// the measuring; `sock_send_length` only marks sockets a filtered process
/// sends on.
fn programs(config: &ProbeConfig) -> Vec<(&'static str, &'static str)> {
    let per_reply = config.slots().iter().any(|s| s.metric != Metric::Rtt);
    let mut wanted = vec![TCP_PROBE];
    if per_reply && !config.pids().is_empty() {
        wanted.push(SEND);
    }
    wanted
}

/// `tp_btf` programs name their tracepoint by its BTF type: say which one
/// the kernel lacks rather than let the load fail on it.
fn check_tracepoints(wanted: &[(&'static str, &'static str)]) -> Result<(), ProbeError> {
    let vmlinux = libbpf_rs::btf::Btf::from_vmlinux()
        .map_err(|e| ProbeError::Load(format!("reading the kernel's BTF (/sys/kernel/btf/vmlinux): {e:#}")))?;
    for &(_, tracepoint) in wanted {
        let ty = format!("btf_trace_{tracepoint}");
        if vmlinux.type_by_name::<libbpf_rs::btf::types::Typedef<'_>>(&ty).is_none() {
            return Err(ProbeError::MissingTracepoint { tracepoint, message: format!("no BTF type `{ty}`") });
        }
    }
    Ok(())
}

fn check_capabilities() -> Result<(), ProbeError> {
    // An unreadable or unusual status file is left for the kernel to judge.
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return Ok(()) };
    match layout::caps_allow_tracing(&status) {
        Some(false) => Err(ProbeError::PermissionDenied("the process lacks CAP_BPF and CAP_PERFMON".into())),
        _ => Ok(()),
    }
}

impl Loaded {
    pub(crate) fn load(config: &ProbeConfig) -> Result<Self, ProbeError> {
        check_capabilities()?;
        check_tracepoints(&programs(config))?;
        let _one_at_a_time = LOADING.lock().unwrap_or_else(|e| e.into_inner());
        LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let previous = libbpf_rs::set_print(Some((PrintLevel::Warn, capture)));
        let result = Self::load_and_attach(config);
        libbpf_rs::set_print(previous);
        let log = mem::take(&mut *LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()));
        result.map_err(|(e, tracepoint)| match (tracepoint, e.kind()) {
            (Some(tracepoint), ErrorKind::NotFound) => {
                ProbeError::MissingTracepoint { tracepoint, message: format!("{e:#}") }
            }
            _ => map_error(&e, &log),
        })
    }

    /// Errors come with the tracepoint concerned, if any.
    fn load_and_attach(config: &ProbeConfig) -> Result<Self, (libbpf_rs::Error, Option<&'static str>)> {
        let wanted = programs(config);
        let mut object = ObjectBuilder::default().open_memory(OBJECT).map_err(|e| (e, None))?;
        for mut p in object.progs_mut() {
            let name = p.name().to_owned();
            p.set_autoload(wanted.iter().any(|&(prog, _)| name == prog));
        }
        let object = object.load().map_err(|e| (e, None))?;
        let map = |name: &str| {
            object.maps().find(|m| m.name() == name).unwrap_or_else(|| panic!("the BPF object defines map `{name}`"))
        };

        let ports = map("ports");
        for (port, word) in layout::port_words(config.slots()) {
            ports.update(&u32::from(port).to_ne_bytes(), &word.to_ne_bytes(), MapFlags::ANY).map_err(|e| (e, None))?;
        }
        let pids = map("pids");
        for pid in config.pids() {
            pids.update(&pid.to_ne_bytes(), &[1], MapFlags::ANY).map_err(|e| (e, None))?;
        }
        let filter = u32::from(!config.pids().is_empty());
        map("config").update(&0u32.to_ne_bytes(), &filter.to_ne_bytes(), MapFlags::ANY).map_err(|e| (e, None))?;
        let totals = MapHandle::try_from(&map("slot_totals")).map_err(|e| (e, None))?;

        let mut links = Vec::new();
        for &(prog, tracepoint) in &wanted {
            let p = object
                .progs_mut()
                .find(|p| p.name() == prog)
                .unwrap_or_else(|| panic!("the BPF object defines program `{prog}`"));
            links.push(p.attach().map_err(|e| (e, Some(tracepoint)))?);
        }
        Ok(Loaded { links, attached: wanted, totals, object })
    }

    /// Cumulative totals of slot `slot`, summed over CPUs.
    pub(crate) fn read_slot(&self, slot: usize) -> Result<SlotTotals, libbpf_rs::Error> {
        let key = (slot as u32).to_ne_bytes();
        let values = self.totals.lookup_percpu(&key, MapFlags::ANY)?;
        Ok(values.map(|v| layout::sum_per_cpu(&v)).unwrap_or_default())
    }
}

impl Loaded {
    /// The kernel's run counters of each attached program.
    pub(crate) fn program_stats(&self) -> Result<Vec<ProgramStats>, ProbeError> {
        let mut stats = Vec::with_capacity(self.attached.len());
        for &(prog, tracepoint) in &self.attached {
            let p = self.object.progs().find(|p| p.name() == prog).expect("attached programs exist");
            let fd = p.as_fd();
            let mut info = libbpf_sys::bpf_prog_info::default();
            let mut len = mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
            // SAFETY: `fd` is a live program descriptor borrowed from the
            // object for the duration of the call; `info` is a writable,
            // initialised `bpf_prog_info` and `len` its size, which bounds
            // what the kernel writes.
            let rc = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
            if rc != 0 {
                return Err(ProbeError::Load(format!("reading {prog}'s info: {}", io::Error::from_raw_os_error(-rc))));
            }
            stats.push(ProgramStats { tracepoint, runs: info.run_cnt, run_time_ns: info.run_time_ns });
        }
        Ok(stats)
    }
}

/// Turns on the kernel's BPF run-time accounting (`BPF_ENABLE_STATS`).
pub(crate) fn enable_run_time_stats() -> Result<RunTimeStats, ProbeError> {
    // SAFETY: a plain syscall wrapper taking an integer; it touches no
    // memory of ours.
    let fd = unsafe { libbpf_sys::bpf_enable_stats(libbpf_sys::BPF_STATS_RUN_TIME) };
    if fd < 0 {
        let e = io::Error::from_raw_os_error(-fd);
        return Err(match e.kind() {
            io::ErrorKind::PermissionDenied => ProbeError::PermissionDenied(format!("BPF_ENABLE_STATS: {e}")),
            _ => ProbeError::Load(format!("BPF_ENABLE_STATS: {e}")),
        });
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else
    // owns it, so `OwnedFd` may close it.
    Ok(RunTimeStats { _fd: unsafe { OwnedFd::from_raw_fd(fd) } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tracepoint_is_named() {
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            return eprintln!("SKIPPED a_missing_tracepoint_is_named: no kernel BTF");
        }
        // Reading BTF needs no privilege.
        assert!(check_tracepoints(&[TCP_PROBE, SEND]).is_ok());
        match check_tracepoints(&[TCP_PROBE, ("p", "hatch_no_such_tracepoint")]) {
            Err(ProbeError::MissingTracepoint { tracepoint, message }) => {
                assert_eq!(tracepoint, "hatch_no_such_tracepoint");
                assert!(message.contains("btf_trace_hatch_no_such_tracepoint"), "{message}");
            }
            other => panic!("expected MissingTracepoint, got {other:?}"),
        }
    }

    #[test]
    fn only_the_tracepoints_the_metrics_need_are_used() {
        assert_eq!(programs(&ProbeConfig::new().slot(1, Metric::Rtt).pid(7)), [TCP_PROBE]);
        assert_eq!(programs(&ProbeConfig::new().slot(1, Metric::Service)), [TCP_PROBE]);
        assert_eq!(programs(&ProbeConfig::server(1)), [TCP_PROBE]);
        assert_eq!(programs(&ProbeConfig::server(1).pid(7)), [TCP_PROBE, SEND]);
    }
}
