//! Egress policy: the addresses Gatehouse may connect to when a stranger names the URL (a
//! client's `jwks_uri`, `sector_identifier_uri` or `request_uri`; a plugin's outbound
//! request).
//!
//! Only public unicast addresses are allowed by default. Loopback, private (RFC 1918, unique
//! local), link-local (where cloud metadata services live), carrier-grade NAT, unspecified,
//! multicast, broadcast, documentation and benchmarking ranges are refused, and so are IPv6
//! forms that embed one of them (IPv4-mapped, IPv4-compatible, NAT64, 6to4). A caller must
//! check every address it connects to, after resolving, and connect to exactly the address it
//! checked — never resolve the name a second time (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Where a connection may go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allow loopback and private addresses too (a deployment whose clients' documents are on
    /// its own network, and tests). The ranges that are never a real destination — unspecified,
    /// multicast, broadcast — stay refused.
    pub allow_private: bool,
    /// Networks allowed even when `allow_private` is off, e.g. one internal service.
    pub allowed_networks: Vec<IpNet>,
}

/// Why an address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Loopback, private, link-local, shared or reserved: not on the public internet.
    NotPublic,
    /// Unspecified, multicast or broadcast: never a destination.
    NotADestination,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::NotPublic => "it is not a public address",
            Refusal::NotADestination => "it is not a unicast destination",
        })
    }
}

impl Policy {
    /// Whether a connection to `ip` is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if never_a_destination(ip) {
            return Err(Refusal::NotADestination);
        }
        if self.allow_private || self.allowed_networks.iter().any(|n| n.contains(&ip)) || is_public(ip) {
            Ok(())
        } else {
            Err(Refusal::NotPublic)
        }
    }
}

/// The IPv4 address an IPv6 address stands for, where it embeds one (IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from(((hi as u32) << 16) | lo as u32));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => v4(hi, lo),
        // `::` and `::1` are themselves, not IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => v4(hi, lo),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => v4(hi, lo),
        [0x2002, hi, lo, ..] => v4(hi, lo),
        _ => ip,
    }
}

fn never_a_destination(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

/// Ranges that are not the public internet (IANA special-purpose registries).
const NOT_PUBLIC_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, cloud metadata (169.254.169.254)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved
];

const NOT_PUBLIC_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),      // discard-only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),     // IETF protocol assignments
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),      // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),     // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),     // site-local (deprecated)
];

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            !NOT_PUBLIC_V4.iter().any(|(net, len)| Ipv4Net::new(*net, *len).is_ok_and(|n| n.contains(&v4)))
        }
        IpAddr::V6(v6) => {
            !NOT_PUBLIC_V6.iter().any(|(net, len)| Ipv6Net::new(*net, *len).is_ok_and(|n| n.contains(&v6)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_unicast_addresses_are_allowed_by_default() {
        let policy = Policy::default();
        for public in ["93.184.215.14", "8.8.8.8", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "1.1.1.1"] {
            assert_eq!(policy.check(ip(public)), Ok(()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "127.255.0.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.1.2.3",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert_eq!(policy.check(ip(private)), Err(Refusal::NotPublic), "{private}");
        }
        for never in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "::", "ff02::1", "::ffff:0.0.0.0"] {
            assert_eq!(policy.check(ip(never)), Err(Refusal::NotADestination), "{never}");
        }
    }

    #[test]
    fn private_addresses_can_be_allowed_but_never_non_destinations() {
        let open = Policy { allow_private: true, ..Default::default() };
        assert_eq!(open.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(open.check(ip("::1")), Ok(()));
        assert_eq!(open.check(ip("0.0.0.0")), Err(Refusal::NotADestination));
        let one = Policy { allowed_networks: vec!["10.9.0.0/16".parse().unwrap()], ..Default::default() };
        assert_eq!(one.check(ip("10.9.1.1")), Ok(()));
        assert_eq!(one.check(ip("::ffff:10.9.1.1")), Ok(()), "the mapped form of an allowed address");
        assert_eq!(one.check(ip("10.8.1.1")), Err(Refusal::NotPublic));
    }
}
