//! NetworkPolicy enforcement, a CNI plugin's part: an agent keeps the policies' ingress rules,
//! compiled over the running pods and the namespaces ([`policy`]), as the network's filter, so
//! that traffic a policy does not allow into a pod it selects is dropped (the client waits, as
//! for packets that never arrive). Traffic from the host itself (a kubelet's probes and
//! port-forward, the API server's proxy) is not filtered, as CNI plugins let a node reach its
//! pods; egress rules are stored, not enforced.

pub mod policy;

use crate::network::{Filter, Network};
use crate::store::{Store, WatchItem};
use k8s_openapi::api::core::v1::{Namespace, Pod};
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
            WatchItem::Change(change) => {
                matches!(change.object.kind(), Kind::NetworkPolicy | Kind::Pod | Kind::Namespace)
            }
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
        let table =
            PolicyTable::compile(&policies, &store.list_typed::<Pod>(None), &store.list_typed::<Namespace>(None));
        network.set_filter(Some(Arc::new(table) as Arc<dyn Filter>));
        enforcing = true;
    }
}
