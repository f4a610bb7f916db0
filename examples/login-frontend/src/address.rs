//! The client address a password attempt is counted under.
//!
//! By default it is the TCP peer's address: anything in the request can be forged. Behind a
//! reverse proxy every request comes from the proxy, so the proxy's address can be declared
//! trusted (`--trusted-proxies`); then `X-Forwarded-For` is read from the right, where the
//! nearest proxy appended what it saw, skipping the trusted proxies, and the first address
//! that is not one of them is the client. Entries to its left were written by the client and
//! are never believed. An entry that is not an IP address ends the walk at the hop before it.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address, given the peer's and the proxies trusted to report it.
pub fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        let Some(ip) = parse(entry) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn parse(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip())).map(canonical)
}

/// IPv4-mapped IPv6 addresses as IPv4, so that one network list covers both forms.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(client(ip("198.51.100.4"), &headers(&["203.0.113.9"]), &[]), ip("198.51.100.4"));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let peer = ip("127.0.0.1");
        // The client forged the leftmost entry; the proxies appended the rest.
        let h = headers(&["1.2.3.4, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(client(peer, &h, &trusted), ip("203.0.113.9"));
        assert_eq!(client(peer, &headers(&["[2001:db8::5]:4711"]), &trusted), ip("2001:db8::5"));
        assert_eq!(client(peer, &headers(&["203.0.113.9:1234"]), &trusted), ip("203.0.113.9"));
        assert_eq!(client(peer, &headers(&["10.9.9.9"]), &trusted), ip("10.9.9.9"), "all trusted: the leftmost");
        assert_eq!(client(peer, &headers(&["203.0.113.9, junk"]), &trusted), peer, "junk stops the walk");
        assert_eq!(client(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(client(ip("::ffff:127.0.0.1"), &headers(&["203.0.113.9"]), &trusted), ip("203.0.113.9"));
    }
}
