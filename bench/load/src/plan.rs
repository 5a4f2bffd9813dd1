//! What a run does: where to send, which phases, how many connections, open or closed loop.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use hatch_webstack::dataset::{self, Shape};

use crate::preset::{Phase, Preset};
use crate::site::EmptyKind;

/// The most connections (threads) a plan may ask for.
pub const MAX_CONNECTIONS: usize = 10_000;

/// A run of the load generator.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The server.
    pub addr: SocketAddr,
    /// The `Host` header sent. [`Plan::new`]: the address as `ip:port`.
    pub host: String,
    /// The phases, run one after the other.
    pub phases: Vec<Phase>,
    /// Concurrent connections, one thread each. Default 10.
    pub connections: usize,
    /// Total offered load in requests/s (open loop) for every phase; `None` (the default)
    /// leaves each phase to its preset's [`Preset::default_rate`].
    pub rate: Option<f64>,
    /// The base script cost of a dynamic page (`?cost=`), before the preset's multiplier.
    /// Default 20.
    pub cost: u32,
    /// The shape of the server's data set. Default [`Shape::default`].
    pub shape: Shape,
    /// The seed of the server's data set. Default [`dataset::SEED`].
    pub seed: u64,
    /// The deadline of one request (connect, send, whole response). Default 10 s.
    pub timeout: Duration,
    /// An `Accept-Encoding` header to send (gzip bodies are decoded before checking). Default
    /// none: identity bodies.
    pub accept_encoding: Option<String>,
}

impl Plan {
    /// A plan for `addr` running `phases`, with every other setting at its default.
    pub fn new(addr: SocketAddr, phases: Vec<Phase>) -> Plan {
        Plan {
            addr,
            host: addr.to_string(),
            phases,
            connections: 10,
            rate: None,
            cost: 20,
            shape: Shape::default(),
            seed: dataset::SEED,
            timeout: Duration::from_secs(10),
            accept_encoding: None,
        }
    }

    /// A plan for `addr` running one preset for `secs` seconds.
    pub fn single(addr: SocketAddr, preset: Preset, secs: u64) -> Plan {
        Plan::new(addr, vec![Phase { preset, secs }])
    }

    /// The planned length of the run (the sum of the phases).
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.phases.iter().map(|p| p.secs).sum())
    }

    /// The offered load of `phase` in requests/s, or `None` for closed loop.
    pub fn rate_of(&self, phase: &Phase) -> Option<f64> {
        self.rate.or(phase.preset.default_rate())
    }

    /// Checks the plan's settings (not the data set: see [`crate::site::Site::new`]).
    ///
    /// # Errors
    ///
    /// The first [`PlanError`] found.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.phases.is_empty() {
            return Err(PlanError::NoPhases);
        }
        if let Some(phase) = self.phases.iter().find(|p| p.secs == 0) {
            return Err(PlanError::EmptyPhase(*phase));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return Err(PlanError::Connections(self.connections));
        }
        if let Some(rate) = self.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(PlanError::Rate(rate));
        }
        if self.timeout.is_zero() {
            return Err(PlanError::Timeout);
        }
        let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
        if !printable(&self.host) {
            return Err(PlanError::Header("Host"));
        }
        if self.accept_encoding.as_deref().is_some_and(|e| !printable(e)) {
            return Err(PlanError::Header("Accept-Encoding"));
        }
        Ok(())
    }
}

/// Resolves a `--url` (`http://host:port`, scheme and port optional, no path) to the `Host`
/// header to send and the address to connect to.
///
/// # Errors
///
/// [`PlanError::Url`] for another scheme or a path, [`PlanError::Resolve`] when the host does
/// not resolve.
pub fn resolve_url(url: &str) -> Result<(String, SocketAddr), PlanError> {
    let bad = |why: &'static str| PlanError::Url { url: url.to_owned(), why };
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some(_) => return Err(bad("only http:// is supported")),
        None => url,
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains(['/', '?', '#', '@'])
        || authority.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad("give host:port only, without a path"));
    }
    let has_port = match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    };
    let target = if has_port { authority.to_owned() } else { format!("{authority}:80") };
    let resolve = |e: io::Error| PlanError::Resolve { host: target.clone(), error: e.to_string() };
    let addr = target
        .to_socket_addrs()
        .map_err(resolve)?
        .next()
        .ok_or_else(|| resolve(io::Error::new(io::ErrorKind::NotFound, "no address")))?;
    Ok((authority.to_owned(), addr))
}

/// A plan that cannot run.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// The URL is not `http://host:port`.
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The host did not resolve.
    Resolve {
        /// The host and port.
        host: String,
        /// The resolver's error.
        error: String,
    },
    /// There is no phase.
    NoPhases,
    /// A phase lasts zero seconds.
    EmptyPhase(Phase),
    /// The connection count is not in `1..=MAX_CONNECTIONS`.
    Connections(usize),
    /// The rate is not a positive number.
    Rate(f64),
    /// The timeout is zero.
    Timeout,
    /// A header value is empty or holds control characters; the value names the header.
    Header(&'static str),
    /// The data set's shape lacks what a preset needs.
    Site(EmptyKind),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Url { url, why } => write!(f, "bad URL {url:?}: {why}"),
            PlanError::Resolve { host, error } => write!(f, "cannot resolve {host}: {error}"),
            PlanError::NoPhases => f.write_str("the plan has no phase"),
            PlanError::EmptyPhase(phase) => write!(f, "phase {phase} lasts no time"),
            PlanError::Connections(n) => write!(f, "{n} connections: need 1 to {MAX_CONNECTIONS}"),
            PlanError::Rate(rate) => write!(f, "rate {rate}: need a positive number of requests/s"),
            PlanError::Timeout => f.write_str("the request timeout must be above zero"),
            PlanError::Header(name) => write!(f, "the {name} header must be non-empty printable ASCII"),
            PlanError::Site(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PlanError {}

impl From<PlanError> for io::Error {
    fn from(error: PlanError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_to_host_and_address() {
        let (host, addr) = resolve_url("http://127.0.0.1:8080").unwrap();
        assert_eq!((host.as_str(), addr), ("127.0.0.1:8080", "127.0.0.1:8080".parse::<SocketAddr>().unwrap()));
        assert_eq!(resolve_url("127.0.0.1:9/").unwrap().1, "127.0.0.1:9".parse::<SocketAddr>().unwrap());
        assert_eq!(resolve_url("http://127.0.0.1").unwrap().1.port(), 80);
        assert_eq!(resolve_url("http://[::1]:81").unwrap().1, "[::1]:81".parse::<SocketAddr>().unwrap());
        assert_eq!(resolve_url("http://[::1]").unwrap().1.port(), 80);
        for bad in ["https://127.0.0.1:1", "http://127.0.0.1:1/wiki", "http://", "http://a@b:1", "http://127.0.0.1:1?x"]
        {
            assert!(matches!(resolve_url(bad), Err(PlanError::Url { .. })), "{bad}");
        }
        assert!(matches!(resolve_url("http://127.0.0.1:notaport"), Err(PlanError::Resolve { .. })));
    }

    #[test]
    fn plans_are_validated() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let plan = Plan::single(addr, Preset::Wikipedia, 3);
        assert_eq!(plan.validate(), Ok(()));
        assert_eq!(plan.duration(), Duration::from_secs(3));
        assert_eq!(plan.rate_of(&Phase { preset: Preset::Dynamic5, secs: 1 }), Some(5.0));
        assert_eq!(
            Plan { rate: Some(50.0), ..plan.clone() }.rate_of(&Phase { preset: Preset::Dynamic5, secs: 1 }),
            Some(50.0)
        );
        assert_eq!(Plan { phases: vec![], ..plan.clone() }.validate(), Err(PlanError::NoPhases));
        assert_eq!(Plan { connections: 0, ..plan.clone() }.validate(), Err(PlanError::Connections(0)));
        assert!(matches!(Plan { rate: Some(-1.0), ..plan.clone() }.validate(), Err(PlanError::Rate(_))));
        assert!(matches!(Plan { rate: Some(f64::INFINITY), ..plan.clone() }.validate(), Err(PlanError::Rate(_))));
        assert_eq!(Plan { timeout: Duration::ZERO, ..plan.clone() }.validate(), Err(PlanError::Timeout));
        let bad_header = Plan { accept_encoding: Some("gzip\r\nX: y".into()), ..plan };
        assert_eq!(bad_header.validate(), Err(PlanError::Header("Accept-Encoding")));
    }
}
