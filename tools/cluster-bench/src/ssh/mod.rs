//! Real rack servers: `cargo xtask cluster-bench --hosts hosts.toml --scenario S`.
//!
//! The hosts file ([`hosts_file`]) lists the servers. The front end (and the `primes` client)
//! runs on this machine, as host 0, listening on the file's `front` address; so does the load
//! generator unless a host has the role `load`. Agent hosts are hosts `1..`. [`SshCluster::connect`] then, for every server:
//!
//! 1. writes its host key into this run's known_hosts (from the file, or `ssh-keyscan` once);
//! 2. opens one shared ssh connection, stops whatever a crashed earlier run left in its working
//!    folder `DIR` (by the pid files below) and creates `DIR/{bin,run,logs,data}`, mode 0700;
//! 3. copies `hatch-web` and `cluster-bench-primes` into `DIR/bin` and the cluster key file to
//!    `DIR/cluster.key`, mode 0600; a load-client host gets `cluster-bench-load` only.
//!
//! A process started there runs as `sh -c 'echo $$ > DIR/run/NAME.pid; exec DIR/bin/PROGRAM
//! ARGS 2>> DIR/logs/NAME.log'` through the shared connection, so its pid is known and its log
//! kept. It is stopped by that pid (SIGTERM, SIGKILL after a grace period), only while the pid
//! still runs a program of `DIR/bin`. [`SshCluster::teardown`] (also on drop, on failure, and on
//! SIGINT/SIGTERM/SIGHUP through [`crate::rack::on_teardown_signal`]) stops every process of
//! every pid file, copies `DIR/logs` back into the results folder (`logs/ADDRESS/NAME/logs/`, `NAME`
//! the last part of `DIR`), removes
//! `DIR` and closes the shared connection.
//!
//! With a host of role `load`, every load run of the scenarios runs there instead of on this
//! machine (the first such host; more are not used): `cluster-bench-load` with the plan as
//! arguments, its whole report sent back on standard output ([`crate::load_wire`]). The
//! calibration of the script's cost still sends its few pages from this machine.

pub mod hosts_file;
pub mod remote;

use std::io::{self, BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hosts_file::{HostsFile, Role};
use remote::{PidFile, Remote, quote};

use hatch_load::{Plan, Report};

use crate::cluster::{Binaries, Cluster, Program, Started};
use crate::load_wire;

/// How long remote processes get between SIGTERM and SIGKILL at teardown.
const GRACE_S: u32 = 5;

/// The servers of a hosts file, ready to run processes on.
pub struct SshCluster {
    front: IpAddr,
    agents: Vec<Remote>,
    /// Load-client hosts; the first one runs the load.
    loads: Vec<Remote>,
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
    /// Whether teardown ran; shared with the signal hook, so that the two never overlap and the
    /// process does not exit in the middle of a teardown.
    torn_down: Arc<Mutex<bool>>,
}

fn program_name(program: Program) -> &'static str {
    match program {
        Program::Web => "hatch-web",
        Program::Primes => "cluster-bench-primes",
        Program::Load => "cluster-bench-load",
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
        let remotes: Vec<(Role, Remote)> = file
            .hosts
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                (entry.role, Remote::new(entry.clone(), known_hosts.clone(), state.join(format!("cm{i}"))))
            })
            .collect();
        let of = |role: Role| remotes.iter().filter(|(r, _)| *r == role).map(|(_, remote)| remote.clone()).collect();
        let (agents, loads) = (of(Role::Agent), of(Role::Load));
        let cluster = SshCluster {
            front: file.front,
            agents,
            loads,
            binaries,
            data,
            key_file,
            out: out.to_path_buf(),
            state,
            local_tag,
            started: AtomicUsize::new(0),
            torn_down: Arc::new(Mutex::new(false)),
        };
        let hook_agents: Vec<Remote> = cluster.remotes().cloned().collect();
        let hook_state = cluster.state.clone();
        let hook_done = Arc::clone(&cluster.torn_down);
        crate::rack::on_teardown_signal(move || {
            let mut done = hook_done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *done {
                return;
            }
            *done = true;
            for remote in &hook_agents {
                if let Err(error) = remote.run(&sweep_script(&remote.entry.dir, "KILL")) {
                    eprintln!("cluster-bench: signal teardown of {}: {error}", remote.entry.address);
                }
                remote.close();
            }
            let _ = std::fs::remove_dir_all(&hook_state);
            // Held until the process exits (the signal teardown exits right after its hooks),
            // so a main thread failing meanwhile cannot finish first with its own status.
            std::mem::forget(done);
        });
        // Drop tears down whatever was prepared when this fails.
        cluster.prepare()?;
        Ok(cluster)
    }

    /// Every server: agents, then load clients.
    fn remotes(&self) -> impl Iterator<Item = &Remote> {
        self.agents.iter().chain(&self.loads)
    }

    fn prepare(&self) -> io::Result<()> {
        for remote in self.remotes() {
            let dir = &remote.entry.dir;
            let q = |p: &Path| quote(&p.display().to_string());
            remote.run(&format!(
                "{}; rm -rf {d}/run {d}/logs {d}/bin; mkdir -p {d}/bin {d}/run {d}/logs {d}/data && chmod 700 {d}",
                sweep_script(dir, "KILL"),
                d = q(dir)
            ))?;
            let programs: &[Program] =
                if remote.entry.role == Role::Load { &[Program::Load] } else { &[Program::Web, Program::Primes] };
            for &program in programs {
                remote.upload(self.binaries.path(program), &dir.join("bin").join(program_name(program)))?;
            }
            let key = dir.join("cluster.key");
            remote.upload(&self.key_file, &key)?;
            remote.run(&format!("chmod 600 {}", q(&key)))?;
        }
        Ok(())
    }

    /// Stops every process started on the servers, copies their logs back to
    /// `OUT/logs/ADDRESS/NAME/`, removes their working folders and closes the connections. Failures
    /// are logged; running it again does nothing.
    pub fn teardown(&self) {
        let mut done = self.torn_down.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *done {
            return;
        }
        *done = true;
        for remote in self.remotes() {
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
            // Two roles may share a server: one folder per working folder.
            let name = dir.file_name().map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
            let logs = self.out.join("logs").join(remote.entry.address.to_string()).join(name);
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
        for remote in self.remotes() {
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
        self.start_on(&self.agents[host - 1], program, args)
    }

    fn cpu_quota(&self) -> Option<f64> {
        None
    }

    fn run_load(&self, plan: &Plan, progress: bool) -> io::Result<Report> {
        let Some(remote) = self.loads.first() else { return hatch_load::run(plan, progress) };
        let mut started = self.start_on(remote, Program::Load, &load_wire::plan_args(plan))?;
        let stdout = started.child.stdout.take().expect("piped");
        let lines = BufReader::new(stdout).lines().map_while(Result::ok).take_while(|line| line != "end");
        let report = load_wire::decode(plan, lines.chain(std::iter::once("end".to_owned())));
        let status = started.child.wait()?;
        match report {
            Ok(report) if status.success() => Ok(report),
            Ok(_) => Err(io::Error::other(format!("the load generator on {} failed: {status}", remote.entry.address))),
            Err(error) => {
                Err(io::Error::other(format!("the load generator on {} ({status}): {error}", remote.entry.address)))
            }
        }
    }

    fn description(&self) -> String {
        self.describe()
    }
}

impl SshCluster {
    /// Starts `program` on `remote` (see the [module documentation](self)).
    fn start_on(&self, remote: &Remote, program: Program, args: &[String]) -> io::Result<Started> {
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

    fn describe(&self) -> String {
        let load = match self.loads.first() {
            Some(remote) => format!("the load generator on load client {}", remote.entry.address),
            None => "the load generator on this machine".into(),
        };
        let mut lines = vec![format!(
            "rack servers over ssh: the front end on this machine ({}), {load}, {} agent host{}",
            self.front,
            self.agents.len(),
            if self.agents.len() == 1 { "" } else { "s" }
        )];
        for (i, remote) in self.agents.iter().enumerate() {
            let e = &remote.entry;
            lines.push(format!("  host {}: {}@{}:{} ({})", i + 1, e.user, e.address, e.port, e.dir.display()));
        }
        for remote in &self.loads {
            let e = &remote.entry;
            lines.push(format!("  load client: {}@{}:{} ({})", e.user, e.address, e.port, e.dir.display()));
        }
        lines.push("each host: its own CPUs, no quota".into());
        lines.join("\n")
    }
}
