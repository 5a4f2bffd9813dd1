//! The blocking face of the tokio client, for threads outside the runtime.

use std::net::SocketAddr;
use std::time::Instant;

use ::tokio::runtime::{Builder, Handle, Runtime};
use bytes::Bytes;

use super::Client;
use crate::channel::{AsyncChannel, Channel};
use crate::config::Config;
use crate::error::RemoteError;
use crate::proto::MethodId;

/// A [`Client`] driven from blocking code: implements [`Channel`] by blocking the calling thread
/// on the client's futures. Share it between threads (`Arc<BlockingClient>`): their calls are
/// multiplexed over one connection.
///
/// # Panics
/// Every method panics when called from inside an async task of a tokio runtime (tokio refuses to
/// block a thread that drives tasks: "Cannot start a runtime from within a runtime"). Async code
/// uses [`Client`] instead. Dropping a `BlockingClient` that owns its runtime
/// ([`BlockingClient::connect`]) inside an async task panics for the same reason.
pub struct BlockingClient {
    // Declared before the runtime so the connection closes before the runtime shuts down.
    client: Client,
    handle: Handle,
    _runtime: Option<Runtime>,
}

impl BlockingClient {
    /// Connects on a private runtime with one worker thread, which runs the connection's reader
    /// and writer tasks.
    pub fn connect(addr: SocketAddr, config: Config) -> Result<Self, RemoteError> {
        let runtime =
            Builder::new_multi_thread().worker_threads(1).thread_name("hatch-tokio-client").enable_all().build()?;
        let client = runtime.block_on(Client::connect(addr, config))?;
        Ok(Self { client, handle: runtime.handle().clone(), _runtime: Some(runtime) })
    }

    /// Wraps a client whose tasks run on the runtime behind `handle`.
    pub fn new(client: Client, handle: Handle) -> Self {
        Self { client, handle, _runtime: None }
    }

    /// The async client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Channel for BlockingClient {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        self.handle.block_on(self.client.call(method, request, deadline))
    }

    /// Blocks while more than [`Config::outbox_high_water`] bytes are queued, then queues the call.
    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.handle.block_on(self.client.ready())?;
        self.client.send_one_way(method, request)
    }

    fn flush(&self) -> Result<(), RemoteError> {
        self.handle.block_on(self.client.flush())
    }
}
