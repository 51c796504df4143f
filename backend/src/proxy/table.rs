//! The proxy table: each service port's entry points (cluster IP, node port, load-balancer IP),
//! its ready endpoints and its policies, the nodes' zones, and the pure choice of an endpoint
//! for a connection.

use super::affinity::Affinity;
use crate::addr::{Cidr, Protocol, VirtualAddr};
use crate::informer::{Hint, Hints, ServiceState, ServiceType, Zones};
use k8s_openapi::api::core::v1::Endpoints;
use rand::Rng;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::service::TrafficDistribution;

/// One ready endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub pod: Option<String>,
    pub node: Option<String>,
    /// Where its EndpointSlice hints it to serve, if anywhere.
    pub hint: Option<Arc<Hint>>,
}

/// Everything the proxy knows about one port of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePortRoute {
    /// `namespace/name`.
    pub service: String,
    pub port_name: String,
    pub protocol: Protocol,
    pub cluster: Option<VirtualAddr>,
    pub node_port: Option<u16>,
    /// The service port on load-balancer addresses.
    pub port: u16,
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `externalIPs`: addresses the cluster's network routes to a node, where the service port
    /// takes traffic as on a load-balancer address.
    pub external_ips: Vec<Ipv4Addr>,
    pub backends: Vec<Backend>,
    /// Its endpoints terminating yet serving: where traffic goes while none is ready (kube-proxy's
    /// fallback, per node under a `Local` policy).
    pub terminating: Vec<Backend>,
    /// `sessionAffinity: ClientIP` and its timeout.
    pub affinity: Option<Duration>,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// The health-check node port of a `Local` load-balancer service.
    pub health_check_port: Option<u16>,
    /// `loadBalancerSourceRanges`: the only clients its load-balancer addresses take (all, when
    /// empty).
    pub source_ranges: Vec<Cidr>,
    /// What the endpoints' topology hints are named after in a trace: Topology Aware Routing,
    /// the `trafficDistribution` as written, or hints as such.
    pub hinted_by: &'static str,
}

/// How a connection reached the service, which decides the policy that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// From inside the cluster to the cluster IP; the client pod's node, if it is a pod.
    ClusterIp { client_node: Option<&'a str> },
    /// To a node port or a load-balancer address, arriving at this node.
    External { node: &'a str },
}

/// The endpoint chosen for one connection, and why.
#[derive(Clone, Debug)]
pub struct Route {
    pub route: Arc<ServicePortRoute>,
    pub backend: Backend,
    pub reason: Reason,
}

/// Why an endpoint was chosen; rendered only when someone reads it (a trace), so the data path
/// does not format text for every connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    /// How many endpoints were candidates.
    pub among: usize,
    /// They were terminating yet serving, as none was ready.
    pub terminating: bool,
    /// The Local traffic policy or traffic distribution that narrowed them, and to where.
    pub local: Option<(&'static str, Place)>,
    /// ClientIP affinity: the client, the timeout, and whether an earlier choice was kept.
    pub affinity: Option<(Ipv4Addr, Duration, bool)>,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((client, timeout, true)) = self.affinity {
            return write!(
                f,
                "sessionAffinity ClientIP: {client} stays on this endpoint ({}s timeout)",
                timeout.as_secs()
            );
        }
        let n = self.among;
        let plural = if n == 1 { "" } else { "s" };
        let kind = if self.terminating { "serving terminating" } else { "ready" };
        match &self.local {
            Some((policy, place)) => write!(f, "{policy}: random among {n} {kind} endpoint{plural} {place}")?,
            None => write!(f, "random among {n} {kind} endpoint{plural}")?,
        }
        if let Some((client, timeout, false)) = self.affinity {
            write!(f, "; sessionAffinity ClientIP pins {client} to it for {}s", timeout.as_secs())?;
        }
        Ok(())
    }
}

/// Where the candidates were narrowed to.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    Node(String),
    Zone(String),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Node(node) => write!(f, "on {node}"),
            Place::Zone(zone) => write!(f, "hinted for zone {zone}"),
        }
    }
}

/// Why no endpoint was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// No ready endpoint at all: the connection is refused.
    NoEndpoints,
    /// A Local traffic policy and no ready endpoint on this node: the traffic is dropped.
    NoLocalEndpoints(String),
}

impl ServicePortRoute {
    /// Whether a load-balancer address of this service takes traffic from `client`.
    pub fn admits(&self, client: Ipv4Addr) -> bool {
        self.source_ranges.is_empty() || self.source_ranges.iter().any(|r| r.contains(client))
    }

    /// Whether it has an endpoint to send to: a ready one, or one terminating yet serving.
    pub fn has_endpoints(&self) -> bool {
        !self.backends.is_empty() || !self.terminating.is_empty()
    }

    /// Picks the endpoint for a new connection from `client`; `zones` are the nodes' zones.
    pub fn pick(
        self: &Arc<Self>,
        entry: Entry,
        client: Ipv4Addr,
        affinity: &Affinity,
        zones: &Zones,
    ) -> Result<Route, NoRoute> {
        if !self.has_endpoints() {
            return Err(NoRoute::NoEndpoints);
        }
        let local = match entry {
            Entry::External { node } if self.external_local => Some(("externalTrafficPolicy: Local", node)),
            Entry::ClusterIp { client_node: Some(node) } if self.internal_local => {
                Some(("internalTrafficPolicy: Local", node))
            }
            _ => None,
        };
        let narrowed = match local {
            Some((policy, node)) => Some((policy, Place::Node(node.to_string()))),
            None => self.topology(entry, zones),
        };
        let fits = |b: &&Backend| match &narrowed {
            None => true,
            Some((_, Place::Node(node))) => b.node.as_deref() == Some(node),
            Some((_, Place::Zone(zone))) => b.hint.as_ref().is_some_and(|h| h.zones.contains(zone)),
        };
        // None ready (on this node, under a Local policy): those terminating yet serving.
        let (pool, terminating) = match self.backends.iter().filter(fits).count() {
            0 => (&self.terminating, true),
            _ => (&self.backends, false),
        };
        let among = pool.iter().filter(fits).count();
        if among == 0 {
            return Err(match local {
                Some((_, node)) => NoRoute::NoLocalEndpoints(node.to_string()),
                None => NoRoute::NoEndpoints,
            });
        }
        let mut reason = Reason { among, terminating, local: narrowed.clone(), affinity: None };
        let chosen = match self.affinity {
            None => pool.iter().filter(fits).nth(rand::rng().random_range(0..among)),
            Some(timeout) => {
                let key = (self.service.clone(), self.port_name.clone(), self.protocol, client);
                let kept = affinity
                    .get(&key, timeout)
                    .and_then(|(ip, port)| pool.iter().filter(fits).find(|b| b.ip == ip && b.port == port));
                reason.affinity = Some((client, timeout, kept.is_some()));
                let chosen = kept.or_else(|| pool.iter().filter(fits).nth(rand::rng().random_range(0..among)));
                if let Some(b) = chosen {
                    affinity.touch(key, (b.ip, b.port));
                }
                chosen
            }
        };
        let backend = chosen.expect("among > 0").clone();
        Ok(Route { route: self.clone(), backend, reason })
    }

    /// kube-proxy's topology mode for traffic arriving at a node, from the hints the
    /// EndpointSlice controller gives the endpoints (under `trafficDistribution` or Topology
    /// Aware Routing): the client's node when every ready endpoint is hinted for nodes and one
    /// for this one; else the client's zone when every one is hinted for zones and one for this
    /// one; else no narrowing. Traffic from the host itself arrives at no node.
    fn topology(&self, entry: Entry, zones: &Zones) -> Option<(&'static str, Place)> {
        let node = match entry {
            Entry::ClusterIp { client_node } => client_node?,
            Entry::External { node } => node,
        };
        let hinted = |of: fn(&Hint) -> &Vec<String>, place: &str| {
            let hints = || self.backends.iter().map(|b| b.hint.as_deref().map(of));
            hints().all(|h| h.is_some_and(|h| !h.is_empty())) && hints().flatten().any(|h| h.iter().any(|p| p == place))
        };
        if hinted(|h| &h.nodes, node) {
            return Some((self.hinted_by, Place::Node(node.to_string())));
        }
        let zone = zones.get(node)?;
        hinted(|h| &h.zones, zone).then(|| (self.hinted_by, Place::Zone(zone.clone())))
    }
}

/// An immutable snapshot of every service port's routes, indexed by entry point.
#[derive(Debug, Default)]
pub struct ProxyTable {
    cluster: HashMap<VirtualAddr, Arc<ServicePortRoute>>,
    node_ports: HashMap<(u16, Protocol), Arc<ServicePortRoute>>,
    load_balancers: HashMap<VirtualAddr, Arc<ServicePortRoute>>,
    external_ips: HashMap<VirtualAddr, Arc<ServicePortRoute>>,
    zones: Arc<Zones>,
}

impl ProxyTable {
    pub fn new(routes: impl IntoIterator<Item = Arc<ServicePortRoute>>, zones: Arc<Zones>) -> Self {
        let mut table = ProxyTable { zones, ..ProxyTable::default() };
        for route in routes {
            if let Some(addr) = route.cluster {
                table.cluster.insert(addr, route.clone());
            }
            if let Some(port) = route.node_port {
                table.node_ports.insert((port, route.protocol), route.clone());
            }
            for ip in &route.load_balancer_ips {
                let addr = VirtualAddr { ip: *ip, port: route.port, protocol: route.protocol };
                table.load_balancers.insert(addr, route.clone());
            }
            for ip in &route.external_ips {
                let addr = VirtualAddr { ip: *ip, port: route.port, protocol: route.protocol };
                table.external_ips.insert(addr, route.clone());
            }
        }
        table
    }

    /// The nodes' zones, for [`ServicePortRoute::pick`].
    pub fn zones(&self) -> &Zones {
        &self.zones
    }

    pub fn cluster_ip(&self, addr: &VirtualAddr) -> Option<&Arc<ServicePortRoute>> {
        self.cluster.get(addr)
    }

    pub fn node_port(&self, port: u16, protocol: Protocol) -> Option<&Arc<ServicePortRoute>> {
        self.node_ports.get(&(port, protocol))
    }

    pub fn load_balancer(&self, addr: &VirtualAddr) -> Option<&Arc<ServicePortRoute>> {
        self.load_balancers.get(addr)
    }

    /// The service port an external IP's port belongs to.
    pub fn external_ip(&self, addr: &VirtualAddr) -> Option<&Arc<ServicePortRoute>> {
        if self.external_ips.is_empty() {
            return None;
        }
        self.external_ips.get(addr)
    }

    /// Every external IP's port in use.
    pub fn external_ip_keys(&self) -> impl Iterator<Item = VirtualAddr> + '_ {
        self.external_ips.keys().copied()
    }

    /// Every node port in use.
    pub fn node_port_keys(&self) -> impl Iterator<Item = (u16, Protocol)> + '_ {
        self.node_ports.keys().copied()
    }

    /// Every load-balancer address in use.
    pub fn load_balancer_keys(&self) -> impl Iterator<Item = VirtualAddr> + '_ {
        self.load_balancers.keys().copied()
    }
}

/// The label that hands a service to another service proxy: kube-proxy leaves it alone.
pub const SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";

/// The routes one service contributes, one per port. ExternalName services contribute nothing;
/// headless ones have no cluster IP, so nothing is proxied for them either; nor for one labelled
/// for another proxy ([`SERVICE_PROXY_NAME`]).
pub fn routes_for(state: &ServiceState) -> Vec<Arc<ServicePortRoute>> {
    let (svc, endpoints, facts) = (&state.service, state.endpoints.as_ref(), &state.facts);
    let Some(spec) = &svc.spec else { return vec![] };
    if svc.metadata.labels.as_ref().is_some_and(|l| l.contains_key(SERVICE_PROXY_NAME)) {
        return vec![];
    }
    let ty = facts.type_;
    let Some(cluster_ip) = facts.cluster_ip else { return vec![] };
    let name = format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or_default(),
        svc.metadata.name.as_deref().unwrap_or_default()
    );
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        let timeout = spec.session_affinity_config.as_ref().and_then(|c| c.client_ip.as_ref()?.timeout_seconds);
        Duration::from_secs(timeout.unwrap_or(10800).max(1) as u64)
    });
    let load_balancer_ips: Vec<Ipv4Addr> = if ty == ServiceType::LoadBalancer {
        let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()?.ingress.as_ref());
        ingress.into_iter().flatten().filter_map(|i| i.ip.as_deref()?.parse().ok()).collect()
    } else {
        vec![]
    };
    let external = ty.is_external();
    let external_ips: Vec<Ipv4Addr> = spec.external_ips.iter().flatten().filter_map(|ip| ip.parse().ok()).collect();
    let source_ranges: Vec<Cidr> = match ty {
        ServiceType::LoadBalancer => {
            spec.load_balancer_source_ranges.iter().flatten().filter_map(|r| Cidr::parse(r.trim())).collect()
        }
        _ => vec![],
    };
    let written = spec.traffic_distribution.as_deref();
    let hinted_by = match TrafficDistribution::VALUES.iter().find(|v| Some(**v) == written) {
        _ if facts.topology_auto => "topology-mode Auto",
        Some(written) => written,
        None => "topology hints",
    };
    let mut out = Vec::new();
    for port in spec.ports.iter().flatten() {
        let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else { continue };
        let port_name = port.name.clone().unwrap_or_default();
        let backends = backends_of(endpoints, &port_name, protocol, &state.sliced.hints);
        let terminating = backends_of(state.sliced.terminating.as_ref(), &port_name, protocol, &state.sliced.hints);
        out.push(Arc::new(ServicePortRoute {
            service: name.clone(),
            port_name,
            protocol,
            cluster: Some(VirtualAddr { ip: cluster_ip, port: port.port as u16, protocol }),
            node_port: port.node_port.filter(|_| external).map(|p| p as u16),
            port: port.port as u16,
            load_balancer_ips: load_balancer_ips.clone(),
            external_ips: external_ips.clone(),
            backends,
            terminating,
            affinity,
            external_local: external && spec.external_traffic_policy.as_deref() == Some("Local"),
            internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
            health_check_port: spec
                .health_check_node_port
                .filter(|_| ty == ServiceType::LoadBalancer)
                .map(|p| p as u16),
            hinted_by,
            source_ranges: source_ranges.clone(),
        }));
    }
    out
}

/// The ready addresses of `endpoints` on the port named `port_name`, each with its hint.
fn backends_of(endpoints: Option<&Endpoints>, port_name: &str, protocol: Protocol, hints: &Hints) -> Vec<Backend> {
    let mut backends = Vec::new();
    for subset in endpoints.and_then(|e| e.subsets.as_ref()).into_iter().flatten() {
        let Some(ep_port) = subset.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or_default() == port_name
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
                hint: hints.get(&ip).cloned(),
            });
        }
    }
    backends
}

#[cfg(test)]
mod tests;
