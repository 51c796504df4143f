//! kube-proxy's decision for traffic to a cluster IP (or an external IP): the current proxy table, ClientIP
//! affinity, and which endpoint a connection or datagram from a pod or node goes to. The network
//! asks it through [`Router`]; the proxy's own listeners (node ports, load balancers) read the
//! same table.

use super::{Affinity, Entry, NoRoute, ProxyTable};
use crate::addr::{Protocol, VirtualAddr};
use crate::network::{AddressPlan, DialError, Router};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use svclab_shared::lab::Hop;
use tokio::sync::watch;

/// The proxy table as the data path reads it, and the affinity traffic to cluster IPs keeps.
pub struct ServiceRouter {
    plan: AddressPlan,
    table: watch::Receiver<Arc<ProxyTable>>,
    affinity: Affinity,
}

impl ServiceRouter {
    pub fn new(plan: AddressPlan, table: watch::Receiver<Arc<ProxyTable>>) -> Self {
        ServiceRouter { plan, table, affinity: Affinity::default() }
    }

    /// The proxy table as it is now.
    pub fn table(&self) -> Arc<ProxyTable> {
        self.table.borrow().clone()
    }

    /// A receiver that sees every new proxy table.
    pub fn table_updates(&self) -> watch::Receiver<Arc<ProxyTable>> {
        self.table.clone()
    }
}

impl Router for ServiceRouter {
    fn captures(&self, to: SocketAddrV4, protocol: Protocol) -> bool {
        let addr = VirtualAddr { ip: *to.ip(), port: to.port(), protocol };
        self.table.borrow().external_ip(&addr).is_some()
    }

    fn route(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> Result<(SocketAddrV4, Hop), DialError> {
        let addr = VirtualAddr { ip: *to.ip(), port: to.port(), protocol };
        let table = self.table();
        // Traffic from pods to an external IP takes the short cut to the service, as kube-proxy's
        // rules on every node take it.
        let route = table.cluster_ip(&addr).or_else(|| table.external_ip(&addr)).ok_or(DialError::Refused)?;
        let client_node = self.plan.node_of(from);
        let entry = Entry::ClusterIp { client_node: client_node.as_deref() };
        let route = route.pick(entry, from, &self.affinity, table.zones()).map_err(|e| match e {
            NoRoute::NoEndpoints => DialError::Refused,
            NoRoute::NoLocalEndpoints(_) => DialError::Dropped,
        })?;
        let endpoint = SocketAddrV4::new(route.backend.ip, route.backend.port);
        let hop = Hop {
            service: route.route.service.clone(),
            virtual_address: to.to_string(),
            endpoint: endpoint.to_string(),
            pod: route.backend.pod.clone(),
            node: route.backend.node.clone(),
            reason: route.reason.to_string(),
            source: from.to_string(),
        };
        Ok((endpoint, hop))
    }
}
