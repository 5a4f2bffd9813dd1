//! A [`Channel`] over io_uring that any number of threads can share: each thread calls through
//! its own [`Connection`] and ring, created on its first call and kept in a thread-local map, so
//! the hot path takes no lock and never hands a call to another thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Connection, UringOptions};
use crate::channel::Channel;
use crate::config::Config;
use crate::error::RemoteError;
use crate::proto::MethodId;

/// How long [`Client::connect`] waits for the server's handshake answer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A shareable io_uring client of one server address. Cloning is cheap; clones share the
/// per-thread connections.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    id: u64,
    addr: SocketAddr,
    config: Config,
    options: UringOptions,
}

thread_local! {
    /// This thread's connections, by client id. The `Weak` tells when the client is gone so its
    /// connection can be dropped (on this thread, as its ring requires).
    static CONNECTIONS: RefCell<HashMap<u64, Entry>> = RefCell::new(HashMap::new());
}

struct Entry {
    owner: Weak<Shared>,
    conn: Connection,
    /// Why one-way calls sent on a replaced connection may have been lost; reported by the next
    /// `flush` on this thread.
    lost_one_way: Option<RemoteError>,
}

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

impl Client {
    /// Connects with default [`UringOptions`]; see [`Client::connect_with`].
    pub fn connect(addr: SocketAddr, config: Config) -> Result<Self, RemoteError> {
        Self::connect_with(addr, config, UringOptions::default())
    }

    /// Connects the calling thread and completes the handshake, so that a wrong address, a
    /// version or a fingerprint mismatch fail here. Other threads connect on their first call.
    pub fn connect_with(addr: SocketAddr, config: Config, options: UringOptions) -> Result<Self, RemoteError> {
        let shared = Arc::new(Shared { id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed), addr, config, options });
        let client = Self { shared };
        client.with_connection(|conn| conn.handshake(HANDSHAKE_TIMEOUT))?;
        Ok(client)
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Runs `f` on this thread's connection, (re)connecting when there is none or it is closed.
    pub fn with_connection<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, RemoteError>,
    ) -> Result<R, RemoteError> {
        self.with_entry(|entry| f(&mut entry.conn))
    }

    fn with_entry<R>(&self, f: impl FnOnce(&mut Entry) -> Result<R, RemoteError>) -> Result<R, RemoteError> {
        CONNECTIONS.with(|cell| {
            let Ok(mut map) = cell.try_borrow_mut() else {
                return Err(RemoteError::ConnectionClosed(
                    "re-entrant use of io_uring clients on one thread (from inside another call)".into(),
                ));
            };
            let usable = map.get(&self.shared.id).is_some_and(|entry| entry.conn.closed_error().is_none());
            if !usable {
                let lost_one_way = map.remove(&self.shared.id).and_then(|old| {
                    old.lost_one_way
                        .or_else(|| old.conn.has_unflushed_one_way().then(|| old.conn.closed_error()).flatten())
                });
                // Drop connections whose clients are gone, on this thread as their rings require.
                map.retain(|_, entry| entry.owner.strong_count() > 0);
                let shared = &self.shared;
                let conn = Connection::connect(shared.addr, shared.config.clone(), shared.options.clone())?;
                map.insert(shared.id, Entry { owner: Arc::downgrade(shared), conn, lost_one_way });
            }
            let entry = map.get_mut(&self.shared.id).expect("inserted above");
            f(entry)
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The dropping thread's connection goes now; other threads' go on their next use of any
        // io_uring client, or at thread exit.
        let _ = CONNECTIONS.try_with(|cell| {
            if let Ok(mut map) = cell.try_borrow_mut() {
                map.remove(&self.id);
            }
        });
    }
}

impl Channel for Client {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        self.with_connection(|conn| conn.call(method, request, deadline))
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.with_connection(|conn| conn.send_one_way(method, request))
    }

    fn flush(&self) -> Result<(), RemoteError> {
        self.with_entry(|entry| {
            entry.conn.flush()?;
            entry.lost_one_way.take().map_or(Ok(()), Err)
        })
    }
}
