//! The node's heartbeat: its kubelet holds a Lease named after the node in `kube-node-lease`
//! and renews it every 10 seconds while it runs (`kubectl describe node` shows it), as the
//! kubelet's node lease controller does.

use crate::registry::Registry;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use svclab_shared::Object;
use tokio_util::sync::CancellationToken;

/// Where node leases live.
pub const NAMESPACE: &str = "kube-node-lease";
/// How long a lease lasts without renewal.
const DURATION: i32 = 40;
/// How often the kubelet renews it.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// The node's lease, renewed now.
fn renewed(current: Option<Lease>, node: &str, now: Timestamp) -> Lease {
    let mut lease = current.unwrap_or_else(|| Lease {
        metadata: ObjectMeta { name: Some(node.into()), namespace: Some(NAMESPACE.into()), ..ObjectMeta::default() },
        spec: None,
    });
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(node.into());
    spec.lease_duration_seconds = Some(DURATION);
    spec.renew_time = Some(MicroTime(now));
    lease
}

/// Renews `node`'s lease while its kubelet is up, until svclab stops.
pub async fn run(registry: Registry, node: String, up: Arc<AtomicBool>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(RENEW_EVERY);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if !up.load(Ordering::SeqCst) {
            continue;
        }
        let current: Option<Lease> = registry.store().get_typed(NAMESPACE, &node);
        let exists = current.is_some();
        let lease = Object::Lease(renewed(current, &node, Timestamp::now()));
        let written = if exists { registry.update(lease) } else { registry.create(lease) };
        if let Err(e) = written {
            tracing::debug!(%node, error = %e, "node lease not renewed; trying again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_names_its_holder_and_its_renewal() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let lease = renewed(None, "node-1", now);
        assert_eq!(lease.metadata.namespace.as_deref(), Some(NAMESPACE));
        let spec = lease.spec.clone().unwrap();
        assert_eq!((spec.holder_identity.as_deref(), spec.lease_duration_seconds), (Some("node-1"), Some(40)));
        let later = renewed(Some(lease), "node-1", now + jiff::SignedDuration::from_secs(10));
        assert_eq!(later.spec.unwrap().renew_time.unwrap().0, now + jiff::SignedDuration::from_secs(10));
    }
}
