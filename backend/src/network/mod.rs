//! The virtual network: the address plan (node, pod and service addresses), the map from a pod's
//! virtual `ip:port` to the real loopback socket its container listens on, and the dialer that
//! pods' traffic goes through. Dialling a service's cluster IP consults the proxy table, as a
//! node's packet filter rules would; dialling a pod IP reaches its container; a loopback address
//! is a real socket on this machine (nodes, load balancers, the user's own servers); anything else
//! is unreachable: svclab never sends traffic off the machine.

pub mod http;
pub mod sockets;
pub mod stream;
pub mod trace;
pub mod workers;

use crate::addr::Protocol;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use svclab_shared::lab::Hop;
use tokio::net::{TcpSocket, TcpStream};
use trace::{Trace, Traces};

/// Where things live on the virtual network.
#[derive(Clone, Debug)]
pub struct AddressPlan {
    /// Node *i* (1-based) is `node_base + i`, e.g. 127.0.1.1.
    pub node_base: Ipv4Addr,
    /// Pods of node *i* get addresses from `10.244.i.0/24`.
    pub pod_network: Ipv4Addr,
    pub service_network: Ipv4Addr,
    pub service_prefix: u8,
    /// Load-balancer addresses come from this /24, e.g. 127.0.2.1.
    pub load_balancer_pool: Ipv4Addr,
    /// The cluster domain pods' resolvers search, `cluster.local` by default.
    pub cluster_domain: String,
}

impl Default for AddressPlan {
    fn default() -> Self {
        AddressPlan {
            node_base: Ipv4Addr::new(127, 0, 1, 0),
            pod_network: Ipv4Addr::new(10, 244, 0, 0),
            service_network: Ipv4Addr::new(10, 96, 0, 0),
            service_prefix: 12,
            load_balancer_pool: Ipv4Addr::new(127, 0, 2, 0),
            cluster_domain: "cluster.local".into(),
        }
    }
}

impl AddressPlan {
    /// Nodes on `node_network` (a /24 on loopback) and load balancers on the /24 after it.
    pub fn on_loopback(node_network: Ipv4Addr) -> Self {
        let [a, b, c, _] = node_network.octets();
        AddressPlan {
            node_base: Ipv4Addr::new(a, b, c, 0),
            load_balancer_pool: Ipv4Addr::new(a, b, c.wrapping_add(1), 0),
            ..AddressPlan::default()
        }
    }

    /// A plan whose node and load-balancer addresses are unlikely to clash with another svclab
    /// on the same machine (tests run many at once): `127.a.b.0/24` and `127.a.b+1.0/24`.
    pub fn isolated() -> Self {
        use rand::Rng;
        let mut rng = rand::rng();
        let (a, b) = (rng.random_range(16..=250u8), rng.random_range(0..=127u8) * 2);
        AddressPlan::on_loopback(Ipv4Addr::new(127, a, b, 0))
    }

    pub fn node_ip(&self, index: u8) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.node_base) + index as u32)
    }

    /// The /24 pods of node `index` get their addresses from.
    pub fn pod_subnet(&self, index: u8) -> [u8; 3] {
        let [a, b, _, _] = self.pod_network.octets();
        [a, b, index]
    }

    /// The cluster DNS service's address: the tenth of the service network (`10.96.0.10`).
    pub fn dns_service_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.service_network) + 10)
    }

    pub fn is_pod_ip(&self, ip: Ipv4Addr) -> bool {
        ip.octets()[..2] == self.pod_network.octets()[..2]
    }

    /// The node a pod address belongs to (`10.244.2.7` → `node-2`).
    pub fn node_of_pod(&self, ip: Ipv4Addr) -> Option<String> {
        self.is_pod_ip(ip).then(|| format!("node-{}", ip.octets()[2]))
    }

    pub fn is_service_ip(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.service_prefix as u32);
        u32::from(ip) & mask == u32::from(self.service_network) & mask
    }
}

/// Why a connection could not be made, as the client would see it.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("Connection refused")]
    Refused,
    #[error("No route to host")]
    NoRoute,
    /// Dropped by a Local traffic policy: the client waits until it gives up.
    #[error("Connection timed out")]
    Dropped,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A socket's tracked source, forgotten when this is dropped.
pub struct Tracked {
    network: Network,
    /// The socket's own address and the one it sent to.
    key: (SocketAddr, SocketAddr),
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.network.inner.sources.write().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

/// A connection made through the virtual network.
pub struct Connection {
    pub stream: TcpStream,
    /// How the service proxy routed it, when it went to a service.
    pub hop: Option<Hop>,
    /// The source its far end sees, forgotten with the connection (a stale entry would name
    /// the source of whatever socket reuses the port next, a host's `curl` included). `None`
    /// when the connection's trace holds it.
    _source: Option<Tracked>,
}

/// A pod's listening ports (number and protocol) and the real sockets behind them.
type PodSockets = HashMap<(u16, Protocol), SocketAddr>;

struct Inner {
    plan: AddressPlan,
    /// Connection tracking: each socket svclab opened on a client's behalf, as the pair of its
    /// own address and the one it sent to → the source address the far end is to see. Both
    /// are needed: the kernel gives connections to different destinations the same local port.
    sources: RwLock<HashMap<(SocketAddr, SocketAddr), Ipv4Addr>>,
    /// Pod IP → its containers' listening ports → the real sockets behind them.
    pods: RwLock<HashMap<Ipv4Addr, PodSockets>>,
    /// Pod IP → what its containers listen on at the pod's own 127.0.0.1 only (an app bound to
    /// localhost), reachable from inside the pod and nowhere else.
    loopback: RwLock<HashMap<Ipv4Addr, PodSockets>>,
    /// Where traffic to service addresses goes (the service proxy decides).
    router: Arc<dyn Router>,
    traces: Arc<Traces>,
}

/// Decides where traffic to a service address goes. The network is the substrate and does not
/// know Services; kube-proxy's part ([`crate::proxy::ServiceRouter`]) implements this.
pub trait Router: Send + Sync {
    /// The endpoint a connection or datagram from `from` to the service address `to` goes to,
    /// and the hop to report.
    fn route(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> Result<(SocketAddrV4, Hop), DialError>;
}

/// A cloneable handle to the virtual network.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl Network {
    pub fn new(plan: AddressPlan, router: Arc<dyn Router>) -> Self {
        let sources = RwLock::default();
        let traces = Arc::default();
        let (pods, loopback) = (RwLock::default(), RwLock::default());
        Network { inner: Arc::new(Inner { plan, sources, pods, loopback, router, traces }) }
    }

    /// The hops proxies record for test connections.
    pub fn traces(&self) -> &Arc<Traces> {
        &self.inner.traces
    }

    pub fn plan(&self) -> &AddressPlan {
        &self.inner.plan
    }

    /// Puts a pod's address on the network (it then answers pings, and refuses unbound ports).
    pub fn attach_pod(&self, ip: Ipv4Addr) {
        self.inner.pods.write().unwrap_or_else(|e| e.into_inner()).entry(ip).or_default();
    }

    /// Records that a container of the pod at `ip` listens on `port`, really at `real`.
    pub fn bind(&self, ip: Ipv4Addr, port: u16, protocol: Protocol, real: SocketAddr) {
        let mut pods = self.inner.pods.write().unwrap_or_else(|e| e.into_inner());
        pods.entry(ip).or_default().insert((port, protocol), real);
    }

    /// Records that a container of the pod at `ip` listens on `port` at the pod's 127.0.0.1
    /// only, really at `real`.
    pub fn bind_loopback(&self, ip: Ipv4Addr, port: u16, protocol: Protocol, real: SocketAddr) {
        let mut loopback = self.inner.loopback.write().unwrap_or_else(|e| e.into_inner());
        loopback.entry(ip).or_default().insert((port, protocol), real);
    }

    /// Records that nothing listens on a pod's `port` any more (its container stopped).
    pub fn unbind(&self, ip: Ipv4Addr, port: u16, protocol: Protocol) {
        for map in [&self.inner.pods, &self.inner.loopback] {
            let mut pods = map.write().unwrap_or_else(|e| e.into_inner());
            if let Some(sockets) = pods.get_mut(&ip) {
                sockets.remove(&(port, protocol));
            }
        }
    }

    /// What listens at a pod's address: its containers' `(port, protocol)` pairs.
    pub fn listening(&self, ip: Ipv4Addr) -> Vec<(u16, Protocol)> {
        Self::ports_of(&self.inner.pods, ip)
    }

    /// What listens only at the pod's own 127.0.0.1.
    pub fn listening_loopback(&self, ip: Ipv4Addr) -> Vec<(u16, Protocol)> {
        Self::ports_of(&self.inner.loopback, ip)
    }

    fn ports_of(map: &RwLock<HashMap<Ipv4Addr, PodSockets>>, ip: Ipv4Addr) -> Vec<(u16, Protocol)> {
        let pods = map.read().unwrap_or_else(|e| e.into_inner());
        let mut ports: Vec<(u16, Protocol)> = pods.get(&ip).into_iter().flat_map(|s| s.keys().copied()).collect();
        ports.sort_by_key(|(port, protocol)| (*port, *protocol == Protocol::Udp));
        ports
    }

    /// Takes a pod's address off the network.
    pub fn detach_pod(&self, ip: Ipv4Addr) {
        self.inner.pods.write().unwrap_or_else(|e| e.into_inner()).remove(&ip);
        self.inner.loopback.write().unwrap_or_else(|e| e.into_inner()).remove(&ip);
    }

    /// Whether an ICMP echo to `ip` gets a reply: pods on the network, nodes and other loopback
    /// addresses do; a service's cluster IP never does (it is only a rule in the proxy).
    pub fn answers_ping(&self, ip: Ipv4Addr) -> bool {
        if self.inner.plan.is_pod_ip(ip) {
            self.inner.pods.read().unwrap_or_else(|e| e.into_inner()).contains_key(&ip)
        } else {
            ip.is_loopback()
        }
    }

    /// The real socket behind a pod's `ip:port`: `Err(NoRoute)` for an address no pod has,
    /// `Err(Refused)` for a port nothing listens on.
    pub fn resolve_pod(&self, ip: Ipv4Addr, port: u16, protocol: Protocol) -> Result<SocketAddr, DialError> {
        let pods = self.inner.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.get(&ip).ok_or(DialError::NoRoute)?.get(&(port, protocol)).copied().ok_or(DialError::Refused)
    }

    /// The real address behind `to` as seen from `from`: for a pod, 127.0.0.1 is the pod itself
    /// (its containers share one network namespace), what listens there on localhost only first.
    pub fn resolve_from(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> Result<SocketAddr, DialError> {
        if *to.ip() != Ipv4Addr::LOCALHOST || !self.inner.plan.is_pod_ip(from) {
            return self.resolve(to, protocol);
        }
        let loopback = self.inner.loopback.read().unwrap_or_else(|e| e.into_inner());
        match loopback.get(&from).and_then(|s| s.get(&(to.port(), protocol))) {
            Some(real) => Ok(*real),
            None => self.resolve_pod(from, to.port(), protocol),
        }
    }

    /// The real address behind `to` for `protocol`: a pod's socket or a loopback address.
    pub fn resolve(&self, to: SocketAddrV4, protocol: Protocol) -> Result<SocketAddr, DialError> {
        let ip = *to.ip();
        if self.inner.plan.is_pod_ip(ip) {
            self.resolve_pod(ip, to.port(), protocol)
        } else if ip.is_loopback() {
            // Nodes, load balancers and the host's own servers all live on loopback.
            Ok(SocketAddr::V4(to))
        } else {
            // Service addresses are virtual, and svclab has no network beyond this machine:
            // an Endpoints object naming an outside address gets no traffic from svclab.
            Err(DialError::NoRoute)
        }
    }

    /// Records that the socket svclab opened at `local`, sending to `remote`, carries traffic
    /// from `source`, for as long as the returned guard lives (as long as the socket, or a
    /// proxy's relay): an entry left behind would name the source of whatever socket reuses
    /// the port next.
    pub fn tracked(&self, local: SocketAddr, remote: SocketAddr, source: Ipv4Addr) -> Tracked {
        let key = (local, remote);
        self.inner.sources.write().unwrap_or_else(|e| e.into_inner()).insert(key, source);
        Tracked { network: self.clone(), key }
    }

    /// The source address a server at `me` should see for traffic from `peer`: the one
    /// tracked for it, or the peer's own address for traffic from outside svclab.
    pub fn source_of(&self, peer: SocketAddr, me: SocketAddr) -> Ipv4Addr {
        let tracked = self.inner.sources.read().unwrap_or_else(|e| e.into_inner()).get(&(peer, me)).copied();
        tracked.unwrap_or(match peer.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(ip) => ip.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
        })
    }

    /// Where a connection or datagram from `from` to a service's `to` goes: the endpoint the
    /// proxy picks, and the hop to report.
    fn route_service(
        &self,
        from: Ipv4Addr,
        to: SocketAddrV4,
        protocol: Protocol,
    ) -> Result<(SocketAddrV4, Hop), DialError> {
        self.inner.router.route(from, to, protocol)
    }

    /// Opens a TCP connection from `from` (a pod's or node's address) to `to`, inside the cluster.
    pub async fn connect(&self, from: Ipv4Addr, to: SocketAddrV4) -> Result<Connection, DialError> {
        let (real, hop) = if self.inner.plan.is_service_ip(*to.ip()) {
            let (endpoint, hop) = self.route_service(from, to, Protocol::Tcp)?;
            (self.resolve(endpoint, Protocol::Tcp)?, Some(hop))
        } else {
            (self.resolve_from(from, to, Protocol::Tcp)?, None)
        };
        let (stream, source) = self.dial_recorded(real, from, |_| {}).await?;
        Ok(Connection { stream, hop, _source: Some(source) })
    }

    /// Connects to `real` from a loopback socket bound first, so that what the far end looks up
    /// as it accepts (a node port's proxy does) is recorded before it can: `source`, tracked for
    /// as long as the returned guard lives, and whatever `before_connect` records for the
    /// socket's address.
    async fn dial_recorded(
        &self,
        real: SocketAddr,
        source: Ipv4Addr,
        before_connect: impl FnOnce(SocketAddr),
    ) -> Result<(TcpStream, Tracked), DialError> {
        let (socket, local) = bound_socket()?;
        before_connect(local);
        let tracked = self.tracked(local, real, source);
        Ok((connected(socket.connect(real).await)?, tracked))
    }

    /// Like [`Network::connect`], from a socket registered for tracing before it connects, so
    /// that the proxies on the way (a node port, a load balancer) record their hops in the trace.
    pub async fn connect_traced(&self, from: Ipv4Addr, to: SocketAddrV4) -> Result<(Connection, Trace), DialError> {
        let (target, hop) = if self.inner.plan.is_service_ip(*to.ip()) {
            let (endpoint, hop) = self.route_service(from, to, Protocol::Tcp)?;
            (endpoint, Some(hop))
        } else {
            (to, None)
        };
        let real = self.resolve_from(from, target, Protocol::Tcp)?;
        let (stream, trace) = self.dial_traced(real, Some(from)).await?;
        Ok((Connection { stream, hop, _source: None }, trace))
    }

    /// Dials a real address from a fresh loopback socket registered for tracing first; `from`
    /// is the source the far end is to see (the host's own address when `None`), for as long
    /// as the trace lives.
    pub async fn dial_traced(&self, real: SocketAddr, from: Option<Ipv4Addr>) -> Result<(TcpStream, Trace), DialError> {
        let (socket, local) = bound_socket()?;
        let mut trace = self.inner.traces.register(local);
        trace.source = from.map(|from| self.tracked(local, real, from));
        Ok((connected(socket.connect(real).await)?, trace))
    }

    /// Dials `real` for a proxy forwarding the connection from `peer`, the far end to see
    /// `source`. A source on the host's loopback (a node after SNAT, a host client) is really
    /// connected from, so that any server, a host one included, sees it as its peer, unless
    /// `follow_trace` asks for `peer`'s trace to follow onto the new socket and it has one;
    /// otherwise the source is tracked for as long as the returned guard lives, and `peer`'s
    /// trace (if any) kept on the new socket.
    pub async fn dial_as(
        &self,
        real: SocketAddr,
        peer: SocketAddr,
        source: Ipv4Addr,
        follow_trace: bool,
    ) -> io::Result<(TcpStream, Option<Tracked>)> {
        let traced = self.inner.traces.traced(peer);
        if source.is_loopback() && !(follow_trace && traced) {
            return Ok((dial_from(real, source)?, None));
        }
        let link = |local| {
            if traced {
                self.inner.traces.link(peer, local);
            }
        };
        let (stream, tracked) = self.dial_recorded(real, source, link).await.map_err(io::Error::other)?;
        Ok((stream, Some(tracked)))
    }

    /// Connects to a pod's `ip:port` (or a host address), the far end to see `source` for as
    /// long as the returned guard lives.
    pub async fn connect_as(&self, to: SocketAddrV4, source: Ipv4Addr) -> Result<(TcpStream, Tracked), DialError> {
        self.dial_recorded(self.resolve(to, Protocol::Tcp)?, source, |_| {}).await
    }

    /// Sends one UDP datagram from `from` to `to` (a service, a pod or a host address) and waits
    /// up to `timeout` for the answer, as a DNS client does.
    pub async fn udp_exchange(
        &self,
        from: Ipv4Addr,
        to: SocketAddrV4,
        payload: &[u8],
        timeout: std::time::Duration,
    ) -> Result<Vec<u8>, DialError> {
        let target = if self.inner.plan.is_service_ip(*to.ip()) {
            let (endpoint, _) = self.route_service(from, to, Protocol::Udp)?;
            self.resolve(endpoint, Protocol::Udp)?
        } else {
            self.resolve_from(from, to, Protocol::Udp)?
        };
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
}

/// Starts a connection to a real address from the loopback address `from`, so that the far
/// end's peer address is the source itself and nothing needs tracking, and returns without
/// waiting for the handshake: on loopback it is over by the time a first write is tried, which
/// then fails if the connection was refused. The port is picked at connect time, per
/// destination (`IP_BIND_ADDRESS_NO_PORT`), as for a socket that was never bound.
pub fn dial_from(real: SocketAddr, from: Ipv4Addr) -> io::Result<TcpStream> {
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

    /// A cluster without services: the network alone.
    struct NoServices;

    impl Router for NoServices {
        fn route(&self, _: Ipv4Addr, _: SocketAddrV4, _: Protocol) -> Result<(SocketAddrV4, Hop), DialError> {
            Err(DialError::Refused)
        }
    }

    #[test]
    fn the_address_plan_tells_addresses_apart() {
        let plan = AddressPlan::default();
        assert_eq!(plan.node_ip(2), Ipv4Addr::new(127, 0, 1, 2));
        assert_eq!(plan.pod_subnet(3), [10, 244, 3]);
        assert!(plan.is_pod_ip(Ipv4Addr::new(10, 244, 3, 7)));
        assert!(plan.is_service_ip(Ipv4Addr::new(10, 111, 255, 1)));
        assert!(!plan.is_service_ip(Ipv4Addr::new(10, 112, 0, 1)));
    }

    #[tokio::test]
    async fn dialling_reaches_pods_and_refuses_what_is_not_there() {
        let net = Network::new(AddressPlan::default(), Arc::new(NoServices));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pod_ip = Ipv4Addr::new(10, 244, 1, 5);
        net.bind(pod_ip, 8080, Protocol::Tcp, listener.local_addr().unwrap());
        let client = Ipv4Addr::new(10, 244, 2, 9);
        let conn = net.connect(client, SocketAddrV4::new(pod_ip, 8080)).await.unwrap();
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
        let (conn, seen) = tokio::join!(net.connect(client, SocketAddrV4::new(pod_ip, 8080)), accepting);
        assert_eq!(seen, client, "the source is tracked before the connection is made");
        drop(conn);
        // A proxy's onward connection for a pod likewise (a load balancer's to a node port).
        let accepting = async {
            let (accepted, peer) = listener.accept().await.unwrap();
            net.source_of(peer, accepted.local_addr().unwrap())
        };
        let untraced: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (onward, seen) = tokio::join!(net.dial_as(me, untraced, client, true), accepting);
        assert_eq!(seen, client, "an onward connection's source is tracked before it is made");
        assert!(onward.unwrap().1.is_some(), "a pod's address is tracked, not connected from");
        // A host-side source is connected from instead.
        let node = Ipv4Addr::new(127, 0, 1, 4);
        let (_onward, tracked) = net.dial_as(me, untraced, node, true).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert!(tracked.is_none());
        assert_eq!(peer.ip(), std::net::IpAddr::V4(node));
        let (_, trace) = net.dial_traced(me, Some(client)).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(net.source_of(peer, me), client, "a traced dial's source, while its trace lives");
        drop(trace);
        assert_eq!(net.source_of(peer, me), Ipv4Addr::LOCALHOST);
        assert!(matches!(net.connect(client, SocketAddrV4::new(pod_ip, 9090)).await, Err(DialError::Refused)));
        let nowhere = SocketAddrV4::new(Ipv4Addr::new(10, 244, 9, 9), 80);
        assert!(matches!(net.connect(client, nowhere).await, Err(DialError::NoRoute)));
        let unknown_service = SocketAddrV4::new(Ipv4Addr::new(10, 96, 0, 99), 80);
        assert!(matches!(net.connect(client, unknown_service).await, Err(DialError::Refused)));
        let outside = SocketAddrV4::new(Ipv4Addr::new(11, 11, 11, 11), 80);
        assert!(matches!(net.connect(client, outside).await, Err(DialError::NoRoute)), "never leaves the machine");
        net.detach_pod(pod_ip);
        assert!(matches!(net.connect(client, SocketAddrV4::new(pod_ip, 8080)).await, Err(DialError::NoRoute)));
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

    #[test]
    fn a_tracked_source_is_forgotten_with_its_guard() {
        let net = Network::new(AddressPlan::default(), Arc::new(NoServices));
        let socket: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let (pod, other_pod): (SocketAddr, SocketAddr) =
            ("127.0.0.1:8080".parse().unwrap(), "127.0.0.1:8081".parse().unwrap());
        let (node, client) = (Ipv4Addr::new(127, 0, 1, 1), Ipv4Addr::new(10, 244, 1, 7));
        let tracked = net.tracked(socket, pod, node);
        assert_eq!(net.source_of(socket, pod), node);
        // The kernel gives a connection to another destination the same local port at times:
        // each keeps its own source, and loses only its own.
        let other = net.tracked(socket, other_pod, client);
        assert_eq!((net.source_of(socket, pod), net.source_of(socket, other_pod)), (node, client));
        drop(tracked);
        // A later connection from the same port (from outside svclab) is itself.
        assert_eq!(net.source_of(socket, pod), Ipv4Addr::LOCALHOST);
        assert_eq!(net.source_of(socket, other_pod), client);
        drop(other);
        assert_eq!(net.source_of(socket, other_pod), Ipv4Addr::LOCALHOST);
    }
}
