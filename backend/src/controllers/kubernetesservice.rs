//! kube-apiserver's `kubernetes` service controller: the `default/kubernetes` Service, its
//! Endpoints and its EndpointSlice, which point at the API server, come back when deleted (a
//! real API server puts them back within ten seconds; this one at once).

use super::runtime::{Action, Reconciler};
use crate::bootstrap;
use crate::registry::Registry;
use crate::store::ObjectKey;
use std::net::SocketAddr;
use std::time::Duration;
use svclab_shared::{Kind, Object};

pub struct KubernetesServiceController {
    registry: Registry,
    /// Where the API server listens: the service's endpoint.
    api: SocketAddr,
}

impl KubernetesServiceController {
    pub fn new(registry: Registry, api: SocketAddr) -> Self {
        KubernetesServiceController { registry, api }
    }
}

impl Reconciler for KubernetesServiceController {
    fn name(&self) -> &'static str {
        "kubernetes-service"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        let ours = matches!(object.kind(), Kind::Service | Kind::Endpoints | Kind::EndpointSlice)
            && object.namespace() == "default"
            && object.name() == "kubernetes";
        if ours { vec![ObjectKey::new(Kind::Service, "default", "kubernetes")] } else { vec![] }
    }

    async fn reconcile(&mut self, _key: &ObjectKey) -> Action {
        for object in bootstrap::kubernetes_service(self.api) {
            if let Err(e) = bootstrap::ensure(&self.registry, object) {
                tracing::debug!(error = %e, "kubernetes service controller");
                return Action::RequeueAfter(Duration::from_millis(500));
            }
        }
        Action::AwaitChange
    }
}
