//! The ssh deployer against real sshd: Debian's `openssh-server` started in two hosts of an
//! emulated rack (network namespaces), each with a generated host key, listening only on its
//! namespace's address, run as root with a private config (`sshd -f`, nothing of the system's
//! /etc/ssh) that accepts only one generated user key. `cluster-bench --hosts` then deploys
//! agents there over ssh and runs a smoke scenario end to end; afterwards nothing it started may
//! be left: no process of its working folders (the agents' and a load client's, on host 0's
//! sshd), no local front end, no shared ssh connection,
//! no working folder. A second test interrupts a run with SIGINT (Ctrl-C) and checks the same.
//!
//! Needs root, `ip netns` and /usr/sbin/sshd; without them the tests print why and pass.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use hatch_cluster_bench::rack::{Rack, RackConfig};

const SSHD: &str = "/usr/sbin/sshd";

fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new(SSHD).exists() {
        return Some(format!("{SSHD} is not installed (apt-get install openssh-server)"));
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(output) if output.status.success() => None,
        _ => Some("`ip netns` does not work".into()),
    }
}

fn keygen(path: &Path) -> String {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "hatch-cluster-bench-test", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    let public = fs::read_to_string(path.with_extension("pub")).unwrap();
    public.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Two namespaces, each running sshd; the hosts file that reaches them.
struct SshRack {
    rack: Rack,
    dir: PathBuf,
    hosts_file: PathBuf,
}

impl SshRack {
    fn start(prefix: &str, subnet: u8, load_client: bool) -> SshRack {
        let dir = std::env::temp_dir().join(format!("hcb-ssh-test-{prefix}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut rack = Rack::create(&RackConfig {
            hosts: 2,
            prefix: prefix.into(),
            subnet: [10, 77, subnet],
            ..RackConfig::default()
        })
        .expect("rack");
        // Debian's sshd refuses to start without its privilege separation directory.
        fs::create_dir_all("/run/sshd").unwrap();
        let user_key = dir.join("user_key");
        let user_public = keygen(&user_key);
        fs::write(dir.join("authorized_keys"), format!("{user_public}\n")).unwrap();
        let mut toml = format!("front = \"10.77.{subnet}.1\"\n");
        for host in 0..2 {
            let addr = rack.hosts()[host].addr;
            let host_key = dir.join(format!("host_key_{host}"));
            let host_public = keygen(&host_key);
            let config = dir.join(format!("sshd_{host}.conf"));
            fs::write(
                &config,
                format!(
                    "ListenAddress {addr}:22\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
                     AuthenticationMethods publickey\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\nAllowUsers root\n\
                     StrictModes no\nAllowTcpForwarding no\nAllowAgentForwarding no\nX11Forwarding no\nPermitTunnel no\n\
                     Subsystem sftp /usr/lib/openssh/sftp-server\n",
                    hk = host_key.display(),
                    pid = dir.join(format!("sshd_{host}.pid")).display(),
                    ak = dir.join("authorized_keys").display(),
                ),
            )
            .unwrap();
            let mut command = rack.command(host, Path::new(SSHD));
            command.arg("-D").arg("-e").arg("-f").arg(&config).stderr(Stdio::null());
            rack.spawn(host, command).expect("sshd starts");
            // Working folders stay apart although the two "servers" share one file system.
            toml.push_str(&format!(
                "\n[[host]]\naddress = \"{addr}\"\nuser = \"root\"\nport = 22\nkey = \"{key}\"\nrole = \"agent\"\n\
                 dir = \"{work}\"\nhost_key = \"{host_public}\"\n",
                key = user_key.display(),
                work = dir.join(format!("remote-{host}")).display(),
            ));
        }
        if load_client {
            // A load client on host 0's sshd, in a folder of its own.
            let host_public = fs::read_to_string(dir.join("host_key_0.pub")).unwrap();
            let host_public: Vec<&str> = host_public.split_whitespace().take(2).collect();
            toml.push_str(&format!(
                "\n[[host]]\naddress = \"{}\"\nkey = \"{}\"\nrole = \"load\"\ndir = \"{}\"\nhost_key = \"{}\"\n",
                rack.hosts()[0].addr,
                user_key.display(),
                dir.join("remote-load").display(),
                host_public.join(" "),
            ));
        }
        for host in 0..2 {
            let addr = SocketAddr::new(rack.hosts()[host].addr, 22);
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(Instant::now() < deadline, "sshd on {addr} does not listen");
                thread::sleep(Duration::from_millis(50));
            }
        }
        let hosts_file = dir.join("hosts.toml");
        fs::write(&hosts_file, toml).unwrap();
        SshRack { rack, dir, hosts_file }
    }

    fn cluster_bench(&self, prefix: &str, scenario: &str, out: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cluster-bench"));
        command
            .args(["--hosts"])
            .arg(&self.hosts_file)
            .args(["--scenario", scenario, "--smoke", "--window", "0.5", "--prefix", prefix, "--out"])
            .arg(out)
            .arg("--web")
            .arg(common::hatch_web());
        command
    }

    /// What of a run `pid` is left: processes running from the working folders or tagged as
    /// its local front end, its ssh processes, its working folders.
    fn leftovers(&self, pid: u32, prefix: &str) -> Vec<String> {
        let mut left = Vec::new();
        let remote = [self.dir.join("remote-0"), self.dir.join("remote-1"), self.dir.join("remote-load")];
        let tag = format!("HATCH_RACK_HOST={prefix}-h0");
        let control = format!("hcb-ssh-{pid}");
        for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let Some(p) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let exe = fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
            let cmdline = fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let environ = fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if remote.iter().any(|dir| exe.starts_with(dir))
                || environ.split(|&b| b == 0).any(|e| e == tag.as_bytes())
                || cmd.contains(&control)
            {
                left.push(format!("process {p}: {cmd}"));
            }
        }
        for dir in &remote {
            if dir.exists() {
                left.push(format!("working folder {}", dir.display()));
            }
        }
        left
    }
}

impl Drop for SshRack {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cluster-bench did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn agents_deployed_over_ssh_run_a_scenario_and_leave_nothing() {
    if let Some(reason) = unavailable() {
        eprintln!("skipped: {reason}");
        return;
    }
    let hosts = SshRack::start("hcbssh", 95, true);
    let out = hosts.dir.join("out");
    for scenario in ["primes", "http-handler"] {
        let mut child = hosts.cluster_bench("hcbsshr", scenario, &out).stdout(Stdio::piped()).spawn().unwrap();
        let pid = child.id();
        let mut printed = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut printed).unwrap();
        let status = wait(&mut child, Duration::from_secs(300));
        assert!(status.success(), "{scenario}: {status}\n{printed}");
        assert!(printed.contains("rack servers over ssh"), "{printed}");
        assert!(printed.contains("the load generator on load client"), "{printed}");
        let csv = fs::read_to_string(out.join(format!("{scenario}.csv"))).unwrap();
        assert!(csv.lines().count() >= 2, "{csv}");
        let left = hosts.leftovers(pid, "hcbsshr");
        assert!(left.is_empty(), "{scenario} left {left:#?}");
    }
    let primes = fs::read_to_string(out.join("primes.csv")).unwrap();
    // Every placement ran on the agents reached over ssh: replicated on both.
    assert!(primes.lines().any(|l| l.starts_with("replicated-2,")), "{primes}");
    let handler = fs::read_to_string(out.join("http-handler.csv")).unwrap();
    assert!(handler.lines().skip(1).all(|l| l.ends_with(",0")), "failed requests: {handler}");
    // The load ran on the load client: its log came back too.
    let load_logs = out.join("logs").join(hosts.rack.hosts()[0].addr.to_string()).join("remote-load/logs");
    assert!(
        fs::read_dir(&load_logs)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("cluster-bench-load")),
        "no load client log in {}",
        load_logs.display()
    );
    // The agents' logs came back, one folder per host.
    for host in &hosts.rack.hosts()[..2] {
        let logs = out.join("logs").join(host.addr.to_string()).join(format!("remote-{}/logs", host.index));
        let files = fs::read_dir(&logs).map(|d| d.count()).unwrap_or(0);
        assert!(files > 0, "no logs in {}", logs.display());
    }
}

#[test]
fn ctrl_c_stops_everything_on_the_ssh_hosts() {
    if let Some(reason) = unavailable() {
        eprintln!("skipped: {reason}");
        return;
    }
    let hosts = SshRack::start("hcbsshc", 94, false);
    let out = hosts.dir.join("out");
    // A long run: the full primes scenario (minutes), interrupted once its agents are up.
    let command = hosts.cluster_bench("hcbsshcr", "primes", &out);
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).filter(|a| a != "--smoke").collect();
    let mut command = Command::new(command.get_program());
    command.args(args).stdout(Stdio::null());
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let running = |dir: &Path| fs::read_dir(dir.join("run")).map(|d| d.count()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    // Both agents and... the client runs locally: wait for both agents' pid files.
    while running(&hosts.dir.join("remote-0")) + running(&hosts.dir.join("remote-1")) < 2 {
        assert!(Instant::now() < deadline, "the agents did not start");
        assert!(child.try_wait().unwrap().is_none(), "cluster-bench ended early");
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_secs(2));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    let status = wait(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{status}");
    // The remote processes are killed; the working folder may remain after a signal (only the
    // processes are swept), so look at processes only.
    let left: Vec<String> = hosts.leftovers(pid, "hcbsshcr").into_iter().filter(|l| l.starts_with("process")).collect();
    assert!(left.is_empty(), "Ctrl-C left {left:#?}");
}
