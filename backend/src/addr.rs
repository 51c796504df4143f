//! The addresses every part of the data plane speaks of: a transport protocol, a service's
//! virtual address (`ip:port/protocol`), and an address block (`10.0.0.0/8`, parsed in
//! `svclab_shared::cidr`, as validation parses it). They sit below the network, the proxy, the
//! kubelets and the API, so none of those has to import another for them.

use std::net::Ipv4Addr;

pub use svclab_shared::cidr::Cidr;

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
