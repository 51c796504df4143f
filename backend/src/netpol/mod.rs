//! NetworkPolicy enforcement, a CNI plugin's part: an agent keeps the policies' rules, compiled
//! over the running pods and the namespaces ([`policy`]), as the network's filter, so that
//! traffic a policy does not let into a pod it isolates for ingress, or out of one it isolates
//! for egress, is dropped (the client waits, as for packets that never arrive). Traffic from the
//! host itself (a kubelet's probes and port-forward, the API server's proxy) is not filtered, as
//! CNI plugins let a node reach its pods.

pub mod policy;

use crate::network::{Filter, Network};
use crate::store::{Store, WatchItem};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use policy::PolicyTable;
use std::sync::Arc;
use svclab_shared::Kind;
use tokio_util::sync::CancellationToken;

/// Keeps the network's filter in step with the NetworkPolicies until `cancel` fires.
pub async fn run(store: Store, network: Network, cancel: CancellationToken) {
    let mut watch = store.watch();
    let mut enforcing = false;
    while let Some(batch) = watch.next_batch(&cancel).await {
        let relevant = batch.iter().any(|item| match item {
            WatchItem::Relist { .. } => true,
            WatchItem::Change(change) => match change.object.kind() {
                Kind::NetworkPolicy | Kind::Pod | Kind::Namespace => true,
                // The DNS server's address, which egress rules let pods reach or not.
                Kind::Endpoints => change.object.namespace() == "kube-system" && change.object.name() == "kube-dns",
                _ => false,
            },
        });
        if !relevant {
            continue;
        }
        let policies = store.list_typed::<NetworkPolicy>(None);
        // With no policy nothing is filtered, and nothing is compiled for the pods' changes.
        if policies.is_empty() {
            if enforcing {
                network.set_filter(None);
                enforcing = false;
            }
            continue;
        }
        let pods = store.list_typed::<Pod>(None);
        let namespaces = store.list_typed::<Namespace>(None);
        let ingress = Some(network.plan().ingress_controller_ip());
        let table = PolicyTable::compile(&policies, &pods, &namespaces, dns_server(&store), ingress);
        network.set_filter(Some(Arc::new(table) as Arc<dyn Filter>));
        enforcing = true;
    }
}

/// The cluster DNS server's real address: the `kube-dns` Endpoints' UDP address.
fn dns_server(store: &Store) -> Option<std::net::SocketAddrV4> {
    let endpoints = store.get_typed::<Endpoints>("kube-system", "kube-dns")?;
    let subset = endpoints.subsets?.into_iter().next()?;
    let ip = subset.addresses?.first()?.ip.parse().ok()?;
    let port = subset.ports?.iter().find(|p| p.protocol.as_deref() == Some("UDP"))?.port;
    Some(std::net::SocketAddrV4::new(ip, u16::try_from(port).ok()?))
}
