//! A raw TCP peer's view of a Hatch server, shared by the test crates that speak the wire
//! protocol by hand: the hello it sends, and how it reads everything until the server closes.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

use hatch_transport::FrameKind;
use hatch_transport::proto::frame::{DEFAULT_MAX_FRAME, encode_frame};
use hatch_transport::proto::handshake::Hello;

/// A client hello frame of protocol `version`, with the default maximum frame size.
pub fn hello_frame(version: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let hello = Hello { version, max_frame: DEFAULT_MAX_FRAME, fingerprint: 0 };
    encode_frame(&mut out, FrameKind::Hello, 0, 0, 0, &hello.encode());
    out
}

/// How a read loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Eof,
    Reset,
    /// `timeout` passed with nothing to read and the connection still open.
    Timeout,
}

/// Reads everything until end of stream, a reset or `timeout` of silence.
pub fn drain(raw: &mut TcpStream, timeout: Duration) -> (Vec<u8>, End) {
    raw.set_read_timeout(Some(timeout)).unwrap();
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match raw.read(&mut chunk) {
            Ok(0) => return (received, End::Eof),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return (received, End::Reset);
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (received, End::Timeout);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => panic!("unexpected read error: {err}"),
        }
    }
}
