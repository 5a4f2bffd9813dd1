//! Session behaviour checked packet by packet, with a hand-driven clock.

use std::time::{Duration, Instant};

use hatch_transport::proto::RecvBuf;

use super::*;

fn config() -> SessionConfig {
    SessionConfig::default().max_payload(16).initial_window(4).ack_delay(Duration::from_micros(50))
}

/// Everything `session` sends at `now`.
fn drain(session: &mut Session, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut packets = Vec::new();
    while session.poll_transmit(now, &mut out) {
        packets.push(out.clone());
    }
    packets
}

fn deliver(session: &mut Session, now: Instant, packet: &[u8], sink: &mut RecvBuf) -> usize {
    let (header, payload) = PacketHeader::decode(packet).unwrap();
    session.handle_packet(now, &header, payload, sink)
}

fn header(packet: &[u8]) -> PacketHeader {
    PacketHeader::decode(packet).unwrap().0
}

#[test]
fn data_is_delivered_and_a_pure_ack_waits_for_the_ack_delay() {
    let t0 = Instant::now();
    let (mut a, mut b) = (Session::new(7, config()), Session::new(7, config()));
    let mut sink = RecvBuf::default();
    a.write(b"hello");
    let sent = drain(&mut a, t0);
    assert_eq!(
        sent,
        vec![vec![
            b'H', b'X', 1, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 64, 0, b'h', b'e',
            b'l', b'l', b'o'
        ]]
    );
    assert_eq!(deliver(&mut b, t0, &sent[0], &mut sink), 5);
    assert_eq!(sink.as_slice(), b"hello");
    // Nothing to ride on yet: the ack waits for the delay.
    assert!(drain(&mut b, t0).is_empty());
    let due = b.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_micros(50));
    let acks = drain(&mut b, due);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0], [b'H', b'X', 1, 2, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0]);
    assert!(!a.is_idle());
    deliver(&mut a, due, &acks[0], &mut RecvBuf::default());
    assert!(a.is_idle());
    assert_eq!(a.poll_timeout(), None, "no timer once everything is acked");
}

#[test]
fn reply_data_carries_the_ack() {
    let t0 = Instant::now();
    let (mut a, mut b) = (Session::new(1, config()), Session::new(1, config()));
    a.write(b"request");
    let request = drain(&mut a, t0);
    deliver(&mut b, t0, &request[0], &mut RecvBuf::default());
    b.write(b"reply");
    let reply = drain(&mut b, t0);
    assert_eq!(reply.len(), 1, "the reply replaces the pure ack");
    assert_eq!(header(&reply[0]).kind, PacketKind::Data);
    assert_eq!(header(&reply[0]).ack, 1);
    let mut sink = RecvBuf::default();
    deliver(&mut a, t0, &reply[0], &mut sink);
    assert!(a.is_idle());
    assert_eq!(sink.as_slice(), b"reply");
}

#[test]
fn duplicates_are_dropped_and_acked_at_once() {
    let t0 = Instant::now();
    let (mut a, mut b) = (Session::new(1, config()), Session::new(1, config()));
    let mut sink = RecvBuf::default();
    a.write(b"once");
    let sent = drain(&mut a, t0);
    assert_eq!(deliver(&mut b, t0, &sent[0], &mut sink), 4);
    assert_eq!(deliver(&mut b, t0, &sent[0], &mut sink), 0);
    assert_eq!(sink.as_slice(), b"once");
    assert_eq!(b.stats().duplicates, 1);
    // The duplicate says our ack was lost: repeat it now, not after the delay.
    let acks = drain(&mut b, t0);
    assert_eq!(acks.len(), 1);
    assert_eq!(header(&acks[0]).ack, 1);
}

#[test]
fn out_of_order_segments_are_reassembled_and_sacked() {
    let t0 = Instant::now();
    let (mut a, mut b) = (Session::new(1, config()), Session::new(1, config()));
    let mut sink = RecvBuf::default();
    let data: Vec<u8> = (0..48).collect();
    a.write(&data);
    let sent = drain(&mut a, t0);
    assert_eq!(sent.len(), 3, "48 bytes in 16-byte segments");
    assert_eq!(deliver(&mut b, t0, &sent[2], &mut sink), 0);
    let ack = drain(&mut b, t0);
    assert_eq!((header(&ack[0]).ack, header(&ack[0]).sack), (0, 0b10), "segment 2 is ack + 1 + bit 1");
    assert_eq!(deliver(&mut b, t0, &sent[1], &mut sink), 0);
    assert_eq!(deliver(&mut b, t0, &sent[0], &mut sink), 48);
    assert_eq!(sink.as_slice(), &data[..]);
    assert_eq!(b.stats().out_of_order, 2);
    let ack = drain(&mut b, t0);
    assert_eq!((header(&ack[0]).ack, header(&ack[0]).sack), (3, 0));
}

#[test]
fn credits_limit_packets_in_flight() {
    let t0 = Instant::now();
    let (mut a, mut b) = (Session::new(1, config().initial_window(2)), Session::new(1, config()));
    a.write(&[9; 16 * 10]);
    let first = drain(&mut a, t0);
    assert_eq!(first.len(), 2);
    for packet in &first {
        deliver(&mut b, t0, packet, &mut RecvBuf::default());
    }
    let t1 = t0 + Duration::from_micros(50);
    let ack = drain(&mut b, t1);
    deliver(&mut a, t1, &ack[0], &mut RecvBuf::default());
    // Two acked with a window of two: the window grows by one.
    assert_eq!(a.cwnd(), 3);
    assert_eq!(drain(&mut a, t1).len(), 3);
}

#[test]
fn timeout_retransmits_halves_the_window_and_backs_off() {
    let t0 = Instant::now();
    let mut a = Session::new(1, config().initial_window(8).initial_rto(Duration::from_millis(5)));
    let mut b = Session::new(1, config());
    a.write(&[1; 16 * 4]);
    let sent = drain(&mut a, t0);
    assert_eq!(sent.len(), 4);
    let rto_at = a.poll_timeout().unwrap();
    assert_eq!(rto_at, t0 + Duration::from_millis(5));
    a.handle_timeout(rto_at - Duration::from_micros(1));
    assert!(drain(&mut a, rto_at - Duration::from_micros(1)).is_empty(), "not due yet");
    a.handle_timeout(rto_at);
    assert_eq!(a.cwnd(), 4);
    assert_eq!(a.rto(), Duration::from_millis(10));
    let resent = drain(&mut a, rto_at);
    assert_eq!(resent, sent, "the same segments, same sequence numbers");
    assert_eq!(a.stats().retransmissions, 4);
    // The receiver gets both copies of segment 0 but delivers it once.
    let mut sink = RecvBuf::default();
    for packet in sent.iter().chain(&resent) {
        deliver(&mut b, rto_at, packet, &mut sink);
    }
    assert_eq!(sink.len(), 64);
}

#[test]
fn an_unresponsive_peer_fails_the_session() {
    let mut now = Instant::now();
    let mut a = Session::new(1, config().max_retransmits(3));
    a.write(b"anyone?");
    let mut sent = drain(&mut a, now).len();
    while let Some(at) = a.poll_timeout() {
        now = at;
        a.handle_timeout(now);
        sent += drain(&mut a, now).len();
    }
    assert_eq!(sent, 4, "one send and three retransmissions");
    assert_eq!(a.error(), Some(&SessionError::Unresponsive(3)));
}

#[test]
fn three_sacked_segments_trigger_a_fast_retransmit() {
    let t0 = Instant::now();
    let (mut a, mut b) = (Session::new(1, config().initial_window(8)), Session::new(1, config()));
    a.write(&[3; 16 * 5]);
    let sent = drain(&mut a, t0);
    let mut sink = RecvBuf::default();
    for packet in &sent[1..] {
        deliver(&mut b, t0, packet, &mut sink);
    }
    for ack in drain(&mut b, t0) {
        deliver(&mut a, t0, &ack, &mut RecvBuf::default());
    }
    let resent = drain(&mut a, t0);
    assert_eq!(resent, vec![sent[0].clone()], "only the hole, before any timeout");
    assert_eq!(a.cwnd(), 4);
    assert_eq!(deliver(&mut b, t0, &resent[0], &mut sink), 80);
}

#[test]
fn close_and_reset_end_the_session() {
    let t0 = Instant::now();
    let (mut a, mut b) = (Session::new(1, config()), Session::new(1, config()));
    a.close();
    let close = drain(&mut a, t0);
    assert_eq!(header(&close[0]).kind, PacketKind::Close);
    assert!(drain(&mut a, t0).is_empty(), "close is sent once");
    deliver(&mut b, t0, &close[0], &mut RecvBuf::default());
    assert_eq!(b.error(), Some(&SessionError::PeerClosed));

    let mut c = Session::new(2, config());
    let mut reset = Vec::new();
    PacketHeader { kind: PacketKind::Reset, session: 2, seq: 0, ack: 0, sack: 0, len: 0, window: 0 }.encode(&mut reset);
    deliver(&mut c, t0, &reset, &mut RecvBuf::default());
    assert_eq!(c.error(), Some(&SessionError::Reset));
}

#[test]
fn acks_for_unsent_segments_are_ignored() {
    let t0 = Instant::now();
    let mut a = Session::new(1, config());
    a.write(b"x");
    drain(&mut a, t0);
    let mut bogus = Vec::new();
    PacketHeader { kind: PacketKind::Ack, session: 1, seq: 0, ack: 5, sack: !0, len: 0, window: 64 }.encode(&mut bogus);
    deliver(&mut a, t0, &bogus, &mut RecvBuf::default());
    assert!(!a.is_idle());
    assert_eq!(a.unacked_bytes(), 1);
}

#[test]
fn sequence_numbers_wrap_around() {
    let t0 = Instant::now();
    let start = u32::MAX - 2;
    let (mut a, mut b) = (Session::starting_at(1, config(), start, 0), Session::starting_at(1, config(), 0, start));
    let mut sink = RecvBuf::default();
    let data: Vec<u8> = (0..16 * 6).map(|i| i as u8).collect();
    a.write(&data);
    let mut sent = drain(&mut a, t0);
    // Deliver 4 segments (u32::MAX - 2 ..= 0) in reverse, across the wrap.
    assert_eq!(sent.len(), 4);
    assert_eq!(header(&sent[3]).seq, 0);
    sent.reverse();
    for packet in &sent {
        deliver(&mut b, t0, packet, &mut sink);
    }
    assert_eq!(sink.as_slice(), &data[..64]);
    for ack in drain(&mut b, t0) {
        deliver(&mut a, t0, &ack, &mut RecvBuf::default());
    }
    for packet in drain(&mut a, t0) {
        deliver(&mut b, t0, &packet, &mut sink);
    }
    assert_eq!(sink.as_slice(), &data[..]);
}

#[test]
fn receive_windows_are_powers_of_two() {
    assert_eq!(SessionConfig::default().recv_window(100).recv_window, 128);
    let odd = SessionConfig { recv_window: 100, ..SessionConfig::default() };
    assert_eq!(Session::new(1, odd).config().recv_window, 128);
}

#[test]
fn a_parked_sender_resumes_when_the_peer_speaks() {
    let mut now = Instant::now();
    let mut server = Session::new(1, config().max_retransmits(2).park_when_unresponsive(true));
    let mut client = Session::new(1, config());
    server.write(b"reply");
    let first = drain(&mut server, now);
    let mut sent = first.len();
    while let Some(at) = server.poll_timeout() {
        now = at;
        server.handle_timeout(now);
        sent += drain(&mut server, now).len();
    }
    assert_eq!(sent, 3, "one send, two retransmissions, then silence");
    assert_eq!(server.error(), None, "parked, not failed");
    // The client finally speaks (its next request): the reply goes out again at once.
    client.write(b"next request");
    let request = drain(&mut client, now);
    deliver(&mut server, now, &request[0], &mut RecvBuf::default());
    server.write(b"next reply");
    let resent = drain(&mut server, now);
    assert_eq!(resent.len(), 2);
    assert_eq!(&resent[0][HEADER_LEN..], b"reply");
    let mut sink = RecvBuf::default();
    for packet in &resent {
        deliver(&mut client, now, packet, &mut sink);
    }
    assert_eq!(sink.as_slice(), b"replynext reply");
}

#[test]
fn a_retransmitted_request_makes_the_lost_reply_go_again() {
    let t0 = Instant::now();
    let (mut client, mut server) = (Session::new(1, config()), Session::new(1, config()));
    client.write(b"request");
    let request = drain(&mut client, t0);
    deliver(&mut server, t0, &request[0], &mut RecvBuf::default());
    server.write(b"reply");
    let lost_reply = drain(&mut server, t0);
    assert_eq!(lost_reply.len(), 1);
    // The client's RTO fires first; its retransmission reaches the server.
    let at = client.poll_timeout().unwrap();
    client.handle_timeout(at);
    let again = drain(&mut client, at);
    assert_eq!(again, request);
    deliver(&mut server, at, &again[0], &mut RecvBuf::default());
    let resent = drain(&mut server, at);
    assert_eq!(resent, lost_reply, "the reply again, without waiting for the server's own RTO");
    // A duplicate soon after a send does not cause another copy.
    deliver(&mut server, at, &again[0], &mut RecvBuf::default());
    assert_eq!(drain(&mut server, at).len(), 1, "only the ack");
}
