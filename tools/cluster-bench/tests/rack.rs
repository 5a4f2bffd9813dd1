//! Setup and teardown of the emulated rack: namespaces, veths, bridge, cgroups and processes
//! exist while it runs and are gone afterwards, also after a failure, a SIGKILLed run and Ctrl-C.
//!
//! The namespace tests need root and `ip netns`; without them they print why and pass. Each test
//! uses its own prefix and subnet, so they run in parallel. Child processes are this test binary
//! again, running [`child_role`] with `HATCH_RACK_TEST_ROLE` set.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use hatch_cluster_bench::rack::{self, Mode, Rack, RackConfig};

/// Selects the role of a child process (see [`child_role`]).
const ROLE: &str = "HATCH_RACK_TEST_ROLE";
/// The socket address a role listens on or connects to.
const ADDR: &str = "HATCH_RACK_TEST_ADDR";
/// The prefix of the rack a role creates.
const PREFIX: &str = "HATCH_RACK_TEST_PREFIX";
/// The third octet of the subnet of the rack a role creates (10.77.N).
const SUBNET: &str = "HATCH_RACK_TEST_SUBNET";

// --- helpers -------------------------------------------------------------------------------------

/// Why namespace mode cannot be tested here, if it cannot.
fn namespaces_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!("`ip netns list` failed: {}", String::from_utf8_lossy(&output.stderr).trim())),
        Err(error) => Some(format!("`ip` not runnable: {error}")),
    }
}

macro_rules! require_namespaces {
    () => {
        if let Some(reason) = namespaces_unavailable() {
            eprintln!("skipped: network namespaces unavailable: {reason}");
            return;
        }
    };
}

fn config(prefix: &str, hosts: usize, subnet: u8) -> RackConfig {
    RackConfig { hosts, prefix: prefix.into(), subnet: [10, 77, subnet], ..RackConfig::default() }
}

fn ip_lines(args: &[&str]) -> Vec<String> {
    let output = Command::new("ip").args(args).output().expect("ip runs");
    assert!(output.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

/// Link names in an `ip -o link show` listing.
fn link_names(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect()
}

/// The directory under which the rack's cgroups live, found independently of the crate.
fn cgroup_root() -> Option<PathBuf> {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Some(PathBuf::from("/sys/fs/cgroup"));
    }
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(2) == Some(&"cgroup") && fields.get(3)?.split(',').any(|o| o == "cpu"))
            .then(|| PathBuf::from(fields[1]))
    })
}

/// Whether `pid` runs (exists and is not a zombie).
fn running(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    !matches!(stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()), Some('Z' | 'X') | None)
}

/// Everything of the rack `prefix` that still exists: namespaces, links, cgroups, processes.
fn leftovers(prefix: &str) -> Vec<String> {
    let ours = |name: &str| name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('-'));
    let mut found = Vec::new();
    if namespaces_unavailable().is_none() {
        for line in ip_lines(&["netns", "list"]) {
            let name = line.split_whitespace().next().unwrap_or_default();
            if ours(name) {
                found.push(format!("netns {name}"));
            }
        }
        for name in link_names(&ip_lines(&["-o", "link", "show"])) {
            if ours(&name) {
                found.push(format!("link {name}"));
            }
        }
        if let Some(root) = cgroup_root() {
            for entry in fs::read_dir(&root).expect("cgroup root lists").flatten() {
                if entry.file_name().to_str().is_some_and(ours) {
                    found.push(format!("cgroup {}", entry.path().display()));
                }
            }
        }
    }
    let tag = format!("HATCH_RACK_HOST={prefix}-h");
    for entry in fs::read_dir("/proc").expect("/proc lists").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(environ) = fs::read(entry.path().join("environ")) else { continue };
        let tagged = environ.split(|&b| b == 0).any(|var| var.starts_with(tag.as_bytes()));
        if tagged && running(pid) {
            found.push(format!("process {pid}"));
        }
    }
    found
}

fn assert_clean(prefix: &str) {
    let left = leftovers(prefix);
    assert!(left.is_empty(), "rack {prefix} left behind: {left:?}");
}

fn test_binary() -> PathBuf {
    env::current_exe().expect("the test binary knows its path")
}

/// The arguments that make this test binary run [`child_role`] only.
const ROLE_ARGS: [&str; 4] = ["--exact", "child_role", "--nocapture", "--test-threads=1"];

/// This test binary in `role`, started directly (not on a rack host).
fn role_command(role: &str) -> Command {
    let mut command = Command::new(test_binary());
    command.args(ROLE_ARGS).env(ROLE, role);
    command
}

/// Reads the child's stdout up to its `READY ...` line; returns the words after READY.
fn wait_ready(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("the child reports READY before exiting").expect("stdout reads");
        // The harness may have started the line ("test child_role ... ").
        if let Some((_, rest)) = line.split_once("READY") {
            return rest.split_whitespace().map(str::to_owned).collect();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child {} did not exit within {timeout:?}", child.id());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Connects to an echo server at `addr` (retrying while it starts) and checks a round trip.
fn echo_round_trip(addr: SocketAddr) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() > deadline => return Err(error),
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"ping")?;
    let mut reply = [0; 4];
    stream.read_exact(&mut reply)?;
    if &reply == b"ping" { Ok(()) } else { Err(io::Error::other(format!("echo answered {reply:?}"))) }
}

/// Runs the `connect` role on `host`: a TCP round trip from inside that host to `target`.
fn connect_from(rack: &Rack, host: usize, target: SocketAddr) {
    let output = rack
        .command(host, &test_binary())
        .args(ROLE_ARGS)
        .env(ROLE, "connect")
        .env(ADDR, target.to_string())
        .output()
        .expect("the connect role starts");
    assert!(
        output.status.success(),
        "connect from host {host} to {target} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts the `echo` role on `host`, listening on `addr`.
fn spawn_echo(rack: &mut Rack, host: usize, addr: SocketAddr) -> u32 {
    let mut command = rack.command(host, &test_binary());
    command.args(ROLE_ARGS).env(ROLE, "echo").env(ADDR, addr.to_string()).stdout(Stdio::null());
    rack.spawn(host, command).expect("the echo role starts")
}

fn spawn_sleep(rack: &mut Rack, host: usize) -> u32 {
    let mut command = rack.command(host, Path::new("sleep"));
    command.arg("60");
    rack.spawn(host, command).expect("sleep starts")
}

fn v4(addr: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(addr, port)
}

// --- child roles ---------------------------------------------------------------------------------

/// Entry point of the child processes; does nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(role) = env::var(ROLE) else { return };
    let var = |name: &str| env::var(name).unwrap_or_else(|_| panic!("role {role} needs {name}"));
    match role.as_str() {
        "echo" => {
            let listener = TcpListener::bind(var(ADDR).as_str()).expect("echo binds");
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        }
        "connect" => {
            let addr: SocketAddr = var(ADDR).parse().expect("ADDR is a socket address");
            if let Err(error) = echo_round_trip(addr) {
                eprintln!("connect to {addr}: {error}");
                std::process::exit(1);
            }
        }
        // Creates a rack, reports its processes and waits to be killed (crash) or interrupted.
        "crash" | "sigint" => {
            let prefix = var(PREFIX);
            if role == "sigint" {
                rack::install_signal_teardown(&prefix);
            }
            let subnet: u8 = var(SUBNET).parse().expect("SUBNET is an octet");
            let mut rack = Rack::create(&config(&prefix, 2, subnet)).expect("the child creates its rack");
            let pids: Vec<String> = (0..2).map(|host| spawn_sleep(&mut rack, host).to_string()).collect();
            println!("READY {}", pids.join(" "));
            io::stdout().flush().expect("stdout flushes");
            thread::sleep(Duration::from_secs(60));
            std::process::exit(3);
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

// --- tests ---------------------------------------------------------------------------------------

#[test]
fn a_namespace_rack_is_built_isolated_reachable_and_torn_down() {
    require_namespaces!();
    let prefix = "hrtns";
    let mut rack = Rack::create(&config(prefix, 3, 201)).expect("rack");
    assert_eq!(rack.mode(), Mode::Namespaces);
    assert_eq!(rack.load_addr(), IpAddr::V4(Ipv4Addr::new(10, 77, 201, 1)));
    for (i, host) in rack.hosts().iter().enumerate() {
        assert_eq!(host.index, i);
        assert_eq!(host.name, format!("{prefix}-h{i}"));
        assert_eq!(host.addr, IpAddr::V4(Ipv4Addr::new(10, 77, 201, 10 + i as u8)));
        assert_eq!(host.cpu, None);
    }

    // The objects exist.
    let namespaces: BTreeSet<String> =
        ip_lines(&["netns", "list"]).iter().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect();
    let links = link_names(&ip_lines(&["-o", "link", "show"]));
    for i in 0..3 {
        assert!(namespaces.contains(&format!("{prefix}-h{i}")), "{namespaces:?}");
        assert!(links.contains(&format!("{prefix}-v{i}")), "{links:?}");
        let dir = rack.cgroup_dir(i).expect("hosts have cgroups");
        assert_eq!(dir, cgroup_root().expect("a cpu cgroup hierarchy").join(format!("{prefix}-h{i}")));
        assert!(dir.is_dir(), "{}", dir.display());
        // Default: (2 CPUs - 1) / 3 hosts, at least 0.2, written as microseconds per 10 ms.
        let cpus = rack_cpus().len();
        let share = (cpus.saturating_sub(1).max(1) as f64 / 3.0).max(0.2);
        let quota = fs::read_to_string(dir.join("cpu.cfs_quota_us"))
            .or_else(|_| fs::read_to_string(dir.join("cpu.max")))
            .expect("a quota file");
        let quota_us: f64 = quota.split_whitespace().next().unwrap().parse().unwrap();
        assert!((quota_us - share * 10_000.0).abs() <= 1.0, "quota {quota} for share {share}");
    }
    assert!(links.contains(&format!("{prefix}-br")), "{links:?}");
    let description = rack.description();
    eprintln!("{description}");
    assert!(description.contains("each host: ") && description.contains("CPU (cgroup v"), "{description}");
    assert!(description.contains("10.77.201.12") && description.contains("default: "), "{description}");
    assert!(
        description.contains("no per-link delay: tc netem not available")
            || description.contains("per-link delay: none configured"),
        "{description}"
    );

    // A process of host 1 sees only its own interfaces and address, and is in its cgroup.
    let output = rack.command(1, Path::new("ip")).args(["-o", "link", "show"]).output().expect("ip in host 1");
    let inside = link_names(&String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect::<Vec<_>>());
    assert_eq!(inside, BTreeSet::from(["eth0".to_owned(), "lo".to_owned()]));
    let output = rack.command(1, Path::new("ip")).args(["-o", "-4", "addr", "show"]).output().expect("ip in host 1");
    let addrs = String::from_utf8_lossy(&output.stdout);
    assert!(addrs.contains("inet 10.77.201.11/24"), "{addrs}");
    assert!(!addrs.contains("10.77.201.10/") && !addrs.contains("10.77.201.1/"), "{addrs}");
    let sleeper = spawn_sleep(&mut rack, 1);
    let cgroups = fs::read_to_string(format!("/proc/{sleeper}/cgroup")).expect("/proc/PID/cgroup");
    assert!(cgroups.lines().any(|line| line.ends_with(&format!(":/{prefix}-h1"))), "{cgroups}");
    let own_ns = fs::read_link("/proc/self/ns/net").unwrap();
    let host_ns = fs::read_link(format!("/proc/{sleeper}/ns/net")).unwrap();
    assert_ne!(own_ns, host_ns);

    // TCP: host 0 to host 2, the root namespace to host 1, host 0 to the root namespace.
    spawn_echo(&mut rack, 2, v4(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7000));
    connect_from(&rack, 0, v4(rack.hosts()[2].addr, 7000));
    spawn_echo(&mut rack, 1, v4(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7001));
    echo_round_trip(v4(rack.hosts()[1].addr, 7001)).expect("root namespace to host 1");
    let listener = TcpListener::bind(v4(rack.load_addr(), 0)).expect("bind on the bridge");
    let root_addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("host 0 connects");
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).unwrap();
        stream.write_all(&buf).unwrap();
    });
    connect_from(&rack, 0, root_addr);
    server.join().unwrap();

    // A process started without Rack::spawn (to keep its pipes) is killed by teardown too, and
    // its cgroup goes although this process has not reaped it yet.
    let mut unmanaged = rack.command(2, Path::new("sleep")).arg("60").spawn().expect("sleep starts");

    rack.teardown();
    assert_clean(prefix);
    assert!(!running(sleeper), "the sleeper {sleeper} survived teardown");
    let status = unmanaged.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL), "{status}");
}

#[test]
fn the_cpu_quota_holds() {
    require_namespaces!();
    let prefix = "hrtcpu";
    let mut rack = Rack::create(&RackConfig { cpu_quota: Some(0.25), ..config(prefix, 1, 202) }).expect("rack");
    let description = rack.description();
    assert!(description.contains("each host: 0.25 CPU (cgroup v"), "{description}");
    assert!(description.contains("=2500/10000"), "{description}");
    let mut busy = rack.command(0, Path::new("sh"));
    busy.args(["-c", "while :; do :; done"]);
    let pid = rack.spawn(0, busy).expect("busy loop");

    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_seconds = || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
        (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / ticks_per_second
    };
    thread::sleep(Duration::from_millis(300));
    let (start, used_before) = (Instant::now(), cpu_seconds());
    thread::sleep(Duration::from_secs(1));
    let share = (cpu_seconds() - used_before) / start.elapsed().as_secs_f64();
    eprintln!("a busy loop under a 0.25 CPU quota used {share:.3} CPU");
    assert!(share <= 0.35, "a host with a 0.25 CPU quota used {share:.2} CPU");
    assert!(share >= 0.05, "the busy loop barely ran ({share:.2} CPU): is it running?");
    let throttled = fs::read_to_string(rack.cgroup_dir(0).unwrap().join("cpu.stat")).unwrap();
    assert!(!throttled.contains("nr_throttled 0\n"), "never throttled: {throttled}");

    rack.teardown();
    assert_clean(prefix);
}

#[test]
fn a_killed_run_is_cleaned_up_and_the_next_run_works() {
    require_namespaces!();
    let prefix = "hrtkill";
    let crash = || {
        let mut child = role_command("crash")
            .env(PREFIX, prefix)
            .env(SUBNET, "203")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the crash role starts");
        let pids: Vec<u32> = wait_ready(&mut child).iter().map(|pid| pid.parse().unwrap()).collect();
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        assert!(pids.iter().all(|&pid| running(pid)), "the hosts' processes outlive a killed run");
        let left = leftovers(prefix);
        // 2 namespaces, 2 veths, the bridge, 2 cgroups and 2 processes.
        assert_eq!(left.len(), 9, "{left:?}");
        pids
    };

    let pids = crash();
    let removed = rack::cleanup_stale(prefix).expect("cleanup");
    assert_eq!(removed, 7, "namespaces, links and cgroups");
    assert_clean(prefix);
    assert!(pids.iter().all(|&pid| !running(pid)), "cleanup kills the hosts' processes");
    assert_eq!(rack::cleanup_stale(prefix).expect("second cleanup"), 0);

    // A second run after a crash: create cleans up by itself.
    let pids = crash();
    let mut rack = Rack::create(&config(prefix, 2, 203)).expect("the next run creates its rack");
    assert!(pids.iter().all(|&pid| !running(pid)), "create kills the crashed run's processes");
    spawn_echo(&mut rack, 1, v4(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7002));
    echo_round_trip(v4(rack.hosts()[1].addr, 7002)).expect("the new rack works");
    drop(rack);
    assert_clean(prefix);
}

#[test]
fn ctrl_c_tears_the_rack_down() {
    require_namespaces!();
    let prefix = "hrtint";
    let mut child = role_command("sigint")
        .env(PREFIX, prefix)
        .env(SUBNET, "204")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the sigint role starts");
    let pids: Vec<u32> = wait_ready(&mut child).iter().map(|pid| pid.parse().unwrap()).collect();
    assert!(!leftovers(prefix).is_empty());
    // SAFETY: kill has no memory preconditions; the pid is our unreaped child's.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{status}");
    assert_clean(prefix);
    assert!(pids.iter().all(|&pid| !running(pid)), "Ctrl-C kills the hosts' processes");
}

#[test]
fn a_failing_run_tears_down_and_a_clashing_subnet_is_refused() {
    require_namespaces!();
    let prefix = "hrtfail";
    let outcome = std::panic::catch_unwind(|| {
        let mut rack = Rack::create(&config(prefix, 2, 205)).expect("rack");
        spawn_sleep(&mut rack, 0);
        assert!(!leftovers(prefix).is_empty());
        // A second rack on the same subnet would hijack the first one's routes.
        let clash = Rack::create(&config("hrtclash", 1, 205)).unwrap_err();
        assert_eq!(clash.kind(), io::ErrorKind::AddrInUse, "{clash}");
        assert_clean("hrtclash");
        panic!("the scenario fails");
    });
    assert!(outcome.is_err());
    assert_clean(prefix);
}

#[test]
fn loopback_mode_pins_hosts_and_says_what_it_cannot_emulate() {
    let prefix = "hrtlo";
    let allowed = rack_cpus();
    let mut rack = Rack::create(&RackConfig { force_loopback: true, ..config(prefix, 1, 206) }).expect("rack");
    assert_eq!(rack.mode(), Mode::Loopback);
    assert_eq!(rack.load_addr(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(rack.hosts()[0].addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(rack.cgroup_dir(0), None);
    let description = rack.description();
    eprintln!("{description}");
    for missing in ["not emulated: ", "no network isolation", "no CPU quota", "no per-link delay"] {
        assert!(description.contains(missing), "{missing:?} in {description}");
    }
    let sleeper = spawn_sleep(&mut rack, 0);
    if allowed.len() >= 2 {
        let cpu = rack.hosts()[0].cpu.expect("one host is pinned when there are two CPUs");
        assert_eq!(cpu, allowed[1], "the first CPU is left to the load generator");
        let status = fs::read_to_string(format!("/proc/{sleeper}/status")).unwrap();
        assert!(status.lines().any(|line| line == format!("Cpus_allowed_list:\t{cpu}")), "{status}");
    }
    spawn_echo(&mut rack, 0, v4(IpAddr::V4(Ipv4Addr::LOCALHOST), 7003));
    echo_round_trip(v4(rack.hosts()[0].addr, 7003)).expect("loopback host answers");
    rack.teardown();
    assert_clean(prefix);
    assert!(!running(sleeper));

    // More hosts than CPUs: no pinning, and the description says so.
    let crowded = allowed.len();
    let rack = Rack::create(&RackConfig { force_loopback: true, ..config(prefix, crowded, 206) }).expect("rack");
    assert!(rack.hosts().iter().all(|host| host.cpu.is_none()));
    assert!(rack.description().contains("no CPU pinning"), "{}", rack.description());
    drop(rack);

    // A crashed loopback run (no teardown) leaves processes, which cleanup finds by their tag.
    let mut rack = Rack::create(&RackConfig { force_loopback: true, ..config(prefix, 1, 206) }).expect("rack");
    let orphan = spawn_sleep(&mut rack, 0);
    std::mem::forget(rack);
    assert!(running(orphan));
    assert_eq!(rack::cleanup_stale(prefix).expect("cleanup"), 0, "loopback creates no objects");
    assert!(!running(orphan), "cleanup kills a crashed loopback run's processes");
    assert_clean(prefix);
}

/// The CPUs this process may use, in order.
fn rack_cpus() -> Vec<usize> {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let list = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")).unwrap().trim().to_owned();
    list.split(',')
        .flat_map(|range| {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            first.parse::<usize>().unwrap()..=last.parse::<usize>().unwrap()
        })
        .collect()
}
