//! The proxy's real listeners, kept in step with the proxy table:
//! - every node port on every node's address (`127.0.1.i:3xxxx`), forwarding to an endpoint with
//!   the node's address as the source (SNAT) under `externalTrafficPolicy: Cluster`, the client's
//!   own under `Local`, and holding the connection without answering on a node with no local
//!   endpoint (the chapter's hang);
//! - every load-balancer address (`127.0.2.x:port`), spreading connections over the nodes (only
//!   those with local endpoints under `Local`) through their node ports, keeping the client's
//!   address, as a cloud network load balancer does, and dropping clients outside the service's
//!   `loadBalancerSourceRanges`;
//! - every external IP the host can listen on (`127.0.0.0/8`), taken as the first node takes a
//!   node port (pods reach every external IP through the [`ServiceRouter`]);
//! - the health-check node port of `Local` load-balancer services, answering 200 or 503 with the
//!   local endpoint count as kube-proxy does.
//!
//! A port with no endpoint behind it (ready, or terminating yet serving) is not listened on, so
//! connections are refused.

use super::flows::{self, Flow, Flows};
use super::relay::relay;
use super::{Affinity, Entry, NoRoute, ProxyTable, ServicePortRoute, ServiceRouter};
use crate::addr::{Protocol, VirtualAddr};
use crate::network::stream::{self, LazyStream};
use crate::network::workers::{self, Worker};
use crate::network::{Dial, DialError, Network, To, sockets};
use crate::registry::Registry;
use rand::seq::IndexedRandom;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::lab::Hop;
use svclab_shared::{Kind, Object};
use tokio::io::AsyncReadExt;
use tokio::io::unix::AsyncFd;
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod udp;

/// How long a dropped connection is held before svclab lets go of it.
const DROP_HOLD: Duration = Duration::from_secs(130);

/// A node, as the proxy on it knows itself.
#[derive(Clone, Debug)]
pub struct NodeAddr {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// Where a connection from outside arrives: the address, what it is (for the trace), the node
/// that takes it, the service port it belongs to and the nodes' zones.
struct Arrival<'a> {
    front: SocketAddrV4,
    how: &'static str,
    node: usize,
    route: &'a Arc<ServicePortRoute>,
    zones: &'a super::Zones,
}

/// Where UDP arrives from outside: a node port on one node, or a load-balancer address.
#[derive(Clone, Copy, Debug)]
enum UdpFront {
    NodePort {
        node: usize,
        port: u16,
    },
    LoadBalancer(SocketAddrV4),
    /// An external IP on `127.0.0.0/8`, taken by the first node.
    ExternalIp(SocketAddrV4),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    NodePort {
        node: usize,
        port: u16,
    },
    UdpNodePort {
        node: usize,
        port: u16,
    },
    LoadBalancer(SocketAddrV4),
    UdpLoadBalancer(SocketAddrV4),
    HealthCheck {
        node: usize,
        port: u16,
    },
    /// An external IP the host can listen on (`127.0.0.0/8`), which the network routes to the
    /// first node.
    ExternalIp(SocketAddrV4),
    UdpExternalIp(SocketAddrV4),
}

/// What the connections one accept loop takes need.
struct Connections {
    listeners: Arc<Listeners>,
    affinity: Arc<Affinity>,
    /// The port's listener stops (a child of its token).
    stop: CancellationToken,
    /// svclab stops (a child of its token).
    shutdown: CancellationToken,
}

/// Runs the listeners until `cancel` fires.
pub struct Listeners {
    pub network: Network,
    /// The proxy table, as the routing decision sees it.
    pub router: Arc<ServiceRouter>,
    pub registry: Registry,
    pub nodes: Vec<NodeAddr>,
    pub tracker: TaskTracker,
    pub cancel: CancellationToken,
}

impl Listeners {
    pub async fn run(self) {
        let this = Arc::new(self);
        let workers = match workers::start(how_many_workers(), "proxy-worker", &this.tracker, &this.cancel) {
            Ok(workers) => workers,
            Err(e) => return tracing::error!(error = %e, "service proxy: cannot start its workers"),
        };
        let affinity = Arc::new(Affinity::default());
        let mut updates = this.router.table_updates();
        let mut running: HashMap<Key, CancellationToken> = HashMap::new();
        let mut failed: HashSet<Key> = HashSet::new();
        loop {
            let table = updates.borrow_and_update().clone();
            let wanted = this.wanted(&table);
            running.retain(|key, stop| {
                let keep = wanted.contains_key(key);
                if !keep {
                    stop.cancel();
                }
                keep
            });
            // Node ports first: a load balancer forwards to them.
            let mut wanted: Vec<_> = wanted.into_iter().collect();
            wanted.sort_by_key(|(key, _)| matches!(key, Key::LoadBalancer(_) | Key::UdpLoadBalancer(_)));
            for (key, route) in wanted {
                if running.contains_key(&key) {
                    continue;
                }
                match this.clone().start(key, affinity.clone(), &workers).await {
                    Ok(stop) => {
                        failed.remove(&key);
                        running.insert(key, stop);
                    }
                    Err(e) if failed.insert(key) => this.report_bind_failure(&route, key, &e),
                    Err(_) => {}
                }
            }
            tokio::select! {
                _ = this.cancel.cancelled() => break,
                changed = updates.changed() => if changed.is_err() { break },
            }
        }
        running.values().for_each(CancellationToken::cancel);
    }

    fn wanted(&self, table: &ProxyTable) -> HashMap<Key, Arc<ServicePortRoute>> {
        let mut wanted = HashMap::new();
        for (port, protocol) in table.node_port_keys() {
            let route = table.node_port(port, protocol).expect("listed").clone();
            if !route.has_endpoints() {
                continue;
            }
            for node in 0..self.nodes.len() {
                let key = match protocol {
                    Protocol::Tcp => Key::NodePort { node, port },
                    Protocol::Udp => Key::UdpNodePort { node, port },
                };
                wanted.insert(key, route.clone());
                if let Some(hc) = route.health_check_port {
                    wanted.insert(Key::HealthCheck { node, port: hc }, route.clone());
                }
            }
        }
        for addr in table.load_balancer_keys() {
            let route = table.load_balancer(&addr).expect("listed").clone();
            if route.has_endpoints() {
                let at = SocketAddrV4::new(addr.ip, addr.port);
                let key = match addr.protocol {
                    Protocol::Tcp => Key::LoadBalancer(at),
                    Protocol::Udp => Key::UdpLoadBalancer(at),
                };
                wanted.insert(key, route);
            }
        }
        for addr in table.external_ip_keys() {
            let route = table.external_ip(&addr).expect("listed");
            if addr.ip.is_loopback() && route.has_endpoints() {
                let at = SocketAddrV4::new(addr.ip, addr.port);
                let key = match addr.protocol {
                    Protocol::Tcp => Key::ExternalIp(at),
                    Protocol::Udp => Key::UdpExternalIp(at),
                };
                wanted.insert(key, route.clone());
            }
        }
        wanted
    }

    fn report_bind_failure(&self, route: &ServicePortRoute, key: Key, error: &std::io::Error) {
        let (ns, name) = route.service.split_once('/').unwrap_or_default();
        let Some(svc) = self.registry.store().get(&crate::store::ObjectKey::new(Kind::Service, ns, name)) else {
            return;
        };
        let (reason, message) = match key {
            Key::LoadBalancer(addr) => (
                "SyncLoadBalancerFailed",
                format!("Error syncing load balancer: failed to ensure load balancer: listen tcp {addr}: {error}"),
            ),
            Key::UdpLoadBalancer(addr) => (
                "SyncLoadBalancerFailed",
                format!("Error syncing load balancer: failed to ensure load balancer: listen udp {addr}: {error}"),
            ),
            Key::NodePort { node, port } | Key::HealthCheck { node, port } => {
                ("FailedToListen", format!("can't open port \"{}:{port}/tcp\": {error}", self.nodes[node].ip))
            }
            Key::UdpNodePort { node, port } => {
                ("FailedToListen", format!("can't open port \"{}:{port}/udp\": {error}", self.nodes[node].ip))
            }
            Key::ExternalIp(addr) => ("FailedToListen", format!("can't open port \"{addr}/tcp\": {error}")),
            Key::UdpExternalIp(addr) => ("FailedToListen", format!("can't open port \"{addr}/udp\": {error}")),
        };
        tracing::warn!(service = %route.service, "{message}");
        self.registry.record_event(&svc, "Warning", reason, &message, "service-proxy");
        if let (Key::LoadBalancer(_) | Key::UdpLoadBalancer(_), Object::Service(s)) = (key, &*svc) {
            let mut updated = s.clone();
            let status = updated.status.get_or_insert_with(Default::default);
            let condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: "LoadBalancerReady".into(),
                status: "False".into(),
                reason: reason.into(),
                message,
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
                observed_generation: None,
            };
            status.conditions = Some(vec![condition]);
            let _ = self.registry.update_status(&Object::Service(updated));
        }
    }

    async fn start(
        self: Arc<Self>,
        key: Key,
        affinity: Arc<Affinity>,
        workers: &[Worker],
    ) -> std::io::Result<CancellationToken> {
        let addr = match key {
            Key::NodePort { node, port } | Key::HealthCheck { node, port } => {
                SocketAddrV4::new(self.nodes[node].ip, port)
            }
            Key::LoadBalancer(addr) | Key::ExternalIp(addr) => addr,
            Key::UdpNodePort { node, port } => {
                return self.start_udp(UdpFront::NodePort { node, port }, affinity).await;
            }
            Key::UdpLoadBalancer(addr) => return self.start_udp(UdpFront::LoadBalancer(addr), affinity).await,
            Key::UdpExternalIp(addr) => return self.start_udp(UdpFront::ExternalIp(addr), affinity).await,
        };
        let listeners = sockets::tcp_std(SocketAddr::V4(addr), workers.len())?;
        let stop = self.cancel.child_token();
        for (listener, worker) in listeners.into_iter().zip(workers) {
            self.clone().accept_loop(listener, worker.clone(), key, addr, affinity.clone(), stop.clone());
        }
        Ok(stop)
    }

    /// Accepts on one worker's socket of the port, each connection handled on that worker.
    fn accept_loop(
        self: Arc<Self>,
        listener: std::net::TcpListener,
        worker: Worker,
        key: Key,
        addr: SocketAddrV4,
        affinity: Arc<Affinity>,
        stop: CancellationToken,
    ) {
        worker.clone().spawn(async move {
            // Registered with the worker's own runtime, so it is made on the worker.
            // SAFETY: the listener's descriptor is owned by the registration from here on.
            let listener = match unsafe { AsyncFd::register(listener) } {
                Ok(listener) => listener,
                Err(e) => return tracing::warn!(error = %e, %addr, "service proxy: cannot listen"),
            };
            // What every connection needs, in one allocation of this loop's own: clones of the
            // shared ones per connection would make both workers write the same counters.
            // Established connections outlive the listener (a port that loses its endpoints
            // leaves them be, as conntrack does) but not svclab: `shutdown` is this loop's child
            // of the app's token (and `stop` of the port's), so connections lock only its own.
            let shared = Arc::new(Connections {
                listeners: self.clone(),
                affinity,
                stop: stop.child_token(),
                shutdown: self.cancel.child_token(),
            });
            let stopped = shared.stop.cancelled();
            tokio::pin!(stopped);
            let name = format!("service proxy on {addr}");
            loop {
                let accepted = tokio::select! {
                    _ = &mut stopped => return,
                    accepted = stream::accept(&listener) => accepted,
                };
                let (inbound, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tokio::select! {
                            _ = &mut stopped => return,
                            _ = sockets::after_accept_error(&e, &name) => continue,
                        }
                    }
                };
                let shared = shared.clone();
                worker.spawn(async move {
                    let Connections { listeners: this, affinity, stop, shutdown } = &*shared;
                    let served = async {
                        match key {
                            Key::NodePort { node, port } => {
                                this.node_port(inbound, peer, node, port, affinity, stop).await
                            }
                            Key::LoadBalancer(addr) => this.load_balancer(inbound, peer, addr, stop).await,
                            Key::ExternalIp(addr) => this.external_ip(inbound, peer, addr, affinity, stop).await,
                            // Boxed, like `hold`: its buffer would size every connection's task.
                            Key::HealthCheck { node, port } => {
                                Box::pin(this.health_check(inbound.into_tokio()?, node, port)).await
                            }
                            Key::UdpNodePort { .. } | Key::UdpLoadBalancer(_) | Key::UdpExternalIp(_) => {
                                unreachable!("UDP has its own loop")
                            }
                        }
                    };
                    let result = tokio::select! {
                        result = served => result,
                        _ = shutdown.cancelled() => Ok(()),
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "proxied connection ended with an error");
                    }
                });
            }
        });
    }

    async fn node_port(
        &self,
        inbound: LazyStream,
        peer: SocketAddr,
        node: usize,
        port: u16,
        affinity: &Affinity,
        stop: &CancellationToken,
    ) -> std::io::Result<()> {
        let table = self.router.table();
        let Some(route) = table.node_port(port, Protocol::Tcp) else { return Ok(()) };
        let front = SocketAddrV4::new(self.nodes[node].ip, port);
        let arrival = Arrival { front, how: "node port", node, route, zones: table.zones() };
        self.at_node(inbound, peer, arrival, affinity, stop).await
    }

    /// A connection to an external IP: the network routes it to the first node, whose proxy
    /// takes it as it takes a node port's.
    async fn external_ip(
        &self,
        inbound: LazyStream,
        peer: SocketAddr,
        front: SocketAddrV4,
        affinity: &Affinity,
        stop: &CancellationToken,
    ) -> std::io::Result<()> {
        let table = self.router.table();
        let key = VirtualAddr { ip: *front.ip(), port: front.port(), protocol: Protocol::Tcp };
        let Some(route) = table.external_ip(&key) else { return Ok(()) };
        let arrival = Arrival { front, how: "external IP", node: 0, route, zones: table.zones() };
        self.at_node(inbound, peer, arrival, affinity, stop).await
    }

    /// A connection arriving at a node from outside: an endpoint chosen under the external
    /// traffic policy, with the node's address as the source under `Cluster`.
    async fn at_node(
        &self,
        inbound: LazyStream,
        peer: SocketAddr,
        arrival: Arrival<'_>,
        affinity: &Affinity,
        stop: &CancellationToken,
    ) -> std::io::Result<()> {
        let Arrival { front, how, node, route, zones } = arrival;
        let node = &self.nodes[node];
        let client = self.network.source_of(peer, SocketAddr::V4(front));
        let traces = self.network.traces();
        let chosen = match route.pick(Entry::External { node: &node.name }, client, affinity, zones) {
            Ok(chosen) => chosen,
            Err(NoRoute::NoLocalEndpoints(_)) => {
                traces.record(peer, || Hop {
                    service: route.service.clone(),
                    virtual_address: front.to_string(),
                    node: Some(node.name.clone()),
                    reason: format!(
                        "externalTrafficPolicy: Local and no ready endpoint on {}: the connection is dropped",
                        node.name
                    ),
                    source: client.to_string(),
                    ..Hop::default()
                });
                // Boxed: its buffer should not make every connection's task larger.
                return Box::pin(hold(inbound.into_tokio()?, stop)).await;
            }
            Err(NoRoute::NoEndpoints) => return Ok(()),
        };
        // Under Cluster the node masquerades as the source; under Local the client's address stays.
        let source = if route.external_local { client } else { node.ip };
        let backend = SocketAddrV4::new(chosen.backend.ip, chosen.backend.port);
        traces.record(peer, || Hop {
            service: route.service.clone(),
            virtual_address: front.to_string(),
            endpoint: backend.to_string(),
            pod: chosen.backend.pod.clone(),
            node: chosen.backend.node.clone(),
            reason: format!(
                "{how} on {}: {}{}",
                node.name,
                chosen.reason,
                if route.external_local { " on this node (externalTrafficPolicy: Local)" } else { "" }
            ),
            source: source.to_string(),
        });
        // A pod's address exists only inside svclab, so it is tracked for the far end to look up.
        let how = Dial::snat(source).following(peer);
        let outbound = match self.network.dial(To::Cluster(backend), how).await {
            Ok(outbound) => outbound,
            // A NetworkPolicy drops it: the client waits, as for a packet that never arrives.
            Err(DialError::Dropped) => return Box::pin(hold(inbound.into_tokio()?, stop)).await,
            Err(e) => return Err(std::io::Error::other(e)),
        };
        relay(&inbound, &outbound.stream).await
    }

    async fn load_balancer(
        &self,
        inbound: LazyStream,
        peer: SocketAddr,
        addr: SocketAddrV4,
        stop: &CancellationToken,
    ) -> std::io::Result<()> {
        let table = self.router.table();
        let key = VirtualAddr { ip: *addr.ip(), port: addr.port(), protocol: Protocol::Tcp };
        let Some(route) = table.load_balancer(&key) else { return Ok(()) };
        let client = self.network.source_of(peer, SocketAddr::V4(addr));
        // The load balancer's firewall drops what `loadBalancerSourceRanges` leaves out.
        if !route.admits(client) {
            self.network.traces().record(peer, || Hop {
                service: route.service.clone(),
                virtual_address: addr.to_string(),
                reason: format!("loadBalancerSourceRanges do not include {client}: the connection is dropped"),
                source: client.to_string(),
                ..Hop::default()
            });
            return Box::pin(hold(inbound.into_tokio()?, stop)).await;
        }
        // A cloud load balancer sends only to nodes its health check finds healthy.
        let healthy: Vec<&NodeAddr> =
            self.nodes.iter().filter(|n| !route.external_local || local_endpoints(route, &n.name) > 0).collect();
        let Some(node) = healthy.choose(&mut rand::rng()) else { return Ok(()) };
        let target = match route.node_port {
            Some(port) => SocketAddrV4::new(node.ip, port),
            None => return Ok(()),
        };
        self.network.traces().record(peer, || Hop {
            service: route.service.clone(),
            virtual_address: addr.to_string(),
            endpoint: target.to_string(),
            node: Some(node.name.clone()),
            reason: format!(
                "load balancer: random among {} {}node{}",
                healthy.len(),
                if route.external_local { "healthy " } else { "" },
                if healthy.len() == 1 { "" } else { "s" }
            ),
            source: client.to_string(),
            ..Hop::default()
        });
        // A traced connection's trace follows it to the node port, which records its hop there.
        let how = Dial::snat(client).following(peer);
        let outbound = self.network.dial(To::Real(SocketAddr::V4(target)), how).await.map_err(std::io::Error::other)?;
        relay(&inbound, &outbound.stream).await
    }

    async fn health_check(&self, mut inbound: TcpStream, node: usize, port: u16) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let table = self.router.table();
        let mut request = [0u8; 1024];
        let _ = inbound.read(&mut request).await?;
        let route = table
            .node_port_keys()
            .filter_map(|(p, proto)| table.node_port(p, proto))
            .find(|r| r.health_check_port == Some(port));
        let Some(route) = route else { return Ok(()) };
        let (ns, name) = route.service.split_once('/').unwrap_or_default();
        let local = local_endpoints(route, &self.nodes[node].name);
        let (status, text) = if local > 0 { (200, "OK") } else { (503, "Service Unavailable") };
        let body = format!(
            "{{\"service\":{{\"namespace\":\"{ns}\",\"name\":\"{name}\"}},\"localEndpoints\":{local},\"serviceProxyHealthy\":true}}"
        );
        let response = format!(
            "HTTP/1.1 {status} {text}\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        inbound.write_all(response.as_bytes()).await
    }
}

/// How many workers the proxy runs: one per core, as HAProxy runs a thread per core. A proxied
/// connection's work is mostly the kernel's, done in whichever thread makes the system call; on
/// 2 cores one worker was saturated at 24k short connections a second where two carried 25.8k
/// at the same CPU per connection (the benchmark's load generator, once it stopped zeroing
/// 256 KiB per connection, no longer hid the difference).
fn how_many_workers() -> usize {
    sockets::per_core()
}

fn local_endpoints(route: &ServicePortRoute, node: &str) -> usize {
    route.backends.iter().filter(|b| b.node.as_deref() == Some(node)).count()
}

/// Holds a connection without answering until the client gives up (or svclab stops).
async fn hold(mut inbound: TcpStream, stop: &CancellationToken) -> std::io::Result<()> {
    let mut sink = [0u8; 4096];
    let drain = async { while inbound.read(&mut sink).await.unwrap_or(0) > 0 {} };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(DROP_HOLD) => {}
        _ = drain => {}
    }
    Ok(())
}
