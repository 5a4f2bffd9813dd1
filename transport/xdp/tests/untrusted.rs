//! Network bytes are untrusted: arbitrary datagrams must never panic either end, nor make a
//! server keep more sessions than allowed.

use std::time::{Duration, Instant};

use hatch_transport::proto::RecvBuf;
use hatch_transport::{Config, Echo};
use hatch_xdp::session::{PacketHeader, PacketKind};
use hatch_xdp::{ClientEndpoint, ServerEndpoint, Session, SessionConfig};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = PacketKind> {
    prop_oneof![Just(PacketKind::Data), Just(PacketKind::Ack), Just(PacketKind::Close), Just(PacketKind::Reset)]
}

/// Well-formed headers with arbitrary numbers, and a payload for data packets.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    (
        kind(),
        any::<u32>(),
        0u32..200,
        any::<u64>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 1..64),
        any::<bool>(),
    )
        .prop_map(|(kind, seq, ack, sack, window, payload, near)| {
            // Half of the sequence numbers land near the start, where they matter most.
            let seq = if near { seq % 200 } else { seq };
            let payload = if kind == PacketKind::Data { payload } else { Vec::new() };
            let header = PacketHeader { kind, session: 7, seq, ack, sack, len: payload.len() as u16, window };
            let mut bytes = Vec::new();
            header.encode(&mut bytes);
            bytes.extend_from_slice(&payload);
            bytes
        })
}

proptest! {
    #[test]
    fn random_datagrams_never_panic_either_end(
        datagrams in proptest::collection::vec(
            prop_oneof![proptest::collection::vec(any::<u8>(), 0..80), packet()],
            1..20,
        ),
    ) {
        let now = Instant::now();
        let mut client = ClientEndpoint::<()>::new(7, SessionConfig::default(), Config::default());
        let mut server = ServerEndpoint::new(SessionConfig::default(), Config::default());
        let mut out = Vec::new();
        for datagram in &datagrams {
            let _ = client.handle_datagram(now, datagram);
            let _ = server.handle_datagram(now, 1u8, datagram, &Echo);
            while client.poll_transmit(now, &mut out) {}
            while server.poll_transmit(now, &mut out).is_some() {}
        }
    }

    #[test]
    fn hostile_headers_never_panic_a_session(packets in proptest::collection::vec(packet(), 1..40), written in 0usize..20_000) {
        let mut now = Instant::now();
        let mut session = Session::new(7, SessionConfig::default().max_payload(256));
        session.write(&vec![1u8; written]);
        let mut sink = RecvBuf::default();
        let mut out = Vec::new();
        let mut offered = 0;
        for bytes in &packets {
            let (header, payload) = PacketHeader::decode(bytes).unwrap();
            offered += payload.len();
            session.handle_packet(now, &header, payload, &mut sink);
            while session.poll_transmit(now, &mut out) {
                let (sent, _) = PacketHeader::decode(&out).expect("we only send valid packets");
                prop_assert_eq!(sent.session, 7);
            }
            now += Duration::from_millis(3);
            session.handle_timeout(now);
            prop_assert!(session.unacked_bytes() <= written);
        }
        // Nothing is delivered that was not received (each sequence number at most once).
        prop_assert!(sink.len() <= offered);
    }
}

#[test]
fn a_flood_of_session_ids_is_capped() {
    let now = Instant::now();
    let mut server = ServerEndpoint::new(SessionConfig::default(), Config::default()).max_sessions(100);
    let mut bytes = Vec::new();
    for id in 0..1000u32 {
        bytes.clear();
        PacketHeader { kind: PacketKind::Data, session: id, seq: 0, ack: 0, sack: 0, len: 1, window: 64 }
            .encode(&mut bytes);
        bytes.push(0);
        server.handle_datagram(now, 9u8, &bytes, &Echo).unwrap();
    }
    assert_eq!(server.sessions(), 100);
    let mut out = Vec::new();
    let mut resets = 0;
    while server.poll_transmit(now, &mut out).is_some() {
        if PacketHeader::decode(&out).unwrap().0.kind == PacketKind::Reset {
            resets += 1;
        }
    }
    assert_eq!(resets, 900);
}
