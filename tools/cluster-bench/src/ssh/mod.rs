//! Real rack servers: `cargo xtask cluster-bench --hosts hosts.toml --scenario S`.
//!
//! The hosts file ([`hosts_file`]) lists the servers. The front end (and the `primes` client)
//! runs on this machine, as host 0, listening on the file's `front` address; so does the load
//! generator, which therefore measures what a client next to the front end sees. Agent hosts
//! are hosts `1..`. [`SshCluster::connect`] then, for every server:
//!
//! 1. writes its host key into this run's known_hosts (from the file, or `ssh-keyscan` once);
//! 2. opens one shared ssh connection, stops whatever a crashed earlier run left in its working
//!    folder `DIR` (by the pid files below) and creates `DIR/{bin,run,logs,data}`, mode 0700;
//! 3. copies `hatch-web` and `cluster-bench-primes` into `DIR/bin` and the cluster key file to
//!    `DIR/cluster.key`, mode 0600 (load-client hosts get nothing yet: see below).
//!
//! A process started there runs as `sh -c 'echo $$ > DIR/run/NAME.pid; exec DIR/bin/PROGRAM
//! ARGS 2>> DIR/logs/NAME.log'` through the shared connection, so its pid is known and its log
//! kept. It is stopped by that pid (SIGTERM, SIGKILL after a grace period), only while the pid
//! still runs a program of `DIR/bin`. [`SshCluster::teardown`] (also on drop, on failure, and on
//! SIGINT/SIGTERM/SIGHUP through [`crate::rack::on_teardown_signal`]) stops every process of
//! every pid file, copies `DIR/logs` back into the results folder (`logs/ADDRESS/`), removes
//! `DIR` and closes the shared connection.
//!
//! Not done yet: hosts of role `load` are accepted in the file but refused by
//! [`SshCluster::connect`]; the load generator runs on this machine.

pub mod hosts_file;
pub mod remote;

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use hosts_file::{HostsFile, Role};
use remote::{PidFile, Remote, quote};

use crate::cluster::{Binaries, Cluster, Program, Started};

/// How long remote processes get between SIGTERM and SIGKILL at teardown.
const GRACE_S: u32 = 5;

/// The servers of a hosts file, ready to run processes on.
pub struct SshCluster {
    front: IpAddr,
    agents: Vec<Remote>,
    binaries: Binaries,
    data: PathBuf,
    key_file: PathBuf,
    /// Where logs are copied back to.
    out: PathBuf,
    /// The run's known_hosts and control sockets.
    state: PathBuf,
    /// The tag of processes started on this machine (see [`crate::rack::HOST_TAG`]).
    local_tag: String,
    started: AtomicUsize,
    torn_down: Mutex<bool>,
}

fn program_name(program: Program) -> &'static str {
    match program {
        Program::Web => "hatch-web",
        Program::Primes => "cluster-bench-primes",
    }
}

/// The script that sends `signal` to every process of the pid files of `dir` still running a
/// program of `dir/bin`.
fn sweep_script(dir: &Path, signal: &str) -> String {
    let dir = quote(&dir.display().to_string());
    format!(
        "for f in {dir}/run/*.pid; do [ -e \"$f\" ] || continue; p=$(cat \"$f\"); \
         case \"$(readlink /proc/$p/exe 2>/dev/null)\" in {dir}/bin/*) kill -{signal} $p;; esac; done; true"
    )
}

/// The script that says how many processes of the pid files of `dir` still run.
fn alive_script(dir: &Path) -> String {
    let dir = quote(&dir.display().to_string());
    format!(
        "n=0; for f in {dir}/run/*.pid; do [ -e \"$f\" ] || continue; p=$(cat \"$f\"); \
         case \"$(readlink /proc/$p/exe 2>/dev/null)\" in {dir}/bin/*) n=$((n+1));; esac; done; echo $n"
    )
}

impl SshCluster {
    /// Prepares every server of `file` (see the [module documentation](self)). `local_tag`
    /// tags the processes started on this machine (`PREFIX-h0`, so that the rack sweep of
    /// `PREFIX` finds them after a crash); `out` is the results folder.
    ///
    /// # Errors
    ///
    /// A host that cannot be reached, authenticated or prepared, or a load-client host. What
    /// was prepared is torn down again.
    pub fn connect(
        file: &HostsFile,
        binaries: Binaries,
        data: PathBuf,
        key_file: PathBuf,
        out: &Path,
        local_tag: String,
    ) -> io::Result<SshCluster> {
        if let Some(load) = file.hosts.iter().find(|h| h.role == Role::Load) {
            return Err(io::Error::other(format!(
                "host {}: load-client hosts are not supported yet; the load generator runs on this machine",
                load.address
            )));
        }
        // Control sockets have a 108-byte path limit: keep them under /tmp.
        let state = std::env::temp_dir().join(format!("hcb-ssh-{}", std::process::id()));
        std::fs::create_dir_all(&state)?;
        std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let known_hosts = state.join("known_hosts");
        let mut known = String::new();
        for entry in &file.hosts {
            let key = match &entry.host_key {
                Some(key) => key.clone(),
                None => {
                    let key = Remote::scan_host_key(entry)?;
                    eprintln!("cluster-bench: host {}: trusting host key {key} (ssh-keyscan)", entry.address);
                    key
                }
            };
            known.push_str(&Remote::known_hosts_line(entry, &key));
        }
        std::fs::write(&known_hosts, known)?;
        let agents = file
            .hosts
            .iter()
            .enumerate()
            .map(|(i, entry)| Remote::new(entry.clone(), known_hosts.clone(), state.join(format!("cm{i}"))))
            .collect();
        let cluster = SshCluster {
            front: file.front,
            agents,
            binaries,
            data,
            key_file,
            out: out.to_path_buf(),
            state,
            local_tag,
            started: AtomicUsize::new(0),
            torn_down: Mutex::new(false),
        };
        let hook_agents = cluster.agents.clone();
        let hook_state = cluster.state.clone();
        crate::rack::on_teardown_signal(move || {
            for remote in &hook_agents {
                if let Err(error) = remote.run(&sweep_script(&remote.entry.dir, "KILL")) {
                    eprintln!("cluster-bench: signal teardown of {}: {error}", remote.entry.address);
                }
                remote.close();
            }
            let _ = std::fs::remove_dir_all(&hook_state);
        });
        // Drop tears down whatever was prepared when this fails.
        cluster.prepare()?;
        Ok(cluster)
    }

    fn prepare(&self) -> io::Result<()> {
        for remote in &self.agents {
            let dir = &remote.entry.dir;
            let q = |p: &Path| quote(&p.display().to_string());
            remote.run(&format!(
                "{}; rm -rf {d}/run {d}/logs {d}/bin; mkdir -p {d}/bin {d}/run {d}/logs {d}/data && chmod 700 {d}",
                sweep_script(dir, "KILL"),
                d = q(dir)
            ))?;
            for program in [Program::Web, Program::Primes] {
                remote.upload(self.binaries.path(program), &dir.join("bin").join(program_name(program)))?;
            }
            let key = dir.join("cluster.key");
            remote.upload(&self.key_file, &key)?;
            remote.run(&format!("chmod 600 {}", q(&key)))?;
        }
        Ok(())
    }

    /// Stops every process started on the servers, copies their logs back to
    /// `OUT/logs/ADDRESS/`, removes their working folders and closes the connections. Failures
    /// are logged; running it again does nothing.
    pub fn teardown(&self) {
        let mut done = self.torn_down.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *done {
            return;
        }
        *done = true;
        for remote in &self.agents {
            let dir = &remote.entry.dir;
            let stop = format!(
                "{term}; i=0; while [ $i -lt {ticks} ] && [ \"$({alive})\" != 0 ]; do sleep 0.2; i=$((i+1)); done; {kill}",
                term = sweep_script(dir, "TERM"),
                ticks = GRACE_S * 5,
                alive = alive_script(dir),
                kill = sweep_script(dir, "KILL"),
            );
            if let Err(error) = remote.run(&stop) {
                eprintln!("cluster-bench: teardown of {}: {error}", remote.entry.address);
            }
            let logs = self.out.join("logs").join(remote.entry.address.to_string());
            let copied = std::fs::create_dir_all(&logs).and_then(|()| remote.download_dir(&dir.join("logs"), &logs));
            if let Err(error) = copied {
                eprintln!("cluster-bench: logs of {}: {error}", remote.entry.address);
            }
            if let Err(error) = remote.run(&format!("rm -rf {}", quote(&dir.display().to_string()))) {
                eprintln!("cluster-bench: teardown of {}: {error}", remote.entry.address);
            }
            remote.close();
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }

    /// How many processes started by this run still run on the servers (for tests).
    ///
    /// # Errors
    ///
    /// A server that cannot be asked.
    pub fn remote_processes(&self) -> io::Result<usize> {
        let mut total = 0;
        for remote in &self.agents {
            total += remote.run(&alive_script(&remote.entry.dir))?.trim().parse::<usize>().unwrap_or(0);
        }
        Ok(total)
    }
}

impl Drop for SshCluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

impl Cluster for SshCluster {
    fn hosts(&self) -> usize {
        self.agents.len() + 1
    }

    fn addr(&self, host: usize) -> IpAddr {
        if host == 0 { self.front } else { self.agents[host - 1].entry.address }
    }

    fn data_dir(&self, host: usize) -> PathBuf {
        if host == 0 { self.data.clone() } else { self.agents[host - 1].entry.dir.join("data") }
    }

    fn key_file(&self, host: usize) -> PathBuf {
        if host == 0 { self.key_file.clone() } else { self.agents[host - 1].entry.dir.join("cluster.key") }
    }

    fn start(&self, host: usize, program: Program, args: &[String]) -> io::Result<Started> {
        if host == 0 {
            let mut command = Command::new(self.binaries.path(program));
            command.args(args).env(crate::rack::HOST_TAG, &self.local_tag);
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
            return Ok(Started { child: command.spawn()?, remote: None });
        }
        let remote = &self.agents[host - 1];
        let dir = &remote.entry.dir;
        let name = format!("{}-{}", program_name(program), self.started.fetch_add(1, Ordering::Relaxed));
        let pid_file = dir.join("run").join(format!("{name}.pid"));
        let exe = dir.join("bin").join(program_name(program));
        let q = |p: &Path| quote(&p.display().to_string());
        let args: Vec<String> = args.iter().map(|a| quote(a)).collect();
        let script = format!(
            "echo $$ > {pid} && exec {exe} {args} 2>> {log}",
            pid = q(&pid_file),
            exe = q(&exe),
            args = args.join(" "),
            log = q(&dir.join("logs").join(format!("{name}.log"))),
        );
        let mut command = remote.ssh(&script);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let child = command.spawn()?;
        Ok(Started { child, remote: Some(Box::new(PidFile { remote: remote.clone(), path: pid_file, program: exe })) })
    }

    fn cpu_quota(&self) -> Option<f64> {
        None
    }

    fn description(&self) -> String {
        let mut lines = vec![format!(
            "rack servers over ssh: the front end and the load generator on this machine ({}), {} agent host{}",
            self.front,
            self.agents.len(),
            if self.agents.len() == 1 { "" } else { "s" }
        )];
        for (i, remote) in self.agents.iter().enumerate() {
            let e = &remote.entry;
            lines.push(format!("  host {}: {}@{}:{} ({})", i + 1, e.user, e.address, e.port, e.dir.display()));
        }
        lines.push("each host: its own CPUs, no quota".into());
        lines.join("\n")
    }
}
