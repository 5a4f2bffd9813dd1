//! The two servers under test, started as child processes pinned to the server vCPU:
//! hatch-web (the release binary, default composition) and nginx (its own configuration in
//! the temporary folder), both serving the same data folder.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hatch_webstack::dataset::{self, Kind};

use crate::process::{Process, free_port, pin_command};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// `hatch-web serve` with the default composition.
    HatchWeb,
    /// nginx 1.x serving the data folder as its root.
    Nginx,
}

impl ServerKind {
    /// Its name in tables and CSV rows.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::HatchWeb => "hatch-web",
            ServerKind::Nginx => "nginx",
        }
    }
}

/// A running server; dropping it stops it.
pub struct Server {
    /// Which one.
    pub kind: ServerKind,
    /// Where it listens.
    pub addr: SocketAddr,
    process: Process,
    log: PathBuf,
}

impl Server {
    /// Stops it (SIGTERM, then SIGKILL) and says how it ended.
    pub fn stop(mut self) -> String {
        match self.process.stop() {
            Some(status) if status.success() => format!("{} stopped cleanly", self.kind.name()),
            Some(status) => format!("{} ended with {status} (log: {})", self.kind.name(), self.log.display()),
            None => format!("{} had to be killed", self.kind.name()),
        }
    }

    /// The CPU time it has used so far (every thread), if readable.
    pub fn cpu(&self) -> Option<Duration> {
        crate::process::process_cpu(self.process.pid())
    }

    /// The last lines of its log, to explain a failure.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Starts `hatch-web serve` on an ephemeral loopback port with `composition`, and waits for
/// its `listening on ADDR` line.
///
/// # Errors
///
/// Starting it, or it not becoming ready within 60 s (with the end of its log).
pub fn start_hatch_web(
    binary: &Path,
    data: &Path,
    composition: &str,
    cpu: Option<usize>,
    tmp: &Path,
) -> Result<Server, String> {
    let log = tmp.join("hatch-web.stderr");
    let stderr = fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let mut command = Command::new(binary);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--shape", "default", "--composition", composition, "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(stderr);
    pin_command(&mut command, cpu);
    let mut process = Process::spawn("hatch-web", &mut command, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let stdout = process.take_stdout().ok_or("hatch-web's stdout is not piped")?;
    let (ready, announced) = mpsc::channel();
    process.attach_watcher(std::thread::spawn(move || {
        // Reads every line (so the pipe never fills), announcing the address once.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = ready.send(addr.trim().to_owned());
            }
        }
    }));
    let addr = match announced.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => addr,
        Err(_) => return Err(format!("hatch-web did not say `listening on` within 60 s:\n{}", tail(&log))),
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("hatch-web announced {addr:?}, not an address: {e}"))?;
    let server = Server { kind: ServerKind::HatchWeb, addr, process, log };
    check_serves_the_data_set(&server)?;
    Ok(server)
}

/// The nginx configuration of the comparison: one worker process (the single-process mode,
/// see [`start_nginx`]), sendfile, no access log, keep-alive as long as the run, every path
/// nginx writes inside `dir`.
pub fn nginx_config(dir: &Path, data: &Path, port: u16) -> Result<String, String> {
    let quoted = |path: &Path| -> Result<String, String> {
        let text = path.to_str().ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
        if text.contains(['"', '\\', '$']) {
            return Err(format!("{text:?}: nginx paths with quotes, backslashes or `$` are not supported here"));
        }
        Ok(format!("\"{text}\""))
    };
    let at = |name: &str| quoted(&dir.join(name));
    Ok(format!(
        "daemon off;
master_process off;
worker_processes 1;
error_log {error} warn;
pid {pid};
events {{
    worker_connections 1024;
}}
http {{
    types {{
        image/jpeg jpg;
        text/plain txt;
    }}
    default_type application/octet-stream;
    charset utf-8;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path {body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
",
        error = at("error.log")?,
        pid = at("nginx.pid")?,
        body = at("client_body")?,
        proxy = at("proxy")?,
        fastcgi = at("fastcgi")?,
        uwsgi = at("uwsgi")?,
        scgi = at("scgi")?,
        root = quoted(data)?,
    ))
}

/// Starts nginx with [`nginx_config`] in `tmp/nginx` and waits until it accepts connections.
///
/// `master_process off` runs the worker's event loop in the one process we start: nothing
/// to fork, so the pinning applies directly, SIGTERM reaches the process that serves, and a
/// SIGKILL leaves no orphaned worker. With `worker_processes 1` a master would only add an
/// idle process; the request path (`ngx_process_events_and_timers`) is the same code.
///
/// # Errors
///
/// Writing the configuration, starting nginx, or it not accepting within 10 s.
pub fn start_nginx(binary: &Path, data: &Path, cpu: Option<usize>, tmp: &Path) -> Result<Server, String> {
    let dir = tmp.join("nginx");
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
    let config = dir.join("nginx.conf");
    fs::write(&config, nginx_config(&dir, data, port)?).map_err(|e| format!("writing {}: {e}", config.display()))?;
    let log = dir.join("error.log");
    let mut command = Command::new(binary);
    // `-e` so that nginx does not open its compiled-in /var/log path before reading ours.
    command.arg("-p").arg(&dir).arg("-c").arg(&config).arg("-e").arg(&log);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    pin_command(&mut command, cpu);
    let mut process = Process::spawn("nginx", &mut command, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = process.exited() {
            return Err(format!("nginx exited at start ({status}):\n{}", tail(&log)));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!("nginx did not accept on {addr} within 10 s:\n{}", tail(&log)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let server = Server { kind: ServerKind::Nginx, addr, process, log };
    check_serves_the_data_set(&server)?;
    Ok(server)
}

/// One GET per kind of benchmarked file, body compared with the generated bytes: both servers
/// must serve exactly the same content.
fn check_serves_the_data_set(server: &Server) -> Result<(), String> {
    for kind in [Kind::Thumb, Kind::Stub] {
        let path = dataset::static_path(kind, 0);
        let expected = dataset::static_body(kind, 0, dataset::SEED);
        let body = get(server.addr, &path).map_err(|e| format!("{} GET {path}: {e}", server.kind.name()))?;
        if body != expected {
            return Err(format!(
                "{} GET {path}: {} bytes that are not the data set's {} bytes",
                server.kind.name(),
                body.len(),
                expected.len()
            ));
        }
    }
    Ok(())
}

/// A GET on a fresh connection (`Connection: close`, identity encoding): the body of a `200`.
fn get(addr: SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(|e| e.to_string())?;
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of the response head")?;
    let head = String::from_utf8_lossy(&reply[..split]);
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(format!("status line {status:?}"));
    }
    Ok(reply[split + 4..].to_vec())
}
