//! Ping-pong over Hatch's io_uring backend on loopback: an echo server on one thread, a client
//! making synchronous calls on another, then the same connection with 64 calls in flight and with
//! batched one-way calls. Prints round-trip percentiles and calls per second.
//!
//! `cargo run --release --example pingpong -- [--calls N] [--payload BYTES] [--spin-us US]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use hatch::transport::uring::{Connection, Server, UringOptions};
use hatch::transport::{Config, Echo};

struct Args {
    calls: usize,
    payload: usize,
    spin: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { calls: 100_000, payload: 32, spin: Duration::ZERO };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next().ok_or(format!("{name} needs a value"))?.parse::<u64>().map_err(|e| format!("{name}: {e}"))
        };
        match flag.as_str() {
            "--calls" => args.calls = value("--calls")? as usize,
            "--payload" => args.payload = value("--payload")? as usize,
            "--spin-us" => args.spin = Duration::from_micros(value("--spin-us")?),
            "-h" | "--help" => return Err("usage: pingpong [--calls N] [--payload BYTES] [--spin-us US]".into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), Config::default(), Arc::new(Echo), 1)
        .expect("io_uring server (needs Linux 5.19+ with io_uring enabled)");
    let options = UringOptions::default().spin(args.spin);
    let mut conn = Connection::connect(server.local_addr(), Config::default(), options).expect("connect");
    conn.handshake(Duration::from_secs(5)).expect("handshake");
    let payload = vec![0x5Au8; args.payload];
    println!("hatch ping-pong over io_uring, loopback {}, {}-byte payload", server.local_addr(), args.payload);

    for _ in 0..args.calls / 10 {
        conn.call(1, &payload, None).expect("warm-up call");
    }
    let mut samples = Vec::with_capacity(args.calls);
    let start = Instant::now();
    for _ in 0..args.calls {
        let t = Instant::now();
        let reply = conn.call(1, &payload, None).expect("call");
        samples.push(t.elapsed());
        assert_eq!(reply.len(), payload.len());
    }
    let wall = start.elapsed();
    samples.sort();
    let pct = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "sync calls:        {} calls, p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, {:.0} calls/s",
        args.calls,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        args.calls as f64 / wall.as_secs_f64()
    );

    let rounds = (args.calls / 64).max(1);
    let start = Instant::now();
    for _ in 0..rounds {
        let ids: Vec<_> = (0..64).map(|_| conn.start_call(1, &payload, None).expect("start call")).collect();
        for id in ids {
            conn.wait(id).expect("reply");
        }
    }
    println!("64 in flight:      {:.0} calls/s", (rounds * 64) as f64 / start.elapsed().as_secs_f64());

    let start = Instant::now();
    for _ in 0..args.calls * 10 {
        conn.send_one_way(1, &payload).expect("one-way call");
    }
    conn.flush().expect("flush");
    let (frames, writes) = conn.batching_stats();
    println!(
        "one-way, batched:  {:.0} calls/s ({:.1} frames per write over the connection's life)",
        (args.calls * 10) as f64 / start.elapsed().as_secs_f64(),
        frames as f64 / writes as f64
    );
    drop(conn);
    server.shutdown();
}
