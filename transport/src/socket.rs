//! TCP socket setup shared by the backends.
//!
//! Every connection gets `TCP_NODELAY` (small frames must not wait for Nagle), and client
//! connections get keepalive and `TCP_USER_TIMEOUT`, so a peer host that vanishes without a reset
//! fails the connection (and every call on it) within seconds instead of hanging.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

/// How long unacknowledged data may wait before the kernel fails the connection.
pub const USER_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects with the options above, giving up after `timeout` (a non-blocking connect polled
/// until then; `EINTR` is retried) with [`io::ErrorKind::TimedOut`].
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_tcp_nodelay(true)?;
    configure_liveness(&SockRef::from(&socket))?;
    // A zero timeout would make socket2 fail at once; treat it as the smallest wait instead.
    socket.connect_timeout(&addr.into(), timeout.max(Duration::from_millis(1)))?;
    Ok(socket.into())
}

/// Applies keepalive and user-timeout settings to any connected or connecting socket.
pub fn configure_liveness(socket: &SockRef<'_>) -> io::Result<()> {
    let keepalive = TcpKeepalive::new().with_time(Duration::from_secs(5)).with_interval(Duration::from_secs(1));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let keepalive = keepalive.with_retries(3);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    Ok(())
}

/// Applies [`configure_liveness`] to a connected stream (accepted connections too: a client that
/// vanishes must not pin a server connection forever).
pub fn configure_liveness_of(stream: &TcpStream) -> io::Result<()> {
    configure_liveness(&SockRef::from(stream))
}

/// Sets `TCP_NODELAY` on an accepted stream.
pub fn configure_accepted(stream: &TcpStream) -> io::Result<()> {
    SockRef::from(stream).set_tcp_nodelay(true)
}

/// A listening socket with `SO_REUSEADDR`, and `SO_REUSEPORT` where available so several server
/// threads can each own a listener on the same port.
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
