//! Removing a rack by its prefix, whoever created it: after a crash, at teardown, on Ctrl-C.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::thread;
use std::time::Duration;

use super::cgroup::{self, Controller};
use super::{check_prefix, ip, lock, log, owned_by, process};

/// How long killed processes get to disappear.
const KILL_PATIENCE: Duration = Duration::from_secs(2);

/// Removes what a run with this prefix left behind: first the processes still in its cgroups or
/// namespaces or tagged with one of its hosts (SIGKILL), then its veths and bridge, its network
/// namespaces and its cgroups. Returns how many links, namespaces and cgroups it removed (killed
/// processes are not counted); 0 when there was nothing to remove.
///
/// Safe to call at any time: it only touches objects named `prefix-...`. It waits for a rack
/// being created or torn down by this process to be complete first.
///
/// # Errors
///
/// `InvalidInput` for a malformed prefix; otherwise an error listing everything that could not
/// be removed (for example because this process is not root), after trying all of it.
pub fn cleanup_stale(prefix: &str) -> io::Result<usize> {
    check_prefix(prefix)?;
    let _guard = lock();
    sweep(prefix)
}

/// [`cleanup_stale`] with the rack lock held by the caller.
pub(super) fn sweep(prefix: &str) -> io::Result<usize> {
    let mut failures = Vec::new();
    let namespaces = owned_names(prefix, ip::namespaces(), &mut failures);
    let mut links = owned_names(prefix, ip::links(), &mut failures);
    let cgroups = match Controller::detect() {
        Ok(controller) => controller.stale(prefix).unwrap_or_else(|error| {
            failures.push(error.to_string());
            Vec::new()
        }),
        // No controller, no cgroups of ours.
        Err(_) => Vec::new(),
    };

    let mut victims: BTreeSet<i32> = cgroups.iter().flat_map(|dir| cgroup::pids(dir)).collect();
    let namespace_ids: Vec<_> =
        namespaces.iter().filter_map(|name| process::namespace_id(&ip::netns_path(name))).collect();
    for pid in process::other_pids() {
        let in_namespace = !namespace_ids.is_empty()
            && process::namespace_id(Path::new(&format!("/proc/{pid}/ns/net")))
                .is_some_and(|id| namespace_ids.contains(&id));
        if in_namespace || process::tagged(pid, prefix) {
            victims.insert(pid);
        }
    }
    let survivors = process::kill_and_wait(&victims, KILL_PATIENCE);
    if !survivors.is_empty() {
        failures.push(format!("processes of rack {prefix} survived SIGKILL: {survivors:?}"));
    }

    let mut removed = 0;
    let mut count = |result: io::Result<()>| match result {
        Ok(()) => removed += 1,
        Err(error) => failures.push(error.to_string()),
    };
    // Veths before the bridge they are enslaved to; deleting either end deletes the pair.
    links.sort_by_key(|name| name.ends_with("-br"));
    for link in &links {
        count(ip::ip(&["link", "del", link]).map(drop));
    }
    for namespace in &namespaces {
        count(ip::ip(&["netns", "del", namespace]).map(drop));
    }
    for dir in &cgroups {
        count(cgroup::remove(dir));
    }
    if failures.is_empty() {
        Ok(removed)
    } else {
        Err(io::Error::other(format!(
            "rack {prefix}: removed {removed} objects, but {} steps failed: {}",
            failures.len(),
            failures.join("; ")
        )))
    }
}

/// The names in `listing` that belong to the rack `prefix`. Without `ip` (`NotFound`) this
/// process cannot have made namespaces or links, so there are none.
fn owned_names(prefix: &str, listing: io::Result<Vec<String>>, failures: &mut Vec<String>) -> Vec<String> {
    match listing {
        Ok(names) => names.into_iter().filter(|name| owned_by(prefix, name)).collect(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            failures.push(error.to_string());
            Vec::new()
        }
    }
}

/// Prefixes to sweep when a terminating signal arrives.
static SIGNAL_PREFIXES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Write end of the pipe from the signal handler to the teardown thread; -1 until installed.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

static SIGNAL_INSTALL: Once = Once::new();

/// What else to tear down on a terminating signal, run before the racks are swept.
type Hook = Box<dyn Fn() + Send>;
static SIGNAL_HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// Makes SIGINT, SIGTERM and SIGHUP run `hook` (for example stopping processes on remote
/// hosts) before the registered racks are swept and the process exits, as
/// [`install_signal_teardown`] describes.
pub fn on_teardown_signal(hook: impl Fn() + Send + 'static) {
    SIGNAL_HOOKS.lock().unwrap_or_else(PoisonError::into_inner).push(Box::new(hook));
    install_once();
}

/// The signals that tear the racks down before the process exits.
const TEARDOWN_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Makes SIGINT (Ctrl-C), SIGTERM and SIGHUP remove the rack `prefix` ([`cleanup_stale`]) and
/// then exit with status 128 + the signal number (130 for Ctrl-C). Call it once per prefix, before
/// creating the rack; later calls add prefixes.
///
/// How: a signal handler that only writes the signal number into a pipe (the one thing a handler
/// can do safely), and a thread named `rack-teardown` that waits on the pipe, then sweeps every
/// registered prefix and exits. A handler works whichever thread the kernel delivers the signal
/// to, unlike `sigwait`, which needs the signal blocked in every thread, including those started
/// before. The sweep takes the rack lock, so a rack being created or spawned into is finished
/// before it is removed and nothing made afterwards survives: the thread exits holding the lock.
/// Further signals during the sweep are ignored. Children get the default dispositions back at
/// exec. Failing to install is reported on stderr and leaves the default behaviour.
pub fn install_signal_teardown(prefix: &str) {
    if let Err(error) = check_prefix(prefix) {
        log(&format!("no signal teardown: {error}"));
        return;
    }
    {
        let mut prefixes = SIGNAL_PREFIXES.lock().unwrap_or_else(PoisonError::into_inner);
        if !prefixes.iter().any(|known| known == prefix) {
            prefixes.push(prefix.to_owned());
        }
    }
    install_once();
}

fn install_once() {
    SIGNAL_INSTALL.call_once(|| {
        if let Err(error) = install_handlers() {
            log(&format!("no signal teardown: {error}"));
        }
    });
}

fn install_handlers() -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    SIGNAL_PIPE.store(write_end, Ordering::Release);
    thread::Builder::new().name("rack-teardown".into()).spawn(move || teardown_on_signal(read_end))?;
    for signal in TEARDOWN_SIGNALS {
        // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags) to fill in below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action` is initialised and names a handler that is async-signal-safe
        // (`on_signal` only calls write and touches errno); the old action is not wanted.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal handler: passes the signal number to [`teardown_on_signal`].
extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    let byte = signal as u8;
    // SAFETY: errno is thread-local and __errno_location always returns a valid pointer; it is
    // saved and restored so the interrupted code sees its own.
    let saved = unsafe { *libc::__errno_location() };
    // SAFETY: write is async-signal-safe; `byte` is one initialised byte on this stack frame.
    unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// The teardown thread: waits for a signal number on `read_end`, sweeps, exits.
fn teardown_on_signal(read_end: libc::c_int) {
    let mut byte = 0u8;
    loop {
        // SAFETY: `byte` is one writable byte; `read_end` is the pipe's read end, owned by this
        // thread for the life of the process.
        let n = unsafe { libc::read(read_end, (&raw mut byte).cast(), 1) };
        if n == 1 {
            break;
        }
        if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            log("signal teardown: the signal pipe failed; signals keep their effect without teardown");
            return;
        }
    }
    let signal = libc::c_int::from(byte);
    for hook in SIGNAL_HOOKS.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        hook();
    }
    let _guard = lock();
    let prefixes = SIGNAL_PREFIXES.lock().unwrap_or_else(PoisonError::into_inner).clone();
    for prefix in prefixes {
        match sweep(&prefix) {
            Ok(removed) => log(&format!("signal {signal}: tore down rack {prefix} ({removed} objects)")),
            Err(error) => log(&format!("signal {signal}: {error}")),
        }
    }
    std::process::exit(128 + signal);
}
