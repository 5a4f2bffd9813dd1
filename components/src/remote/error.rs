//! Error types of [`remote`](super), one enum per failure domain.

use hatch_transport::RemoteError;

use crate::error::{AssemblyError, CompositionError, SpaceError, StateError};

/// The shared key could not be loaded or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Neither `HATCH_KEY` nor `HATCH_KEY_FILE` is set.
    #[error("no shared key: set HATCH_KEY (hex) or HATCH_KEY_FILE")]
    Missing,
    /// The key text is not hex.
    #[error("the shared key is not hex")]
    NotHex,
    /// The key is too short to be a secret.
    #[error("the shared key has {len} bytes; at least {min} are needed")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes required.
        min: usize,
    },
    /// The key file could not be read.
    #[error("cannot read key file {0}: {1}")]
    File(String, String),
    /// The key file can be read by other users than its owner.
    #[error("key file {path} has mode {mode:04o}: group and others must have no access (chmod 600 it)")]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system gave no random bytes.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// What an agent answers instead of doing a control request. Travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum ControlError {
    /// The request needs a session and carried none the agent knows.
    #[error("not authenticated: run the challenge/response first")]
    Unauthenticated,
    /// The challenge response did not match: the hosts do not share a key, or the
    /// challenge was used already.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// The agent's binary has no remotable interface of that name.
    #[error("interface `{0}` is not remotable on this agent")]
    UnknownInterface(String),
    /// The sub-composition cannot be built from the agent's registry.
    #[error("cannot build `{composition}`: {reason}")]
    Build {
        /// The sub-composition identifier.
        composition: String,
        /// Why.
        reason: String,
    },
    /// The state could not be imported into the new instance.
    #[error("state import failed: {0}")]
    State(String),
    /// No served instance has this id.
    #[error("no instance {0} on this agent")]
    UnknownInstance(u64),
    /// The agent could not open a listener for the instance.
    #[error("cannot serve: {0}")]
    Serve(String),
    /// The agent is out of room for pending challenges or sessions.
    #[error("agent busy: {0}")]
    Busy(String),
}

/// A request to a remote agent failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HostError {
    /// The agent could not be reached, or the connection failed.
    #[error("agent unreachable: {0}")]
    Transport(#[from] RemoteError),
    /// The agent refused or failed the request.
    #[error("agent refused: {0}")]
    Refused(#[from] ControlError),
    /// The agent did not prove it holds the shared key.
    #[error("the agent at {0} failed its proof of the shared key: not one of ours")]
    Impostor(String),
    /// The agent's answer did not decode or did not fit the request.
    #[error("malformed answer from the agent: {0}")]
    Malformed(String),
    /// No randomness for a nonce.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A [`Catalog`](super::Catalog) could not build an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The root interface has no composition space.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The composition is not one of that space.
    #[error(transparent)]
    Composition(#[from] CompositionError),
    /// The composition's root does not provide the requested Rust type.
    #[error("interface `{0}` is registered with another trait-object type")]
    Type(String),
    /// State import into the new instance failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<AssemblyError> for BuildError {
    fn from(e: AssemblyError) -> Self {
        match e {
            AssemblyError::Composition(c) => BuildError::Composition(c),
            AssemblyError::State { source, .. } => BuildError::State(source),
            other => BuildError::Type(other.to_string()),
        }
    }
}

/// Relocating a component, or bringing it back, failed. The slot keeps what it ran
/// before the failed step.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RelocateError {
    /// The agent failed the request.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The served instance could not be reached.
    #[error("cannot connect to the served instance: {0}")]
    Connect(RemoteError),
    /// The local component's state could not be exported or imported.
    #[error(transparent)]
    State(#[from] StateError),
    /// The local replacement could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The state is larger than a control frame can carry.
    #[error("state of {bytes} bytes exceeds the {max} bytes a relocation can carry")]
    StateTooLarge {
        /// Exported state size.
        bytes: usize,
        /// Largest state that fits.
        max: usize,
    },
    /// Stateful components are replicated only through a state-manager plug-in.
    #[error("`{0}` is stateful: replicating it needs a state-manager plug-in")]
    Stateful(&'static str),
}

/// An agent process could not be started, or it failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No usable key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Listening, spawning or talking to the child failed.
    #[error("agent i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The listen address is not an address.
    #[error("bad agent listen address `{0}`")]
    Address(String),
    /// No address to advertise could be found for an agent listening on every interface.
    #[error("cannot tell which address to advertise ({0}); give one explicitly")]
    Advertise(String),
    /// The child exited before it reported its address.
    #[error("agent process exited before it was ready ({0})")]
    NotReady(String),
}
