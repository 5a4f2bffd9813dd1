//! A multi-MiB call over the session layer: reassembly from 1,444-byte segments copies each byte
//! into the frame's own allocation once, instead of re-copying the partial frame per segment.
//!
//! The only test of its binary, so the receive buffers' process-wide copy counter sees this call
//! alone.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_transport::proto::recv_buf::{FRAME_SLACK, copied_bytes_total};
use hatch_transport::{Config, Echo};
use hatch_xdp::sim::{Faults, Link, Pair};
use hatch_xdp::{ClientEndpoint, ServerEndpoint, SessionConfig};

#[test]
fn a_four_mib_call_is_reassembled_with_one_copy_per_byte() {
    const LEN: usize = 4 << 20;
    let session = SessionConfig::default().for_ipv4_mtu(1500).max_window(512).recv_window(512);
    let config = Config::default().max_frame(8 << 20);
    let client = ClientEndpoint::<()>::new(7, session.clone(), config.clone());
    let server = ServerEndpoint::new(session, config);
    let mut pair = Pair::new(client, server, Link::new(Faults::none(Duration::from_micros(5)), 1), Instant::now());
    let request: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    let before = copied_bytes_total();
    pair.client.start_call(1, &request, None, ()).unwrap();
    let reply: Bytes = loop {
        assert!(pair.step(&Echo), "the call never completed");
        if let Some(done) = pair.client.poll_completion() {
            break done.result.unwrap();
        }
    };
    let copied = copied_bytes_total() - before;
    assert!(reply == request, "the echo came back different");
    assert_eq!(reply.as_ptr() as usize % 16, 0, "the reply is not 16-aligned");
    // Both ends copy every segment into place once; the segments before each header was seen
    // move once more. Growing by what was missing per segment copied ~6 GiB here.
    let bound = 2 * (LEN + FRAME_SLACK) as u64;
    assert!(copied <= bound, "reassembling the request and the reply copied {copied} bytes (bound {bound})");
}
