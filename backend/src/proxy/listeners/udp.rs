//! The proxy's UDP fronts (node ports, load-balancer addresses and external IPs on loopback):
//! each client gets a flow to one endpoint (for a load balancer, to one healthy node's node
//! port), and replies come back from the address the client sent to.

use super::*;

impl Listeners {
    /// A UDP node port or load-balancer address: each client gets a flow (to one endpoint, or
    /// for a load balancer to one healthy node's node port), replies come back from the address
    /// the client sent to, and a flow idle for [`flows::UDP_IDLE`] is forgotten.
    pub(super) async fn start_udp(
        self: Arc<Self>,
        front: UdpFront,
        affinity: Arc<Affinity>,
    ) -> std::io::Result<CancellationToken> {
        let socket = Arc::new(UdpSocket::bind(self.udp_address(front)).await?);
        let stop = self.cancel.child_token();
        let token = stop.clone();
        let flows: Flows = Arc::default();
        let tracker = self.tracker.clone();
        tracker.spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let (n, client) = tokio::select! {
                    _ = stop.cancelled() => return,
                    got = socket.recv_from(&mut buf) => match got { Ok(g) => g, Err(_) => continue },
                };
                let flow = flows.lock().unwrap_or_else(|e| e.into_inner()).get(&client).cloned();
                let flow = match flow {
                    Some(flow) => flow,
                    None => match self.open_udp_flow(front, client, &affinity, &socket, &flows, &stop).await {
                        Some(flow) => flow,
                        None => continue,
                    },
                };
                flow.touch();
                let _ = flow.upstream.send(&buf[..n]).await;
            }
        });
        Ok(token)
    }

    /// The address UDP arrives at.
    fn udp_address(&self, front: UdpFront) -> SocketAddrV4 {
        match front {
            UdpFront::NodePort { node, port } => SocketAddrV4::new(self.nodes[node].ip, port),
            UdpFront::LoadBalancer(addr) | UdpFront::ExternalIp(addr) => addr,
        }
    }

    /// Where a new UDP flow from `client` goes, and the source address the far end is to see.
    fn udp_target(&self, front: UdpFront, client: SocketAddr, affinity: &Affinity) -> Option<(SocketAddr, Ipv4Addr)> {
        let table = self.router.table();
        let source = self.network.source_of(client, SocketAddr::V4(self.udp_address(front)));
        // Arriving at a node: an endpoint chosen under the external traffic policy.
        let at_node = |route: &Arc<ServicePortRoute>, node: usize| {
            let node = &self.nodes[node];
            let chosen = route.pick(Entry::External { node: &node.name }, source, affinity, table.zones()).ok()?;
            let backend = SocketAddrV4::new(chosen.backend.ip, chosen.backend.port);
            let real = self.network.resolve(backend, Protocol::Udp).ok()?;
            Some((real, if route.external_local { source } else { node.ip }))
        };
        match front {
            UdpFront::NodePort { node, port } => at_node(table.node_port(port, Protocol::Udp)?, node),
            UdpFront::ExternalIp(addr) => {
                let key = VirtualAddr { ip: *addr.ip(), port: addr.port(), protocol: Protocol::Udp };
                at_node(table.external_ip(&key)?, 0)
            }
            UdpFront::LoadBalancer(addr) => {
                let key = VirtualAddr { ip: *addr.ip(), port: addr.port(), protocol: Protocol::Udp };
                let route = table.load_balancer(&key).filter(|r| r.admits(source))?;
                let healthy: Vec<&NodeAddr> = self
                    .nodes
                    .iter()
                    .filter(|n| !route.external_local || local_endpoints(route, &n.name) > 0)
                    .collect();
                let node = healthy.choose(&mut rand::rng())?;
                Some((SocketAddr::V4(SocketAddrV4::new(node.ip, route.node_port?)), source))
            }
        }
    }

    async fn open_udp_flow(
        &self,
        front: UdpFront,
        client: SocketAddr,
        affinity: &Affinity,
        socket: &Arc<UdpSocket>,
        flows: &Flows,
        stop: &CancellationToken,
    ) -> Option<Arc<Flow>> {
        let (real, source) = self.udp_target(front, client, affinity)?;
        let upstream = UdpSocket::bind("127.0.0.1:0").await.ok()?;
        upstream.connect(real).await.ok()?;
        let tracked = self.network.tracked(upstream.local_addr().ok()?, real, source);
        let flow = Arc::new(Flow::new(upstream));
        flows.lock().unwrap_or_else(|e| e.into_inner()).insert(client, flow.clone());
        let replies =
            flows::forward_replies(flow.clone(), socket.clone(), client, flows.clone(), stop.clone(), tracked);
        self.tracker.spawn(replies);
        Some(flow)
    }
}
