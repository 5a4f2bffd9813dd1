//! Child processes the benchmark starts (servers and load generators): pinned to one vCPU,
//! stopped by a guard (SIGTERM, then SIGKILL) whatever happens, panics included; and the
//! temporary folder their files live in.

use std::fs;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The vCPUs this process may run on (`sched_getaffinity`), lowest first.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bit set we own; `sched_getaffinity` writes at most
    // `size_of::<cpu_set_t>()` bytes into it, and `CPU_ISSET` only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()
    }
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: a zeroed `cpu_set_t` is the empty set; `CPU_SET` sets one bit of it, and
    // `cpu` is below `CPU_SETSIZE` (checked by the callers through `allowed_cpus`).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// Pins the calling thread (only this thread) to `cpu`.
///
/// # Errors
///
/// `sched_setaffinity`'s.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let set = cpu_set(cpu);
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the calling thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the child run on `cpu` only (every thread it starts inherits that), and receive
/// SIGTERM if this process dies first (so that a killed benchmark leaves no server behind).
pub fn pin_command(command: &mut Command, cpu: Option<usize>) {
    let set = cpu.map(cpu_set);
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: `sched_setaffinity` and `prctl` are plain system
    // calls, `set` was built before the fork, and `last_os_error` only reads errno.
    unsafe {
        command.pre_exec(move || {
            if let Some(set) = &set
                && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A running child, stopped when dropped: SIGTERM, then SIGKILL after a grace period.
pub struct Process {
    name: String,
    child: Child,
    grace: Duration,
    watcher: Option<JoinHandle<()>>,
}

/// What a process that ran to its end printed.
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Process {
    /// Starts `command` (already pinned with [`pin_command`] if wanted) with stdin closed.
    /// `grace` is how long [`Process::stop`] waits after SIGTERM.
    ///
    /// # Errors
    ///
    /// The spawn's, with the program's name.
    pub fn spawn(name: &str, command: &mut Command, grace: Duration) -> io::Result<Process> {
        command.stdin(Stdio::null());
        let child = command.spawn().map_err(|e| io::Error::new(e.kind(), format!("starting {name}: {e}")))?;
        Ok(Process { name: name.to_owned(), child, grace, watcher: None })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the child to end by itself, at most until `deadline`, collecting what it
    /// printed (stdout and stderr must have been piped). A child still running at the
    /// deadline is stopped and reported as an error.
    ///
    /// # Errors
    ///
    /// Timing out, or waiting failing.
    pub fn finish(mut self, deadline: Instant) -> io::Result<Finished> {
        let out = self.child.stdout.take().map(drain);
        let err = self.child.stderr.take().map(drain);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{} did not finish in time", self.name)));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = |handle: Option<JoinHandle<Vec<u8>>>| {
            handle.and_then(|h| h.join().ok()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
        };
        Ok(Finished { status, stdout: text(out), stderr: text(err) })
    }

    /// Hands over the thread that reads the child's output, joined once the child is gone.
    pub fn attach_watcher(&mut self, watcher: JoinHandle<()>) {
        self.watcher = Some(watcher);
    }

    /// SIGTERM, wait up to the grace period, then SIGKILL; reaps the child. Returns how it
    /// ended, `None` if it had to be killed.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling a pid we spawned and have not reaped yet (so it is ours).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} ignored SIGTERM for {:?}: killing it", self.name, self.grace);
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
    }
}

fn drain(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// A folder of our own under the system's temporary folder, removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/<prefix>-<pid>-<nanos>`.
    ///
    /// # Errors
    ///
    /// Creating it.
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        fs::create_dir(&path)?;
        Ok(TempDir { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_dir_all(&self.path) {
            eprintln!("could not remove {}: {error}", self.path.display());
        }
    }
}

/// A loopback port nobody listens on right now (bound and released; another process could
/// take it in between, which a failed start would then report).
///
/// # Errors
///
/// Binding.
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// CPU time (user + system, every thread) that process `pid` has used so far, from
/// `/proc/<pid>/stat`; `None` if it cannot be read. Resolution: one clock tick (10 ms).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last `)`.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: `sysconf` only reads a configuration value.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok().filter(|&t| t > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// CPU time (user + system) of every child of this process that has ended and been waited
/// for (`getrusage(RUSAGE_CHILDREN)`): its increase over one load run is that generator's.
pub fn reaped_children_cpu() -> Duration {
    // SAFETY: `usage` is a plain struct we own, which `getrusage` fills.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}
