//! Free loopback addresses for a local cluster, picked below the kernel's
//! ephemeral port range.
//!
//! A port found free and released can be taken before the node binds it. The
//! kernel hands out ports of its ephemeral range to every outgoing connection
//! and every bind to port 0 (a test's HTTP probes, another cluster's layout),
//! so a port picked there races with all of them; one picked outside races
//! only with a program that asks for that very port.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// Where Linux keeps its ephemeral port range.
const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
/// Linux's default ephemeral range, when the file cannot be read.
const EPHEMERAL_DEFAULT: (u16, u16) = (32_768, 60_999);
/// Lowest port picked (clear of well-known and common service ports).
const LOWEST_PORT: u16 = 10_000;

/// `count` pairs of free loopback addresses: a UDP port for QUIC and a TCP
/// port for HTTP (the same number, unless no port outside the ephemeral
/// range is left). Every socket is held until all are
/// picked, so no two pairs collide.
pub fn free_addresses(count: u64) -> io::Result<Vec<(SocketAddr, SocketAddr)>> {
    let count = usize::try_from(count)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many addresses asked for"))?;
    let candidates = ports_outside(ephemeral_range());
    let mut held = Vec::new();
    let mut addresses = Vec::new();
    if !candidates.is_empty() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        // Spread concurrent layouts over the candidates (Fibonacci hashing).
        let start = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % candidates.len();
        for k in 0..candidates.len() {
            if addresses.len() == count {
                break;
            }
            let port = candidates[(start + k) % candidates.len()];
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if let (Ok(udp), Ok(tcp)) = (UdpSocket::bind(addr), TcpListener::bind(addr)) {
                addresses.push((addr, addr));
                held.push((udp, tcp));
            }
        }
    }
    // No room outside the ephemeral range: let the kernel choose.
    while addresses.len() < count {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| io::Error::new(e.kind(), format!("cannot find a free UDP port: {e}")))?;
        let tcp = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| io::Error::new(e.kind(), format!("cannot find a free TCP port: {e}")))?;
        addresses.push((udp.local_addr()?, tcp.local_addr()?));
        held.push((udp, tcp));
    }
    Ok(addresses)
}

/// The kernel's ephemeral port range (inclusive).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string(EPHEMERAL_RANGE_FILE)
        .ok()
        .and_then(|text| parse_range(&text))
        .unwrap_or(EPHEMERAL_DEFAULT)
}

/// `"32768\t60999\n"` -> (32768, 60999).
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut words = text.split_whitespace().map(str::parse::<u16>);
    match (words.next(), words.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo <= hi => Some((lo, hi)),
        _ => None,
    }
}

/// Ports from [`LOWEST_PORT`] up that are not in `range`.
fn ports_outside((lo, hi): (u16, u16)) -> Vec<u16> {
    (LOWEST_PORT..=u16::MAX)
        .filter(|p| *p < lo || *p > hi)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_file_parses_and_ports_avoid_it() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32_768, 60_999)));
        assert_eq!(parse_range("60999 32768"), None);
        assert_eq!(parse_range("junk"), None);
        let ports = ports_outside((32_768, 60_999));
        assert!(ports.iter().all(|p| *p < 32_768 || *p > 60_999));
        assert_eq!(ports.first(), Some(&LOWEST_PORT));
        assert_eq!(ports.last(), Some(&u16::MAX));
        assert!(ports_outside((1_024, u16::MAX)).is_empty());
    }

    #[test]
    fn pairs_are_distinct_free_and_outside_the_ephemeral_range() {
        let (lo, hi) = ephemeral_range();
        let pairs = free_addresses(5).unwrap();
        assert_eq!(pairs.len(), 5);
        let mut ports: Vec<u16> = pairs.iter().map(|(udp, _)| udp.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 5);
        if !ports_outside((lo, hi)).is_empty() {
            assert!(ports.iter().all(|p| *p < lo || *p > hi), "{ports:?}");
        }
        for (udp, tcp) in pairs {
            UdpSocket::bind(udp).unwrap();
            TcpListener::bind(tcp).unwrap();
        }
    }
}
