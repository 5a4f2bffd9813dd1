//! The emulated rack: a set of hosts on this machine, each with its own address and CPU share.
//!
//! # Namespaces mode (root, and `ip netns` works)
//!
//! Every host is a network namespace joined to one bridge by a veth pair, and every process of a
//! host runs in a CPU cgroup of its own with a quota, so that replicating a component to more
//! hosts buys CPU as it does on a real rack. For the prefix `P` (default `hatchrk`) and the subnet
//! `a.b.c` (default `10.77.0`) a rack of `n` hosts is:
//!
//! | object                      | name                       | address                  |
//! |-----------------------------|----------------------------|--------------------------|
//! | bridge, root namespace      | `P-br`                     | `a.b.c.1/24`             |
//! | network namespace of host i | `P-hI`                     |                          |
//! | veth, root side, on `P-br`  | `P-vI`                     |                          |
//! | veth, namespace side        | `eth0` in `P-hI`           | `a.b.c.(10+i)/24`, default route via `a.b.c.1` |
//! | CPU cgroup of host i        | `P-hI` under the cpu controller | `cpu.cfs_quota_us` (v1) or `cpu.max` (v2) |
//!
//! The load generator stays in the root namespace and reaches the hosts through the bridge
//! ([`Rack::load_addr`]). The default quota leaves one CPU to it: `(cpus - 1) / hosts` CPUs per
//! host, at least 0.2. Per-link delay needs `tc netem`; without it (as on the 6.18 kernel this was
//! written on) the rack says so in [`Rack::description`] and runs without delay.
//!
//! # Loopback mode (not root, or [`RackConfig::force_loopback`])
//!
//! Hosts are plain child processes on 127.0.0.1 sharing one port space, each pinned to a CPU of
//! its own when the machine has one per host plus one for the load generator. There is no quota,
//! no isolation and no delay, and [`Rack::description`] lists what could not be emulated.
//!
//! # Teardown
//!
//! Everything a rack creates carries its prefix: the objects above by name, and every process it
//! starts by the environment variable `HATCH_RACK_HOST=P-hI` (which is how leftovers are found in
//! loopback mode, where there is no namespace or cgroup to look in). [`Rack::teardown`] (also run
//! on drop) stops the processes and removes the objects; [`cleanup_stale`] removes whatever a
//! crashed run left behind, and [`Rack::create`] runs it first; [`install_signal_teardown`] makes
//! Ctrl-C and SIGTERM do the same before the process exits.

mod cgroup;
mod cleanup;
mod ip;
mod process;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use cleanup::{cleanup_stale, install_signal_teardown, on_teardown_signal};
pub use process::HOST_TAG;

use cgroup::Controller;
use process::Entry;

/// How long a process gets to exit after SIGTERM before it is sent SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// Linux's longest interface name (`IFNAMSIZ` - 1).
const MAX_IFNAME: usize = 15;

/// Host `i` gets the address `a.b.c.(FIRST_HOST_OCTET + i)`.
const FIRST_HOST_OCTET: usize = 10;

/// What to build.
#[derive(Clone, Debug, PartialEq)]
pub struct RackConfig {
    /// Number of hosts, 1 to 245. Default 2.
    pub hosts: usize,
    /// CPUs per host (for example 0.5), at least 0.01. `None` (the default) is the share that
    /// leaves one CPU to the load generator: `(cpus - 1) / hosts`, at least 0.2. Namespaces mode
    /// only; an explicit quota that cannot be applied is an error, a default one is reported.
    pub cpu_quota: Option<f64>,
    /// Delay added to every packet on each host's link, each way (netem on both ends of the
    /// veth): the load generator sees it once per direction, a packet between two hosts crosses
    /// two links. Needs `tc netem`; without it the rack runs undelayed and says so. Default none.
    pub delay: Option<Duration>,
    /// Start of every name the rack creates: ASCII letters and digits, short enough that
    /// `PREFIX-vN` fits in 15 characters. Default `hatchrk`.
    pub prefix: String,
    /// The rack's /24: the bridge is `.1`, host `i` is `.(10+i)`. Must not overlap an address of
    /// the root namespace. Default `10.77.0`.
    pub subnet: [u8; 3],
    /// Use loopback mode even when namespaces are available. Default false.
    pub force_loopback: bool,
}

impl Default for RackConfig {
    fn default() -> Self {
        Self {
            hosts: 2,
            cpu_quota: None,
            delay: None,
            prefix: "hatchrk".into(),
            subnet: [10, 77, 0],
            force_loopback: false,
        }
    }
}

/// How the hosts are emulated; chosen by [`Rack::create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A network namespace and a CPU cgroup per host (root).
    Namespaces,
    /// Child processes on 127.0.0.1, pinned to CPUs where there are enough.
    Loopback,
}

/// One host of the rack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RackHost {
    /// Position in [`Rack::hosts`].
    pub index: usize,
    /// `PREFIX-hI`: the network namespace and cgroup name (namespaces mode), the process tag.
    pub name: String,
    /// Where other hosts and the load generator reach this host: `a.b.c.(10+i)`, or 127.0.0.1 in
    /// loopback mode.
    pub addr: IpAddr,
    /// The CPU this host's processes are pinned to (loopback mode, when there are enough CPUs).
    pub cpu: Option<usize>,
}

/// An emulated rack; see the [module documentation](self). Torn down by [`Rack::teardown`] or
/// on drop.
pub struct Rack {
    mode: Mode,
    prefix: String,
    subnet: [u8; 3],
    hosts: Vec<RackHost>,
    /// Why loopback mode was chosen.
    loopback_reason: Option<String>,
    /// Usable CPUs of this process (its affinity mask).
    cpus: usize,
    cpu_limit: CpuLimit,
    /// A quota configured for a loopback rack, which cannot apply it.
    ignored_quota: Option<f64>,
    delay: DelayState,
    /// Cgroup directory per host, when the hosts have a quota.
    cgroup_dirs: Vec<PathBuf>,
    /// What a child does before exec to enter host `i`.
    entries: Vec<Arc<Entry>>,
    /// Processes started by [`Rack::spawn`] and not yet stopped, with their host.
    children: Vec<(usize, Child)>,
    torn_down: bool,
}

/// The CPU each host gets.
enum CpuLimit {
    /// A cgroup quota (namespaces mode).
    Quota {
        cpus: f64,
        /// How the limit is written, e.g. `cgroup v1 cfs_quota_us=5000/10000`.
        applied: String,
        /// How the default was derived, or `None` when configured.
        default: Option<String>,
    },
    /// One CPU per host by affinity (loopback mode).
    Pinned,
    /// No limit, and why.
    Unlimited(String),
}

/// Whether and how links are delayed.
enum DelayState {
    Applied(Duration),
    /// netem works; no delay was asked for.
    Available,
    /// No delay is possible, and why; `requested` is what was asked for.
    Unavailable {
        requested: Option<Duration>,
        reason: String,
    },
}

/// Serialises creating, spawning into and tearing down racks with the signal teardown, so that
/// Ctrl-C never sweeps a rack halfway through its creation and leaves the rest behind.
static RACK_LOCK: Mutex<()> = Mutex::new(());

/// Takes [`RACK_LOCK`]; a panic elsewhere while holding it does not stop teardown.
fn lock() -> MutexGuard<'static, ()> {
    RACK_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `name` is one of the objects of the rack `prefix` (`prefix-...`). The dash keeps the
/// racks `ab` and `abc` apart.
fn owned_by(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('-'))
}

/// Checks a prefix for use in names: ASCII letters and digits only.
fn check_prefix(prefix: &str) -> io::Result<()> {
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("rack prefix {prefix:?} must be non-empty ASCII letters and digits"),
        ));
    }
    Ok(())
}

/// A CPU count for people: 0.5, 1, 0.33.
fn cpus_text(cpus: f64) -> String {
    let text = format!("{cpus:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// "1 host", "3 hosts".
fn hosts_text(n: usize) -> String {
    if n == 1 { "1 host".into() } else { format!("{n} hosts") }
}

/// The default CPUs per host and how they were derived: one CPU is left to the load generator
/// when there are two or more.
fn default_quota(cpus: usize, hosts: usize) -> (f64, String) {
    const FLOOR: f64 = 0.2;
    let (spare, how) = if cpus >= 2 {
        (cpus - 1, format!("({cpus} CPUs - 1 for the load generator) / {}", hosts_text(hosts)))
    } else {
        (1, format!("1 CPU shared with the load generator / {}", hosts_text(hosts)))
    };
    let share = spare as f64 / hosts.max(1) as f64;
    if share < FLOOR { (FLOOR, format!("{how}, raised to the {FLOOR} minimum")) } else { (share, how) }
}

impl Rack {
    /// Builds a rack of `config.hosts` hosts, in namespaces mode when this process is root and
    /// `ip netns` works, in loopback mode otherwise. Leftovers of an earlier run with the same
    /// prefix are removed first ([`cleanup_stale`]).
    ///
    /// # Errors
    ///
    /// An invalid configuration (`InvalidInput`), a subnet that overlaps an address of the root
    /// namespace (`AddrInUse`), leftovers that cannot be removed, or a failed `ip`/`tc` command or
    /// cgroup write (the message names the command or file and quotes its error). Whatever was
    /// created before the failure is removed again.
    pub fn create(config: &RackConfig) -> io::Result<Rack> {
        let _guard = lock();
        let mut rack = Rack::plan(config)?;
        let built = match rack.mode {
            Mode::Namespaces => rack.build_namespaces(config),
            Mode::Loopback => rack.build_loopback(config),
        };
        if let Err(error) = built {
            rack.teardown_locked();
            return Err(error);
        }
        Ok(rack)
    }

    /// Validates `config`, chooses the mode and names the hosts; creates nothing.
    fn plan(config: &RackConfig) -> io::Result<Rack> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        check_prefix(&config.prefix)?;
        if config.hosts == 0 || config.hosts > 255 - FIRST_HOST_OCTET {
            return Err(invalid(format!("a rack has 1 to {} hosts, not {}", 255 - FIRST_HOST_OCTET, config.hosts)));
        }
        let longest = format!("{}-v{}", config.prefix, config.hosts - 1);
        if longest.len() > MAX_IFNAME || config.prefix.len() + 3 > MAX_IFNAME {
            return Err(invalid(format!(
                "rack prefix {:?} is too long: interface {longest:?} would exceed {MAX_IFNAME} characters",
                config.prefix
            )));
        }
        if let Some(quota) = config.cpu_quota
            && !(quota.is_finite() && quota >= 0.01)
        {
            return Err(invalid(format!("a CPU quota is at least 0.01 CPU per host, not {quota}")));
        }
        let [a, b, c] = config.subnet;
        if a == 0 || a == 127 || a >= 224 {
            return Err(invalid(format!("subnet {a}.{b}.{c}.0/24 is not a unicast network")));
        }

        let (mode, loopback_reason) = choose_mode(config.force_loopback);
        let cpus = process::allowed_cpus();
        let pin = mode == Mode::Loopback && cpus.len() > config.hosts;
        let hosts = (0..config.hosts)
            .map(|index| RackHost {
                index,
                name: format!("{}-h{index}", config.prefix),
                addr: match mode {
                    Mode::Namespaces => IpAddr::V4(Ipv4Addr::new(a, b, c, (FIRST_HOST_OCTET + index) as u8)),
                    Mode::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
                },
                // The first allowed CPU is left to the load generator.
                cpu: if pin { cpus.get(index + 1).copied() } else { None },
            })
            .collect();
        Ok(Rack {
            mode,
            prefix: config.prefix.clone(),
            subnet: config.subnet,
            hosts,
            loopback_reason,
            cpus: cpus.len(),
            cpu_limit: CpuLimit::Unlimited("not set up".into()),
            ignored_quota: None,
            delay: DelayState::Unavailable { requested: config.delay, reason: "not set up".into() },
            cgroup_dirs: Vec::new(),
            entries: Vec::new(),
            children: Vec::new(),
            torn_down: false,
        })
    }

    fn bridge(&self) -> String {
        format!("{}-br", self.prefix)
    }

    fn veth(&self, host: usize) -> String {
        format!("{}-v{host}", self.prefix)
    }

    fn gateway(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 1)
    }

    /// Creates the bridge, the namespaces with their veths, the cgroups and the delays.
    fn build_namespaces(&mut self, config: &RackConfig) -> io::Result<()> {
        cleanup::sweep(&self.prefix)
            .map_err(|e| io::Error::new(e.kind(), format!("removing leftovers of an earlier rack: {e}")))?;
        ip::check_subnet_free(self.subnet)?;
        let bridge = self.bridge();
        let gateway = self.gateway();
        ip::ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip::ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge])?;
        ip::ip(&["link", "set", &bridge, "up"])?;
        for index in 0..self.hosts.len() {
            let ns = self.hosts[index].name.clone();
            let addr = self.hosts[index].addr;
            let veth = self.veth(index);
            ip::ip(&["netns", "add", &ns])?;
            ip::ip(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
            ip::ip(&["link", "set", &veth, "master", &bridge])?;
            ip::ip(&["link", "set", &veth, "up"])?;
            ip::ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
            ip::ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip::ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip::ip(&["-n", &ns, "route", "add", "default", "via", &gateway.to_string()])?;
        }
        self.build_cgroups(config)?;
        self.build_delay(config)?;
        self.entries = (0..self.hosts.len())
            .map(|index| {
                let procs = self.cgroup_dirs.get(index).map(|dir| dir.join("cgroup.procs"));
                Entry::new(procs.as_deref(), Some(&ip::netns_path(&self.hosts[index].name)), None).map(Arc::new)
            })
            .collect::<io::Result<_>>()?;
        Ok(())
    }

    /// Gives every host a cgroup with the configured or default quota. A default quota that
    /// cannot be applied leaves the hosts unlimited and says why; a configured one is an error.
    fn build_cgroups(&mut self, config: &RackConfig) -> io::Result<()> {
        let (cpus, default) = match config.cpu_quota {
            Some(cpus) => (cpus, None),
            None => {
                let (cpus, how) = default_quota(self.cpus, self.hosts.len());
                (cpus, Some(how))
            }
        };
        let quota_us = (cpus * cgroup::PERIOD_US as f64).round() as u64;
        let created = Controller::detect()
            .map_err(|reason| io::Error::new(io::ErrorKind::Unsupported, reason))
            .and_then(|controller| {
                for host in &self.hosts {
                    let dir = controller.create(&host.name, quota_us)?;
                    self.cgroup_dirs.push(dir);
                }
                Ok(controller.limit_text(quota_us))
            });
        match created {
            Ok(applied) => self.cpu_limit = CpuLimit::Quota { cpus, applied, default },
            Err(error) if config.cpu_quota.is_some() => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("CPU quota of {} per host: {error}", cpus_text(cpus)),
                ));
            }
            Err(error) => {
                for dir in self.cgroup_dirs.drain(..) {
                    if let Err(e) = cgroup::remove(&dir) {
                        log(&format!("{e}"));
                    }
                }
                self.cpu_limit = CpuLimit::Unlimited(format!("no CPU quota: {error}"));
            }
        }
        Ok(())
    }

    /// Probes `tc netem` in host 0's namespace and applies the configured delay to both ends of
    /// every host's veth.
    fn build_delay(&mut self, config: &RackConfig) -> io::Result<()> {
        let probe_ns = self.hosts[0].name.clone();
        let probe = ip::tc(&["-n", &probe_ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
            .and_then(|_| ip::tc(&["-n", &probe_ns, "qdisc", "del", "dev", "lo", "root"]));
        if let Err(error) = probe {
            self.delay = DelayState::Unavailable { requested: config.delay, reason: ip::brief(&error) };
            return Ok(());
        }
        let Some(delay) = config.delay else {
            self.delay = DelayState::Available;
            return Ok(());
        };
        let delay_arg = format!("{}us", delay.as_micros());
        for index in 0..self.hosts.len() {
            let ns = self.hosts[index].name.clone();
            let veth = self.veth(index);
            ip::tc(&["qdisc", "add", "dev", &veth, "root", "netem", "delay", &delay_arg])?;
            ip::tc(&["-n", &ns, "qdisc", "add", "dev", "eth0", "root", "netem", "delay", &delay_arg])?;
        }
        self.delay = DelayState::Applied(delay);
        Ok(())
    }

    /// Loopback mode creates nothing but the processes; it only removes stale ones and records
    /// what it cannot emulate.
    fn build_loopback(&mut self, config: &RackConfig) -> io::Result<()> {
        if let Err(error) = cleanup::sweep(&self.prefix) {
            log(&format!("leftovers of an earlier rack {}: {error}", self.prefix));
        }
        self.ignored_quota = config.cpu_quota;
        self.cpu_limit = if self.hosts.iter().all(|host| host.cpu.is_some()) {
            CpuLimit::Pinned
        } else {
            CpuLimit::Unlimited(format!(
                "no CPU pinning: {} need {} CPUs (one each and one for the load generator), this process may use {}",
                hosts_text(self.hosts.len()),
                self.hosts.len() + 1,
                self.cpus
            ))
        };
        self.delay = DelayState::Unavailable { requested: config.delay, reason: "loopback mode has no links".into() };
        self.entries =
            self.hosts.iter().map(|host| Entry::new(None, None, host.cpu).map(Arc::new)).collect::<io::Result<_>>()?;
        Ok(())
    }

    /// The CPUs each host's cgroup quota allows, when the hosts have one.
    pub fn cpu_quota(&self) -> Option<f64> {
        match self.cpu_limit {
            CpuLimit::Quota { cpus, .. } => Some(cpus),
            CpuLimit::Pinned | CpuLimit::Unlimited(_) => None,
        }
    }

    /// How the rack was built (namespaces or loopback).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The hosts, by index.
    pub fn hosts(&self) -> &[RackHost] {
        &self.hosts
    }

    /// The address the load generator, in the root namespace, reaches the hosts from: the
    /// bridge's `a.b.c.1`, or 127.0.0.1 in loopback mode.
    pub fn load_addr(&self) -> IpAddr {
        match self.mode {
            Mode::Namespaces => IpAddr::V4(self.gateway()),
            Mode::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// The cgroup directory of `host` when the hosts have a CPU quota: its `cpu.stat` counts
    /// throttled periods.
    pub fn cgroup_dir(&self, host: usize) -> Option<&Path> {
        self.cgroup_dirs.get(host).map(PathBuf::as_path)
    }

    /// A command that runs `program` on `host`: in its network namespace and cgroup (namespaces
    /// mode) or pinned to its CPU (loopback mode), tagged with `HATCH_RACK_HOST=PREFIX-hI` so a
    /// later [`cleanup_stale`] finds it. Add arguments and environment as usual; start it with
    /// [`Rack::spawn`] so that teardown stops it. The process enters its host between fork and
    /// exec, so the pid of the spawned child is the pid of `program` itself.
    ///
    /// # Panics
    ///
    /// If `host` is not an index of [`Rack::hosts`].
    pub fn command(&self, host: usize, program: &Path) -> Command {
        assert!(host < self.hosts.len(), "rack {} has {} hosts, not host {host}", self.prefix, self.hosts.len());
        let mut command = Command::new(program);
        command.env(process::HOST_TAG, &self.hosts[host].name);
        if let Some(entry) = self.entries.get(host) {
            let entry = Arc::clone(entry);
            // SAFETY: `Entry::enter` is fit for the time between fork and exec: it only calls
            // getpid, open, write, close, setns and sched_setaffinity, all async-signal-safe, on
            // paths and CPU sets built before the fork, and allocates nothing.
            unsafe {
                command.pre_exec(move || entry.enter());
            }
        }
        command
    }

    /// Starts `command` (from [`Rack::command`]) and remembers it for teardown.
    ///
    /// # Errors
    ///
    /// `host` is not a host of this rack, the rack has been torn down, or the process could not
    /// be started (for example the cgroup or namespace could not be entered).
    pub fn spawn(&mut self, host: usize, mut command: Command) -> io::Result<u32> {
        if host >= self.hosts.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("rack {} has no host {host}", self.prefix),
            ));
        }
        let _guard = lock();
        if self.torn_down {
            return Err(io::Error::other(format!("rack {} has been torn down", self.prefix)));
        }
        let child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("starting {:?} on host {}: {e}", command.get_program(), self.hosts[host].name),
            )
        })?;
        let pid = child.id();
        self.children.push((host, child));
        Ok(pid)
    }

    /// A process started by [`Rack::spawn`], to take its pipes or poll it.
    pub fn child_mut(&mut self, pid: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|(_, child)| child.id() == pid).map(|(_, child)| child)
    }

    /// Stops one process started by [`Rack::spawn`] (SIGTERM, SIGKILL after 2 s) and forgets it,
    /// for example to take a host down in the middle of a run.
    ///
    /// # Errors
    ///
    /// `pid` was not started by this rack or is already stopped (`NotFound`), or waiting failed.
    pub fn stop(&mut self, pid: u32) -> io::Result<ExitStatus> {
        let position = self.children.iter().position(|(_, child)| child.id() == pid).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("process {pid} is not running on rack {}", self.prefix))
        })?;
        let (_, child) = self.children.swap_remove(position);
        process::terminate(child, GRACE)
    }

    /// What was built and what could not be emulated, for the output of a run.
    pub fn description(&self) -> String {
        let mut lines = Vec::new();
        let n = self.hosts.len();
        match self.mode {
            Mode::Namespaces => lines.push(format!(
                "emulated rack: {}, each a network namespace on bridge {} ({}/24); the load generator runs in the root namespace and reaches them from {}",
                hosts_text(n),
                self.bridge(),
                self.gateway(),
                self.gateway()
            )),
            Mode::Loopback => lines.push(format!(
                "emulated rack: {} as child processes on loopback 127.0.0.1 ({})",
                hosts_text(n),
                self.loopback_reason.as_deref().unwrap_or("loopback mode")
            )),
        }
        for host in &self.hosts {
            let cpu = host.cpu.map(|cpu| format!(", CPU {cpu}")).unwrap_or_default();
            lines.push(format!("  host {}: {} {}{cpu}", host.index, host.name, host.addr));
        }
        let mut missing = Vec::new();
        if self.mode == Mode::Loopback {
            missing.push("no network isolation: the hosts share 127.0.0.1 and its ports".to_owned());
        }
        match &self.cpu_limit {
            CpuLimit::Quota { cpus, applied, default } => {
                let how = default.as_ref().map(|how| format!("; default: {how}")).unwrap_or_default();
                lines.push(format!("each host: {} CPU ({applied}){how}", cpus_text(*cpus)));
            }
            CpuLimit::Pinned => lines.push(format!(
                "each host: one CPU of its own by affinity, no quota; {} of this process's {} CPUs left to the load generator",
                self.cpus - n,
                self.cpus
            )),
            CpuLimit::Unlimited(reason) => missing.push(reason.clone()),
        }
        if self.mode == Mode::Loopback {
            let ignored = self
                .ignored_quota
                .map(|cpus| format!(", the requested {} CPU per host is not applied", cpus_text(cpus)))
                .unwrap_or_default();
            missing.push(format!("no CPU quota: cgroups need namespaces mode (root){ignored}"));
        }
        match &self.delay {
            DelayState::Applied(delay) => {
                lines.push(format!("per-link delay: {delay:?} each way on every host's link (tc netem)"))
            }
            DelayState::Available => lines.push("per-link delay: none configured (tc netem is available)".to_owned()),
            DelayState::Unavailable { requested, reason } => {
                let requested = requested.map(|d| format!(", the requested {d:?} is not applied")).unwrap_or_default();
                missing.push(match self.mode {
                    Mode::Namespaces => format!("no per-link delay: tc netem not available ({reason}){requested}"),
                    Mode::Loopback => format!("no per-link delay: {reason}{requested}"),
                });
            }
        }
        if !missing.is_empty() {
            lines.push(format!("not emulated: {}", missing.join("; ")));
        }
        lines.join("\n")
    }

    /// Stops the processes started by [`Rack::spawn`] (SIGTERM, SIGKILL after 2 s), kills any
    /// other process left in the hosts, and deletes the veths, bridge, namespaces and cgroups.
    /// Failures are logged to stderr; teardown never panics and running it again does nothing.
    pub fn teardown(mut self) {
        self.teardown_now();
    }

    fn teardown_now(&mut self) {
        if self.torn_down {
            return;
        }
        let _guard = lock();
        self.teardown_locked();
    }

    /// Teardown, with [`RACK_LOCK`] held by the caller.
    fn teardown_locked(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        process::terminate_all(std::mem::take(&mut self.children), GRACE);
        if let Err(error) = cleanup::sweep(&self.prefix) {
            log(&format!("teardown of rack {}: {error}", self.prefix));
        }
    }
}

impl Drop for Rack {
    fn drop(&mut self) {
        self.teardown_now();
    }
}

impl fmt::Debug for Rack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rack")
            .field("mode", &self.mode)
            .field("prefix", &self.prefix)
            .field("hosts", &self.hosts)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

/// Namespaces when root and `ip netns` works; otherwise loopback, with the reason.
fn choose_mode(force_loopback: bool) -> (Mode, Option<String>) {
    if force_loopback {
        return (Mode::Loopback, Some("forced by RackConfig::force_loopback".into()));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return (Mode::Loopback, Some("not root: network namespaces and cgroups need root".into()));
    }
    match ip::ip(&["netns", "list"]) {
        Ok(_) => (Mode::Namespaces, None),
        Err(error) => (Mode::Loopback, Some(format!("network namespaces unavailable: {error}"))),
    }
}

/// Reports a problem that does not stop the run (teardown, stale leftovers).
fn log(message: &str) {
    eprintln!("cluster-bench rack: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_belong_to_their_prefix_only() {
        assert!(owned_by("hatchrk", "hatchrk-br"));
        assert!(owned_by("hatchrk", "hatchrk-h12"));
        assert!(!owned_by("hatchrk", "hatchrk2-h1"));
        assert!(!owned_by("hatchrk", "hatchrk"));
        assert!(!owned_by("hatchrk", "xhatchrk-br"));
    }

    #[test]
    fn default_quota_leaves_one_cpu_to_the_load_generator() {
        assert_eq!(default_quota(2, 2).0, 0.5);
        assert_eq!(default_quota(9, 4).0, 2.0);
        let (cpus, how) = default_quota(2, 10);
        assert_eq!(cpus, 0.2);
        assert!(how.contains("minimum"), "{how}");
        assert_eq!(default_quota(1, 2).0, 0.5);
    }

    #[test]
    fn cpu_counts_read_naturally() {
        assert_eq!(cpus_text(0.5), "0.5");
        assert_eq!(cpus_text(1.0), "1");
        assert_eq!(cpus_text(1.0 / 3.0), "0.33");
        assert_eq!(cpus_text(0.25), "0.25");
    }

    #[test]
    fn invalid_configurations_are_refused_before_anything_is_created() {
        let refused = |config: RackConfig| Rack::create(&config).unwrap_err().kind();
        let base = RackConfig { force_loopback: true, ..RackConfig::default() };
        assert_eq!(refused(RackConfig { hosts: 0, ..base.clone() }), io::ErrorKind::InvalidInput);
        assert_eq!(
            refused(RackConfig { prefix: "averylongprefix".into(), ..base.clone() }),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(refused(RackConfig { prefix: "a-b".into(), ..base.clone() }), io::ErrorKind::InvalidInput);
        assert_eq!(refused(RackConfig { cpu_quota: Some(0.0), ..base.clone() }), io::ErrorKind::InvalidInput);
        assert_eq!(refused(RackConfig { cpu_quota: Some(f64::NAN), ..base.clone() }), io::ErrorKind::InvalidInput);
        assert_eq!(refused(RackConfig { subnet: [127, 0, 0], ..base.clone() }), io::ErrorKind::InvalidInput);
        // 12 characters + "-v9" is 15: fits.
        let fits = Rack::create(&RackConfig { prefix: "abcdefghijkl".into(), hosts: 10, ..base.clone() });
        assert!(fits.is_ok(), "{fits:?}");
        assert_eq!(
            refused(RackConfig { prefix: "abcdefghijkl".into(), hosts: 11, ..base }),
            io::ErrorKind::InvalidInput
        );
    }
}
