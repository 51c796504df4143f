//! Address blocks (`10.0.0.0/8`, `2001:db8::/64`) as kube-apiserver parses them: the one parser
//! behind validation (a NetworkPolicy's `ipBlock`, a service's `loadBalancerSourceRanges`) and
//! the data plane's matching of IPv4 addresses against them.

use std::net::{IpAddr, Ipv4Addr};

/// An address block: its network address (host bits cleared) and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `address/prefix`, IPv4 or IPv6, as Go's `net.ParseCIDR` reads it; `None` for anything else.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, prefix) = text.split_once('/')?;
        let ip: IpAddr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|_| prefix.bytes().all(|b| b.is_ascii_digit()))?;
        let network = match ip {
            IpAddr::V4(v4) if prefix <= 32 => IpAddr::V4((u32::from(v4) & mask(prefix, 32) as u32).into()),
            IpAddr::V6(v6) if prefix <= 128 => IpAddr::V6((u128::from(v6) & mask(prefix, 128)).into()),
            _ => return None,
        };
        Some(Cidr { network, prefix })
    }

    /// Whether the IPv4 address `ip` is in this block (never in an IPv6 one).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.holds(IpAddr::V4(ip))
    }

    /// Whether `other` is a strict subset of this block (a NetworkPolicy's `except`).
    pub fn strictly_contains(&self, other: &Cidr) -> bool {
        self.holds(other.network) && self.prefix < other.prefix
    }

    fn holds(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => u32::from(ip) & mask(self.prefix, 32) as u32 == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => u128::from(ip) & mask(self.prefix, 128) == u128::from(net),
            _ => false,
        }
    }
}

/// The network mask of a `prefix` in an address of `bits` bits, in the low bits of a `u128`.
fn mask(prefix: u8, bits: u32) -> u128 {
    let all = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
    match u32::from(prefix) {
        0 => 0,
        p => all & !((1u128 << (bits - p)) - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_their_addresses() {
        let block = Cidr::parse("10.1.2.3/16").unwrap();
        assert!(block.contains(Ipv4Addr::new(10, 1, 200, 9)) && !block.contains(Ipv4Addr::new(10, 2, 0, 1)));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(Ipv4Addr::LOCALHOST));
        assert!(Cidr::parse("127.0.0.1/32").unwrap().contains(Ipv4Addr::LOCALHOST));
        assert!(!Cidr::parse("::/0").unwrap().contains(Ipv4Addr::LOCALHOST));
        assert!(Cidr::parse("2001:db8::/64").is_some() && Cidr::parse("2001:db8::/128").is_some());
        for bad in ["10.0.0.0/33", "10.0.0.0", "10.0.0.0/+8", "10.0.0.0/-1", "2001:db8::/129", "x/8", " 10.0.0.0/8"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_strict_subset_is_inside_and_longer() {
        let block = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(block.strictly_contains(&Cidr::parse("10.1.0.0/16").unwrap()));
        assert!(!block.strictly_contains(&Cidr::parse("10.0.0.0/8").unwrap()));
        assert!(!block.strictly_contains(&Cidr::parse("11.0.0.0/16").unwrap()));
        assert!(!block.strictly_contains(&Cidr::parse("0.0.0.0/0").unwrap()));
        assert!(!block.strictly_contains(&Cidr::parse("::/64").unwrap()));
    }
}
