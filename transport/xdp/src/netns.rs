//! Two network namespaces joined by a veth pair, for tests and benchmarks of the drivers on one
//! machine (needs root and the `ip` tool). Threads enter a namespace with [`enter`]; threads they
//! spawn afterwards inherit it.

use std::io;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Two namespaces `ns[0]`, `ns[1]` with veth ends `ifname[i]` at `ip[i]`/24 in `ns[i]`. Removed
/// on drop (deleting a namespace deletes its veth end, and with it the pair).
#[derive(Debug)]
pub struct VethPair {
    /// Namespace names.
    pub ns: [String; 2],
    /// Interface names, one per namespace.
    pub ifname: [String; 2],
    /// Addresses, one per namespace.
    pub ip: [Ipv4Addr; 2],
}

impl VethPair {
    /// Why this process cannot create namespaces, if it cannot.
    pub fn unavailable() -> Option<String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("not root: creating network namespaces needs CAP_SYS_ADMIN".into());
        }
        match Command::new("ip").arg("-V").output() {
            Ok(out) if out.status.success() => None,
            _ => Some("the `ip` tool (iproute2) is not installed".into()),
        }
    }

    /// Creates the namespaces and the pair, with names unique to this process and call, and
    /// addresses in `10.<subnet>.0.0/24`.
    ///
    /// Namespaces left behind by earlier processes that were killed before they could clean up
    /// (named `hatchxdp-<pid>-…` with that pid gone) are removed first.
    pub fn create(subnet: u8) -> io::Result<Self> {
        remove_stale();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let pair = Self {
            ns: [format!("{PREFIX}{pid}-{n}-a"), format!("{PREFIX}{pid}-{n}-b")],
            // Interface names are limited to 15 bytes.
            ifname: [format!("hx{}{n}a", pid % 100_000), format!("hx{}{n}b", pid % 100_000)],
            ip: [Ipv4Addr::new(10, subnet, 0, 1), Ipv4Addr::new(10, subnet, 0, 2)],
        };
        // From here on, drop cleans up whatever was created.
        ip(&["netns", "add", &pair.ns[0]])?;
        ip(&["netns", "add", &pair.ns[1]])?;
        ip(&[
            "-n",
            &pair.ns[0],
            "link",
            "add",
            &pair.ifname[0],
            "type",
            "veth",
            "peer",
            "name",
            &pair.ifname[1],
            "netns",
            &pair.ns[1],
        ])?;
        for i in 0..2 {
            let addr = format!("{}/24", pair.ip[i]);
            ip(&["-n", &pair.ns[i], "addr", "add", &addr, "dev", &pair.ifname[i]])?;
            ip(&["-n", &pair.ns[i], "link", "set", &pair.ifname[i], "up"])?;
            ip(&["-n", &pair.ns[i], "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Prefix of the namespaces this module creates: `hatchxdp-<pid>-<n>-<a|b>`.
const PREFIX: &str = "hatchxdp-";

/// Deletes `hatchxdp-<pid>-<n>-<a|b>` namespaces whose process no longer exists.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let parts: Vec<&str> = name.strip_prefix(PREFIX).map(|rest| rest.split('-').collect()).unwrap_or_default();
        let [pid, n, side] = parts[..] else { continue };
        if n.parse::<u32>().is_err() || !matches!(side, "a" | "b") {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// Moves the calling thread into network namespace `ns` (created by `ip netns add`).
pub fn enter(ns: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/var/run/netns/{ns}"))?;
    // SAFETY: `file` is an open namespace file; setns only changes this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
