//! One server reached with the system's `ssh` and `scp`: the options every connection uses, and
//! running, copying and signalling there.
//!
//! Every call goes through one multiplexed connection per host (`ControlMaster=auto`,
//! `ControlPersist`), so starting a process or sending a signal costs a channel, not a new TCP
//! connection, key exchange and authentication. `BatchMode` makes a missing key or an unknown
//! host an error instead of a prompt; the host key is checked strictly against a known_hosts file
//! this run writes (never the user's), and no ssh configuration file is read (`-F /dev/null`).

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::hosts_file::HostEntry;
use crate::cluster::RemoteStop;

/// How long ssh waits for a host before giving up.
const CONNECT_TIMEOUT_S: u32 = 10;
/// How long the shared connection outlives its last use.
const PERSIST_S: u32 = 120;

/// A server and the files of this run that reach it.
#[derive(Clone, Debug)]
pub struct Remote {
    /// Its entry in the hosts file.
    pub entry: HostEntry,
    /// The known_hosts file of this run.
    known_hosts: PathBuf,
    /// Where the shared connection's socket is (short: sockets have a 108-byte limit).
    control: PathBuf,
}

/// `text` quoted for a POSIX shell.
pub fn quote(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/=:@,+".contains(&b)) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

impl Remote {
    /// A remote for `entry`, whose known host key is in `known_hosts` and whose shared
    /// connection lives at `control`.
    pub fn new(entry: HostEntry, known_hosts: PathBuf, control: PathBuf) -> Remote {
        Remote { entry, known_hosts, control }
    }

    /// `user@address` (scp wants IPv6 addresses in brackets).
    fn target(&self, for_scp: bool) -> String {
        match self.entry.address {
            IpAddr::V6(v6) if for_scp => format!("{}@[{v6}]", self.entry.user),
            addr => format!("{}@{addr}", self.entry.user),
        }
    }

    /// The options shared by ssh and scp.
    fn options(&self) -> Vec<String> {
        let o = |s: String| ["-o".to_owned(), s];
        let mut args = vec!["-F".to_owned(), "/dev/null".into(), "-i".into(), self.entry.key.display().to_string()];
        for option in [
            "BatchMode=yes".to_owned(),
            "IdentitiesOnly=yes".into(),
            "StrictHostKeyChecking=yes".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".into(),
            "ControlMaster=auto".into(),
            format!("ControlPath={}", self.control.display()),
            format!("ControlPersist={PERSIST_S}"),
            format!("ConnectTimeout={CONNECT_TIMEOUT_S}"),
            "ServerAliveInterval=5".into(),
            "ServerAliveCountMax=3".into(),
            "LogLevel=ERROR".into(),
        ] {
            args.extend(o(option));
        }
        args
    }

    /// `ssh ... user@host -- SCRIPT`: the remote user's shell runs `script`.
    pub fn ssh(&self, script: &str) -> Command {
        let mut command = Command::new("ssh");
        command.args(self.options()).args(["-p", &self.entry.port.to_string()]);
        command.arg(self.target(false)).arg("--").arg(script);
        command
    }

    /// Runs `script` there and returns its standard output.
    ///
    /// # Errors
    ///
    /// ssh could not run, or the script failed (the message quotes its standard error).
    pub fn run(&self, script: &str) -> io::Result<String> {
        let output = self.ssh(script).stdin(Stdio::null()).output()?;
        self.checked(output, script)
    }

    fn checked(&self, output: Output, what: &str) -> io::Result<String> {
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        Err(io::Error::other(format!(
            "{}: `{what}` failed ({}): {}",
            self.entry.address,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }

    /// Copies the local file `from` to `to` there, keeping its mode (`scp -p`).
    ///
    /// # Errors
    ///
    /// scp could not run or failed.
    pub fn upload(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut command = Command::new("scp");
        command.args(self.options()).args(["-q", "-p", "-P", &self.entry.port.to_string()]);
        command.arg(from).arg(format!("{}:{}", self.target(true), to.display()));
        let output = command.stdin(Stdio::null()).output()?;
        self.checked(output, &format!("scp {} {}", from.display(), to.display())).map(drop)
    }

    /// Copies the folder `from` there into the local folder `to` (`scp -r`).
    ///
    /// # Errors
    ///
    /// scp could not run or failed.
    pub fn download_dir(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut command = Command::new("scp");
        command.args(self.options()).args(["-q", "-r", "-P", &self.entry.port.to_string()]);
        command.arg(format!("{}:{}", self.target(true), from.display())).arg(to);
        let output = command.stdin(Stdio::null()).output()?;
        self.checked(output, &format!("scp -r {}", from.display())).map(drop)
    }

    /// Closes the shared connection (`ssh -O exit`); errors are ignored: there may be none.
    pub fn close(&self) {
        let mut command = Command::new("ssh");
        command.args(self.options()).args(["-O", "exit", "-p", &self.entry.port.to_string()]);
        command.arg(self.target(false));
        let _ = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }

    /// The host's key, fetched with `ssh-keyscan` (trust on first use), as `TYPE BASE64`.
    ///
    /// # Errors
    ///
    /// ssh-keyscan failed or found no key.
    pub fn scan_host_key(entry: &HostEntry) -> io::Result<String> {
        let output = Command::new("ssh-keyscan")
            .args(["-T", &CONNECT_TIMEOUT_S.to_string(), "-t", "ed25519", "-p", &entry.port.to_string()])
            .arg(entry.address.to_string())
            .stdin(Stdio::null())
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.len() == 3).then(|| format!("{} {}", fields[1], fields[2]))
            })
            .ok_or_else(|| io::Error::other(format!("ssh-keyscan {}: no ed25519 host key", entry.address)))
    }

    /// The known_hosts line for this host and `key`.
    pub fn known_hosts_line(entry: &HostEntry, key: &str) -> String {
        let name = match (entry.address, entry.port) {
            (addr, 22) => addr.to_string(),
            (addr, port) => format!("[{addr}]:{port}"),
        };
        format!("{name} {key}\n")
    }
}

/// Signals a process started with a pid file, by the pid in that file, if it still runs the
/// program it was started as.
pub struct PidFile {
    /// The host.
    pub remote: Remote,
    /// The pid file there.
    pub path: PathBuf,
    /// The program's path there.
    pub program: PathBuf,
}

impl PidFile {
    /// A shell script sending `signal` to the process of the pid file `path` if it is still
    /// `program` (a pid reused by another process is left alone).
    pub fn script(path: &Path, program: &Path, signal: &str) -> String {
        format!(
            "p=$(cat {path} 2>/dev/null) && [ \"$(readlink /proc/$p/exe 2>/dev/null)\" = {program} ] && kill -{signal} $p; true",
            path = quote(&path.display().to_string()),
            program = quote(&program.display().to_string()),
        )
    }
}

impl RemoteStop for PidFile {
    fn signal(&self, signal: &str) -> io::Result<()> {
        self.remote.run(&PidFile::script(&self.path, &self.program, signal)).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(quote("--listen"), "--listen");
        assert_eq!(quote("10.0.0.1:0"), "10.0.0.1:0");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("{X|0:A:1}"), "'{X|0:A:1}'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }
}
