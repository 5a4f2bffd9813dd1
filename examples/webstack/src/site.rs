//! The whole platform in one value: the data set, the catalog, the agents, the placed
//! composition and the front end's server, started and stopped together. `hatch-web serve` is
//! a thin wrapper over [`Platform`]; tests start it in-process the same way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use hatch_components::Space;
use hatch_components::remote::{AgentProcess, Catalog, Host, Key, Placed, PlacedSystem};

use crate::api::http::Frontend;
use crate::dataset::{self, Shape};
use crate::learn::{LearnConfig, Learner, Progress};
use crate::parts::{Settings, catalog};
use crate::server::{Server, ServerConfig};

/// The composition a server runs when told none: everything local, caching (LRU) and
/// compressing (gzip) the static content, scripts batching their sends and reading through the
/// sharded memo.
pub const DEFAULT_COMPOSITION: &str = "{WebFrontend,CachingCompressingHandler,LruCache,Gzip,BatchedScript,\
                                       MemoArticles,ShardedMemo,Sqlite|0:HttpHandler:1,1:Cache:2,1:Compressor:3,\
                                       1:Script:4,4:Articles:5,5:Memo:6,5:Database:7}";

/// How to start a [`Platform`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the front end listens.
    pub listen: SocketAddr,
    /// The data folder, and how much to generate there on first start.
    pub data: PathBuf,
    /// The data set's shape.
    pub shape: Shape,
    /// Script work units per dynamic request when the request names none.
    pub default_cost: u32,
    /// The composition: an identifier (placed or not; `@k` names the k-th agent) or the index
    /// of a local composition. [`DEFAULT_COMPOSITION`] when `None`.
    pub composition: Option<String>,
    /// Child agents to start.
    pub agents: usize,
    /// The executable to start agents from (this one when `None`); it must call
    /// `run_if_agent` through `hatch-web agent`.
    pub agent_binary: Option<PathBuf>,
    /// Agents running already (daemons), numbered after the children.
    pub remote_agents: Vec<SocketAddr>,
    /// The cluster key (a fresh one when `None`, which only child agents can use).
    pub key: Option<Key>,
    /// The front end's limits and timeouts.
    pub server: ServerConfig,
    /// The CPU the child agents are pinned to (`sched_setaffinity`), if any.
    pub agent_cpu: Option<usize>,
}

impl Options {
    /// Defaults: listen on an ephemeral loopback port, the default shape, cost 20, the default
    /// composition, no agents.
    pub fn new(data: PathBuf) -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data,
            shape: Shape::default(),
            default_cost: 20,
            composition: None,
            agents: 0,
            agent_binary: None,
            remote_agents: Vec::new(),
            key: None,
            server: ServerConfig::default(),
            agent_cpu: None,
        }
    }
}

/// A running platform. Dropping it shuts the server down, brings placed components home and
/// stops the child agents.
pub struct Platform {
    server: Option<Server>,
    system: Option<PlacedSystem>,
    catalog: Arc<Catalog>,
    settings: Settings,
    agents: Vec<AgentProcess>,
    addrs: Vec<SocketAddr>,
    hosts: BTreeMap<String, Arc<Host>>,
    learner: Option<Learner>,
}

impl Platform {
    /// Generates the data set if need be, starts the agents, assembles the composition and
    /// starts serving.
    ///
    /// # Errors
    ///
    /// Any step's, as text.
    pub fn start(options: Options) -> Result<Platform, Box<dyn std::error::Error + Send + Sync>> {
        dataset::ensure(&options.data, &options.shape, dataset::SEED)?;
        let settings = Settings { default_cost: options.default_cost, ..Settings::new(options.data.clone()) };
        let catalog = Arc::new(catalog(&settings));
        let space = catalog.registry().space::<dyn Frontend>()?;
        let key = match options.key.clone() {
            Some(key) => key,
            None => Key::generate()?,
        };
        let binary = match &options.agent_binary {
            Some(binary) => binary.clone(),
            None => std::env::current_exe()?,
        };
        let mut agents = Vec::new();
        for _ in 0..options.agents {
            let mut command = Command::new(&binary);
            command.args(agent_args(&options));
            if let Some(cpu) = options.agent_cpu {
                use std::os::unix::process::CommandExt;
                // SAFETY: between fork and exec only the async-signal-safe `sched_setaffinity`
                // runs, on a set built on the child's own stack.
                unsafe {
                    command.pre_exec(move || pin_to(cpu));
                }
            }
            agents.push(AgentProcess::spawn(command, "127.0.0.1:0", &key)?);
        }
        let addrs: Vec<SocketAddr> = agents.iter().map(AgentProcess::addr).chain(options.remote_agents).collect();
        let mut hosts = BTreeMap::new();
        for addr in &addrs {
            hosts.insert(addr.to_string(), Arc::new(Host::connect(*addr, &key)?));
        }
        let placed = parse_composition(&space, options.composition.as_deref(), &addrs)?;
        let system = PlacedSystem::assemble(&space, catalog.clone(), hosts.clone(), &placed)?;
        let server = Server::start(options.listen, options.server, system.system().root::<dyn Frontend>()?)?;
        Ok(Platform {
            server: Some(server),
            system: Some(system),
            catalog,
            settings,
            agents,
            addrs,
            hosts,
            learner: None,
        })
    }

    /// Where the front end listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").local_addr()
    }

    /// The front end's server (its counters).
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    /// The placed composition in force.
    pub fn placed(&self) -> Placed {
        match (&self.system, &self.learner) {
            (Some(system), _) => system.placed(),
            (None, Some(learner)) => learner.progress().placed().parse().expect("a placed identifier"),
            (None, None) => unreachable!("a platform always has its system or its learner"),
        }
    }

    /// Hands the system to a live learner ([`crate::learn`]) that distributes it while it
    /// serves, until [`stop_learning`](Self::stop_learning).
    ///
    /// # Errors
    ///
    /// If it learns already, or the running placement is outside the learner's decisions.
    pub fn learn(&mut self, config: LearnConfig) -> Result<Arc<Progress>, Box<dyn std::error::Error + Send + Sync>> {
        let system = self.system.take().ok_or("the platform is learning already")?;
        let agents = self.addrs.iter().map(SocketAddr::to_string).collect();
        match Learner::start(system, agents, &self.settings, config) {
            Ok(learner) => {
                let progress = learner.progress().clone();
                self.learner = Some(learner);
                Ok(progress)
            }
            Err(refused) => {
                let (error, system) = *refused;
                self.system = Some(system);
                Err(error.into())
            }
        }
    }

    /// Stops the live learner, keeping the design it runs.
    pub fn stop_learning(&mut self) {
        if let Some(learner) = self.learner.take() {
            self.system = Some(learner.stop());
        }
    }

    /// The agents' control addresses, `@1` first.
    pub fn agents(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The catalog and the settings its variants were built with.
    pub fn catalog(&self) -> (&Arc<Catalog>, &Settings) {
        (&self.catalog, &self.settings)
    }

    /// Moves the running system to `composition` (as [`Options::composition`]) while it
    /// serves.
    ///
    /// # Errors
    ///
    /// If the identifier is bad or a step of the transition fails.
    pub fn transition(&mut self, composition: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let system = self.system.as_mut().ok_or("the platform is learning: stop it first")?;
        let placed = parse_composition(system.system().space(), Some(composition), &self.addrs)?;
        system.transition(&placed)?;
        Ok(())
    }

    /// The connected agents, by control address.
    pub fn hosts(&self) -> &BTreeMap<String, Arc<Host>> {
        &self.hosts
    }

    /// Stops serving (gracefully), brings placed components home, stops the agents.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        self.stop_learning();
        if let Some(mut system) = self.system.take() {
            // Home first, so a stateful component's state is not lost with its agent.
            let home = Placed::local(system.system().composition().clone());
            if let Err(error) = system.transition(&home) {
                tracing::warn!(%error, "bringing components home at shutdown");
            }
        }
        self.agents.clear();
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop();
    }
}

fn agent_args(options: &Options) -> Vec<String> {
    let shape = if options.shape == Shape::small() { "small" } else { "default" };
    let data = options.data.display().to_string();
    let cost = options.default_cost.to_string();
    ["agent", "--data", &data, "--shape", shape, "--cost", &cost].map(String::from).to_vec()
}

/// A composition given as an identifier (placed or not, `@k` naming the k-th of `agents`) or as
/// the index of a local composition; [`DEFAULT_COMPOSITION`] for `None`.
///
/// # Errors
///
/// A bad identifier, an index out of range or an `@k` with no such agent.
pub fn parse_composition(
    space: &Space,
    given: Option<&str>,
    agents: &[SocketAddr],
) -> Result<Placed, Box<dyn std::error::Error + Send + Sync>> {
    let given = given.unwrap_or(DEFAULT_COMPOSITION).trim();
    if let Ok(index) = given.parse::<u64>() {
        return Ok(Placed::local(space.composition(index)?));
    }
    let mut text = String::with_capacity(given.len());
    let mut rest = given;
    while let Some(at) = rest.find('@') {
        text.push_str(&rest[..at]);
        let digits: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        let k: usize = digits.parse().map_err(|_| format!("`@` names an agent by number in `{given}`"))?;
        let addr = k.checked_sub(1).and_then(|i| agents.get(i)).ok_or_else(|| format!("no agent @{k}"))?;
        text.push_str(&addr.to_string());
        rest = &rest[at + 1 + digits.len()..];
    }
    text.push_str(rest);
    let placed: Placed = text.parse()?;
    // Checks the composition against the space (variants exist, wiring is right).
    space.index_of(placed.composition())?;
    Ok(placed)
}

/// Pins the calling thread, and every thread it starts from now on, to `cpu`.
///
/// # Errors
///
/// The kernel's (no such CPU, or not allowed).
pub fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: `cpu_set_t` is plain data, zeroed is the empty set; `CPU_SET` writes inside it
    // (the bound is checked first); `sched_setaffinity(0, …)` reads it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Blocks SIGINT and SIGTERM in this thread and every thread it starts from now on, so that
/// [`wait_for_termination`] receives them. Call it first in `main`.
pub fn block_termination_signals() {
    // SAFETY: `sigemptyset`/`sigaddset` initialise the set we own on the stack;
    // `pthread_sigmask` only changes this thread's mask (inherited by threads started later).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for SIGINT or SIGTERM (blocked beforehand by [`block_termination_signals`]).
pub fn wait_for_termination() {
    block_termination_signals();
    // SAFETY: as above; `sigwait` writes the received signal into `signal`, which we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let mut signal = 0;
        libc::sigwait(&set, &mut signal);
    }
}
