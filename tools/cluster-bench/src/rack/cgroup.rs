//! CPU cgroups: one per host, with a CFS quota. Version 2 (`cpu.max`) where
//! `/sys/fs/cgroup/cgroup.controllers` exists, else the version 1 `cpu` hierarchy
//! (`cpu.cfs_quota_us`), found in `/proc/mounts`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::owned_by;

/// The CFS period of every host's cgroup, in microseconds: 10 ms, a tenth of the kernel's
/// default. A host with a quarter of a CPU should behave like a slower CPU, every request
/// taking about four times its CPU time. With the default period it behaves like a fast CPU
/// that stops for up to 75 ms whenever its 25 ms budget runs out, so a 15 ms page took 15 ms
/// or 90 ms depending on where in the period it started. The window means of the light phase
/// then varied by about 27% for one design, more than most designs differ.
pub(super) const PERIOD_US: u64 = 10_000;

/// The smallest quota the kernel accepts, in microseconds.
const MIN_QUOTA_US: u64 = 1_000;

/// Where cgroup v2 is mounted when it is the only hierarchy.
const UNIFIED: &str = "/sys/fs/cgroup";

/// How long [`remove`] waits for a cgroup's last task to leave.
const RMDIR_PATIENCE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The CPU controller's hierarchy; host cgroups are made directly under its root.
#[derive(Clone, Debug)]
pub(super) struct Controller {
    version: Version,
    root: PathBuf,
}

impl Controller {
    /// Finds the CPU controller, or says why there is none.
    pub(super) fn detect() -> Result<Controller, String> {
        let unified = Path::new(UNIFIED);
        let controllers = unified.join("cgroup.controllers");
        match fs::read_to_string(&controllers) {
            Ok(list) if list.split_whitespace().any(|name| name == "cpu") => {
                Ok(Controller { version: Version::V2, root: unified.to_owned() })
            }
            Ok(_) => Err(format!("cgroup v2 without the cpu controller ({})", controllers.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::detect_v1(),
            Err(e) => Err(format!("reading {}: {e}", controllers.display())),
        }
    }

    fn detect_v1() -> Result<Controller, String> {
        let mounts = fs::read_to_string("/proc/mounts").map_err(|e| format!("reading /proc/mounts: {e}"))?;
        parse_v1_cpu_mount(&mounts)
            .map(|root| Controller { version: Version::V1, root })
            .ok_or_else(|| "neither cgroup v2 nor a cgroup v1 cpu hierarchy is mounted".to_owned())
    }

    /// How a quota is written, for the description: `cgroup v1 cfs_quota_us=5000/10000`.
    pub(super) fn limit_text(&self, quota_us: u64) -> String {
        let quota_us = quota_us.max(MIN_QUOTA_US);
        match self.version {
            Version::V1 => format!("cgroup v1 cfs_quota_us={quota_us}/{PERIOD_US}"),
            Version::V2 => format!("cgroup v2 cpu.max={quota_us} {PERIOD_US}"),
        }
    }

    /// Creates the cgroup `name` with a quota of `quota_us` per [`PERIOD_US`] and returns its
    /// directory. It must not exist yet.
    pub(super) fn create(&self, name: &str, quota_us: u64) -> io::Result<PathBuf> {
        let quota_us = quota_us.max(MIN_QUOTA_US);
        if self.version == Version::V2 {
            self.enable_cpu_v2()?;
        }
        let dir = self.root.join(name);
        fs::create_dir(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("creating cgroup {}: {e}", dir.display())))?;
        let written = match self.version {
            Version::V1 => write(&dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())
                .and_then(|()| write(&dir.join("cpu.cfs_quota_us"), &quota_us.to_string())),
            Version::V2 => write(&dir.join("cpu.max"), &format!("{quota_us} {PERIOD_US}")),
        };
        if let Err(error) = written {
            // Best effort: the cgroup is empty, and a failure here is also swept later.
            let _ = fs::remove_dir(&dir);
            return Err(error);
        }
        Ok(dir)
    }

    /// Lets the root's children use the cpu controller (cgroup v2 delegates it explicitly).
    fn enable_cpu_v2(&self) -> io::Result<()> {
        let control = self.root.join("cgroup.subtree_control");
        let enabled = fs::read_to_string(&control)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", control.display())))?;
        if enabled.split_whitespace().any(|name| name == "cpu") { Ok(()) } else { write(&control, "+cpu") }
    }

    /// The cgroups of the rack `prefix`, as directories.
    pub(super) fn stale(&self, prefix: &str) -> io::Result<Vec<PathBuf>> {
        let entries = fs::read_dir(&self.root)
            .map_err(|e| io::Error::new(e.kind(), format!("listing {}: {e}", self.root.display())))?;
        Ok(entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter(|entry| entry.file_name().to_str().is_some_and(|name| owned_by(prefix, name)))
            .map(|entry| entry.path())
            .collect())
    }
}

/// The processes in the cgroup `dir`; none when it is gone.
pub(super) fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|procs| procs.split_whitespace().filter_map(|pid| pid.parse().ok()).collect())
        .unwrap_or_default()
}

/// Removes the cgroup `dir`, waiting for exiting tasks to leave it; a missing one is fine.
pub(super) fn remove(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + RMDIR_PATIENCE;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                let left = pids(dir);
                return Err(io::Error::new(
                    e.kind(),
                    format!("removing cgroup {}: {e} (processes still in it: {left:?})", dir.display()),
                ));
            }
        }
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {value:?} to {}: {e}", path.display())))
}

/// The mount point of the cgroup v1 hierarchy that has the `cpu` controller.
fn parse_v1_cpu_mount(mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_source, target, kind, options) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup" && options.split(',').any(|option| option == "cpu")).then(|| PathBuf::from(target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v1_cpu_hierarchy() {
        let mounts = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n\
                      cgroup /sys/fs/cgroup/cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpuacct 0 0\n\
                      cgroup /sys/fs/cgroup/cpu cgroup rw,nosuid,nodev,noexec,relatime,cpu 0 0\n";
        assert_eq!(parse_v1_cpu_mount(mounts), Some(PathBuf::from("/sys/fs/cgroup/cpu")));
        let joint = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n";
        assert_eq!(parse_v1_cpu_mount(joint), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(parse_v1_cpu_mount("cgroup /x cgroup rw,cpuset 0 0\n"), None);
    }

    #[test]
    fn limits_are_described_as_written() {
        let v1 = Controller { version: Version::V1, root: PathBuf::new() };
        assert_eq!(v1.limit_text(5_000), "cgroup v1 cfs_quota_us=5000/10000");
        let v2 = Controller { version: Version::V2, root: PathBuf::new() };
        assert_eq!(v2.limit_text(2_500), "cgroup v2 cpu.max=2500 10000");
    }
}
