//! The proxy table: virtual address → the ready endpoints behind it, and the choice of one.

use k8s_openapi::api::core::v1::{Endpoints, Service};
use rand::Rng;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn parse(s: Option<&str>) -> Option<Protocol> {
        match s.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// A service's virtual address: cluster IP, port, protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VirtualAddr {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub protocol: Protocol,
}

/// One ready endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub pod: Option<String>,
    pub node: Option<String>,
}

/// Everything the proxy knows about one port of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePortRoute {
    /// `namespace/name`.
    pub service: String,
    pub port_name: String,
    pub backends: Vec<Backend>,
}

/// The endpoint chosen for one connection, and why.
#[derive(Clone, Debug)]
pub struct Route {
    pub route: Arc<ServicePortRoute>,
    pub backend: Backend,
    pub reason: String,
}

/// An immutable snapshot of every service's routes.
#[derive(Debug, Default)]
pub struct ProxyTable {
    by_address: HashMap<VirtualAddr, Arc<ServicePortRoute>>,
}

impl ProxyTable {
    pub fn new(by_address: HashMap<VirtualAddr, Arc<ServicePortRoute>>) -> Self {
        ProxyTable { by_address }
    }

    pub fn lookup(&self, addr: &VirtualAddr) -> Option<&Arc<ServicePortRoute>> {
        self.by_address.get(addr)
    }

    /// Picks a ready endpoint at random for a new connection. `None` when the address is a
    /// service port with no ready endpoint (the connection is refused) or no service at all.
    pub fn route(&self, addr: &VirtualAddr) -> Option<Route> {
        let route = self.by_address.get(addr)?;
        let n = route.backends.len();
        if n == 0 {
            return None;
        }
        let backend = route.backends[rand::rng().random_range(0..n)].clone();
        let reason = format!("random among {n} ready endpoint{}", if n == 1 { "" } else { "s" });
        Some(Route { route: route.clone(), backend, reason })
    }
}

/// The routes one service contributes: one per port, to the ready addresses of its Endpoints.
/// Headless and ExternalName services have no virtual address and contribute nothing.
pub fn routes_for(svc: &Service, endpoints: Option<&Endpoints>) -> Vec<(VirtualAddr, Arc<ServicePortRoute>)> {
    let Some(spec) = &svc.spec else { return vec![] };
    let Some(ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) else {
        return vec![];
    };
    let name = format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or_default(),
        svc.metadata.name.as_deref().unwrap_or_default()
    );
    let mut out = Vec::new();
    for port in spec.ports.iter().flatten() {
        let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else { continue };
        let port_name = port.name.clone().unwrap_or_default();
        let mut backends = Vec::new();
        for subset in endpoints.and_then(|e| e.subsets.as_ref()).into_iter().flatten() {
            let Some(ep_port) = subset.ports.iter().flatten().find(|p| {
                p.name.clone().unwrap_or_default() == port_name
                    && Protocol::parse(p.protocol.as_deref()) == Some(protocol)
            }) else {
                continue;
            };
            for address in subset.addresses.iter().flatten() {
                let Ok(ip) = address.ip.parse::<Ipv4Addr>() else { continue };
                backends.push(Backend {
                    ip,
                    port: ep_port.port as u16,
                    pod: address.target_ref.as_ref().and_then(|r| r.name.clone()),
                    node: address.node_name.clone(),
                });
            }
        }
        let addr = VirtualAddr { ip, port: port.port as u16, protocol };
        out.push((addr, Arc::new(ServicePortRoute { service: name.clone(), port_name, backends })));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_match_endpoint_ports_by_name_and_skip_unready() {
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "kubia", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [
                {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443, "protocol": "TCP"}]}}))
        .unwrap();
        let eps: Endpoints = serde_json::from_value(json!({"metadata": {"name": "kubia"}, "subsets": [
            {"addresses": [{"ip": "10.244.1.2", "targetRef": {"kind": "Pod", "name": "kubia-a"}}],
             "notReadyAddresses": [{"ip": "10.244.2.2"}],
             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "https", "port": 8443, "protocol": "TCP"}]}]}))
        .unwrap();
        let routes = routes_for(&svc, Some(&eps));
        assert_eq!(routes.len(), 2);
        let table = ProxyTable::new(routes.into_iter().collect());
        let http = VirtualAddr { ip: Ipv4Addr::new(10, 96, 0, 20), port: 80, protocol: Protocol::Tcp };
        let chosen = table.route(&http).unwrap();
        assert_eq!((chosen.backend.port, chosen.backend.pod.as_deref()), (8080, Some("kubia-a")));
        assert_eq!(chosen.reason, "random among 1 ready endpoint");
        let https = VirtualAddr { port: 443, ..http };
        assert_eq!(table.route(&https).unwrap().backend.port, 8443);
    }

    #[test]
    fn a_service_without_ready_endpoints_routes_nowhere() {
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "kubia", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80, "protocol": "TCP"}]}}))
        .unwrap();
        let table = ProxyTable::new(routes_for(&svc, None).into_iter().collect());
        let addr = VirtualAddr { ip: Ipv4Addr::new(10, 96, 0, 20), port: 80, protocol: Protocol::Tcp };
        assert!(table.lookup(&addr).is_some());
        assert!(table.route(&addr).is_none());
        let headless: Service =
            serde_json::from_value(json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}})).unwrap();
        assert!(routes_for(&headless, None).is_empty());
    }
}
