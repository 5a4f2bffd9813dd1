//! The AF_XDP driver (Linux, feature `af-xdp`): sessions over raw Ethernet frames that bypass the
//! kernel network stack.
//!
//! - An XDP program ([`XdpProgram`], source `src/bpf/redirect.bpf.c`) on the interface sends IPv4
//!   UDP datagrams for the Hatch port to the AF_XDP socket of the receiving queue and lets all
//!   other traffic through to the kernel.
//! - Each AF_XDP socket ([`Xsk`]) has its own UMEM, fill, completion, RX and TX rings, and serves
//!   one queue from one thread. It binds zero-copy where the driver supports it, copy mode
//!   otherwise (veth: copy mode only).
//! - Ethernet, IPv4 and UDP headers are built and checked in user space ([`crate::wire`]); the
//!   session layer and the Hatch protocol core on top are the same as over UDP.
//!
//! [`Server`] runs one thread per queue; [`Client`] is a [`hatch_transport::Channel`] over one
//! socket on one queue, shared by calling threads with no I/O thread: the calling threads take
//! turns driving the socket (leader/follower, see [`Client`]'s module), so calls from many threads
//! are in flight together on one session.
//!
//! Only one XDP program can be attached to an interface, so one Hatch endpoint (server or client)
//! uses an interface at a time; the client needs the server on the same L2 segment (its MAC is
//! resolved through the kernel's ARP table, or given).

mod client;
mod program;
mod server;
pub mod xsk;

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use hatch_transport::Config;

pub use client::Client;
pub use program::XdpProgram;
pub use server::Server;
pub use xsk::{Xsk, XskConfig};

use crate::session::{HEADER_LEN, SessionConfig};
use crate::wire::HEADERS_LEN;

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`): fastest; veth supports it.
    Native,
    /// On the generic path after the skb is built (`XDP_FLAGS_SKB_MODE`): works everywhere.
    Generic,
    /// Native if the driver supports it, generic otherwise.
    Auto,
}

/// Setting up the AF_XDP driver failed.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// libbpf failed (loading or attaching the program, updating its map).
    #[error("{what}: {source}")]
    Bpf {
        /// What was being done.
        what: &'static str,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// The embedded BPF object lacks something the driver needs.
    #[error("bad XDP object: {0}")]
    Object(&'static str),
    /// No interface by that name.
    #[error("no network interface named {0:?}")]
    NoInterface(String),
    /// The peer's MAC address is not in the ARP table.
    #[error("no ARP entry for {0} (is it on the same L2 segment? pass its MAC explicitly otherwise)")]
    NoNeighbour(Ipv4Addr),
    /// The RPC handshake failed.
    #[error(transparent)]
    Remote(#[from] hatch_transport::RemoteError),
}

impl XdpError {
    fn io(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { what, source }
    }

    fn bpf(what: &'static str) -> impl FnOnce(libbpf_rs::Error) -> Self {
        move |source| Self::Bpf { what, source }
    }
}

/// Settings of an AF_XDP endpoint (client or server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpOptions {
    /// Interface name, e.g. `eth0`.
    pub interface: String,
    /// Our IPv4 address on that interface.
    pub ip: Ipv4Addr,
    /// Our UDP port (the XDP program redirects it).
    pub port: u16,
    /// Queues to serve, one thread and one socket each (a client uses the first). Default: `[0]`.
    pub queues: Vec<u32>,
    /// How to attach the XDP program. Default: [`XdpMode::Auto`].
    pub mode: XdpMode,
    /// UMEM and ring sizes. Default: [`XskConfig::default`].
    pub xsk: XskConfig,
    /// RPC settings. Default: [`Config::default`].
    pub config: Config,
    /// Session settings. Default: segments for a 1500-byte MTU.
    pub session: SessionConfig,
    /// Busy-poll the RX ring this long before blocking. Default: zero.
    pub spin: Duration,
}

impl XdpOptions {
    /// Options for `interface`, address `ip` and UDP `port`, other settings at their defaults.
    pub fn new(interface: impl Into<String>, ip: Ipv4Addr, port: u16) -> Self {
        Self {
            interface: interface.into(),
            ip,
            port,
            queues: vec![0],
            mode: XdpMode::Auto,
            xsk: XskConfig::default(),
            config: Config::default(),
            session: SessionConfig::default().max_payload(1500 - (HEADERS_LEN - 14) - HEADER_LEN),
            spin: Duration::ZERO,
        }
    }

    /// Sets [`XdpOptions::queues`].
    pub fn queues(mut self, queues: Vec<u32>) -> Self {
        self.queues = queues;
        self
    }

    /// Sets [`XdpOptions::mode`].
    pub fn mode(mut self, mode: XdpMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`XdpOptions::xsk`].
    pub fn xsk(mut self, xsk: XskConfig) -> Self {
        self.xsk = xsk;
        self
    }

    /// Sets [`XdpOptions::config`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets [`XdpOptions::session`].
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Sets [`XdpOptions::spin`].
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }
}

/// The interface's index and MAC address, looked up in the calling thread's network namespace.
fn interface(name: &str) -> Result<(u32, [u8; 6]), XdpError> {
    let cname = std::ffi::CString::new(name).map_err(|_| XdpError::NoInterface(name.into()))?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(XdpError::NoInterface(name.into()));
    }
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(XdpError::io("opening a socket for ioctl"))?;
    // SAFETY: `ifreq` is plain data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(cname.as_bytes().iter().take(libc::IFNAMSIZ - 1)) {
        *dst = *src as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFHWADDR reads `ifr_name` and writes the hardware address into the `ifreq`
    // we own, which is valid for writes.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return Err(XdpError::Io { what: "reading the interface MAC", source: io::Error::last_os_error() });
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds `ifru_hwaddr`.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(data.iter()) {
        *dst = *src as u8;
    }
    Ok((ifindex, mac))
}

/// Parses `/proc/thread-self/net/arp` (this thread's namespace) for `ip`'s MAC.
fn arp_lookup(ip: Ipv4Addr) -> Option<[u8; 6]> {
    let table = std::fs::read_to_string("/proc/thread-self/net/arp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // IP address, HW type, Flags, HW address, Mask, Device; flags 0x0 is incomplete.
        if fields.len() < 4 || fields[0].parse::<Ipv4Addr>().ok()? != ip || fields[2] == "0x0" {
            return None;
        }
        let mut mac = [0u8; 6];
        let mut parts = fields[3].split(':');
        for byte in &mut mac {
            *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        (mac != [0; 6]).then_some(mac)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_interface_is_found() {
        let (index, mac) = super::interface("lo").unwrap();
        assert!(index > 0);
        assert_eq!(mac, [0; 6]);
        assert!(matches!(super::interface("no-such-if0"), Err(super::XdpError::NoInterface(_))));
    }
}
