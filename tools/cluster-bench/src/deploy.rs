//! Starting the web platform on a [`Cluster`]: `hatch-web agent` daemons on hosts `1..`, the
//! front end (`hatch-web serve`) on host 0 pointed at them, all with one cluster key file (mode
//! 0600). Agents stay up for a whole scenario; the front end is restarted per composition.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use crate::cluster::{Cluster, Program, RemoteStop};

/// Where the data is on this machine, and how the site is shaped.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The data folder on this machine (an emulated rack's hosts share it; remote hosts
    /// generate their own from the same seed).
    pub data: PathBuf,
    /// `--shape` of the data set (`small` or `default`).
    pub shape: String,
    /// `--cost`: script work units per dynamic page.
    pub cost: u32,
    /// The cluster key file on this machine.
    pub key_file: PathBuf,
}

impl Setup {
    /// Writes a fresh cluster key into `dir/cluster.key` (mode 0600) and returns the setup.
    ///
    /// # Errors
    ///
    /// Writing the key.
    pub fn new(data: PathBuf, shape: &str, cost: u32, dir: &Path) -> std::io::Result<Setup> {
        let key_file = dir.join("cluster.key");
        let key = hatch_learner_key();
        let mut file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&key_file)?;
        std::io::Write::write_all(&mut file, key.as_bytes())?;
        Ok(Setup { data, shape: shape.into(), cost, key_file })
    }
}

/// 32 random bytes in hex, from the kernel.
fn hatch_learner_key() -> String {
    let mut bytes = [0u8; 32];
    // SAFETY: `getrandom` writes at most `bytes.len()` bytes into the buffer we own.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    assert_eq!(n, 32, "getrandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A process of the platform, stopped (SIGTERM, then SIGKILL) when dropped, where it runs.
pub struct Process {
    child: Child,
    remote: Option<Box<dyn RemoteStop>>,
    lines: Option<std::sync::mpsc::Receiver<String>>,
    /// The address it printed once ready.
    pub addr: SocketAddr,
}

impl Process {
    /// Its process id (of its local `ssh` client when it runs on a remote host).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The rest of its standard output, line by line, once its ready line has been read (a
    /// thread keeps draining it otherwise); see [`spawn`].
    pub fn lines(&mut self) -> Option<std::sync::mpsc::Receiver<String>> {
        self.lines.take()
    }

    /// CPU seconds it has used so far (user and system, from `/proc/PID/stat`); `None` for a
    /// process on a remote host.
    pub fn cpu_seconds(&self) -> Option<f64> {
        if self.remote.is_some() {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        // SAFETY: `sysconf` reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some(ticks / hz)
    }

    /// Asks it to stop (SIGTERM) and waits up to `grace` before killing it.
    pub fn stop(mut self, grace: Duration) {
        self.terminate(grace);
    }

    /// Waits up to `grace` for it to exit.
    pub fn wait(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + grace;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self, grace: Duration) {
        match &self.remote {
            // The remote process, whose exit ends its ssh client.
            Some(remote) => {
                if let Err(error) = remote.signal("TERM") {
                    eprintln!("cluster-bench: stopping remote process: {error}");
                }
            }
            // SAFETY: a signal to our own unreaped child's pid.
            None => unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
            },
        }
        if self.wait(grace).is_some() {
            return;
        }
        if let Some(remote) = &self.remote
            && let Err(error) = remote.signal("KILL")
        {
            eprintln!("cluster-bench: killing remote process: {error}");
        }
        if self.wait(Duration::from_secs(2)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate(Duration::from_secs(5));
        }
    }
}

/// Starts `program` with `args` on `host` and waits for the line starting with `ready` that
/// ends with its address. Later lines of its standard output go to [`Process::lines`].
///
/// # Errors
///
/// It did not start, or printed no ready line within a minute (it is stopped then).
pub fn spawn(
    cluster: &dyn Cluster,
    host: usize,
    program: Program,
    args: &[String],
    ready: &str,
) -> std::io::Result<Process> {
    let started = cluster.start(host, program, args)?;
    let mut child = started.child;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    let ready = ready.to_owned();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix(&ready) {
                let _ = tx.send(addr.trim().to_owned());
                break;
            }
        }
        // Keep draining so a chatty child never blocks on a full pipe.
        for line in lines.map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let mut process =
        Process { child, remote: started.remote, addr: SocketAddr::from(([0, 0, 0, 0], 0)), lines: Some(line_rx) };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => {
            process.addr = addr.parse().map_err(|_| std::io::Error::other(format!("bad address {addr:?}")))?;
            Ok(process)
        }
        Err(_) => Err(std::io::Error::other(format!("{program:?} {args:?} on host {host} did not get ready"))),
    }
}

fn common_args(cluster: &dyn Cluster, host: usize, setup: &Setup) -> Vec<String> {
    vec![
        "--data".into(),
        cluster.data_dir(host).display().to_string(),
        "--shape".into(),
        setup.shape.clone(),
        "--cost".into(),
        setup.cost.to_string(),
        "--key-file".into(),
        cluster.key_file(host).display().to_string(),
    ]
}

/// Starts an agent daemon on every host but the first.
///
/// # Errors
///
/// An agent that does not start.
pub fn start_agents(cluster: &dyn Cluster, setup: &Setup) -> std::io::Result<Vec<Process>> {
    (1..cluster.hosts())
        .map(|host| {
            let listen = SocketAddr::new(cluster.addr(host), 0);
            let mut args = vec!["agent".to_owned(), "--listen".into(), listen.to_string()];
            args.extend(common_args(cluster, host, setup));
            spawn(cluster, host, Program::Web, &args, "agent listening on ")
        })
        .collect()
}

/// How the front end runs.
#[derive(Clone, Debug, Default)]
pub struct Front {
    /// `--composition` (with `@k` for the k-th agent), the default composition when `None`.
    pub composition: Option<String>,
    /// `--learn` with this window, and its decision log.
    pub learn: Option<(Duration, PathBuf)>,
}

/// Starts the front end on host 0, pointed at `agents`.
///
/// # Errors
///
/// A front end that does not start.
pub fn start_front(
    cluster: &dyn Cluster,
    setup: &Setup,
    agents: &[Process],
    front: &Front,
) -> std::io::Result<Process> {
    let listen = SocketAddr::new(cluster.addr(0), 0);
    let mut args = vec!["serve".to_owned(), "--listen".into(), listen.to_string()];
    args.extend(common_args(cluster, 0, setup));
    for agent in agents {
        args.extend(["--agent".into(), agent.addr.to_string()]);
    }
    if let Some(composition) = &front.composition {
        args.extend(["--composition".into(), composition.clone()]);
    }
    if let Some((window, log)) = &front.learn {
        args.extend([
            "--learn".into(),
            "--window".into(),
            window.as_secs_f64().to_string(),
            "--decision-log".into(),
            log.display().to_string(),
        ]);
    }
    spawn(cluster, 0, Program::Web, &args, "listening on ")
}
