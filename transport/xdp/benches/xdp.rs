//! Round trips between two network namespaces joined by a veth pair, in one run: kernel TCP
//! ping-pong (std::net, the baseline), Hatch over io_uring TCP, Hatch over the UDP driver, and
//! Hatch over AF_XDP (with `--features af-xdp`), in generic and native XDP mode.
//!
//! Run as root:
//! `cargo bench -p hatch-xdp --features af-xdp --bench xdp`
//! Environment: `CALLS` (default 20000) sequential calls per transport, `PAYLOAD` bytes
//! (default 32), `SPIN_US` busy-poll time before blocking (default 0), `THREADS` concurrent
//! callers for the rate column (default 4). The "32 in flight" row keeps 32 calls outstanding on
//! one UDP session through the sans-IO endpoint (latency there includes queueing).
//!
//! Two machines instead of two namespaces (see README.md): on the server
//! `ROLE=server IFACE=eth0 IP=10.0.0.1 XDP_MODE=native target/release/deps/xdp-*`, on the client
//! `ROLE=client IFACE=eth0 IP=10.0.0.2 SERVER=10.0.0.1 XDP_MODE=native target/release/deps/xdp-*`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hatch_transport::uring::{self, UringOptions};
use hatch_transport::{Channel, Config, Echo};
use hatch_xdp::netns::{VethPair, enter};
use hatch_xdp::udp;

const TCP_PORT: u16 = 7600;
const URING_PORT: u16 = 7601;
const UDP_PORT: u16 = 7602;
#[cfg(feature = "af-xdp")]
const XDP_PORT: u16 = 7700;
#[cfg(feature = "af-xdp")]
const XDP_CLIENT_PORT: u16 = 7800;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn env_str(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[derive(Clone, Copy)]
struct Settings {
    calls: usize,
    payload: usize,
    spin: Duration,
    threads: usize,
}

/// Where one side runs: a namespace (or the current one), an interface and its address.
#[derive(Clone)]
struct Host {
    ns: Option<String>,
    ifname: String,
    ip: Ipv4Addr,
}

/// A server running on its own thread until dropped.
struct Running {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts `make` on a thread in `host`'s namespace and keeps what it returns alive until the
/// `Running` is dropped.
fn serve<K: 'static>(
    host: &Host,
    make: impl FnOnce() -> Result<K, String> + Send + 'static,
) -> Result<Running, String> {
    let ns = host.ns.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        if let Some(ns) = ns
            && let Err(err) = enter(&ns)
        {
            let _ = ready_tx.send(Err(err.to_string()));
            return;
        }
        match make() {
            Ok(keep) => {
                let _ = ready_tx.send(Ok(()));
                let _ = stop_rx.recv();
                drop(keep);
            }
            Err(err) => {
                let _ = ready_tx.send(Err(err));
            }
        }
    });
    ready_rx.recv().map_err(|e| e.to_string())??;
    Ok(Running { stop: Some(stop_tx), thread: Some(thread) })
}

/// Runs `f` on a thread in `host`'s namespace.
fn in_ns<T: Send + 'static>(host: &Host, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = host.ns.clone();
    std::thread::spawn(move || {
        if let Some(ns) = ns {
            enter(&ns).expect("entering the namespace");
        }
        f()
    })
    .join()
    .expect("client thread panicked")
}

struct Stats {
    p50: Duration,
    p99: Duration,
    rate: f64,
}

type Outcome = Result<(Stats, Option<f64>), String>;

/// Times `calls` sequential calls of `call` after a warm-up.
fn measure(calls: usize, mut call: impl FnMut()) -> Stats {
    for _ in 0..calls / 10 {
        call();
    }
    let mut times = Vec::with_capacity(calls);
    let start = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        call();
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    times.sort_unstable();
    Stats { p50: times[calls / 2], p99: times[calls * 99 / 100], rate: calls as f64 / total.as_secs_f64() }
}

fn report(name: &str, outcome: Outcome) {
    match outcome {
        Ok((s, concurrent)) => println!(
            "{name:<30} p50 {:>7.1} µs  p99 {:>7.1} µs  {:>8.0} calls/s (1 caller)  {}",
            s.p50.as_secs_f64() * 1e6,
            s.p99.as_secs_f64() * 1e6,
            s.rate,
            concurrent.map_or("-".to_string(), |r| format!("{r:>8.0} calls/s (N callers)")),
        ),
        Err(err) => println!("{name:<30} skipped: {err}"),
    }
}

// Servers.

fn tcp_server(host: &Host, payload: usize) -> Result<Running, String> {
    let ip = host.ip;
    serve(host, move || {
        let listener = TcpListener::bind((ip, TCP_PORT)).map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let mut buf = vec![0u8; payload];
                    while stream.read_exact(&mut buf).is_ok() {
                        if stream.write_all(&buf).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(())
    })
}

fn uring_server(host: &Host) -> Result<Running, String> {
    let addr = SocketAddr::from((host.ip, URING_PORT));
    serve(host, move || uring::Server::bind(addr, Config::default(), Arc::new(Echo), 1).map_err(|e| e.to_string()))
}

fn udp_server(host: &Host, s: Settings) -> Result<Running, String> {
    let addr = SocketAddr::from((host.ip, UDP_PORT));
    serve(host, move || {
        udp::Server::bind(addr, udp::ServerOptions::default().spin(s.spin), Arc::new(Echo)).map_err(|e| e.to_string())
    })
}

#[cfg(feature = "af-xdp")]
fn xdp_server(host: &Host, s: Settings, mode: hatch_xdp::xdp::XdpMode) -> Result<Running, String> {
    use hatch_xdp::xdp::{Server, XdpOptions};
    let options = XdpOptions::new(host.ifname.clone(), host.ip, XDP_PORT).mode(mode).spin(s.spin);
    serve(host, move || Server::bind(options, Arc::new(Echo)).map_err(|e| e.to_string()))
}

// Clients.

fn tcp_client(client: &Host, server: Ipv4Addr, s: Settings) -> Outcome {
    in_ns(client, move || {
        let addr = SocketAddr::from((server, TCP_PORT));
        let connect = || -> Result<TcpStream, String> {
            let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            Ok(stream)
        };
        let mut stream = connect()?;
        let mut buf = vec![7u8; s.payload];
        let stats = measure(s.calls, || {
            stream.write_all(&buf.clone()).unwrap();
            stream.read_exact(&mut buf).unwrap();
        });
        let streams: Vec<TcpStream> = (0..s.threads).map(|_| connect()).collect::<Result<_, _>>()?;
        let start = Instant::now();
        std::thread::scope(|scope| {
            for mut stream in streams {
                scope.spawn(move || {
                    let mut buf = vec![7u8; s.payload];
                    for _ in 0..s.calls / s.threads {
                        stream.write_all(&buf.clone()).unwrap();
                        stream.read_exact(&mut buf).unwrap();
                    }
                });
            }
        });
        let rate = (s.calls / s.threads * s.threads) as f64 / start.elapsed().as_secs_f64();
        Ok((stats, Some(rate)))
    })
}

fn channel_stats(channel: &(impl Channel + ?Sized), s: Settings, concurrent: bool) -> (Stats, Option<f64>) {
    let payload = vec![7u8; s.payload];
    let stats = measure(s.calls, || {
        channel.call(1, &payload, None).expect("call");
    });
    let rate = concurrent.then(|| {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..s.threads {
                scope.spawn(|| {
                    for _ in 0..s.calls / s.threads {
                        channel.call(1, &payload, None).expect("call");
                    }
                });
            }
        });
        (s.calls / s.threads * s.threads) as f64 / start.elapsed().as_secs_f64()
    });
    (stats, rate)
}

fn uring_client(client: &Host, server: Ipv4Addr, s: Settings) -> Outcome {
    in_ns(client, move || {
        let addr = SocketAddr::from((server, URING_PORT));
        let client = uring::Client::connect_with(addr, Config::default(), UringOptions::default().spin(s.spin))
            .map_err(|e| e.to_string())?;
        Ok(channel_stats(&client, s, true))
    })
}

fn udp_client(client: &Host, server: Ipv4Addr, s: Settings) -> Outcome {
    in_ns(client, move || {
        let addr = SocketAddr::from((server, UDP_PORT));
        let client =
            udp::Client::connect(addr, udp::ClientOptions::default().spin(s.spin)).map_err(|e| e.to_string())?;
        let stats = channel_stats(&client, s, true);
        eprintln!("  UDP client sessions: {:?}", client.session_stats());
        Ok(stats)
    })
}

/// Calls per second with `depth` calls outstanding on one UDP session, driven directly through
/// the sans-IO [`hatch_xdp::ClientEndpoint`] (the blocking `Channel` allows one call per thread).
fn udp_pipelined(client: &Host, server: Ipv4Addr, s: Settings, depth: usize) -> Outcome {
    use hatch_xdp::{ClientEndpoint, SessionConfig};
    in_ns(client, move || {
        let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
        socket.connect((server, UDP_PORT)).map_err(|e| e.to_string())?;
        let mut endpoint = ClientEndpoint::<Instant>::new(0x5eed, SessionConfig::default(), Config::default());
        let payload = vec![7u8; s.payload];
        let total = s.calls * 5;
        let (mut started, mut done) = (0, 0);
        let mut times = Vec::with_capacity(total);
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        let begin = Instant::now();
        while done < total {
            while started < total && started - done < depth {
                endpoint.start_call(1, &payload, None, Instant::now()).map_err(|e| e.to_string())?;
                started += 1;
            }
            let now = Instant::now();
            while endpoint.poll_transmit(now, &mut out) {
                let _ = socket.send(&out);
            }
            let timeout = endpoint.poll_timeout().map(|t| t.saturating_duration_since(now));
            socket.set_read_timeout(timeout.filter(|t| !t.is_zero()).or(Some(Duration::from_micros(1)))).ok();
            if let Ok(n) = socket.recv(&mut buf) {
                let _ = endpoint.handle_datagram(Instant::now(), &buf[..n]);
            }
            endpoint.handle_timeout(Instant::now());
            while let Some(completion) = endpoint.poll_completion() {
                completion.result.map_err(|e| e.to_string())?;
                times.push(completion.token.elapsed());
                done += 1;
            }
            if let Some(err) = endpoint.closed_error() {
                return Err(err.to_string());
            }
        }
        let rate = total as f64 / begin.elapsed().as_secs_f64();
        times.sort_unstable();
        let stats = Stats { p50: times[total / 2], p99: times[total * 99 / 100], rate };
        Ok((stats, None))
    })
}

#[cfg(feature = "af-xdp")]
fn xdp_client(client: &Host, server: Ipv4Addr, s: Settings, mode: hatch_xdp::xdp::XdpMode) -> Outcome {
    use hatch_xdp::xdp::{Client, XdpOptions};
    let options = XdpOptions::new(client.ifname.clone(), client.ip, XDP_CLIENT_PORT).mode(mode).spin(s.spin);
    in_ns(client, move || {
        let client =
            Client::connect(options, std::net::SocketAddrV4::new(server, XDP_PORT), None).map_err(|e| e.to_string())?;
        let stats = channel_stats(&client, s, true);
        eprintln!("  AF_XDP client session: {:?} (zero-copy: {})", client.session_stats(), client.is_zero_copy());
        Ok(stats)
    })
}

#[cfg(feature = "af-xdp")]
fn xdp_mode() -> hatch_xdp::xdp::XdpMode {
    use hatch_xdp::xdp::XdpMode;
    match env_str("XDP_MODE").as_deref() {
        Some("native") => XdpMode::Native,
        Some("generic") => XdpMode::Generic,
        _ => XdpMode::Auto,
    }
}

/// Starts a server, runs its client, stops the server.
fn pair_run(start: Result<Running, String>, run: impl FnOnce() -> Outcome) -> Outcome {
    let _server = start?;
    run()
}

fn namespaces(s: Settings) {
    let pair = VethPair::create(211).expect("creating namespaces (root?)");
    let server = Host { ns: Some(pair.ns[0].clone()), ifname: pair.ifname[0].clone(), ip: pair.ip[0] };
    let client = Host { ns: Some(pair.ns[1].clone()), ifname: pair.ifname[1].clone(), ip: pair.ip[1] };
    println!(
        "veth pair between two namespaces; {} sequential calls of {} bytes; spin {:?}; {} callers for the N column",
        s.calls, s.payload, s.spin, s.threads
    );
    let ip = server.ip;
    report("kernel TCP ping-pong", pair_run(tcp_server(&server, s.payload), || tcp_client(&client, ip, s)));
    report("Hatch io_uring TCP", pair_run(uring_server(&server), || uring_client(&client, ip, s)));
    report("Hatch UDP driver", pair_run(udp_server(&server, s), || udp_client(&client, ip, s)));
    report("Hatch UDP, 32 in flight", pair_run(udp_server(&server, s), || udp_pipelined(&client, ip, s, 32)));
    #[cfg(feature = "af-xdp")]
    {
        use hatch_xdp::xdp::XdpMode;
        for (name, mode) in
            [("Hatch AF_XDP (generic, copy)", XdpMode::Generic), ("Hatch AF_XDP (native, copy)", XdpMode::Native)]
        {
            report(name, pair_run(xdp_server(&server, s, mode), || xdp_client(&client, ip, s, mode)));
        }
    }
    #[cfg(not(feature = "af-xdp"))]
    println!("Hatch AF_XDP                   skipped: build with --features af-xdp");
}

fn this_host() -> Host {
    let ip = env_str("IP").and_then(|ip| ip.parse().ok()).expect("set IP to this host's IPv4 address");
    Host { ns: None, ifname: env_str("IFACE").expect("set IFACE to the interface"), ip }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; this binary has no named cases.
    }
    let s = Settings {
        calls: env("CALLS", 20_000) as usize,
        payload: env("PAYLOAD", 32) as usize,
        spin: Duration::from_micros(env("SPIN_US", 0)),
        threads: env("THREADS", 4).max(1) as usize,
    };
    match env_str("ROLE").as_deref() {
        Some("server") => {
            let host = this_host();
            #[cfg_attr(not(feature = "af-xdp"), allow(unused_mut))]
            let mut running = vec![tcp_server(&host, s.payload), uring_server(&host), udp_server(&host, s)];
            #[cfg(feature = "af-xdp")]
            running.push(xdp_server(&host, s, xdp_mode()));
            for server in &running {
                if let Err(err) = server {
                    println!("a server failed to start: {err}");
                }
            }
            println!(
                "serving on {} {} (TCP {TCP_PORT}, io_uring {URING_PORT}, UDP {UDP_PORT}); Ctrl-C stops",
                host.ifname, host.ip
            );
            loop {
                std::thread::park();
            }
        }
        Some("client") => {
            let host = this_host();
            let server: Ipv4Addr = env_str("SERVER").and_then(|ip| ip.parse().ok()).expect("set SERVER");
            report("kernel TCP ping-pong", tcp_client(&host, server, s));
            report("Hatch io_uring TCP", uring_client(&host, server, s));
            report("Hatch UDP driver", udp_client(&host, server, s));
            report("Hatch UDP, 32 in flight", udp_pipelined(&host, server, s, 32));
            #[cfg(feature = "af-xdp")]
            report("Hatch AF_XDP", xdp_client(&host, server, s, xdp_mode()));
        }
        _ => match VethPair::unavailable() {
            Some(why) => println!("skipped: {why}"),
            None => namespaces(s),
        },
    }
}
