//! The dialer: every connection and datagram svclab sends on a client's behalf goes through
//! [`Network::dial`] (a TCP stream) or [`Network::exchange`] (one UDP datagram and its answer),
//! told by a [`Dial`] who the far end is to see as the source and whether the proxies on the way
//! record their hops. The target is an address as the cluster sees it (a service's cluster IP is
//! routed by the [`Router`](super::Router), a pod IP reaches its container, 127.0.0.1 seen from
//! a pod is the pod itself) or a real socket a proxy has already chosen.

use super::trace::Trace;
use super::{DialError, Network, Tracked};
use crate::addr::Protocol;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use svclab_shared::lab::Hop;
use tokio::net::{TcpSocket, TcpStream};

/// Who the far end of a dialled connection sees as its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The host itself, from outside the cluster: nothing is tracked.
    Host,
    /// A pod's or a node's address, recorded in connection tracking for svclab's own servers to
    /// look up ([`Network::source_of`]) for as long as the connection lives.
    Tracked(Ipv4Addr),
    /// Source NAT to a node's address: a loopback source is bound for real (the kernel does the
    /// rewriting), so that any server, a host one included, sees it as its peer; a pod's
    /// address, which exists only inside svclab, is tracked instead.
    Snat(Ipv4Addr),
    /// A pod's connection to its own `localhost`: `127.0.0.1` is what its servers see, the
    /// pod's address what `127.0.0.1` is resolved for.
    Loopback(Ipv4Addr),
}

/// Whether the proxies a connection passes record their hops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracing {
    Off,
    /// A new trace (a test request): the proxies on the way record their hops in it.
    Start,
    /// A proxy forwarding the connection from this peer: the peer's trace, if it has one,
    /// continues on the new connection, so that the next proxy records its hop there too.
    Follow(SocketAddr),
}

/// How [`Network::dial`] connects.
#[derive(Clone, Copy, Debug)]
pub struct Dial {
    pub source: Source,
    pub trace: Tracing,
    /// Whether the network's filter (NetworkPolicies) applies.
    pub filtered: bool,
}

impl Dial {
    /// From a pod or a node inside the cluster.
    pub fn from(ip: Ipv4Addr) -> Self {
        Dial { source: Source::Tracked(ip), trace: Tracing::Off, filtered: true }
    }

    /// From the host, outside the cluster (a kubelet's port-forward, the API server's proxy):
    /// not filtered, as CNI plugins let a node reach its pods.
    pub fn from_host() -> Self {
        Dial { source: Source::Host, trace: Tracing::Off, filtered: false }
    }

    /// A proxy forwarding traffic with the source rewritten to (or kept as) `ip`.
    pub fn snat(ip: Ipv4Addr) -> Self {
        Dial { source: Source::Snat(ip), trace: Tracing::Off, filtered: true }
    }

    /// A node's own connection to its pods (a kubelet's probes), which no NetworkPolicy stops.
    pub fn from_node(ip: Ipv4Addr) -> Self {
        Dial { filtered: false, ..Dial::from(ip) }
    }

    /// A pod's connection to its own `localhost`, which never reaches the network, so no
    /// NetworkPolicy applies to it.
    pub fn loopback(pod: Ipv4Addr) -> Self {
        Dial { source: Source::Loopback(pod), filtered: false, ..Dial::from(pod) }
    }

    /// Starts a trace of the connection.
    pub fn traced(self) -> Self {
        Dial { trace: Tracing::Start, ..self }
    }

    /// Continues the trace of the connection from `peer`, if it has one.
    pub fn following(self, peer: SocketAddr) -> Self {
        Dial { trace: Tracing::Follow(peer), ..self }
    }

    /// The address routing decisions are made for (a Local traffic policy, `127.0.0.1`).
    fn routed_for(&self) -> Ipv4Addr {
        match self.source {
            Source::Host => Ipv4Addr::LOCALHOST,
            Source::Tracked(ip) | Source::Snat(ip) | Source::Loopback(ip) => ip,
        }
    }
}

/// Where a connection goes.
#[derive(Clone, Copy, Debug)]
pub enum To {
    /// An address as the cluster sees it: a service's, a pod's, or a loopback address.
    Cluster(SocketAddrV4),
    /// A real socket on this machine, already chosen.
    Real(SocketAddr),
}

/// A connection made through the virtual network.
pub struct Dialed {
    pub stream: TcpStream,
    /// How the service proxy routed it, when it went to a service.
    pub hop: Option<Hop>,
    /// The hops the proxies on the way record, when tracing started here (it keeps the source
    /// tracked too).
    pub trace: Option<Trace>,
    /// The source's connection tracking entry, when no trace holds it.
    source: Option<Tracked>,
}

/// What a connection's source is tracked by: the connection tracking entry, or the trace that
/// holds it. Dropped with the connection (a stale entry would name the source of whatever socket
/// reuses the port next, a host's `curl` included).
pub struct Keep {
    _source: Option<Tracked>,
    _trace: Option<Trace>,
}

impl Dialed {
    /// The stream, and what must live as long as it does.
    pub fn into_parts(self) -> (TcpStream, Keep) {
        let Dialed { stream, trace, source, .. } = self;
        (stream, Keep { _source: source, _trace: trace })
    }
}

impl Network {
    /// Opens a TCP connection to `to`, as `how` says.
    pub async fn dial(&self, to: To, how: Dial) -> Result<Dialed, DialError> {
        let (real, hop) = self.target(to, how.routed_for(), Protocol::Tcp, how.filtered)?;
        let follows = match how.trace {
            Tracing::Follow(peer) => self.inner.traces.traced(peer).then_some(peer),
            _ => None,
        };
        if let Source::Snat(ip) = how.source
            && ip.is_loopback()
            && follows.is_none()
            && how.trace != Tracing::Start
        {
            let stream = dial_from(real, ip)?;
            return Ok(Dialed { stream, hop, trace: None, source: None });
        }
        let (socket, local) = bound_socket()?;
        // Recorded before the connection is made: the far end (a node port's proxy) may look it
        // up as soon as it accepts.
        if let Some(peer) = follows {
            self.inner.traces.link(peer, local);
        }
        let source = match how.source {
            Source::Host => None,
            Source::Tracked(ip) | Source::Snat(ip) => Some(self.tracked(local, real, ip)),
            Source::Loopback(_) => Some(self.tracked(local, real, Ipv4Addr::LOCALHOST)),
        };
        let (trace, source) = match how.trace {
            Tracing::Start => {
                let mut trace = self.inner.traces.register(local);
                trace.source = source;
                (Some(trace), None)
            }
            _ => (None, source),
        };
        let stream = connected(socket.connect(real).await)?;
        Ok(Dialed { stream, hop, trace, source })
    }

    /// Sends one UDP datagram to `to` from `from` (a pod's or node's address) and waits up to
    /// `timeout` for the answer, as a DNS client does.
    pub async fn exchange(
        &self,
        to: SocketAddrV4,
        from: Ipv4Addr,
        payload: &[u8],
        timeout: std::time::Duration,
    ) -> Result<Vec<u8>, DialError> {
        let (target, _) = self.target(To::Cluster(to), from, Protocol::Udp, true)?;
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let source = self.tracked(socket.local_addr()?, target, from);
        socket.connect(target).await?;
        socket.send(payload).await?;
        let mut buf = vec![0u8; 65535];
        let received = tokio::time::timeout(timeout, socket.recv(&mut buf)).await;
        drop(source);
        match received {
            Ok(Ok(n)) => {
                buf.truncate(n);
                Ok(buf)
            }
            // A closed port answers with ICMP port unreachable.
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Err(DialError::Refused),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(DialError::Dropped),
        }
    }

    /// The real socket behind `to` for traffic from `from`, and the service proxy's hop when it
    /// routed it. `filtered` traffic that the network's filter refuses is dropped.
    fn target(
        &self,
        to: To,
        from: Ipv4Addr,
        protocol: Protocol,
        filtered: bool,
    ) -> Result<(SocketAddr, Option<Hop>), DialError> {
        let refused = |to: SocketAddrV4| filtered && !self.allows(from, to, protocol);
        match to {
            To::Real(real) => Ok((real, None)),
            To::Cluster(to) if self.inner.plan.is_service_ip(*to.ip()) || self.inner.router.captures(to, protocol) => {
                let (endpoint, hop) = self.inner.router.route(from, to, protocol)?;
                if refused(endpoint) {
                    return Err(DialError::Dropped);
                }
                // An endpoint's address means the same from every pod: 127.0.0.1 is the host's.
                Ok((self.resolve(endpoint, protocol)?, Some(hop)))
            }
            To::Cluster(to) if refused(to) => Err(DialError::Dropped),
            To::Cluster(to) => Ok((self.resolve_from(from, to, protocol)?, None)),
        }
    }
}

/// Starts a connection to a real address from the loopback address `from`, so that the far
/// end's peer address is the source itself and nothing needs tracking, and returns without
/// waiting for the handshake: on loopback it is over by the time a first write is tried, which
/// then fails if the connection was refused. The port is picked at connect time, per
/// destination (`IP_BIND_ADDRESS_NO_PORT`), as for a socket that was never bound.
fn dial_from(real: SocketAddr, from: Ipv4Addr) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
    socket.set_tcp_nodelay(true)?;
    #[cfg(target_os = "linux")]
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::IpBindAddressNoPort, &true)
        .map_err(io::Error::from)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    match socket.connect(&real.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    TcpStream::from_std(socket.into())
}

/// A fresh loopback socket, bound so that its address is known before it connects.
fn bound_socket() -> io::Result<(TcpSocket, SocketAddr)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let local = socket.local_addr()?;
    Ok((socket, local))
}

/// A connection attempt's outcome: a refusal told apart from other failures, Nagle off.
fn connected(attempt: io::Result<TcpStream>) -> Result<TcpStream, DialError> {
    match attempt {
        Ok(s) => {
            s.set_nodelay(true)?;
            Ok(s)
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(DialError::Refused),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::AddressPlan;
    use crate::network::tests::NoServices;
    use std::sync::Arc;

    fn cluster(to: SocketAddrV4) -> To {
        To::Cluster(to)
    }

    #[tokio::test]
    async fn dialling_reaches_pods_and_refuses_what_is_not_there() {
        let net = Network::new(AddressPlan::default(), Arc::new(NoServices));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pod_ip = Ipv4Addr::new(10, 244, 1, 5);
        net.bind(pod_ip, 8080, Protocol::Tcp, listener.local_addr().unwrap());
        let client = Ipv4Addr::new(10, 244, 2, 9);
        let pod = SocketAddrV4::new(pod_ip, 8080);
        let conn = net.dial(cluster(pod), Dial::from(client)).await.unwrap();
        let (accepted, peer) = listener.accept().await.unwrap();
        let me = accepted.local_addr().unwrap();
        assert_eq!(peer, conn.stream.local_addr().unwrap());
        assert_eq!(net.source_of(peer, me), client, "the pod sees the client's address");
        drop(conn);
        assert_eq!(net.source_of(peer, me), Ipv4Addr::LOCALHOST, "forgotten once the connection is closed");
        // Known as soon as the far end can accept (a node port's proxy looks it up then).
        let accepting = async {
            let (accepted, peer) = listener.accept().await.unwrap();
            net.source_of(peer, accepted.local_addr().unwrap())
        };
        let (conn, seen) = tokio::join!(net.dial(cluster(pod), Dial::from(client)), accepting);
        assert_eq!(seen, client, "the source is tracked before the connection is made");
        drop(conn);
        // A proxy's onward connection for a pod likewise (a load balancer's to a node port).
        let accepting = async {
            let (accepted, peer) = listener.accept().await.unwrap();
            net.source_of(peer, accepted.local_addr().unwrap())
        };
        let untraced: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (onward, seen) = tokio::join!(net.dial(To::Real(me), Dial::snat(client).following(untraced)), accepting);
        assert_eq!(seen, client, "an onward connection's source is tracked before it is made");
        let local = onward.unwrap().stream.local_addr().unwrap().ip();
        assert_eq!(local, std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), "a pod's address is tracked, not connected from");
        // A node's (loopback) source is connected from instead.
        let node = Ipv4Addr::new(127, 0, 1, 4);
        let _onward = net.dial(To::Real(me), Dial::snat(node).following(untraced)).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(node));
        let traced = net.dial(To::Real(me), Dial::from(client).traced()).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(net.source_of(peer, me), client, "a traced dial's source, while its trace lives");
        let (_stream, keep) = traced.into_parts();
        assert_eq!(net.source_of(peer, me), client, "kept by the parts");
        drop(keep);
        assert_eq!(net.source_of(peer, me), Ipv4Addr::LOCALHOST);
        let refused = net.dial(cluster(SocketAddrV4::new(pod_ip, 9090)), Dial::from(client)).await;
        assert!(matches!(refused, Err(DialError::Refused)));
        let nowhere = SocketAddrV4::new(Ipv4Addr::new(10, 244, 9, 9), 80);
        assert!(matches!(net.dial(cluster(nowhere), Dial::from(client)).await, Err(DialError::NoRoute)));
        let unknown_service = SocketAddrV4::new(Ipv4Addr::new(10, 96, 0, 99), 80);
        assert!(matches!(net.dial(cluster(unknown_service), Dial::from(client)).await, Err(DialError::Refused)));
        let outside = SocketAddrV4::new(Ipv4Addr::new(11, 11, 11, 11), 80);
        let outside = net.dial(cluster(outside), Dial::from(client)).await;
        assert!(matches!(outside, Err(DialError::NoRoute)), "never leaves the machine");
        net.detach_pod(pod_ip);
        assert!(matches!(net.dial(cluster(pod), Dial::from(client)).await, Err(DialError::NoRoute)));
    }

    #[tokio::test]
    async fn the_filter_drops_what_it_refuses_but_never_a_nodes_own_or_the_hosts() {
        struct DenyAll;
        impl crate::network::Filter for DenyAll {
            fn allows(&self, _: Ipv4Addr, _: SocketAddrV4, _: Protocol) -> bool {
                false
            }
        }
        let net = Network::new(AddressPlan::default(), Arc::new(NoServices));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pod = SocketAddrV4::new(Ipv4Addr::new(10, 244, 1, 5), 8080);
        net.bind(*pod.ip(), 8080, Protocol::Tcp, listener.local_addr().unwrap());
        net.set_filter(Some(Arc::new(DenyAll)));
        let from_pod = net.dial(cluster(pod), Dial::from(Ipv4Addr::new(10, 244, 2, 9))).await;
        assert!(matches!(from_pod, Err(DialError::Dropped)));
        let node = Ipv4Addr::new(127, 0, 1, 1);
        assert!(matches!(net.dial(cluster(pod), Dial::snat(node)).await, Err(DialError::Dropped)));
        assert!(net.dial(cluster(pod), Dial::from_node(node)).await.is_ok(), "a kubelet's probe");
        assert!(net.dial(cluster(pod), Dial::from_host()).await.is_ok(), "a port-forward");
        net.set_filter(None);
        assert!(net.dial(cluster(pod), Dial::snat(node)).await.is_ok());
    }

    #[tokio::test]
    async fn a_traced_connection_is_followed_by_the_proxy_that_forwards_it() {
        let net = Network::new(AddressPlan::default(), Arc::new(NoServices));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let real = listener.local_addr().unwrap();
        let first = net.dial(To::Real(real), Dial::from_host().traced()).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        // A load balancer forwards it to a node port with the node's (loopback) address: the
        // trace follows rather than the source being bound, so the node port records its hop.
        let node = Ipv4Addr::new(127, 0, 1, 2);
        let onward = net.dial(To::Real(real), Dial::snat(node).following(peer)).await.unwrap();
        let onward_local = onward.stream.local_addr().unwrap();
        listener.accept().await.unwrap();
        assert!(net.traces().traced(onward_local), "the onward socket carries the trace");
        net.traces().record(onward_local, || Hop { reason: "node port".into(), ..Hop::default() });
        let hops = first.trace.as_ref().unwrap().hops();
        assert_eq!(hops.len(), 1, "{hops:?}");
    }

    #[tokio::test]
    async fn a_connection_dialled_from_a_loopback_source_comes_from_it_and_a_refusal_shows_on_write() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let node = Ipv4Addr::new(127, 0, 1, 3);
        let mut stream = dial_from(listener.local_addr().unwrap(), node).unwrap();
        stream.write_all(b"x").await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(node), "the far end sees the source itself");
        let closed = listener.local_addr().unwrap();
        drop(listener);
        let mut refused = dial_from(closed, node).unwrap();
        let err = refused.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
}
