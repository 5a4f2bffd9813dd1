//! Ethernet II / IPv4 / UDP framing for drivers that bypass the kernel stack (AF_XDP): building
//! the headers, with checksums, and validating received frames. Pure functions, no I/O.
//!
//! ```text
//!  0              14                     34          42
//!  +--------------+----------------------+-----------+---------------------------+
//!  | Ethernet II  | IPv4 (20 B, no opts) | UDP (8 B) | session packet            |
//!  +--------------+----------------------+-----------+---------------------------+
//! ```
//! Received frames are untrusted: every length field is checked against the frame, the IPv4
//! header checksum is verified, and so is the UDP checksum unless the sender left it zero.

use std::net::Ipv4Addr;

/// Bytes of Ethernet, IPv4 and UDP headers in front of every datagram.
pub const HEADERS_LEN: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTO_UDP: u8 = 17;
const TTL: u8 = 64;

/// One end of a datagram path below the kernel: MAC, IPv4 address and UDP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Addr {
    /// Ethernet address.
    pub mac: [u8; 6],
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// UDP port.
    pub port: u16,
}

/// A received frame that is not a well-formed IPv4/UDP datagram.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than the headers it declares.
    #[error("frame of {0} bytes is truncated")]
    Truncated(usize),
    /// Not IPv4 (or IPv4 with options, or a fragment), or not UDP.
    #[error("not a plain IPv4/UDP frame")]
    NotUdp4,
    /// The IPv4 header checksum does not match.
    #[error("bad IPv4 header checksum")]
    IpChecksum,
    /// The UDP checksum does not match.
    #[error("bad UDP checksum")]
    UdpChecksum,
}

/// Writes the Ethernet, IPv4 and UDP headers for a datagram of `payload_len` bytes into
/// `frame[..HEADERS_LEN]`; the payload must already be at `frame[HEADERS_LEN..][..payload_len]`
/// (it is covered by the UDP checksum). Returns the frame length.
///
/// # Panics
/// If `frame` is shorter than `HEADERS_LEN + payload_len` or the datagram exceeds 65,507 bytes.
pub fn write_headers(frame: &mut [u8], src: &Addr, dst: &Addr, payload_len: usize, ip_id: u16) -> usize {
    let udp_len = u16::try_from(UDP_LEN + payload_len).expect("datagram fits UDP");
    let ip_len = udp_len.checked_add(IPV4_LEN as u16).expect("datagram fits IPv4");
    let total = HEADERS_LEN + payload_len;
    let frame = &mut frame[..total];
    frame[0..6].copy_from_slice(&dst.mac);
    frame[6..12].copy_from_slice(&src.mac);
    frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

    let ip = &mut frame[ETH_LEN..ETH_LEN + IPV4_LEN];
    ip[0] = 0x45; // version 4, 5 words
    ip[1] = 0;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
    ip[8] = TTL;
    ip[9] = PROTO_UDP;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&src.ip.octets());
    ip[16..20].copy_from_slice(&dst.ip.octets());
    let sum = fold(sum_words(ip, 0));
    ip[10..12].copy_from_slice(&(!sum).to_be_bytes());

    let udp = &mut frame[ETH_LEN + IPV4_LEN..];
    udp[0..2].copy_from_slice(&src.port.to_be_bytes());
    udp[2..4].copy_from_slice(&dst.port.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].fill(0);
    let mut sum = !fold(pseudo_header(src.ip, dst.ip, udp_len) + sum_words(udp, 0));
    if sum == 0 {
        sum = 0xffff; // zero means "no checksum" in UDP over IPv4
    }
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    total
}

/// Validates a received frame and returns its source, destination and UDP payload.
pub fn parse(frame: &[u8]) -> Result<(Addr, Addr, &[u8]), WireError> {
    if frame.len() < HEADERS_LEN {
        return Err(WireError::Truncated(frame.len()));
    }
    if u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4 {
        return Err(WireError::NotUdp4);
    }
    let ip = &frame[ETH_LEN..ETH_LEN + IPV4_LEN];
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    if ip[0] != 0x45 || ip[9] != PROTO_UDP || fragment {
        return Err(WireError::NotUdp4);
    }
    if fold(sum_words(ip, 0)) != 0xffff {
        return Err(WireError::IpChecksum);
    }
    let ip_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // Ethernet may pad short frames, so the frame can be longer than the IPv4 packet.
    if ip_len < IPV4_LEN + UDP_LEN || ETH_LEN + ip_len > frame.len() {
        return Err(WireError::Truncated(frame.len()));
    }
    let udp = &frame[ETH_LEN + IPV4_LEN..ETH_LEN + ip_len];
    let udp_len = u16::from_be_bytes([udp[4], udp[5]]);
    if usize::from(udp_len) != udp.len() {
        return Err(WireError::Truncated(frame.len()));
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    if u16::from_be_bytes([udp[6], udp[7]]) != 0
        && fold(pseudo_header(src_ip, dst_ip, udp_len) + sum_words(udp, 0)) != 0xffff
    {
        return Err(WireError::UdpChecksum);
    }
    let mac = |at: usize| {
        let mut mac = [0; 6];
        mac.copy_from_slice(&frame[at..at + 6]);
        mac
    };
    let src = Addr { mac: mac(6), ip: src_ip, port: u16::from_be_bytes([udp[0], udp[1]]) };
    let dst = Addr { mac: mac(0), ip: dst_ip, port: u16::from_be_bytes([udp[2], udp[3]]) };
    Ok((src, dst, &udp[UDP_LEN..]))
}

fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u64 {
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = PROTO_UDP;
    pseudo[10..12].copy_from_slice(&udp_len.to_be_bytes());
    sum_words(&pseudo, 0)
}

/// One's-complement sum of big-endian 16-bit words (odd tail padded with zero), unfolded.
fn sum_words(bytes: &[u8], mut sum: u64) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (Addr, Addr) {
        (
            Addr { mac: [2, 0, 0, 0, 0, 1], ip: Ipv4Addr::new(192, 168, 0, 1), port: 4000 },
            Addr { mac: [2, 0, 0, 0, 0, 2], ip: Ipv4Addr::new(192, 168, 0, 199), port: 5000 },
        )
    }

    #[test]
    fn headers_match_a_known_frame() {
        let (src, dst) = addrs();
        let mut frame = vec![0u8; HEADERS_LEN + 2];
        frame[HEADERS_LEN..].copy_from_slice(b"hi");
        assert_eq!(write_headers(&mut frame, &src, &dst, 2, 0x1c46), 44);
        #[rustfmt::skip]
        let expected: [u8; 44] = [
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
            // IPv4: len 30, id 0x1c46, DF, ttl 64, udp, checksum, addresses
            0x45, 0, 0, 30, 0x1c, 0x46, 0x40, 0, 64, 17, 0x9c, 0x70, 192, 168, 0, 1, 192, 168, 0, 199,
            // UDP: ports, len 10, checksum
            0x0f, 0xa0, 0x13, 0x88, 0, 10, 0xf2, 0x2f,
            b'h', b'i',
        ];
        assert_eq!(frame, expected);
        let (s, d, payload) = parse(&frame).unwrap();
        assert_eq!((s, d, payload), (src, dst, &b"hi"[..]));
    }

    #[test]
    fn corrupt_frames_are_rejected() {
        let (src, dst) = addrs();
        let mut frame = vec![0u8; HEADERS_LEN + 5];
        frame[HEADERS_LEN..].copy_from_slice(b"hello");
        write_headers(&mut frame, &src, &dst, 5, 1);
        assert!(parse(&frame).is_ok());
        let mut bad = frame.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(parse(&bad), Err(WireError::UdpChecksum));
        let mut bad = frame.clone();
        bad[ETH_LEN + 8] = 1; // ttl
        assert_eq!(parse(&bad), Err(WireError::IpChecksum));
        let mut bad = frame.clone();
        bad[12] = 0x86; // IPv6 ethertype
        assert_eq!(parse(&bad), Err(WireError::NotUdp4));
        assert_eq!(parse(&frame[..frame.len() - 1]), Err(WireError::Truncated(frame.len() - 1)));
        // A zero UDP checksum means "none" and is accepted.
        let mut none = frame.clone();
        none[HEADERS_LEN - 2..HEADERS_LEN].fill(0);
        assert!(parse(&none).is_ok());
        // Ethernet padding after the IP packet is ignored.
        let mut padded = frame;
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(parse(&padded).unwrap().2, b"hello");
    }
}
