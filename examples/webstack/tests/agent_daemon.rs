//! `hatch-web agent` as a daemon: with `--listen 0.0.0.0:PORT` it advertises an address other
//! hosts can reach (never 0.0.0.0), and it refuses a key file that others may read.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hatch_components::remote::{Host, Key};

fn key_file(dir: &std::path::Path, key: &Key, mode: u32) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join(format!("cluster-{mode:o}.key"));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&path).unwrap();
    file.write_all(key.to_hex().as_bytes()).unwrap();
    // The process umask may have cleared bits of `mode`; set it exactly.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    path
}

fn agent(data: &std::path::Path, key_file: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hatch-web"));
    command
        .args(["agent", "--listen", "0.0.0.0:0", "--shape", "small", "--join", "127.0.0.1:9", "--data"])
        .arg(data)
        .arg("--key-file")
        .arg(key_file);
    command
}

#[test]
fn a_daemon_on_every_interface_advertises_a_routable_address() {
    let options = common::options();
    let key = Key::generate().unwrap();
    let path = key_file(&options.data, &key, 0o600);
    let mut child = agent(&options.data, &path).stdout(Stdio::piped()).spawn().expect("hatch-web starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line").expect("readable");
    let addr = line.strip_prefix("agent listening on ").unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1", "the route towards the --join member");
    let host = Host::connect(addr, &key).expect("reachable at the advertised address");
    assert_eq!(host.load().unwrap().instances, 0);
    // SAFETY: `kill` with a pid we own (our child) and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(20), "the agent did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_daemon_refuses_a_key_file_others_can_read() {
    let options = common::options();
    let key = Key::generate().unwrap();
    let path = key_file(&options.data, &key, 0o644);
    let output = agent(&options.data, &path).output().expect("hatch-web runs");
    assert!(!output.status.success(), "started with a 0644 key file");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("0644") && stderr.contains("chmod 600"), "{stderr}");
}
