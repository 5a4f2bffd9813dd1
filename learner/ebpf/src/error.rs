//! Why the eBPF probe could not be loaded.

/// Why [`EbpfProbe::load`](crate::EbpfProbe::load) failed. Every variant is a
/// reason to fall back to the in-process probe
/// ([`probe_or_fallback`](crate::probe_or_fallback)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// eBPF exists only on Linux.
    #[error("eBPF probes need Linux (this is {0})")]
    NotLinux(&'static str),
    /// The configuration does not fit the BPF maps.
    #[error("invalid probe configuration: {0}")]
    Config(String),
    /// The process lacks CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), or the
    /// kernel refused a BPF operation with EPERM/EACCES.
    #[error("permission denied: {0} (run as root, or grant CAP_BPF and CAP_PERFMON)")]
    PermissionDenied(String),
    /// The running kernel has no such tracepoint.
    #[error("the kernel lacks tracepoint `{tracepoint}`: {message}")]
    MissingTracepoint {
        /// The tracepoint's name.
        tracepoint: &'static str,
        /// libbpf's error.
        message: String,
    },
    /// The kernel's verifier rejected a program.
    #[error("the BPF verifier rejected the probe: {error}\n{log}")]
    Verifier {
        /// libbpf's error.
        error: String,
        /// The verifier log libbpf printed (its tail, when long).
        log: String,
    },
    /// Anything else while opening, loading or attaching (no kernel BTF, a
    /// CO-RE relocation that found no field, out of memory...).
    #[error("loading the BPF probe failed: {0}")]
    Load(String),
}
