//! The async server: an accept loop and one task per connection. See the [module docs](super).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::tokio::io::{AsyncReadExt, AsyncWriteExt};
use ::tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use ::tokio::sync::watch;
use ::tokio::task::{JoinHandle, JoinSet};

use super::read_into;
use crate::config::Config;
use crate::proto::ServerConnection;
use crate::service::{Service, dispatch};

/// How long a closing connection may take to deliver its last replies and `GoAway` and to see
/// the peer hang up, before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (such as running out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// A running server: an accept loop on the current runtime and one task per connection.
///
/// Dropping it stops the server like [`Server::shutdown`] without waiting.
pub struct Server {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` and serves `service` on the current runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn bind(addr: impl ToSocketAddrs, config: Config, service: Arc<dyn Service>) -> io::Result<Self> {
        Self::from_listener(TcpListener::bind(addr).await?, config, service)
    }

    /// Serves `service` on connections accepted from `listener`.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn from_listener(listener: TcpListener, config: Config, service: Arc<dyn Service>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let accept = ::tokio::spawn(accept_loop(listener, config, service, stopped));
        Ok(Self { local_addr, stop, accept: Some(accept) })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, tells every connection to close, and waits until they have. Each
    /// connection finishes the request its service is running, writes the replies it has queued
    /// and a `GoAway` (so its client's other pending calls fail with
    /// [`crate::RemoteError::GoAway`]), and closes; one whose peer does not drain it is dropped
    /// after a grace period of a second.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Serves `service` on connections accepted from `listener` until the future is dropped (which
/// aborts every connection) or accepting fails for good. Prefer [`Server`] for a graceful shutdown.
pub async fn serve(listener: TcpListener, config: Config, service: Arc<dyn Service>) {
    let (_stop, stopped) = watch::channel(false);
    accept_loop(listener, config, service, stopped).await;
}

async fn accept_loop(
    listener: TcpListener,
    config: Config,
    service: Arc<dyn Service>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        ::tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, config.clone(), service.clone(), stop.clone()));
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    ::tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = finished {
                    tracing::error!(%err, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Resolves once `stop` says true (never if its sender is gone without saying so).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Why a connection stopped reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The peer closed its sending side (or said goodbye): answer what arrived, then close.
    PeerDone,
    /// The peer broke the protocol: a `GoAway` is queued.
    Violation,
    /// The server is shutting down: a `GoAway` is queued.
    Shutdown,
    /// The socket failed: nothing more can be written.
    Broken,
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    config: Config,
    service: Arc<dyn Service>,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::warn!(%peer, %err, "could not set TCP_NODELAY");
    }
    let high_water = config.outbox_high_water;
    let mut conn = ServerConnection::new(config);
    let mut scratch = Vec::new();
    let (mut reader, mut writer) = stream.split();
    // The buffer being written and how much of it is out.
    let mut out: Option<(Vec<u8>, usize)> = None;
    let end = loop {
        // Answer every complete request buffered, unless replies are piling up.
        let mut end = None;
        while conn.queued_bytes() <= high_water {
            // Checked between requests, so a batch of slow calls does not hold up a shutdown.
            if *stop.borrow() {
                conn.go_away("server shutting down");
                end = Some(End::Shutdown);
                break;
            }
            match conn.poll_request() {
                Ok(Some(request)) => dispatch(&mut conn, &*service, request, &mut scratch),
                Ok(None) => {
                    if conn.is_closed() {
                        end = Some(End::PeerDone);
                    }
                    break;
                }
                Err(err) => {
                    tracing::warn!(%peer, %err, "protocol violation; closing the connection");
                    end = Some(End::Violation);
                    break;
                }
            }
        }
        if end.is_none() && *stop.borrow() {
            conn.go_away("server shutting down");
            end = Some(End::Shutdown);
        }
        if let Some(end) = end {
            break end;
        }
        if out.is_none() {
            out = conn.poll_transmit().map(|buf| (buf, 0));
        }
        let can_read = conn.queued_bytes() <= high_water;
        let wanted = conn.wanted();
        ::tokio::select! {
            written = writer.write(out.as_ref().map_or(&[][..], |(buf, at)| &buf[*at..])), if out.is_some() => {
                match written {
                    Ok(0) => break End::Broken,
                    Ok(n) => {
                        let (buf, at) = out.as_mut().expect("a write was in flight");
                        *at += n;
                        if *at == buf.len() {
                            let (buf, _) = out.take().expect("a write was in flight");
                            conn.recycle(buf);
                        }
                    }
                    Err(err) => {
                        tracing::debug!(%peer, %err, "write failed");
                        break End::Broken;
                    }
                }
            }
            read = read_into(&mut reader, conn.recv_buf(), wanted), if can_read => match read {
                Ok(0) => {
                    if let Err(err) = conn.handle_eof() {
                        tracing::warn!(%peer, %err, "peer closed the connection mid-frame");
                    }
                    break End::PeerDone;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(%peer, %err, "read failed");
                    break End::Broken;
                }
            },
            () = stopped(&mut stop) => {}
        }
    };
    if end == End::Broken {
        return;
    }
    let finish = async {
        if let Some((buf, at)) = out.take() {
            writer.write_all(&buf[at..]).await?;
        }
        while let Some(buf) = conn.poll_transmit() {
            writer.write_all(&buf).await?;
        }
        if end != End::PeerDone {
            // Send our FIN, then wait for the peer's: closing with its bytes unread would reset
            // the connection, and a reset can destroy the `GoAway` before the peer reads it.
            writer.shutdown().await?;
            let mut sink = [0u8; 4096];
            while reader.read(&mut sink).await? != 0 {}
        }
        io::Result::Ok(())
    };
    let finished = match end {
        // The peer is gone or leaving: deliver its replies for as long as the server runs.
        End::PeerDone => ::tokio::select! {
            finished = finish => finished,
            () = async { stopped(&mut stop).await; ::tokio::time::sleep(CLOSE_GRACE).await } => Ok(()),
        },
        _ => ::tokio::time::timeout(CLOSE_GRACE, finish).await.unwrap_or(Ok(())),
    };
    if let Err(err) = finished {
        tracing::debug!(%peer, %err, "error while closing the connection");
    }
}
