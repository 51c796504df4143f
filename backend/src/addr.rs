//! The addresses every part of the data plane speaks of: a transport protocol, a service's
//! virtual address (`ip:port/protocol`), and an IPv4 block (`10.0.0.0/8`). They sit below the network, the proxy, the kubelets and
//! the API, so none of those has to import another for them.

use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// A Kubernetes `protocol` field (`TCP` when unset); `None` for one svclab does not carry.
    pub fn parse(s: Option<&str>) -> Option<Protocol> {
        match s.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// As Kubernetes writes it: `TCP`, `UDP`.
impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        })
    }
}

/// An address and port a service can be reached at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VirtualAddr {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub protocol: Protocol,
}

/// An IPv4 block, `a.b.c.d/n` (a NetworkPolicy's `ipBlock`, a load balancer's source range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: u32,
    mask: u32,
}

impl Cidr {
    /// `a.b.c.d/n`, surrounding spaces allowed; `None` for anything else (IPv6 blocks included:
    /// they hold no address here).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, prefix) = text.trim().split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        Some(Cidr { network: u32::from(ip) & mask, mask })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask == self.network
    }
}

#[cfg(test)]
mod cidr_tests {
    use super::*;

    #[test]
    fn blocks_hold_their_addresses() {
        let block = Cidr::parse(" 10.1.2.3/16 ").unwrap();
        assert!(block.contains(Ipv4Addr::new(10, 1, 200, 9)) && !block.contains(Ipv4Addr::new(10, 2, 0, 1)));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(Ipv4Addr::LOCALHOST));
        assert!(Cidr::parse("127.0.0.1/32").unwrap().contains(Ipv4Addr::LOCALHOST));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("2001:db8::/64"), None);
    }
}
