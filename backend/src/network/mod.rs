//! The virtual network: the address plan (node, pod and service addresses), the map from a pod's
//! virtual `ip:port` to the real loopback socket its container listens on, and the dialer that
//! pods' traffic goes through. Dialling a service's cluster IP consults the proxy table, as a
//! node's packet filter rules would; dialling a pod IP reaches its container; any other address
//! is a real host address.

pub mod http;

use crate::proxy::{Protocol, ProxyTable, VirtualAddr};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use svclab_shared::lab::Hop;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Where things live on the virtual network.
#[derive(Clone, Debug)]
pub struct AddressPlan {
    /// Node *i* (1-based) is `node_base + i`, e.g. 127.0.1.1.
    pub node_base: Ipv4Addr,
    /// Pods of node *i* get addresses from `10.244.i.0/24`.
    pub pod_network: Ipv4Addr,
    pub service_network: Ipv4Addr,
    pub service_prefix: u8,
}

impl Default for AddressPlan {
    fn default() -> Self {
        AddressPlan {
            node_base: Ipv4Addr::new(127, 0, 1, 0),
            pod_network: Ipv4Addr::new(10, 244, 0, 0),
            service_network: Ipv4Addr::new(10, 96, 0, 0),
            service_prefix: 12,
        }
    }
}

impl AddressPlan {
    pub fn node_ip(&self, index: u8) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.node_base) + index as u32)
    }

    /// The /24 pods of node `index` get their addresses from.
    pub fn pod_subnet(&self, index: u8) -> [u8; 3] {
        let [a, b, _, _] = self.pod_network.octets();
        [a, b, index]
    }

    pub fn is_pod_ip(&self, ip: Ipv4Addr) -> bool {
        ip.octets()[..2] == self.pod_network.octets()[..2]
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
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A connection made through the virtual network.
pub struct Connection {
    pub stream: TcpStream,
    /// How the service proxy routed it, when it went to a service.
    pub hop: Option<Hop>,
}

struct Inner {
    plan: AddressPlan,
    /// Pod IP → its containers' listening ports → the real sockets behind them.
    pods: RwLock<HashMap<Ipv4Addr, HashMap<u16, SocketAddr>>>,
    proxy: watch::Receiver<Arc<ProxyTable>>,
}

/// A cloneable handle to the virtual network.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl Network {
    pub fn new(plan: AddressPlan, proxy: watch::Receiver<Arc<ProxyTable>>) -> Self {
        Network { inner: Arc::new(Inner { plan, pods: RwLock::default(), proxy }) }
    }

    pub fn plan(&self) -> &AddressPlan {
        &self.inner.plan
    }

    /// Puts a pod's address on the network (it then answers pings, and refuses unbound ports).
    pub fn attach_pod(&self, ip: Ipv4Addr) {
        self.inner.pods.write().unwrap_or_else(|e| e.into_inner()).entry(ip).or_default();
    }

    /// Records that a container of the pod at `ip` listens on `port`, really at `real`.
    pub fn bind(&self, ip: Ipv4Addr, port: u16, real: SocketAddr) {
        self.inner.pods.write().unwrap_or_else(|e| e.into_inner()).entry(ip).or_default().insert(port, real);
    }

    /// Takes a pod's address off the network.
    pub fn detach_pod(&self, ip: Ipv4Addr) {
        self.inner.pods.write().unwrap_or_else(|e| e.into_inner()).remove(&ip);
    }

    /// Whether a pod has this address.
    pub fn has_pod(&self, ip: Ipv4Addr) -> bool {
        self.inner.pods.read().unwrap_or_else(|e| e.into_inner()).contains_key(&ip)
    }

    /// The real socket behind a pod's `ip:port`: `Err(NoRoute)` for an address no pod has,
    /// `Err(Refused)` for a port nothing listens on.
    pub fn resolve_pod(&self, ip: Ipv4Addr, port: u16) -> Result<SocketAddr, DialError> {
        let pods = self.inner.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.get(&ip).ok_or(DialError::NoRoute)?.get(&port).copied().ok_or(DialError::Refused)
    }

    /// Opens a TCP connection to `to` from inside the cluster.
    pub async fn connect(&self, to: SocketAddrV4) -> Result<Connection, DialError> {
        let plan = &self.inner.plan;
        let ip = *to.ip();
        if plan.is_service_ip(ip) {
            let addr = VirtualAddr { ip, port: to.port(), protocol: Protocol::Tcp };
            let table = self.inner.proxy.borrow().clone();
            let route = table.route(&addr).ok_or(DialError::Refused)?;
            let endpoint = SocketAddrV4::new(route.backend.ip, route.backend.port);
            let stream = self.connect_direct(endpoint).await?;
            let hop = Hop {
                service: route.route.service.clone(),
                virtual_address: to.to_string(),
                endpoint: endpoint.to_string(),
                pod: route.backend.pod.clone(),
                node: route.backend.node.clone(),
                reason: route.reason,
            };
            return Ok(Connection { stream, hop: Some(hop) });
        }
        Ok(Connection { stream: self.connect_direct(to).await?, hop: None })
    }

    async fn connect_direct(&self, to: SocketAddrV4) -> Result<TcpStream, DialError> {
        let ip = *to.ip();
        let real = if self.inner.plan.is_pod_ip(ip) {
            self.resolve_pod(ip, to.port())?
        } else if self.inner.plan.is_service_ip(ip) {
            return Err(DialError::NoRoute);
        } else {
            SocketAddr::V4(to)
        };
        match TcpStream::connect(real).await {
            Ok(s) => {
                s.set_nodelay(true)?;
                Ok(s)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(DialError::Refused),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (_tx, rx) = watch::channel(Arc::new(ProxyTable::default()));
        let net = Network::new(AddressPlan::default(), rx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pod_ip = Ipv4Addr::new(10, 244, 1, 5);
        net.bind(pod_ip, 8080, listener.local_addr().unwrap());
        assert!(net.connect(SocketAddrV4::new(pod_ip, 8080)).await.is_ok());
        assert!(matches!(net.connect(SocketAddrV4::new(pod_ip, 9090)).await, Err(DialError::Refused)));
        let nowhere = SocketAddrV4::new(Ipv4Addr::new(10, 244, 9, 9), 80);
        assert!(matches!(net.connect(nowhere).await, Err(DialError::NoRoute)));
        let unknown_service = SocketAddrV4::new(Ipv4Addr::new(10, 96, 0, 99), 80);
        assert!(matches!(net.connect(unknown_service).await, Err(DialError::Refused)));
        net.detach_pod(pod_ip);
        assert!(matches!(net.connect(SocketAddrV4::new(pod_ip, 8080)).await, Err(DialError::NoRoute)));
    }
}
