//! The session layer under a faulty link: drops, duplicates and reordering, a simulated clock,
//! the real Hatch client and server cores on top. Every call must complete exactly once, with the
//! right reply, and every request must be executed exactly once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_transport::{Config, MethodId, RemoteError, Service, ServiceError};
use hatch_xdp::sim::{Faults, Link, Pair, Rng};
use hatch_xdp::{ClientEndpoint, ServerEndpoint, SessionConfig, SessionError};
use proptest::prelude::*;

/// Replies with the payload reversed, and counts how often each payload was executed.
#[derive(Default)]
struct Recorder {
    executions: Mutex<HashMap<Vec<u8>, u32>>,
}

impl Service for Recorder {
    fn call(&self, _method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        *self.executions.lock().unwrap().entry(payload.to_vec()).or_default() += 1;
        reply.extend(payload.iter().rev());
        Ok(())
    }
}

fn session_config() -> SessionConfig {
    SessionConfig::default()
        .max_payload(256)
        .initial_rto(Duration::from_millis(1))
        .max_rto(Duration::from_millis(20))
        .max_retransmits(40)
}

fn payload(rng: &mut Rng, i: usize) -> Vec<u8> {
    // Mostly small calls, some spanning many packets.
    let len = if rng.chance(0.2) { 300 + (rng.next_u64() % 3000) as usize } else { (rng.next_u64() % 64) as usize };
    let mut bytes = format!("call {i}:").into_bytes();
    bytes.extend((0..len).map(|_| rng.next_u64() as u8));
    bytes
}

/// Runs `calls` calls (up to `concurrency` outstanding) and `one_way` one-way calls over a link
/// with `faults`, and checks exactly-once completion and execution.
fn run(seed: u64, faults: Faults, calls: usize, concurrency: usize, one_way: usize) {
    let t0 = Instant::now();
    let service = Recorder::default();
    let client = ClientEndpoint::<usize>::new(0xfeed, session_config(), Config::default());
    let server = ServerEndpoint::new(session_config(), Config::default());
    let mut pair = Pair::new(client, server, Link::new(faults, seed), t0);
    let mut rng = Rng::new(seed ^ 0x5eed);
    let requests: Vec<Vec<u8>> = (0..calls).map(|i| payload(&mut rng, i)).collect();
    let mut replies: Vec<Option<Bytes>> = vec![None; calls];
    let (mut started, mut done) = (0, 0);
    for i in 0..one_way {
        pair.client.send_one_way(9, format!("one-way {i}").as_bytes()).unwrap();
    }
    let mut steps = 0u64;
    while done < calls || !pair.client.is_flushed() {
        while started < calls && started - done < concurrency {
            pair.client.start_call(1, &requests[started], None, started).unwrap();
            started += 1;
        }
        assert!(pair.step(&service), "nothing left to happen with {} calls unfinished", calls - done);
        while let Some(completion) = pair.client.poll_completion() {
            let reply = completion.result.unwrap_or_else(|err| panic!("call {} failed: {err}", completion.token));
            assert!(replies[completion.token].replace(reply).is_none(), "call {} completed twice", completion.token);
            done += 1;
        }
        steps += 1;
        assert!(steps < 1_000_000, "no progress: {done}/{calls} calls done");
    }
    for (i, (request, reply)) in requests.iter().zip(&replies).enumerate() {
        let expected: Vec<u8> = request.iter().rev().copied().collect();
        assert_eq!(reply.as_deref(), Some(&expected[..]), "reply of call {i}");
    }
    let executions = service.executions.lock().unwrap();
    for request in &requests {
        assert_eq!(executions.get(request), Some(&1), "executions of {:?}", String::from_utf8_lossy(&request[..8]));
    }
    for i in 0..one_way {
        assert_eq!(executions.get(format!("one-way {i}").as_bytes()), Some(&1), "one-way call {i}");
    }
    assert_eq!(executions.len(), calls + one_way);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_call_completes_exactly_once_over_a_faulty_link(
        seed in any::<u64>(),
        drop in 0.0..0.3f64,
        duplicate in 0.0..0.3f64,
        reorder in 0.0..0.5f64,
        reorder_us in 0u64..500,
        concurrency in 1usize..24,
        one_way in 0usize..5,
    ) {
        let faults = Faults {
            drop,
            duplicate,
            reorder,
            latency: Duration::from_micros(10),
            reorder_delay: Duration::from_micros(reorder_us),
        };
        run(seed, faults, 40, concurrency, one_way);
    }
}

#[test]
fn heavy_loss_still_completes_every_call_once() {
    let faults = Faults {
        drop: 0.45,
        duplicate: 0.2,
        reorder: 0.5,
        latency: Duration::from_micros(10),
        reorder_delay: Duration::from_micros(300),
    };
    for seed in 0..8 {
        run(seed, faults, 30, 8, 2);
    }
}

#[test]
fn a_perfect_link_needs_no_retransmission() {
    let t0 = Instant::now();
    let service = Recorder::default();
    let client = ClientEndpoint::<()>::new(1, session_config(), Config::default());
    let server = ServerEndpoint::new(session_config(), Config::default());
    let mut pair = Pair::new(client, server, Link::new(Faults::none(Duration::from_micros(5)), 1), t0);
    for i in 0..50u32 {
        pair.client.start_call(1, &i.to_le_bytes(), None, ()).unwrap();
        let reply = loop {
            assert!(pair.step(&service));
            if let Some(done) = pair.client.poll_completion() {
                break done.result.unwrap();
            }
        };
        assert_eq!(&reply[..], &i.to_be_bytes());
    }
    assert_eq!(pair.client.session().stats().retransmissions, 0);
    assert_eq!(pair.link.dropped, 0);
}

#[test]
fn a_forgotten_session_is_reset_and_fails_its_calls() {
    let t0 = Instant::now();
    let service = Recorder::default();
    let client = ClientEndpoint::<()>::new(1, session_config(), Config::default());
    let server = ServerEndpoint::new(session_config(), Config::default()).idle_timeout(Duration::from_millis(100));
    let mut pair = Pair::new(client, server, Link::new(Faults::none(Duration::from_micros(5)), 1), t0);
    pair.client.start_call(1, b"first", None, ()).unwrap();
    while pair.client.poll_completion().is_none() {
        assert!(pair.step(&service));
    }
    // The client stays silent past the server's idle timeout; the server forgets the session.
    while pair.server.sessions() > 0 {
        assert!(pair.step(&service));
    }
    pair.client.start_call(1, b"second", None, ()).unwrap();
    let result = loop {
        assert!(pair.step(&service));
        if let Some(done) = pair.client.poll_completion() {
            break done.result;
        }
    };
    let expected = RemoteError::from(SessionError::Reset).to_string();
    assert_eq!(result.unwrap_err().to_string(), expected);
}

#[test]
fn call_deadlines_still_fire_when_the_server_is_gone() {
    let t0 = Instant::now();
    let service = Recorder::default();
    let client = ClientEndpoint::<()>::new(1, session_config(), Config::default());
    let server = ServerEndpoint::new(session_config(), Config::default());
    let faults = Faults { drop: 1.0, ..Faults::none(Duration::from_micros(5)) };
    let mut pair = Pair::new(client, server, Link::new(faults, 1), t0);
    pair.client.start_call(1, b"lost", Some(t0 + Duration::from_millis(3)), ()).unwrap();
    let result = loop {
        assert!(pair.step(&service));
        if let Some(done) = pair.client.poll_completion() {
            break done.result;
        }
    };
    assert!(matches!(result, Err(RemoteError::DeadlineExceeded)));
    assert_eq!(pair.now, t0 + Duration::from_millis(3), "the simulated clock jumped straight to the deadline");
}

#[test]
fn closing_the_client_frees_the_server_session() {
    let t0 = Instant::now();
    let service = Recorder::default();
    let client = ClientEndpoint::<()>::new(1, session_config(), Config::default());
    let server = ServerEndpoint::new(session_config(), Config::default());
    let mut pair = Pair::new(client, server, Link::new(Faults::none(Duration::from_micros(5)), 1), t0);
    pair.client.start_call(1, b"hello", None, ()).unwrap();
    while pair.client.poll_completion().is_none() {
        assert!(pair.step(&service));
    }
    assert_eq!(pair.server.sessions(), 1);
    pair.client.close();
    assert!(pair.client.start_call(1, b"after close", None, ()).is_err());
    while pair.server.sessions() > 0 {
        assert!(pair.step(&service), "the close never reached the server");
    }
    assert!(pair.now < t0 + Duration::from_secs(1), "freed by the close packet, not by the idle timeout");
}

#[test]
fn a_client_silent_after_its_reply_keeps_its_session() {
    let t0 = Instant::now();
    let service = Recorder::default();
    let client = ClientEndpoint::<()>::new(1, session_config(), Config::default());
    let server = ServerEndpoint::new(session_config().max_retransmits(3), Config::default());
    let mut pair = Pair::new(client, server, Link::new(Faults::none(Duration::from_micros(5)), 1), t0);
    // The client's driver stops after each completion, so its ack of the reply never leaves: the
    // server retransmits the reply, gives up after three tries, and must keep the session.
    pair.client.start_call(1, b"first", None, ()).unwrap();
    while pair.client.poll_completion().is_none() {
        pair.flush();
        let next = pair.link.next_arrival().into_iter().chain(pair.server.poll_timeout()).min().unwrap();
        pair.now = next;
        while let Some((direction, packet)) = pair.link.receive(pair.now) {
            match direction {
                hatch_xdp::sim::Direction::ToServer => {
                    pair.server.handle_datagram(pair.now, (), &packet, &service).unwrap()
                }
                hatch_xdp::sim::Direction::ToClient => pair.client.handle_datagram(pair.now, &packet).unwrap(),
            }
        }
        pair.server.handle_timeout(pair.now);
    }
    // Only the server runs for a while (the client is idle and not driven).
    let mut buf = Vec::new();
    let mut retransmitted = 0;
    for _ in 0..100 {
        let Some(next) = pair.server.poll_timeout() else { break };
        if next > t0 + Duration::from_secs(60) {
            break;
        }
        pair.now = next;
        pair.server.handle_timeout(pair.now);
        while pair.server.poll_transmit(pair.now, &mut buf).is_some() {
            retransmitted += 1;
        }
    }
    assert_eq!(retransmitted, 3, "the reply was retransmitted, then the server parked");
    assert_eq!(pair.server.sessions(), 1);
    pair.client.start_call(1, b"second", None, ()).unwrap();
    let result = loop {
        assert!(pair.step(&service));
        if let Some(done) = pair.client.poll_completion() {
            break done.result;
        }
    };
    assert_eq!(&result.unwrap()[..], b"dnoces");
}
