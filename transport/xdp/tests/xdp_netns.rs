//! The AF_XDP driver between two network namespaces joined by a veth pair, in generic and native
//! XDP mode. Needs root and `--features af-xdp`; skips with a reason otherwise.
#![cfg(all(feature = "af-xdp", target_os = "linux"))]

use std::net::{SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use hatch_transport::{Channel, Echo};
use hatch_xdp::netns::{VethPair, enter};
use hatch_xdp::xdp::{Client, Server, XdpMode, XdpOptions};

const HATCH_PORT: u16 = 7700;
const CLIENT_PORT: u16 = 7800;
const KERNEL_PORT: u16 = 7701;

/// Runs the scenario; `Err` is a reason to skip (the environment does not permit it).
fn run(mode: XdpMode, subnet: u8) -> Result<(), String> {
    let pair = VethPair::create(subnet).map_err(|err| format!("cannot create namespaces: {err}"))?;
    let (server_ip, client_ip) = (pair.ip[0], pair.ip[1]);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (server_ns, server_if) = (pair.ns[0].clone(), pair.ifname[0].clone());
    let server = std::thread::spawn(move || {
        enter(&server_ns).unwrap();
        // A kernel UDP echo on another port: the XDP program must let its traffic through.
        let kernel = UdpSocket::bind((server_ip, KERNEL_PORT)).unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = kernel.recv_from(&mut buf) {
                let _ = kernel.send_to(&buf[..n], from);
            }
        });
        let server = Server::bind(XdpOptions::new(server_if, server_ip, HATCH_PORT).mode(mode), Arc::new(Echo));
        let ok = server.as_ref().map(|s| (s.mode(), s.is_zero_copy())).map_err(|e| e.to_string());
        ready_tx.send(ok).unwrap();
        let _ = stop_rx.recv();
        drop(server);
    });
    let (attached, zero_copy) = match ready_rx.recv().unwrap() {
        Ok(bound) => bound,
        Err(err) if err.contains("not permitted") || err.contains("ermission") => {
            stop_tx.send(()).unwrap();
            server.join().unwrap();
            return Err(format!("loading XDP programs is not permitted here: {err}"));
        }
        Err(err) => panic!("server failed to bind: {err}"),
    };
    println!("{mode:?}: attached {attached:?}, zero-copy {zero_copy}");

    let (client_ns, client_if) = (pair.ns[1].clone(), pair.ifname[1].clone());
    let client = std::thread::spawn(move || {
        enter(&client_ns).unwrap();
        let options = XdpOptions::new(client_if, client_ip, CLIENT_PORT).mode(mode);
        let client = Client::connect(options, SocketAddrV4::new(server_ip, HATCH_PORT), None).expect("client connects");
        assert_eq!(&client.call(1, b"ping", None).unwrap()[..], b"ping");
        // Larger than a packet: segmented, reassembled.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        assert_eq!(&client.call(1, &big, None).unwrap()[..], &big[..]);
        for i in 0..2000u32 {
            assert_eq!(&client.call(2, &i.to_le_bytes(), None).unwrap()[..], &i.to_le_bytes());
        }
        // Concurrent callers share the one socket and session (leader/follower driving).
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                let client = &client;
                scope.spawn(move || {
                    for i in 0..500u32 {
                        let request = format!("thread {t} call {i}");
                        assert_eq!(&client.call(4, request.as_bytes(), None).unwrap()[..], request.as_bytes());
                        if i % 50 == 0 {
                            client.send_one_way(3, b"interleaved").unwrap();
                        }
                    }
                });
            }
        });
        client.send_one_way(3, b"fire and forget").unwrap();
        client.flush().unwrap();

        // Other UDP ports still reach the kernel stack on the server side (and ARP did: the
        // client resolved the server's MAC through it).
        let kernel = UdpSocket::bind((client_ip, 0)).unwrap();
        kernel.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        kernel.send_to(b"kernel", (server_ip, KERNEL_PORT)).unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = kernel.recv_from(&mut buf).expect("kernel UDP reply");
        assert_eq!(&buf[..n], b"kernel");
    });
    let client_result = client.join();
    stop_tx.send(()).unwrap();
    server.join().unwrap();
    client_result.unwrap();
    Ok(())
}

#[test]
fn calls_over_veth_in_generic_and_native_mode() {
    if let Some(why) = VethPair::unavailable() {
        println!("skipped: {why}");
        return;
    }
    for (mode, subnet) in [(XdpMode::Generic, 201), (XdpMode::Native, 202)] {
        if let Err(why) = run(mode, subnet) {
            println!("skipped: {why}");
            return;
        }
    }
}
