//! Where the platform's processes run, whatever the hosts are: an emulated [`Rack`] on this
//! machine or real servers reached over ssh ([`crate::ssh::SshCluster`]). The scenarios and
//! [`crate::deploy`] see only this trait, so every scenario runs on either.
//!
//! Host 0 is the front end's (the caller's, for `primes`); hosts `1..` run agents.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use hatch_load::{Plan, Report};

use crate::rack::Rack;

/// The programs a cluster starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `hatch-web` (front end and web agents).
    Web,
    /// `cluster-bench-primes` (the `primes` scenario's caller and agents).
    Primes,
    /// `cluster-bench-load` (the load generator of a load-client host).
    Load,
}

/// Where the programs are on this machine: what a [`Rack`] runs, and what an ssh cluster
/// copies to its hosts.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `hatch-web`.
    pub web: PathBuf,
    /// `cluster-bench-primes`.
    pub primes: PathBuf,
    /// `cluster-bench-load`.
    pub load: PathBuf,
}

impl Binaries {
    /// The path of `program`.
    pub fn path(&self, program: Program) -> &PathBuf {
        match program {
            Program::Web => &self.web,
            Program::Primes => &self.primes,
            Program::Load => &self.load,
        }
    }
}

/// A process a cluster started: the local child (the process itself on a rack, its `ssh`
/// client on a remote host), with standard output piped, and how to stop it.
pub struct Started {
    /// The local child.
    pub child: Child,
    /// How to stop the process where it runs, when killing the local child is not enough.
    pub remote: Option<Box<dyn RemoteStop>>,
}

/// Stops a process on another machine.
pub trait RemoteStop: Send {
    /// Sends it `signal` (`TERM` or `KILL`); errors are the caller's to log.
    fn signal(&self, signal: &str) -> io::Result<()>;
}

/// A set of hosts to run the platform on.
pub trait Cluster: Sync {
    /// Number of hosts, the front end's included.
    fn hosts(&self) -> usize;

    /// The address other hosts reach `host` at (agents listen on it).
    fn addr(&self, host: usize) -> IpAddr;

    /// The data folder on `host`.
    fn data_dir(&self, host: usize) -> PathBuf;

    /// The cluster key file on `host`.
    fn key_file(&self, host: usize) -> PathBuf;

    /// Starts `program` with `args` on `host`, standard output piped, standard error to this
    /// process's (remote logs are also kept on the host, see the implementation).
    ///
    /// # Errors
    ///
    /// The process could not be started.
    fn start(&self, host: usize, program: Program, args: &[String]) -> io::Result<Started>;

    /// The CPUs each host may use, when it is limited (an emulated rack's quota).
    fn cpu_quota(&self) -> Option<f64>;

    /// What the hosts are, for the output of a run.
    fn description(&self) -> String;

    /// Runs the load `plan` against the front end from this cluster's load generator: this
    /// machine unless the cluster has a load-client host.
    ///
    /// # Errors
    ///
    /// Those of [`hatch_load::run`], or a remote load generator that fails.
    fn run_load(&self, plan: &Plan, progress: bool) -> io::Result<Report> {
        hatch_load::run(plan, progress)
    }
}

/// An emulated rack with the binaries it runs: every file is on this machine's file system.
pub struct RackCluster<'a> {
    /// The rack.
    pub rack: &'a Rack,
    /// The programs.
    pub binaries: Binaries,
    /// The data folder all hosts share.
    pub data: PathBuf,
    /// The key file all hosts share.
    pub key_file: PathBuf,
}

impl Cluster for RackCluster<'_> {
    fn hosts(&self) -> usize {
        self.rack.hosts().len()
    }

    fn addr(&self, host: usize) -> IpAddr {
        self.rack.hosts()[host].addr
    }

    fn data_dir(&self, _host: usize) -> PathBuf {
        self.data.clone()
    }

    fn key_file(&self, _host: usize) -> PathBuf {
        self.key_file.clone()
    }

    fn start(&self, host: usize, program: Program, args: &[String]) -> io::Result<Started> {
        let mut command: Command = self.rack.command(host, self.binaries.path(program));
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        // Not through `Rack::spawn`: the caller's `Process` stops it, and the rack's teardown
        // finds it by its host tag if that did not happen.
        Ok(Started { child: command.spawn()?, remote: None })
    }

    fn cpu_quota(&self) -> Option<f64> {
        self.rack.cpu_quota()
    }

    fn description(&self) -> String {
        self.rack.description()
    }
}
