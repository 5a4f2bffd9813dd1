//! Outgoing connects to an unreachable host fail within [`Config::connect_timeout`] with
//! [`RemoteError::ConnectTimeout`], on both backends.
//!
//! The unreachable host is a neighbour on a veth pair inside a private network namespace, with a
//! static link-layer address that no interface has: the SYN leaves, the other end drops it, and
//! no answer or reset ever comes (the blackhole of a vanished host). The namespace is the test thread's own (`unshare(CLONE_NEWNET)` on that thread), so
//! nothing outside the test sees it. Skipped, with the reason printed, without root.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hatch_transport::{Config, RemoteError};

/// Moves the calling thread into a fresh network namespace where `10.77.0.0/24` routes to a
/// veth pair, and returns an address there that never answers.
fn blackholed_address() -> Result<SocketAddr, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    // SAFETY: unshare with CLONE_NEWNET only changes the calling thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!("unshare: {}", std::io::Error::last_os_error()));
    }
    // Children forked from this thread start in its namespace.
    for args in [
        &["link", "add", "blackhole0", "type", "veth", "peer", "name", "blackhole1"][..],
        &["addr", "add", "10.77.0.1/24", "dev", "blackhole0"],
        &["link", "set", "blackhole0", "up"],
        &["link", "set", "blackhole1", "up"],
        &["neigh", "add", "10.77.0.2", "lladdr", "02:00:00:00:77:02", "dev", "blackhole0", "nud", "permanent"],
    ] {
        let out = std::process::Command::new("ip").args(args).output().map_err(|e| format!("no `ip`: {e}"))?;
        if !out.status.success() {
            return Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
        }
    }
    Ok("10.77.0.2:7".parse().expect("address"))
}

fn in_blackholed_namespace(test: impl FnOnce(SocketAddr) + Send + 'static) {
    std::thread::spawn(move || match blackholed_address() {
        Ok(addr) => test(addr),
        Err(why) => println!("skipped: cannot make a blackholed address ({why})"),
    })
    .join()
    .expect("test thread");
}

const TIMEOUT: Duration = Duration::from_millis(300);

fn assert_timed_out(result: Result<(), RemoteError>, addr: SocketAddr, started: Instant) {
    let took = started.elapsed();
    match result {
        Err(RemoteError::ConnectTimeout { addr: at, after }) => {
            assert_eq!((at, after), (addr, TIMEOUT));
        }
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    // Well under the ~2 minutes of the kernel's SYN retries, and not much before the timeout
    // (poll(2) waits in whole milliseconds).
    assert!(took >= TIMEOUT - Duration::from_millis(5) && took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn uring_connect_to_a_blackholed_address_times_out() {
    in_blackholed_namespace(|addr| {
        let started = Instant::now();
        let result = hatch_transport::uring::Client::connect(addr, Config::default().connect_timeout(TIMEOUT));
        assert_timed_out(result.map(drop), addr, started);
    });
}

#[test]
fn tokio_connect_to_a_blackholed_address_times_out() {
    in_blackholed_namespace(|addr| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let started = Instant::now();
        let result =
            runtime.block_on(hatch_transport::tokio::Client::connect(addr, Config::default().connect_timeout(TIMEOUT)));
        assert_timed_out(result.map(drop), addr, started);
    });
}

#[test]
fn connect_timeout_defaults_to_three_seconds_and_refusal_is_not_a_timeout() {
    assert_eq!(Config::default().connect_timeout, Duration::from_secs(3));
    // A closed port on loopback answers with a reset at once: a plain connection error.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    match hatch_transport::uring::Client::connect(port, Config::default()) {
        Err(RemoteError::Io(err)) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("{:?}", other.map(drop)),
    }
}

/// A service that answers after `0` has passed.
struct Slow(Duration);
impl hatch_transport::Service for Slow {
    fn call(
        &self,
        _: hatch_transport::MethodId,
        payload: &bytes::Bytes,
        reply: &mut Vec<u8>,
    ) -> Result<(), hatch_transport::ServiceError> {
        std::thread::sleep(self.0);
        reply.extend_from_slice(payload);
        Ok(())
    }
}

#[test]
fn request_timeout_bounds_calls_without_a_deadline_and_only_those_calls() {
    use hatch_transport::Channel;
    let server = hatch_transport::uring::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        std::sync::Arc::new(Slow(Duration::from_millis(400))),
        1,
    )
    .unwrap();
    let config = Config::default().request_timeout(Some(Duration::from_millis(50)));
    let client = hatch_transport::uring::Client::connect(server.local_addr(), config).unwrap();
    let started = Instant::now();
    assert!(matches!(client.call(1, b"late", None), Err(RemoteError::DeadlineExceeded)));
    assert!(started.elapsed() < Duration::from_millis(350), "{:?}", started.elapsed());
    // The connection stays up; a call's own deadline overrides the default.
    let reply = client.call(1, b"patient", Some(Instant::now() + Duration::from_secs(10))).unwrap();
    assert_eq!(&reply[..], b"patient");
}
