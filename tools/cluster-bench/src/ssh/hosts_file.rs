//! The `--hosts` file: which servers to run on and how to reach them.
//!
//! ```toml
//! # The address of this machine as the hosts reach it: the front end listens on it (and the
//! # load generator, on this machine, connects to it).
//! front = "192.168.1.10"
//!
//! [[host]]
//! address = "192.168.1.11"      # IPv4 or IPv6 address the agents listen on
//! user = "bench"                # ssh user (default: root)
//! port = 22                     # ssh port (default: 22)
//! key = "/home/me/.ssh/rack"    # private key for this host (ssh -i)
//! role = "agent"                # "agent" (default) or "load"
//! dir = "/tmp/hatch-cluster-bench" # working folder on the host (default; removed at the end)
//! # The host's public key as in known_hosts (`ssh-keyscan -t ed25519 HOST`, without the
//! # address). Without it the key is fetched once per run with ssh-keyscan (trust on first use).
//! host_key = "ssh-ed25519 AAAAC3Nza..."
//! ```
//!
//! Agent hosts become hosts `1..` of the cluster, in file order; host 0 is this machine.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What a host is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs agent daemons.
    #[default]
    Agent,
    /// Runs the load generator (`hatch-load`).
    Load,
}

/// One server.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// Where it is reached, by ssh and by the other hosts.
    pub address: IpAddr,
    /// The ssh user.
    #[serde(default = "default_user")]
    pub user: String,
    /// The ssh port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The ssh private key.
    pub key: PathBuf,
    /// Agent or load client.
    #[serde(default)]
    pub role: Role,
    /// The working folder on the host.
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// Its public host key (`TYPE BASE64`), if known.
    pub host_key: Option<String>,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostsFile {
    /// This machine's address as the hosts see it.
    pub front: IpAddr,
    /// The servers.
    #[serde(rename = "host", default)]
    pub hosts: Vec<HostEntry>,
}

fn default_user() -> String {
    "root".into()
}

fn default_port() -> u16 {
    22
}

fn default_dir() -> PathBuf {
    PathBuf::from("/tmp/hatch-cluster-bench")
}

impl HostsFile {
    /// Parses and checks `text`.
    ///
    /// # Errors
    ///
    /// `InvalidData` with the TOML error, or a checked field that is wrong: no agent host, a
    /// relative working folder, a user or folder the remote shell could misread.
    pub fn parse(text: &str) -> io::Result<HostsFile> {
        let file: HostsFile = toml::from_str(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidData, message));
        if !file.hosts.iter().any(|h| h.role == Role::Agent) {
            return invalid("the hosts file names no host with role \"agent\"".into());
        }
        for host in &file.hosts {
            let dir = host.dir.to_string_lossy();
            // The folder is removed at the end: it must be absolute and deep enough not to be
            // a system folder, and plain enough for a shell.
            if !host.dir.is_absolute() || host.dir.components().count() < 3 || !plain(&dir) {
                return invalid(format!(
                    "host {}: dir {dir:?} must be an absolute path two levels deep or more, of letters, digits and ._-/",
                    host.address
                ));
            }
            if host.user.is_empty() || !plain(&host.user) || host.user.starts_with('-') {
                return invalid(format!("host {}: user {:?} is not a plain user name", host.address, host.user));
            }
            if let Some(key) = &host.host_key
                && key.split_whitespace().count() != 2
            {
                return invalid(format!("host {}: host_key must be `TYPE BASE64`", host.address));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for host in &file.hosts {
            if !seen.insert((host.address, host.dir.clone())) {
                return invalid(format!("host {} with dir {} is listed twice", host.address, host.dir.display()));
            }
        }
        Ok(file)
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// Reading, or [`HostsFile::parse`].
    pub fn read(path: &Path) -> io::Result<HostsFile> {
        let text =
            std::fs::read_to_string(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        HostsFile::parse(&text).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }
}

/// Letters, digits and `._-/`: safe unquoted in a shell and in scp's remote paths.
fn plain(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_file_parses_with_defaults() {
        let file = HostsFile::parse(
            "front = \"10.0.0.1\"\n\
             [[host]]\naddress = \"10.0.0.2\"\nkey = \"/k\"\n\
             [[host]]\naddress = \"10.0.0.3\"\nuser = \"bench\"\nport = 2222\nkey = \"/k\"\nrole = \"load\"\n\
             dir = \"/srv/hatch/run\"\nhost_key = \"ssh-ed25519 AAAA\"\n",
        )
        .unwrap();
        assert_eq!(file.front, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(file.hosts[0].user, "root");
        assert_eq!(file.hosts[0].port, 22);
        assert_eq!(file.hosts[0].role, Role::Agent);
        assert_eq!(file.hosts[0].dir, PathBuf::from("/tmp/hatch-cluster-bench"));
        assert_eq!(file.hosts[1].role, Role::Load);
        assert_eq!(file.hosts[1].port, 2222);
    }

    #[test]
    fn bad_files_are_refused() {
        let host =
            |extra: &str| format!("front = \"10.0.0.1\"\n[[host]]\naddress = \"10.0.0.2\"\nkey = \"/k\"\n{extra}");
        for bad in [
            "front = \"10.0.0.1\"\n".to_owned(),
            host("role = \"load\"\n"),
            host("dir = \"/tmp\"\n"),
            host("dir = \"tmp/x/y\"\n"),
            host("dir = \"/tmp/a b\"\n"),
            host("user = \"-oProxyCommand=x\"\n"),
            host("user = \"a;b\"\n"),
            host("host_key = \"AAAA\"\n"),
            host("colour = \"red\"\n"),
            host("port = 70000\n"),
            "front = \"nowhere\"\n".to_owned(),
        ] {
            assert!(HostsFile::parse(&bad).is_err(), "{bad}");
        }
    }
}
