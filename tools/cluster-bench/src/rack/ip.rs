//! Running iproute2 (`ip`, `tc`) and reading its listings.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where iproute2 keeps named network namespaces (`NETNS_RUN_DIR`).
const NETNS_RUN_DIR: &str = "/run/netns";

/// Runs `ip ARGS` and returns its standard output.
///
/// # Errors
///
/// The error names the command line and quotes its standard error; its kind is `NotFound` when
/// `ip` is not installed.
pub(super) fn ip(args: &[&str]) -> io::Result<String> {
    run("ip", args)
}

/// Runs `tc ARGS`; errors as [`ip`].
pub(super) fn tc(args: &[&str]) -> io::Result<String> {
    run("tc", args)
}

fn run(program: &str, args: &[&str]) -> io::Result<String> {
    let line = format!("{program} {}", args.join(" "));
    let output = Command::new(resolve(program))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("`{line}` could not be started: {e}")))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(io::Error::other(format!("`{line}` failed ({}): {}", output.status, stderr.trim())))
}

/// `program` from `PATH`, or from the sbin directories a non-login root shell may lack.
fn resolve(program: &str) -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join(program)).collect::<Vec<_>>())
        .unwrap_or_default();
    in_path
        .into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(|dir| Path::new(dir).join(program)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// The last part of an [`ip`] or [`tc`] error: what the tool said, without the command line.
pub(super) fn brief(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once("): ") {
        Some((_, said)) if !said.is_empty() => said.to_owned(),
        _ => text,
    }
}

/// The file that holds the namespace `name` open.
pub(super) fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Names of the network namespaces (`ip netns list`).
pub(super) fn namespaces() -> io::Result<Vec<String>> {
    Ok(parse_namespaces(&ip(&["netns", "list"])?))
}

/// Names of the links of the root namespace (`ip -o link show`).
pub(super) fn links() -> io::Result<Vec<String>> {
    Ok(parse_links(&ip(&["-o", "link", "show"])?))
}

/// Fails with `AddrInUse` when the /24 `subnet` overlaps an IPv4 address of the root namespace:
/// the rack's routes would hijack that network, or be hijacked by it.
pub(super) fn check_subnet_free(subnet: [u8; 3]) -> io::Result<()> {
    let [a, b, c] = subnet;
    let ours = Ipv4Addr::new(a, b, c, 0);
    for (link, addr, len) in parse_ipv4(&ip(&["-o", "-4", "addr", "show"])?) {
        if overlaps(ours, 24, addr, len) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("rack subnet {ours}/24 overlaps {addr}/{len} on {link}; choose another RackConfig::subnet"),
            ));
        }
    }
    Ok(())
}

/// `ip netns list` prints `name` or `name (id: N)` per line.
fn parse_namespaces(listing: &str) -> Vec<String> {
    listing.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect()
}

/// `ip -o link show` prints `N: name[@peer]: <FLAGS> ...` per line.
fn parse_links(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| {
            let name = line.split(": ").nth(1)?;
            Some(name.split_once('@').map_or(name, |(name, _)| name).to_owned())
        })
        .collect()
}

/// `ip -o -4 addr show` prints `N: link    inet A.B.C.D/LEN ...` per line.
fn parse_ipv4(listing: &str) -> Vec<(String, Ipv4Addr, u8)> {
    listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let link = fields.nth(1)?;
            let cidr = fields.skip_while(|field| *field != "inet").nth(1)?;
            let (addr, len) = cidr.split_once('/')?;
            Some((link.to_owned(), addr.parse().ok()?, len.parse().ok().filter(|len| *len <= 32)?))
        })
        .collect()
}

/// Whether the networks `a/a_len` and `b/b_len` share addresses.
fn overlaps(a: Ipv4Addr, a_len: u8, b: Ipv4Addr, b_len: u8) -> bool {
    let len = u32::from(a_len.min(b_len).min(32));
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse() {
        assert_eq!(parse_namespaces("hatchrk-h1 (id: 1)\nhatchrk-h0\n"), ["hatchrk-h1", "hatchrk-h0"]);
        let links = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\\    link/loopback\n\
                     5: hatchrk-br: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n\
                     6: hatchrk-v0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master hatchrk-br\n";
        assert_eq!(parse_links(links), ["lo", "hatchrk-br", "hatchrk-v0"]);
        let addrs = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                     4: eth0    inet 172.16.0.2/30 brd 172.16.0.3 scope global eth0\\       valid_lft forever\n";
        assert_eq!(
            parse_ipv4(addrs),
            [("lo".to_owned(), Ipv4Addr::new(127, 0, 0, 1), 8), ("eth0".to_owned(), Ipv4Addr::new(172, 16, 0, 2), 30)]
        );
    }

    #[test]
    fn overlapping_networks() {
        let rack = Ipv4Addr::new(10, 77, 0, 0);
        assert!(overlaps(rack, 24, Ipv4Addr::new(10, 77, 0, 1), 24));
        assert!(overlaps(rack, 24, Ipv4Addr::new(10, 1, 2, 3), 8));
        assert!(overlaps(rack, 24, Ipv4Addr::new(10, 77, 0, 200), 32));
        assert!(!overlaps(rack, 24, Ipv4Addr::new(10, 77, 1, 1), 24));
        assert!(!overlaps(rack, 24, Ipv4Addr::new(127, 0, 0, 1), 8));
        assert!(overlaps(rack, 24, Ipv4Addr::new(1, 2, 3, 4), 0));
    }

    #[test]
    fn brief_keeps_what_the_tool_said() {
        let error = io::Error::other("`tc qdisc add` failed (exit status: 2): Error: Specified qdisc kind is unknown.");
        assert_eq!(brief(&error), "Error: Specified qdisc kind is unknown.");
    }
}
