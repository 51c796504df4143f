//! The virtual network: the address plan (node, pod and service addresses), the map from a pod's
//! virtual `ip:port` to the real loopback socket its container listens on, and the dialer that
//! pods' traffic goes through. Dialling a service's cluster IP consults the proxy table, as a
//! node's packet filter rules would; dialling a pod IP reaches its container; a loopback address
//! is a real socket on this machine (nodes, load balancers, the user's own servers); anything else
//! is unreachable: svclab never sends traffic off the machine.

pub mod dialer;
pub mod http;
pub mod portmap;
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
use trace::Traces;

pub use dialer::{Dial, Dialed, Keep, Source, To, Tracing};

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

    /// The ingress controller's pod address (the last of node 1's pod subnet, `10.244.1.254`),
    /// which no kubelet hands out: it connects to pods from there, as ingress-nginx's
    /// controller pod does, so NetworkPolicies see it as that pod.
    pub fn ingress_controller_ip(&self) -> Ipv4Addr {
        let [a, b, c] = self.pod_subnet(1);
        Ipv4Addr::new(a, b, c, 254)
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

    /// The node an address is on: a pod's (`10.244.2.7` → `node-2`), or a node's own (a
    /// host-network pod sends from it).
    pub fn node_of(&self, ip: Ipv4Addr) -> Option<String> {
        let index = u32::from(ip).checked_sub(u32::from(self.node_base)).filter(|i| (1..=255).contains(i));
        self.node_of_pod(ip).or_else(|| index.map(|i| format!("node-{i}")))
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
    /// What may reach a pod (NetworkPolicies), when anything restricts it; `filtering` says
    /// whether there is one without taking the lock (the data path asks per connection).
    filter: RwLock<Option<Arc<dyn Filter>>>,
    filtering: std::sync::atomic::AtomicBool,
    traces: Arc<Traces>,
}

/// Decides where traffic to a service address goes. The network is the substrate and does not
/// know Services; kube-proxy's part ([`crate::proxy::ServiceRouter`]) implements this.
pub trait Router: Send + Sync {
    /// The endpoint a connection or datagram from `from` to the service address `to` goes to,
    /// and the hop to report.
    fn route(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> Result<(SocketAddrV4, Hop), DialError>;

    /// Whether traffic to `to`, outside the service range, is a service's all the same (an
    /// external IP), so that [`Router::route`] decides where it goes.
    fn captures(&self, _to: SocketAddrV4, _protocol: Protocol) -> bool {
        false
    }
}

/// Decides what may reach a pod, as a CNI plugin enforces NetworkPolicies; the network applies
/// it to every connection and datagram a pod or node sends to a pod (after the service proxy
/// has chosen one).
pub trait Filter: Send + Sync {
    /// Whether traffic from `from` may reach `to` (one of them a pod's address).
    fn allows(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> bool;
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
        let (filter, filtering) = (RwLock::default(), Default::default());
        Network { inner: Arc::new(Inner { plan, sources, pods, loopback, router, filter, filtering, traces }) }
    }

    /// Sets what may reach pods from now on (`None`: everything).
    pub fn set_filter(&self, filter: Option<Arc<dyn Filter>>) {
        let mut current = self.inner.filter.write().unwrap_or_else(|e| e.into_inner());
        self.inner.filtering.store(filter.is_some(), std::sync::atomic::Ordering::Release);
        *current = filter;
    }

    /// Whether traffic from `from` may reach `to` (only traffic to or from a pod's address
    /// may be filtered).
    fn allows(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> bool {
        let plan = &self.inner.plan;
        if !self.inner.filtering.load(std::sync::atomic::Ordering::Acquire)
            || !(plan.is_pod_ip(*to.ip()) || plan.is_pod_ip(from))
        {
            return true;
        }
        let filter = self.inner.filter.read().unwrap_or_else(|e| e.into_inner());
        filter.as_ref().is_none_or(|f| f.allows(from, to, protocol))
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
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A cluster without services: the network alone.
    pub(crate) struct NoServices;

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
        assert_eq!(plan.node_of(Ipv4Addr::new(10, 244, 3, 7)).as_deref(), Some("node-3"));
        assert_eq!(plan.node_of(Ipv4Addr::new(127, 0, 1, 2)).as_deref(), Some("node-2"));
        assert_eq!(plan.node_of(Ipv4Addr::new(127, 0, 0, 1)), None);
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
