//! The rack's processes: entering a host between fork and exec, finding a rack's processes in
//! `/proc`, and stopping them.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use super::log;

/// Environment variable naming the host a process was started on (`PREFIX-hI`): how a sweep
/// finds the processes of a rack, also those started outside it (an ssh run's front end).
pub const HOST_TAG: &str = "HATCH_RACK_HOST";

/// How often waits poll.
const POLL: Duration = Duration::from_millis(10);

/// What a child does between fork and exec to enter its host, prepared before the fork.
pub(super) struct Entry {
    /// The host cgroup's `cgroup.procs`.
    cgroup_procs: Option<CString>,
    /// The host's `/run/netns/NAME`.
    netns: Option<CString>,
    /// The single CPU of the host.
    cpus: Option<libc::cpu_set_t>,
}

impl Entry {
    /// Prepares entering the cgroup whose `cgroup.procs` is `cgroup_procs`, the network namespace
    /// held open by `netns`, and pinning to `cpu`.
    pub(super) fn new(cgroup_procs: Option<&Path>, netns: Option<&Path>, cpu: Option<usize>) -> io::Result<Entry> {
        let c_path = |path: &Path| {
            CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        };
        Ok(Entry {
            cgroup_procs: cgroup_procs.map(c_path).transpose()?,
            netns: netns.map(c_path).transpose()?,
            cpus: cpu.map(single_cpu_set).transpose()?,
        })
    }

    /// Moves the calling process into the host: its cgroup, then its network namespace, then its
    /// CPU. Meant for [`std::os::unix::process::CommandExt::pre_exec`]: it makes only
    /// async-signal-safe system calls on data prepared by [`Entry::new`], and allocates nothing.
    pub(super) fn enter(&self) -> io::Result<()> {
        if let Some(procs) = &self.cgroup_procs {
            let mut digits = [0u8; 10];
            let pid = decimal(std::process::id(), &mut digits);
            // SAFETY: `procs` is a NUL-terminated string that outlives the call.
            let fd = unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `pid` is `pid.len()` initialised bytes; `fd` is the descriptor opened above.
            let written = unsafe { libc::write(fd, pid.as_ptr().cast(), pid.len()) };
            let error = io::Error::last_os_error();
            // SAFETY: `fd` was opened above and is closed exactly once.
            unsafe { libc::close(fd) };
            if written < 0 {
                return Err(error);
            }
        }
        if let Some(netns) = &self.netns {
            // SAFETY: `netns` is a NUL-terminated string that outlives the call.
            let fd = unsafe { libc::open(netns.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: setns reads no memory of ours; `fd` is the descriptor opened above (setns
            // fails with EINVAL if it is not a network namespace).
            let entered = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
            let error = io::Error::last_os_error();
            // SAFETY: `fd` was opened above and is closed exactly once.
            unsafe { libc::close(fd) };
            if entered != 0 {
                return Err(error);
            }
        }
        if let Some(cpus) = &self.cpus {
            // SAFETY: `cpus` is an initialised cpu_set_t and the size passed is its own.
            if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), cpus) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// The CPU set holding `cpu` alone.
fn single_cpu_set(cpu: usize) -> io::Result<libc::cpu_set_t> {
    if cpu >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("CPU {cpu} is beyond cpu_set_t")));
    }
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` was checked to lie within the set above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    Ok(set)
}

/// `n` in decimal, written into the end of `buf` without allocating.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// The CPUs this process may run on, in order; at least one entry.
pub(super) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size passed.
    if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return vec![0];
    }
    // SAFETY: every index is below the number of bits of the set.
    let cpus: Vec<usize> =
        (0..8 * size_of::<libc::cpu_set_t>()).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect();
    if cpus.is_empty() { vec![0] } else { cpus }
}

/// Stops `child`: SIGTERM, then SIGKILL once `grace` has passed, and reaps it.
pub(super) fn terminate(child: Child, grace: Duration) -> io::Result<ExitStatus> {
    let mut children = vec![(0, child)];
    let status = stop_children(&mut children, grace);
    status.into_iter().next().unwrap_or_else(|| Err(io::Error::other("the process vanished")))
}

/// Stops every child at once (SIGTERM, SIGKILL after `grace`) and reaps them, logging failures.
pub(super) fn terminate_all(mut children: Vec<(usize, Child)>, grace: Duration) {
    let statuses = stop_children(&mut children, grace);
    for ((host, child), status) in children.iter().zip(statuses) {
        if let Err(error) = status {
            log(&format!("stopping process {} of host {host}: {error}", child.id()));
        }
    }
}

fn stop_children(children: &mut [(usize, Child)], grace: Duration) -> Vec<io::Result<ExitStatus>> {
    let mut statuses: Vec<Option<io::Result<ExitStatus>>> = Vec::with_capacity(children.len());
    for (_, child) in children.iter_mut() {
        let status = child.try_wait().transpose();
        if status.is_none() {
            // SAFETY: kill has no memory preconditions; the pid is our unreaped child's, so it
            // cannot have been reused by another process.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
        statuses.push(status);
    }
    let deadline = Instant::now() + grace;
    while statuses.iter().any(Option::is_none) && Instant::now() < deadline {
        thread::sleep(POLL);
        for ((_, child), status) in children.iter_mut().zip(&mut statuses) {
            if status.is_none() {
                *status = child.try_wait().transpose();
            }
        }
    }
    children
        .iter_mut()
        .zip(statuses)
        .map(|((_, child), status)| {
            status.unwrap_or_else(|| {
                // Kill fails only when the child has exited meanwhile; wait reports either way.
                let _ = child.kill();
                child.wait()
            })
        })
        .collect()
}

/// The pids of all processes, but not this one.
pub(super) fn other_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
                .filter(|&pid| pid != me)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` was started on a host of the rack `prefix` (its environment holds
/// `HATCH_RACK_HOST=prefix-hN`). Processes whose environment cannot be read are not.
pub(super) fn tagged(pid: i32, prefix: &str) -> bool {
    let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else { return false };
    environ.split(|&b| b == 0).any(|entry| {
        let Some(host) = entry.strip_prefix(HOST_TAG.as_bytes()).and_then(|rest| rest.strip_prefix(b"=")) else {
            return false;
        };
        host.strip_prefix(prefix.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"-h"))
            .is_some_and(|index| !index.is_empty() && index.iter().all(u8::is_ascii_digit))
    })
}

/// The identity (device, inode) of a namespace file such as `/run/netns/NAME` or
/// `/proc/PID/ns/net`.
pub(super) fn namespace_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|meta| (meta.dev(), meta.ino()))
}

/// Whether `pid` is running: it exists and is not a zombie.
fn alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the parenthesised command name, which may itself contain ") ".
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Sends SIGKILL to every pid and waits up to `patience` for them to die; returns those still
/// alive. A pid is only signalled once, right after it was found, so reuse is unlikely but
/// possible, as with `kill` in a shell.
pub(super) fn kill_and_wait(pids: &BTreeSet<i32>, patience: Duration) -> Vec<i32> {
    for &pid in pids {
        // SAFETY: kill has no memory preconditions; a pid that has gone fails with ESRCH.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let deadline = Instant::now() + patience;
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|&pid| alive(pid)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_without_allocation() {
        let mut buf = [0; 10];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(4_194_304, &mut buf), b"4194304");
        assert_eq!(decimal(u32::MAX, &mut buf), b"4294967295");
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().is_empty());
    }

    #[test]
    fn an_untagged_process_is_not_the_racks() {
        assert!(!tagged(std::process::id() as i32, "hatchrk"));
        assert!(alive(std::process::id() as i32));
    }
}
