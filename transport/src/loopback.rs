//! An in-process [`Channel`] that runs the real protocol core against a [`Service`] with no
//! socket in between: every call is framed, handshaken, decoded and dispatched exactly as over
//! TCP. For tests of layers above the transport (generated proxies, components) and as the
//! baseline that isolates protocol cost from I/O cost in benchmarks.

use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::channel::Channel;
use crate::config::Config;
use crate::error::RemoteError;
use crate::proto::{ClientConnection, MethodId, ServerConnection};
use crate::service::{Service, dispatch};

/// See the module docs.
pub struct LoopbackChannel<S> {
    service: S,
    ends: Mutex<Ends>,
}

struct Ends {
    client: ClientConnection<()>,
    server: ServerConnection,
    scratch: Vec<u8>,
}

impl<S: Service> LoopbackChannel<S> {
    /// A channel to `service`, with `client` and `server` settings for the two ends.
    pub fn new(service: S, client: Config, server: Config) -> Self {
        let ends =
            Ends { client: ClientConnection::new(client), server: ServerConnection::new(server), scratch: Vec::new() };
        Self { service, ends: Mutex::new(ends) }
    }

    fn pump(&self, ends: &mut Ends) -> Result<(), RemoteError> {
        loop {
            let mut moved = false;
            if let Some(bytes) = ends.client.poll_transmit() {
                moved = true;
                ends.server.recv_buf().extend_from_slice(&bytes);
                ends.client.recycle(bytes);
                loop {
                    match ends.server.poll_request() {
                        Ok(Some(request)) => dispatch(&mut ends.server, &self.service, request, &mut ends.scratch),
                        Ok(None) => break,
                        Err(_) => break, // the GoAway it queued tells the client why
                    }
                }
            }
            if let Some(bytes) = ends.server.poll_transmit() {
                moved = true;
                ends.client.recv_buf().extend_from_slice(&bytes);
                ends.server.recycle(bytes);
                ends.client.handle_received()?;
            }
            if !moved {
                return Ok(());
            }
        }
    }
}

impl<S: Service> Channel for LoopbackChannel<S> {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        let mut ends = self.ends.lock();
        let deadline = ends.client.config().deadline_of(deadline);
        let id = ends.client.start_call(method, request, deadline, ())?;
        let pumped = self.pump(&mut ends);
        while let Some(done) = ends.client.poll_completion() {
            if done.call_id == id {
                return done.result;
            }
        }
        pumped?;
        Err(ends.client.closed_error().unwrap_or(RemoteError::ConnectionClosed("no reply".into())))
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.ends.lock().client.send_one_way(method, request)
    }

    fn flush(&self) -> Result<(), RemoteError> {
        let mut ends = self.ends.lock();
        self.pump(&mut ends)?;
        match ends.client.take_one_way_failure() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Echo;

    #[test]
    fn loopback_echoes_and_reports_handshake_errors() {
        let channel = LoopbackChannel::new(Echo, Config::default(), Config::default());
        assert_eq!(&channel.call(1, b"ping", None).unwrap()[..], b"ping");
        channel.send_one_way(1, b"x").unwrap();
        channel.flush().unwrap();
        let bad = LoopbackChannel::new(Echo, Config::default().fingerprint(1), Config::default().fingerprint(2));
        assert!(matches!(bad.call(1, b"ping", None), Err(RemoteError::Handshake(_))));
    }
}
