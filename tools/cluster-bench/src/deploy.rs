//! Starting the web platform on a rack: `hatch-web agent` daemons on hosts `1..`, the front end
//! (`hatch-web serve`) on host 0 pointed at them, all with one cluster key file (mode 0600).
//! Agents stay up for a whole scenario; the front end is restarted per composition.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::rack::Rack;

/// Where the binaries and the data are, and how the site is shaped.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The `hatch-web` executable.
    pub web: PathBuf,
    /// The data folder every host reads (one file system on an emulated rack).
    pub data: PathBuf,
    /// `--shape` of the data set (`small` or `default`).
    pub shape: String,
    /// `--cost`: script work units per dynamic page.
    pub cost: u32,
    /// The cluster key file.
    pub key_file: PathBuf,
}

impl Setup {
    /// Writes a fresh cluster key into `dir/cluster.key` (mode 0600) and returns the setup.
    ///
    /// # Errors
    ///
    /// Writing the key.
    pub fn new(web: PathBuf, data: PathBuf, shape: &str, cost: u32, dir: &Path) -> std::io::Result<Setup> {
        let key_file = dir.join("cluster.key");
        let key = hatch_learner_key();
        let mut file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&key_file)?;
        std::io::Write::write_all(&mut file, key.as_bytes())?;
        Ok(Setup { web, data, shape: shape.into(), cost, key_file })
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

/// A process of the platform, killed (SIGTERM, then SIGKILL) when dropped.
pub struct Process {
    child: Child,
    /// The address it printed once ready.
    pub addr: SocketAddr,
}

impl Process {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds it has used so far (user and system, from `/proc/PID/stat`).
    pub fn cpu_seconds(&self) -> Option<f64> {
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

    fn terminate(&mut self, grace: Duration) {
        // SAFETY: a signal to our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate(Duration::from_secs(5));
        }
    }
}

/// Spawns `args` of `hatch-web` on rack host `host` and waits for the line starting with
/// `ready` that ends with its address.
fn spawn(rack: &Rack, host: usize, setup: &Setup, args: &[String], ready: &str) -> std::io::Result<Process> {
    let mut command = rack.command(host, &setup.web);
    command.args(args).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
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
        for _ in lines {}
    });
    let mut process = Process { child, addr: SocketAddr::from(([0, 0, 0, 0], 0)) };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => {
            process.addr = addr.parse().map_err(|_| std::io::Error::other(format!("bad address {addr:?}")))?;
            Ok(process)
        }
        Err(_) => Err(std::io::Error::other(format!("{args:?} on host {host} did not get ready"))),
    }
}

fn common_args(setup: &Setup) -> Vec<String> {
    vec![
        "--data".into(),
        setup.data.display().to_string(),
        "--shape".into(),
        setup.shape.clone(),
        "--cost".into(),
        setup.cost.to_string(),
    ]
}

/// Starts an agent daemon on every host but the first.
///
/// # Errors
///
/// An agent that does not start.
pub fn start_agents(rack: &Rack, setup: &Setup) -> std::io::Result<Vec<Process>> {
    (1..rack.hosts().len())
        .map(|host| {
            let listen = SocketAddr::new(rack.hosts()[host].addr, 0);
            let mut args = vec!["agent".to_owned(), "--listen".into(), listen.to_string()];
            args.extend(common_args(setup));
            args.extend(["--key-file".into(), setup.key_file.display().to_string()]);
            spawn(rack, host, setup, &args, "agent listening on ")
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
pub fn start_front(rack: &Rack, setup: &Setup, agents: &[Process], front: &Front) -> std::io::Result<Process> {
    let listen = SocketAddr::new(rack.hosts()[0].addr, 0);
    let mut args = vec!["serve".to_owned(), "--listen".into(), listen.to_string()];
    args.extend(common_args(setup));
    args.extend(["--key-file".into(), setup.key_file.display().to_string()]);
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
    spawn(rack, 0, setup, &args, "listening on ")
}
