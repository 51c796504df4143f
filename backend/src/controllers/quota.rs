//! The resource quota controller: each ResourceQuota's `status.hard` and `status.used` — pods,
//! services (and their node ports and load balancers), ConfigMaps, Secrets, claims and
//! `count/<resource>`, and the requests and limits of the namespace's running pods — as
//! `kubectl describe quota` shows them. svclab reports the usage; it does not refuse what
//! would exceed a quota.

use super::runtime::{Action, Reconciler, sync_live};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, ResourceQuotaStatus, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;
use svclab_shared::pod::is_terminal_or_deleting;
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "resourcequota-controller";

/// A sum of quantities as Kubernetes writes one: whole numbers plainly, fractions of a core in
/// millis, bytes in the largest binary unit that divides them.
fn format(resource: &str, value: f64) -> String {
    if resource.contains("cpu") {
        let millis = (value * 1000.0).round() as i64;
        return if millis % 1000 == 0 { (millis / 1000).to_string() } else { format!("{millis}m") };
    }
    let n = value.round() as i64;
    for (suffix, unit) in [("Ti", 1i64 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if n != 0 && n % unit == 0 {
            return format!("{}{suffix}", n / unit);
        }
    }
    n.to_string()
}

/// How much of `resource` the namespace uses, from its objects.
fn used(resource: &str, pods: &[Pod], services: &[Service], count: &dyn Fn(Kind) -> usize) -> Option<String> {
    let kind_count = |kind| Some(count(kind).to_string());
    let by_type =
        |t: &str| services.iter().filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some(t)).count();
    match resource {
        "pods" | "count/pods" => Some(pods.len().to_string()),
        "services" | "count/services" => Some(services.len().to_string()),
        "services.nodeports" => Some((by_type("NodePort") + by_type("LoadBalancer")).to_string()),
        "services.loadbalancers" => Some(by_type("LoadBalancer").to_string()),
        "configmaps" | "count/configmaps" => kind_count(Kind::ConfigMap),
        "secrets" | "count/secrets" => kind_count(Kind::Secret),
        "persistentvolumeclaims" | "count/persistentvolumeclaims" => kind_count(Kind::PersistentVolumeClaim),
        "replicationcontrollers" | "count/replicationcontrollers" => kind_count(Kind::ReplicationController),
        "count/deployments.apps" => kind_count(Kind::Deployment),
        "count/replicasets.apps" => kind_count(Kind::ReplicaSet),
        "count/statefulsets.apps" => kind_count(Kind::StatefulSet),
        "count/jobs.batch" => kind_count(Kind::Job),
        "count/cronjobs.batch" => kind_count(Kind::CronJob),
        "cpu" | "memory" | "requests.cpu" | "requests.memory" | "limits.cpu" | "limits.memory" => {
            let (limits, name) = match resource.split_once('.') {
                Some(("limits", name)) => (true, name),
                Some((_, name)) => (false, name),
                None => (false, resource),
            };
            let total: f64 = pods
                .iter()
                .flat_map(|p| p.spec.iter().flat_map(|s| s.containers.iter()))
                .filter_map(|c| {
                    let r = c.resources.as_ref()?;
                    let map = if limits { r.limits.as_ref() } else { r.requests.as_ref().or(r.limits.as_ref()) };
                    map?.get(name).and_then(svclab_shared::quantity::value)
                })
                .sum();
            Some(format(resource, total))
        }
        _ => None,
    }
}

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
        let pods: Vec<Pod> =
            store.list_typed::<Pod>(Some(&ns)).into_iter().filter(|p| !is_terminal_or_deleting(p)).collect();
        let services: Vec<Service> = store.list_typed::<Service>(Some(&ns));
        let count = |kind: Kind| store.list(kind, Some(&ns)).1.len();
        let used: BTreeMap<String, Quantity> =
            hard.keys().filter_map(|r| used(r, &pods, &services, &count).map(|u| (r.clone(), Quantity(u)))).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_written_as_kubernetes_writes_quantities() {
        assert_eq!(format("requests.cpu", 0.25), "250m");
        assert_eq!(format("limits.cpu", 2.0), "2");
        assert_eq!(format("requests.memory", 192.0 * 1024.0 * 1024.0), "192Mi");
        assert_eq!(format("pods", 3.0), "3");
        let pod: Pod = serde_json::from_value(serde_json::json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m"}}},
            {"name": "b", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}]}}))
        .unwrap();
        let none = |_: Kind| 0;
        assert_eq!(
            used("requests.cpu", std::slice::from_ref(&pod), &[], &none).as_deref(),
            Some("600m"),
            "a limit stands for a missing request"
        );
        assert_eq!(used("limits.memory", std::slice::from_ref(&pod), &[], &none).as_deref(), Some("128Mi"));
        assert_eq!(used("pods", &[pod], &[], &none).as_deref(), Some("1"));
        assert_eq!(used("example.com/gpus", &[], &[], &none), None);
    }
}
