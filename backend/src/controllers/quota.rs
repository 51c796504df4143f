//! The resource quota controller: each ResourceQuota's `status.hard` and `status.used` — pods,
//! services (and their node ports and load balancers), ConfigMaps, Secrets, claims and
//! `count/<resource>`, and the requests and limits of the namespace's running pods — as
//! `kubectl describe quota` shows them (what is counted is `svclab_shared::quota`; refusing what
//! would exceed a quota is the admission plugin's, `registry/quota.rs`).

use super::runtime::{Action, Reconciler, sync_live};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, ResourceQuotaStatus, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;
use svclab_shared::pod::is_terminal_or_deleting;
use svclab_shared::quota;
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "resourcequota-controller";

pub struct QuotaController {
    registry: Registry,
}

impl QuotaController {
    pub fn new(registry: Registry) -> Self {
        QuotaController { registry }
    }

    fn sync(&self, quota: &ResourceQuota) -> Result<(), ApiError> {
        let store = self.registry.store();
        let ns = quota.metadata.namespace.clone().unwrap_or_default();
        let hard = quota.spec.as_ref().and_then(|s| s.hard.clone()).unwrap_or_default();
        let (pod_views, service_views) = (store.list_views::<Pod>(Some(&ns)), store.list_views::<Service>(Some(&ns)));
        let pods: Vec<&Pod> = pod_views
            .iter()
            .map(|p| &**p)
            .filter(|p| !is_terminal_or_deleting(p) && quota::in_scope(quota, p))
            .collect();
        let services: Vec<&Service> = service_views.iter().map(|s| &**s).collect();
        let count = |kind: Kind| store.list(kind, Some(&ns)).1.len();
        let counted = quota::Counted { pods: &pods, services: &services, count: &count };
        let used: BTreeMap<String, Quantity> = hard
            .keys()
            .filter_map(|r| quota::used(r, &counted).map(|u| (r.clone(), Quantity(quota::format(r, u)))))
            .collect();
        let status = ResourceQuotaStatus { hard: Some(hard), used: Some(used) };
        if quota.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut written = quota.clone();
        written.status = Some(status);
        self.registry.update_status(&Object::ResourceQuota(written)).map(|_| ())
    }
}

impl Reconciler for QuotaController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object.kind() {
            Kind::ResourceQuota => vec![ObjectKey::of(object)],
            // What a quota counts changed: every quota of the namespace looks again.
            Kind::Pod
            | Kind::Service
            | Kind::ConfigMap
            | Kind::Secret
            | Kind::PersistentVolumeClaim
            | Kind::ReplicationController
            | Kind::Deployment
            | Kind::ReplicaSet
            | Kind::StatefulSet
            | Kind::Job
            | Kind::CronJob => {
                let (_, quotas) = self.registry.store().list(Kind::ResourceQuota, Some(object.namespace()));
                quotas.iter().map(|q| ObjectKey::of(q)).collect()
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        sync_live(self.registry.store(), key, COMPONENT, |quota: &ResourceQuota| self.sync(quota).map(|()| None))
    }
}
