//! What a ResourceQuota counts, as kube-apiserver's quota evaluators count it: objects per kind,
//! services by type, and the compute the namespace's pods request and are limited to; and what
//! a pod must state for a quota of compute to admit it. Read by the quota controller (usage in
//! `status.used`) and the ResourceQuota admission plugin (what a new object would add).

use crate::Kind;
use k8s_openapi::api::core::v1::{Container, Pod, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::{BTreeMap, BTreeSet};

/// The namespace's objects a quota counts: live pods, services, and how many of each kind.
pub struct Counted<'a> {
    pub pods: &'a [Pod],
    pub services: &'a [Service],
    pub count: &'a dyn Fn(Kind) -> usize,
}

/// The compute resources whose quota makes every container state them.
const COMPUTE: &[&str] = &["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];

/// How much of `resource` the namespace uses; `None` for a resource svclab does not count.
pub fn used(resource: &str, counted: &Counted) -> Option<f64> {
    let kind = |kind| Some((counted.count)(kind) as f64);
    let services = counted.services;
    let by_type =
        |t: &str| services.iter().filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some(t)).count();
    match resource {
        "pods" | "count/pods" => Some(counted.pods.len() as f64),
        "services" | "count/services" => Some(services.len() as f64),
        "services.nodeports" => Some((by_type("NodePort") + by_type("LoadBalancer")) as f64),
        "services.loadbalancers" => Some(by_type("LoadBalancer") as f64),
        "configmaps" | "count/configmaps" => kind(Kind::ConfigMap),
        "secrets" | "count/secrets" => kind(Kind::Secret),
        "persistentvolumeclaims" | "count/persistentvolumeclaims" => kind(Kind::PersistentVolumeClaim),
        "replicationcontrollers" | "count/replicationcontrollers" => kind(Kind::ReplicationController),
        "count/deployments.apps" => kind(Kind::Deployment),
        "count/replicasets.apps" => kind(Kind::ReplicaSet),
        "count/statefulsets.apps" => kind(Kind::StatefulSet),
        "count/jobs.batch" => kind(Kind::Job),
        "count/cronjobs.batch" => kind(Kind::CronJob),
        r if COMPUTE.contains(&r) => {
            let containers = counted.pods.iter().flat_map(|p| p.spec.iter().flat_map(|s| s.containers.iter()));
            Some(containers.filter_map(|c| compute(c, r)).sum())
        }
        _ => None,
    }
}

/// A container's amount of a compute resource (`requests.cpu`, `limits.memory`, `cpu`…); a
/// limit stands for a missing request, as defaulting makes it one.
fn compute(container: &Container, resource: &str) -> Option<f64> {
    let r = container.resources.as_ref()?;
    let (limits, name) = match resource.split_once('.') {
        Some(("limits", name)) => (true, name),
        Some((_, name)) => (false, name),
        None => (false, resource),
    };
    let map = if limits {
        r.limits.as_ref()
    } else {
        r.requests.as_ref().filter(|m| m.contains_key(name)).or(r.limits.as_ref())
    };
    map?.get(name).and_then(crate::quantity::value)
}

/// What a pod leaves unstated that a quota of compute (`hard`) needs from every container:
/// `limits.cpu for: web; requests.memory for: web,sidecar`, as kube-apiserver words it.
pub fn missing(pod: &Pod, hard: &BTreeMap<String, Quantity>) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let containers = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let mut missing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for container in containers {
        for resource in hard.keys().map(String::as_str).filter(|r| COMPUTE.contains(r)) {
            if compute(container, resource).is_none() {
                missing.entry(resource).or_default().insert(&container.name);
            }
        }
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(resource, names)| format!("{resource} for: {}", names.iter().copied().collect::<Vec<_>>().join(",")))
        .collect();
    (!list.is_empty()).then(|| list.join("; "))
}

/// A sum of quantities as Kubernetes writes one: whole numbers plainly, fractions of a core in
/// millis, bytes in the largest binary unit that divides them.
pub fn format(resource: &str, value: f64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"spec": {"containers": containers}})).unwrap()
    }

    #[test]
    fn usage_is_written_as_kubernetes_writes_quantities() {
        assert_eq!(format("requests.cpu", 0.25), "250m");
        assert_eq!(format("limits.cpu", 2.0), "2");
        assert_eq!(format("requests.memory", 192.0 * 1024.0 * 1024.0), "192Mi");
        assert_eq!(format("pods", 3.0), "3");
        let pods = [pod(serde_json::json!([
            {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m"}}},
            {"name": "b", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}]))];
        let counted = Counted { pods: &pods, services: &[], count: &|_| 0 };
        assert_eq!(used("requests.cpu", &counted), Some(0.6), "a limit stands for a missing request");
        assert_eq!(used("limits.memory", &counted), Some(128.0 * 1024.0 * 1024.0));
        assert_eq!(used("pods", &counted), Some(1.0));
        assert_eq!(used("example.com/gpus", &counted), None);
    }

    #[test]
    fn a_quota_of_compute_needs_every_container_to_state_it() {
        let hard: BTreeMap<String, Quantity> = [("limits.cpu", "2"), ("requests.memory", "1Gi"), ("pods", "10")]
            .map(|(k, v)| (k.to_string(), Quantity(v.into())))
            .into();
        let web = pod(serde_json::json!([
            {"name": "web", "resources": {"requests": {"memory": "64Mi"}}},
            {"name": "sidecar", "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]));
        assert_eq!(missing(&web, &hard).as_deref(), Some("limits.cpu for: web"));
        let bare = pod(serde_json::json!([{"name": "web"}, {"name": "log"}]));
        assert_eq!(missing(&bare, &hard).as_deref(), Some("limits.cpu for: log,web; requests.memory for: log,web"));
        assert_eq!(missing(&bare, &BTreeMap::new()), None);
    }
}
