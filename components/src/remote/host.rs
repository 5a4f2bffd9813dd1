//! [`Host`]: an authenticated control connection to a remote agent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hatch_transport::Channel;
use hatch_transport::uring::Client;

use super::auth::{Key, random};
use super::error::HostError;
use super::protocol::{CONTROL, LoadReport, Reply, Request, Served, Session, StateBlob};
use crate::state;

/// How long one control request may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// A remote agent, reached over an authenticated control connection.
///
/// [`Host::connect`] runs the mutual challenge/response (see
/// [`auth`](super::auth)): it fails with [`HostError::Refused`] when the agent
/// does not accept our key, and with [`HostError::Impostor`] when the agent cannot
/// prove it holds it.
pub struct Host {
    addr: SocketAddr,
    key: Key,
    channel: Arc<dyn Channel>,
    session: Session,
    call_timeout: Option<Duration>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("addr", &self.addr).finish()
    }
}

impl Host {
    /// Connects to the agent at `addr` and authenticates with `key`.
    pub fn connect(addr: SocketAddr, key: &Key) -> Result<Host, HostError> {
        let client = Client::connect(addr, super::protocol::control_config())?;
        Self::over(addr, Arc::new(client), key)
    }

    /// Authenticates over an existing control `channel` (any backend).
    pub fn over(addr: SocketAddr, channel: Arc<dyn Channel>, key: &Key) -> Result<Host, HostError> {
        let client_nonce = random::<32>()?;
        let (agent_nonce, proof) = match request(&*channel, &Request::Challenge { client_nonce })? {
            Reply::Challenge { agent_nonce, proof } => (agent_nonce, proof),
            other => return Err(unexpected(&other)),
        };
        if !key.verify(b"hatch/agent", &[&client_nonce, &agent_nonce], &proof) {
            return Err(HostError::Impostor(addr.to_string()));
        }
        let proof = key.mac(b"hatch/client", &[&agent_nonce, &client_nonce]);
        let session = match request(&*channel, &Request::Authenticate { agent_nonce, proof })? {
            Reply::Authenticated { session } => session,
            other => return Err(unexpected(&other)),
        };
        Ok(Host { addr, key: key.clone(), channel, session, call_timeout: None })
    }

    /// The agent's control address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Gives each call to a component placed on this host at most `timeout` to
    /// answer; a call that takes longer fails with
    /// [`RemoteError::DeadlineExceeded`](hatch_transport::RemoteError::DeadlineExceeded)
    /// (explicit methods return it; implicit ones hand it to the proxy's failure
    /// handler) and nothing else happens: the component stays where it is, since
    /// the instance may still be running the call. Without it (the default) a call
    /// waits for its reply or for its connection to fail. A silent host (a
    /// partition, a stalled process) is recovered from only by a liveness verdict:
    /// [`Relocation::host_down`](super::Relocation::host_down), e.g. from a
    /// [`Membership`](super::Membership).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    pub(crate) fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
    }

    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    /// Asks the agent to build `composition` (an identifier rooted at
    /// `interface`), import `state` into its root, and serve it.
    pub fn instantiate(
        &self,
        interface: &str,
        composition: &str,
        state: Option<StateBlob>,
    ) -> Result<Served, HostError> {
        let req = Request::Instantiate {
            session: self.session,
            interface: interface.to_string(),
            composition: composition.to_string(),
            state,
        };
        match request(&*self.channel, &req)? {
            Reply::Served(served) => Ok(served),
            other => Err(unexpected(&other)),
        }
    }

    /// Stops serving `instance`; returns its state when `export_state` is set and
    /// the component is stateful.
    pub fn stop(&self, instance: u64, export_state: bool) -> Result<Option<StateBlob>, HostError> {
        match request(&*self.channel, &Request::Stop { session: self.session, instance, export_state })? {
            Reply::Stopped { state } => Ok(state),
            other => Err(unexpected(&other)),
        }
    }

    /// Exports `instance`'s state, leaving it served (`None` if stateless).
    pub fn export(&self, instance: u64) -> Result<Option<StateBlob>, HostError> {
        match request(&*self.channel, &Request::Export { session: self.session, instance })? {
            Reply::Exported { state } => Ok(state),
            other => Err(unexpected(&other)),
        }
    }

    /// The agent's load.
    pub fn load(&self) -> Result<LoadReport, HostError> {
        match request(&*self.channel, &Request::Load { session: self.session })? {
            Reply::Load(report) => Ok(report),
            other => Err(unexpected(&other)),
        }
    }

    /// Asks for the load report under `session` instead of ours: for tests that
    /// the agent refuses sessions it did not issue.
    #[doc(hidden)]
    pub fn request_with_session(&self, session: Session) -> Result<LoadReport, HostError> {
        match request(&*self.channel, &Request::Load { session })? {
            Reply::Load(report) => Ok(report),
            other => Err(unexpected(&other)),
        }
    }
}

fn request(channel: &dyn Channel, request: &Request) -> Result<Reply, HostError> {
    let bytes = state::encode(request).map_err(|e| HostError::Malformed(e.to_string()))?;
    let answer = channel.call(CONTROL, &bytes, Some(Instant::now() + CONTROL_TIMEOUT))?;
    match state::decode::<Reply>(&answer).map_err(|e| HostError::Malformed(e.to_string()))? {
        Reply::Error(err) => Err(HostError::Refused(err)),
        reply => Ok(reply),
    }
}

fn unexpected(reply: &Reply) -> HostError {
    let what = match reply {
        Reply::Challenge { .. } => "Challenge",
        Reply::Authenticated { .. } => "Authenticated",
        Reply::Served(_) => "Served",
        Reply::Stopped { .. } => "Stopped",
        Reply::Exported { .. } => "Exported",
        Reply::Load(_) => "Load",
        Reply::Error(_) => "Error",
    };
    HostError::Malformed(format!("unexpected {what} reply"))
}
