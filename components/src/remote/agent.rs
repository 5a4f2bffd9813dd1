//! The host agent: the same executable, started in agent mode, serving whatever
//! components its peers ask for (Service Weaver's single-binary model).
//!
//! A program calls [`run_if_agent`] first thing in `main`. In a normal start it
//! returns at once; when the process was started as an agent (by
//! [`AgentProcess::spawn`], which sets [`AGENT_ENV`]), it never returns: it serves
//! control requests until its parent goes away (its standard input closes).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hatch_transport::uring::Server;
use hatch_transport::{Config, MethodId, Service, ServiceError};
use parking_lot::Mutex;

use super::auth::{Key, TokenService, random};
use super::catalog::{Built, Catalog};
use super::error::{AgentError, ControlError};
use super::protocol::{CONTROL, LoadReport, Reply, Request, Served, Session, StateBlob};
use crate::state;

/// Environment variable that starts a process as an agent; its value is the
/// address to listen on (`127.0.0.1:0` picks a port).
pub const AGENT_ENV: &str = "HATCH_AGENT";
/// The line an agent prints on standard output once it listens, followed by its
/// control address.
pub const READY_LINE: &str = "HATCH-AGENT-READY";

/// Pending challenges an agent remembers; older ones are forgotten first.
const MAX_PENDING_CHALLENGES: usize = 256;
/// Sessions an agent remembers; older ones are forgotten first.
const MAX_SESSIONS: usize = 1024;
/// How long [`AgentProcess::spawn`] waits for the child's ready line.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Server threads per served instance.
const INSTANCE_THREADS: usize = 2;

/// Writes an agent log line on standard error (and to `tracing`).
pub(crate) fn log(message: &str) {
    tracing::warn!("{message}");
    eprintln!("hatch-remote[{}]: {message}", std::process::id());
}

/// Runs this process as an agent when [`AGENT_ENV`] is set, and never returns in
/// that case; returns at once otherwise. `catalog` is called only in agent mode.
///
/// The agent reads its key with [`Key::from_env`] (its parent hands it a private
/// key file, see [`AgentProcess::spawn`]), listens on the address in
/// [`AGENT_ENV`], prints `HATCH-AGENT-READY <addr>` on standard output, and exits
/// when its standard input reaches end of file (its parent closed it or died).
pub fn run_if_agent(catalog: impl FnOnce() -> Catalog) {
    let Ok(listen) = std::env::var(AGENT_ENV) else {
        return;
    };
    let code = match serve_until_stdin_closes(&listen, catalog()) {
        Ok(()) => 0,
        Err(err) => {
            log(&format!("agent failed: {err}"));
            1
        }
    };
    std::process::exit(code);
}

fn serve_until_stdin_closes(listen: &str, catalog: Catalog) -> Result<(), AgentError> {
    let addr: SocketAddr = listen.parse().map_err(|_| AgentError::Address(listen.to_string()))?;
    let agent = Agent::start(addr, Arc::new(catalog), Key::from_env()?)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{READY_LINE} {}", agent.addr())?;
    stdout.flush()?;
    drop(stdout);
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink);
    agent.shutdown();
    Ok(())
}

/// Where an agent listens, what it advertises, and whom it gossips with.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The control address to bind (`0.0.0.0:7000` listens on every interface; port 0 picks
    /// one). Served instances bind the same IP.
    pub listen: SocketAddr,
    /// The IP other hosts reach this agent at: its control address, its instances' addresses
    /// and its gossip identity. Default (`None`): the listen IP, or for a listen address on
    /// every interface, the local address of the route towards the first seed (without seeds,
    /// of the default route); never `0.0.0.0`.
    pub advertise: Option<IpAddr>,
    /// Members to announce this agent to. Default: none.
    pub seeds: Vec<SocketAddr>,
}

impl AgentConfig {
    /// Listens on `listen`, advertises the default, joins no one.
    pub fn new(listen: SocketAddr) -> Self {
        Self { listen, advertise: None, seeds: Vec::new() }
    }

    /// The IP to advertise; see [`AgentConfig::advertise`].
    pub fn advertised_ip(&self) -> Result<IpAddr, AgentError> {
        if let Some(ip) = self.advertise {
            if ip.is_unspecified() {
                return Err(AgentError::Advertise(format!("{ip} is not an address others can reach")));
            }
            return Ok(ip);
        }
        if !self.listen.ip().is_unspecified() {
            return Ok(self.listen.ip());
        }
        // Connecting a UDP socket sends nothing; it only picks the route and its source address.
        // Without seeds, the route towards a TEST-NET address is the default route.
        let towards = self.seeds.first().copied().unwrap_or_else(|| match self.listen {
            SocketAddr::V4(_) => SocketAddr::from(([192, 0, 2, 1], 9)),
            SocketAddr::V6(_) => SocketAddr::new("2001:db8::1".parse().expect("literal"), 9),
        });
        let any = SocketAddr::new(self.listen.ip(), 0);
        let probe = std::net::UdpSocket::bind(any).and_then(|socket| {
            socket.connect(towards)?;
            socket.local_addr()
        });
        match probe {
            Ok(local) if !local.ip().is_unspecified() => Ok(local.ip()),
            Ok(local) => Err(AgentError::Advertise(format!("the route towards {towards} has source {local}"))),
            Err(err) => Err(AgentError::Advertise(format!("no route towards {towards}: {err}"))),
        }
    }
}

/// An agent serving in this process: its control server and the instances it runs.
/// Usable directly (in-process, e.g. in tests); [`run_if_agent`] wraps one.
pub struct Agent {
    control: Option<Server>,
    state: Arc<AgentState>,
    /// Gossip on the UDP port numbered like the control port, when it was free.
    membership: Option<super::membership::Membership>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("addr", &self.addr()).finish()
    }
}

struct AgentState {
    catalog: Arc<Catalog>,
    key: Key,
    /// The IP instances bind.
    ip: IpAddr,
    /// The IP in the addresses this agent hands out.
    advertise: IpAddr,
    addr: Mutex<Option<SocketAddr>>,
    /// Agent nonce -> client nonce, single-use, oldest first.
    pending: Mutex<VecDeque<([u8; 32], [u8; 32])>>,
    sessions: Mutex<(HashSet<Session>, VecDeque<Session>)>,
    instances: Mutex<HashMap<u64, Instance>>,
    next_instance: AtomicU64,
}

struct Instance {
    server: Server,
    service: Arc<TokenService>,
    export: Box<dyn Fn() -> Option<Result<StateBlob, crate::StateError>> + Send + Sync>,
}

impl Agent {
    /// Starts an agent listening on `addr` for control connections of hosts
    /// holding `key`; served instances listen on the same IP. See [`Agent::start_with`].
    pub fn start(addr: SocketAddr, catalog: Arc<Catalog>, key: Key) -> Result<Agent, AgentError> {
        Self::start_with(&AgentConfig::new(addr), catalog, key)
    }

    /// Starts an agent as `config` says: control server on [`AgentConfig::listen`], addresses
    /// handed out (its own, its instances', its gossip identity) on
    /// [`AgentConfig::advertised_ip`], gossip announced to [`AgentConfig::seeds`].
    pub fn start_with(config: &AgentConfig, catalog: Arc<Catalog>, key: Key) -> Result<Agent, AgentError> {
        let advertise = config.advertised_ip()?;
        let addr = config.listen;
        let state = Arc::new(AgentState {
            catalog,
            key,
            ip: addr.ip(),
            advertise,
            addr: Mutex::new(None),
            pending: Mutex::new(VecDeque::new()),
            sessions: Mutex::new((HashSet::new(), VecDeque::new())),
            instances: Mutex::new(HashMap::new()),
            next_instance: AtomicU64::new(1),
        });
        let service = Arc::new(ControlService(state.clone()));
        let control = Server::bind(addr, super::protocol::control_config(), service, 1)?;
        let control_addr = SocketAddr::new(advertise, control.local_addr().port());
        *state.addr.lock() = Some(control_addr);
        tracing::info!(listen = %control.local_addr(), advertise = %control_addr, "agent started");
        let membership = match super::membership::Membership::start(control_addr, state.key.clone(), &config.seeds) {
            Ok(membership) => Some(membership),
            Err(err) => {
                log(&format!("no membership gossip on {control_addr}: {err}"));
                None
            }
        };
        Ok(Agent { control: Some(control), state, membership })
    }

    /// The control address, as advertised to other hosts.
    pub fn addr(&self) -> SocketAddr {
        self.state.addr.lock().expect("set at start")
    }

    /// Instances served now.
    pub fn instances(&self) -> usize {
        self.state.instances.lock().len()
    }

    /// Stops every instance and the control server.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        drop(self.membership.take());
        if let Some(control) = self.control.take() {
            control.shutdown();
        }
        let instances: Vec<Instance> = self.state.instances.lock().drain().map(|(_, i)| i).collect();
        for instance in instances {
            instance.server.shutdown();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop_all();
    }
}

struct ControlService(Arc<AgentState>);

impl Service for ControlService {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        if method != CONTROL {
            return Err(ServiceError::unknown_method(method));
        }
        let request: Request = state::decode(payload).map_err(|e| {
            log(&format!("malformed control request ({} bytes): {e}", payload.len()));
            ServiceError::bad_request(format!("malformed control request: {e}"))
        })?;
        let answer = match self.0.handle(request) {
            Ok(answer) => answer,
            Err(err) => Reply::Error(err),
        };
        let bytes = state::encode(&answer).map_err(|e| ServiceError::bad_request(e.to_string()))?;
        reply.extend_from_slice(&bytes);
        Ok(())
    }
}

impl AgentState {
    fn handle(&self, request: Request) -> Result<Reply, ControlError> {
        match request {
            Request::Challenge { client_nonce } => {
                let agent_nonce = random::<32>().map_err(|e| ControlError::Busy(e.to_string()))?;
                let proof = self.key.mac(b"hatch/agent", &[&client_nonce, &agent_nonce]);
                let mut pending = self.pending.lock();
                if pending.len() >= MAX_PENDING_CHALLENGES {
                    pending.pop_front();
                }
                pending.push_back((agent_nonce, client_nonce));
                Ok(Reply::Challenge { agent_nonce, proof })
            }
            Request::Authenticate { agent_nonce, proof } => {
                let client_nonce = {
                    let mut pending = self.pending.lock();
                    let found = pending.iter().position(|(a, _)| *a == agent_nonce);
                    found.and_then(|i| pending.remove(i)).map(|(_, c)| c)
                };
                let Some(client_nonce) = client_nonce else {
                    log("refused a control connection: unknown or reused challenge");
                    return Err(ControlError::AuthenticationFailed("unknown or reused challenge".into()));
                };
                if !self.key.verify(b"hatch/client", &[&agent_nonce, &client_nonce], &proof) {
                    log("refused a control connection: wrong challenge response (the peer does not hold our key)");
                    return Err(ControlError::AuthenticationFailed(
                        "wrong challenge response: the hosts do not share a key".into(),
                    ));
                }
                let session: Session = random::<16>().map_err(|e| ControlError::Busy(e.to_string()))?;
                let mut sessions = self.sessions.lock();
                let (set, order) = &mut *sessions;
                if order.len() >= MAX_SESSIONS
                    && let Some(old) = order.pop_front()
                {
                    set.remove(&old);
                }
                set.insert(session);
                order.push_back(session);
                Ok(Reply::Authenticated { session })
            }
            Request::Instantiate { session, interface, composition, state } => {
                self.check(&session)?;
                self.instantiate(&interface, &composition, state.as_ref()).map(Reply::Served)
            }
            Request::Stop { session, instance, export_state } => {
                self.check(&session)?;
                let mut instances = self.instances.lock();
                let entry = instances.get(&instance).ok_or(ControlError::UnknownInstance(instance))?;
                // Export before anything is shut down: a failed export leaves the instance
                // served, its state intact.
                let state = if export_state {
                    (entry.export)().transpose().map_err(|e| ControlError::State(e.to_string()))?
                } else {
                    None
                };
                let entry = instances.remove(&instance).expect("looked up above");
                drop(instances);
                // The answer does not wait for the server's graceful close (a lingering close
                // waits for idle clients to go quiet): the caller has already moved on.
                shut_down_in_background(entry);
                Ok(Reply::Stopped { state })
            }
            Request::Export { session, instance } => {
                self.check(&session)?;
                let instances = self.instances.lock();
                let entry = instances.get(&instance).ok_or(ControlError::UnknownInstance(instance))?;
                let state = (entry.export)().transpose().map_err(|e| ControlError::State(e.to_string()))?;
                Ok(Reply::Exported { state })
            }
            Request::Load { session } => {
                self.check(&session)?;
                let instances = self.instances.lock();
                Ok(Reply::Load(LoadReport {
                    instances: instances.len() as u32,
                    calls: instances.values().map(|i| i.service.calls.load(Ordering::Relaxed)).sum(),
                    cpu_micros: cpu_micros(),
                }))
            }
        }
    }

    fn check(&self, session: &Session) -> Result<(), ControlError> {
        if self.sessions.lock().0.contains(session) {
            Ok(())
        } else {
            log("refused a control request without a valid session");
            Err(ControlError::Unauthenticated)
        }
    }

    fn instantiate(
        &self,
        interface: &str,
        composition: &str,
        state: Option<&StateBlob>,
    ) -> Result<Served, ControlError> {
        let build_error = |reason: String| ControlError::Build { composition: composition.to_string(), reason };
        let parsed = composition.parse().map_err(|e: crate::CompositionError| build_error(e.to_string()))?;
        let Built { service, export } = match self.catalog.serve(interface, &parsed, state) {
            None => return Err(ControlError::UnknownInterface(interface.to_string())),
            Some(Err(super::error::BuildError::State(e))) => return Err(ControlError::State(e.to_string())),
            Some(Err(e)) => return Err(build_error(e.to_string())),
            Some(Ok(built)) => built,
        };
        let fingerprint = self.catalog.fingerprint(interface).expect("remotable: served above");
        let instance = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let salt = random::<16>().map_err(|e| ControlError::Busy(e.to_string()))?;
        let token = self.key.data_token(&salt, instance);
        let service = Arc::new(TokenService::new(service, token, format!("{interface} instance {instance}")));
        let server = Server::bind(
            SocketAddr::new(self.ip, 0),
            Config::default().fingerprint(fingerprint),
            service.clone(),
            INSTANCE_THREADS,
        )
        .map_err(|e| ControlError::Serve(e.to_string()))?;
        let addr = SocketAddr::new(self.advertise, server.local_addr().port()).to_string();
        self.instances.lock().insert(instance, Instance { server, service, export });
        Ok(Served { instance, addr, salt, fingerprint })
    }
}

/// Shuts a stopped instance's server down on a thread of its own; the calls it still serves
/// finish, then its connections close.
fn shut_down_in_background(instance: Instance) {
    let spawned = std::thread::Builder::new().name("hatch-stop".into()).spawn(move || instance.server.shutdown());
    if let Err(err) = spawned {
        // The closure, and with it the server, was dropped, which stopped it here: slower,
        // but nothing is left running.
        log(&format!("no thread to stop an instance in the background ({err})"));
    }
}

/// CPU time of this process, user plus system, in microseconds.
fn cpu_micros() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` points to writable memory of the right size; RUSAGE_SELF is valid.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return 0;
    }
    // SAFETY: getrusage succeeded, so it initialised the struct (and zeroed() did before).
    let usage = unsafe { usage.assume_init() };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// An agent running as a child process of this one. Dropping it kills and reaps
/// the child, so tests and demos never leave agents behind, even when they fail.
#[derive(Debug)]
pub struct AgentProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
}

impl AgentProcess {
    /// Starts `command` as an agent listening on `listen`, handing it `key`, and
    /// waits until it reports its address. `command` should run this same
    /// executable, whose `main` calls [`run_if_agent`] first (for a test binary:
    /// itself, with arguments that select a test calling it).
    pub fn spawn(mut command: Command, listen: &str, key: &Key) -> Result<AgentProcess, AgentError> {
        // The key travels in a private file (0600 in a 0700 directory), never in the child's
        // environment, and the file is gone once the child has read it (it is ready).
        let (key_dir, key_path) = key.write_private("agent.key")?;
        let key_dir = KeyDir(key_dir);
        command
            .env(AGENT_ENV, listen)
            .env(super::auth::KEY_FILE_ENV, &key_path)
            .env_remove(super::auth::KEY_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped above");
        let mut guard = AgentProcess { child, stdin, addr: SocketAddr::from(([0, 0, 0, 0], 0)) };
        // A thread reads the ready line, then keeps draining the child's standard
        // output so a chatty child never blocks on a full pipe.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix(READY_LINE) {
                    let _ = ready_tx.send(addr.trim().to_string());
                    break;
                }
            }
            for _ in lines {}
        });
        let ready = ready_rx.recv_timeout(READY_TIMEOUT);
        drop(key_dir);
        match ready {
            Ok(addr) => {
                guard.addr = addr.parse().map_err(|_| AgentError::Address(addr))?;
                Ok(guard)
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = guard.child.wait()?;
                Err(AgentError::NotReady(status.to_string()))
            }
            // The guard kills and reaps the child.
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(AgentError::NotReady(format!("no ready line within {READY_TIMEOUT:?}")))
            }
        }
    }

    /// Starts this executable as an agent with `args`; see [`AgentProcess::spawn`].
    pub fn spawn_self(args: &[&str], listen: &str, key: &Key) -> Result<AgentProcess, AgentError> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(args);
        Self::spawn(command, listen, key)
    }

    /// The agent's control address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the agent at once with SIGKILL (a crashed host) and reaps it.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }
}

/// A private directory holding a key file; removed on drop.
struct KeyDir(std::path::PathBuf);

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use hatch_transport::uring::Client;
    use hatch_transport::{Channel, ErrorCode, RemoteError};

    fn ask(client: &Client, request: &Request) -> Reply {
        let bytes = state::encode(request).unwrap();
        state::decode(&client.call(CONTROL, &bytes, None).unwrap()).unwrap()
    }

    #[test]
    fn agent_refuses_wrong_proofs_replays_forged_sessions_and_garbage() {
        let key = Key::generate().unwrap();
        let agent =
            Agent::start("127.0.0.1:0".parse().unwrap(), Arc::new(Catalog::new(Registry::new())), key.clone()).unwrap();
        let client = Client::connect(agent.addr(), super::super::protocol::control_config()).unwrap();

        // Garbage: a typed error for this request, and the connection still serves the next.
        match client.call(CONTROL, b"\x01\x02garbage", None) {
            Err(RemoteError::Service { code, .. }) => assert_eq!(code, ErrorCode::BadRequest),
            other => panic!("garbage accepted: {other:?}"),
        }
        let client_nonce = [9; 32];
        let Reply::Challenge { agent_nonce, proof } = ask(&client, &Request::Challenge { client_nonce }) else {
            panic!("no challenge")
        };
        assert!(key.verify(b"hatch/agent", &[&client_nonce, &agent_nonce], &proof), "the agent proves its key");

        // A response made with another key is refused, and burns the challenge.
        let wrong = Key::generate().unwrap().mac(b"hatch/client", &[&agent_nonce, &client_nonce]);
        let refused = ask(&client, &Request::Authenticate { agent_nonce, proof: wrong });
        assert!(matches!(refused, Reply::Error(ControlError::AuthenticationFailed(_))), "{refused:?}");
        let right = key.mac(b"hatch/client", &[&agent_nonce, &client_nonce]);
        let replayed = ask(&client, &Request::Authenticate { agent_nonce, proof: right });
        assert!(matches!(replayed, Reply::Error(ControlError::AuthenticationFailed(_))), "{replayed:?}");

        // Requests without a session are refused.
        let forged = ask(&client, &Request::Stop { session: [1; 16], instance: 1, export_state: true });
        assert!(matches!(forged, Reply::Error(ControlError::Unauthenticated)), "{forged:?}");

        // A fresh challenge answered with the key succeeds.
        let Reply::Challenge { agent_nonce, .. } = ask(&client, &Request::Challenge { client_nonce }) else {
            panic!("no challenge")
        };
        let proof = key.mac(b"hatch/client", &[&agent_nonce, &client_nonce]);
        let Reply::Authenticated { session } = ask(&client, &Request::Authenticate { agent_nonce, proof }) else {
            panic!("not authenticated")
        };
        let missing = ask(&client, &Request::Stop { session, instance: 7, export_state: false });
        assert!(matches!(missing, Reply::Error(ControlError::UnknownInstance(7))), "{missing:?}");
    }
}
