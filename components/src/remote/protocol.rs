//! The control protocol between a host and an agent: one transport method,
//! [`CONTROL`], whose request and reply are rkyv-encoded `Request` and `Reply` enums.
//!
//! ```text
//! host                                      agent
//!  Challenge { client_nonce }          ->
//!                                      <-   Challenge { agent_nonce, proof = H("agent", cn, an) }
//!  (checks proof: the agent holds the key)
//!  Authenticate { agent_nonce,
//!                 proof = H("client", an, cn) } ->
//!                                      <-   Authenticated { session }   (or Error)
//!  Instantiate { session, interface,
//!                composition, state }   ->
//!                                      <-   Served { instance, addr, salt, fingerprint }
//!  Export { session, instance }        ->
//!                                      <-   Exported { state }
//!  Stop { session, instance, export }  ->
//!                                      <-   Stopped { state }
//!  Load { session }                    ->
//!                                      <-   Load(LoadReport)
//! ```
//!
//! `H` is HMAC-SHA256 under the shared key (see [`auth`](super::auth)). Requests
//! are validated before use: bytes that do not decode give a transport
//! `BadRequest` error, a well-formed request the agent refuses gives
//! an `Error` reply, and neither affects other connections.

use hatch_transport::{Config, MethodId};

use super::error::ControlError;

/// The one transport method of the control service.
pub const CONTROL: MethodId = 0x4843_544C; // "HCTL"

/// Fingerprint of the control protocol, checked in the transport handshake.
pub const CONTROL_FINGERPRINT: u64 = 0x6861_7463_6863_0001;

/// Largest control frame either end accepts, which bounds the state a relocation
/// can carry: above the transport's 4 MiB default so that sizeable state moves,
/// and bounded because a frame is buffered before its sender is authenticated.
pub const CONTROL_MAX_FRAME: u32 = 64 << 20;

/// Room left in a control frame for everything but the state bytes.
pub(crate) const CONTROL_OVERHEAD: usize = 64 << 10;

/// Transport settings of both ends of a control connection.
pub fn control_config() -> Config {
    Config::default().fingerprint(CONTROL_FINGERPRINT).max_frame(CONTROL_MAX_FRAME)
}

/// A session id, issued after a successful challenge/response.
pub type Session = [u8; 16];

/// A control request.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) enum Request {
    /// Starts authentication with the client's nonce.
    Challenge {
        /// Fresh random bytes from the client.
        client_nonce: [u8; 32],
    },
    /// Answers the agent's challenge.
    Authenticate {
        /// The agent's nonce from its `Challenge` reply.
        agent_nonce: [u8; 32],
        /// `HMAC(key, "client" ‖ agent nonce ‖ client nonce)`.
        proof: [u8; 32],
    },
    /// Builds `composition` (rooted at `interface`) with `state`, and serves it.
    Instantiate {
        /// The session.
        session: Session,
        /// The interface name.
        interface: String,
        /// A composition identifier rooted at `interface`.
        composition: String,
        /// State to import into the new root component.
        state: Option<StateBlob>,
    },
    /// Stops serving an instance, exporting its state first when asked.
    Stop {
        /// The session.
        session: Session,
        /// The instance.
        instance: u64,
        /// Whether to export and return the root component's state.
        export_state: bool,
    },
    /// Exports an instance's state, leaving it served.
    Export {
        /// The session.
        session: Session,
        /// The instance.
        instance: u64,
    },
    /// Reports the agent's load.
    Load {
        /// The session.
        session: Session,
    },
}

/// A control reply.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) enum Reply {
    /// The agent's side of the challenge.
    Challenge {
        /// Fresh random bytes from the agent, single-use.
        agent_nonce: [u8; 32],
        /// `HMAC(key, "agent" ‖ client nonce ‖ agent nonce)`.
        proof: [u8; 32],
    },
    /// Authentication succeeded.
    Authenticated {
        /// The session id for later requests.
        session: Session,
    },
    /// The instance is served.
    Served(Served),
    /// The instance stopped.
    Stopped {
        /// Its exported state, when asked for and stateful.
        state: Option<StateBlob>,
    },
    /// The instance's state (`None` for a stateless one).
    Exported {
        /// The state.
        state: Option<StateBlob>,
    },
    /// The agent's load.
    Load(LoadReport),
    /// The request was refused.
    Error(ControlError),
}

/// Where an instantiated component is served.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Served {
    /// The instance id, unique on its agent.
    pub instance: u64,
    /// The address of its server (`ip:port`).
    pub addr: String,
    /// Salt of its data token (the token itself is derived from the key).
    pub salt: [u8; 16],
    /// The interface fingerprint its server checks.
    pub fingerprint: u64,
}

/// State exported from a component: its format name and bytes.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct StateBlob {
    /// [`StateTransfer::state_format`](crate::StateTransfer::state_format) of the exporter.
    pub format: String,
    /// The exported bytes.
    pub bytes: Vec<u8>,
}

/// An agent's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct LoadReport {
    /// Instances served now.
    pub instances: u32,
    /// Calls admitted by all instances served now.
    pub calls: u64,
    /// CPU time the agent process used (user + system), in microseconds.
    pub cpu_micros: u64,
}
