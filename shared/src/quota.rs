//! What a ResourceQuota counts, as kube-apiserver's quota evaluators count it: objects per kind,
//! services by type, and the compute the namespace's pods request and are limited to; and what
//! a pod must state for a quota of compute to admit it. Read by the quota controller (usage in
//! `status.used`) and the ResourceQuota admission plugin (what a new object would add).

use crate::Kind;
use k8s_openapi::api::core::v1::{Container, Pod, ResourceQuota, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::{BTreeMap, BTreeSet};

/// The namespace's objects a quota counts: live pods, services, and how many of each kind.
pub struct Counted<'a> {
    pub pods: &'a [&'a Pod],
    pub services: &'a [&'a Service],
    pub count: &'a dyn Fn(Kind) -> usize,
}

/// Whether a quota with scopes counts `pod`: `Terminating` pods have an `activeDeadlineSeconds`,
/// `BestEffort` ones request and limit no CPU or memory, `PriorityClass` matches the quota's
/// scope selector against the pod's class; every scope must hold. No scopes: every pod.
pub fn in_scope(quota: &ResourceQuota, pod: &Pod) -> bool {
    let Some(spec) = quota.spec.as_ref() else { return true };
    let Some(pod_spec) = pod.spec.as_ref() else { return false };
    let terminating = pod_spec.active_deadline_seconds.is_some();
    let best_effort = crate::pod::qos_class(pod_spec) == "BestEffort";
    let class = pod_spec.priority_class_name.as_deref().filter(|c| !c.is_empty());
    let scope = |name: &str| match name {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort,
        "NotBestEffort" => !best_effort,
        // Pods with cross-namespace affinity terms: svclab's pods are never counted as such.
        "CrossNamespacePodAffinity" => false,
        _ => true,
    };
    let selected = spec.scope_selector.iter().flat_map(|s| s.match_expressions.iter().flatten()).all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match (e.scope_name.as_str(), e.operator.as_str()) {
            ("PriorityClass", "In") => class.is_some_and(|c| values.iter().any(|v| v == c)),
            ("PriorityClass", "NotIn") => class.is_none_or(|c| !values.iter().any(|v| v == c)),
            ("PriorityClass", "Exists") => class.is_some(),
            ("PriorityClass", "DoesNotExist") => class.is_none(),
            (name, "Exists") => scope(name),
            (name, "DoesNotExist") => !scope(name),
            _ => true,
        }
    });
    spec.scopes.iter().flatten().all(|s| scope(s)) && selected
}

/// The compute resources whose quota makes every container state them.
const COMPUTE: &[&str] = &["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];

/// Whether `resource` is compute the pods request or are limited to (`requests.cpu`, `memory`…).
pub fn is_compute(resource: &str) -> bool {
    COMPUTE.contains(&resource)
}

/// How much of `resource` the namespace uses; `None` for a resource svclab does not count.
pub fn used(resource: &str, counted: &Counted) -> Option<f64> {
    let kind = |kind| Some((counted.count)(kind) as f64);
    let services = counted.services;
    let by_type =
        |t: &str| services.iter().filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some(t)).count();
    match resource {
        "pods" | "count/pods" => Some(counted.pods.len() as f64),
        "services" | "count/services" => Some(services.len() as f64),
        "services.nodeports" => Some(services.iter().map(|s| node_ports(s)).sum::<usize>() as f64),
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

/// The node ports a service takes, as kube's service evaluator counts them: one per port of a
/// NodePort or LoadBalancer service, or only those it names when a load balancer allocates none.
fn node_ports(service: &Service) -> usize {
    let Some(spec) = service.spec.as_ref() else { return 0 };
    let ports = spec.ports.as_deref().unwrap_or_default();
    match spec.type_.as_deref() {
        Some("NodePort") => ports.len(),
        Some("LoadBalancer") if spec.allocate_load_balancer_node_ports == Some(false) => {
            ports.iter().filter(|p| p.node_port.is_some_and(|n| n != 0)).count()
        }
        Some("LoadBalancer") => ports.len(),
        _ => 0,
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
        let counted = Counted { pods: &[&pods[0]], services: &[], count: &|_| 0 };
        assert_eq!(used("requests.cpu", &counted), Some(0.6), "a limit stands for a missing request");
        assert_eq!(used("limits.memory", &counted), Some(128.0 * 1024.0 * 1024.0));
        assert_eq!(used("pods", &counted), Some(1.0));
        assert_eq!(used("example.com/gpus", &counted), None);
    }

    #[test]
    fn node_ports_are_counted_per_port() {
        let service =
            |spec: serde_json::Value| -> Service { serde_json::from_value(serde_json::json!({"spec": spec})).unwrap() };
        let two = serde_json::json!([{"port": 80}, {"port": 443}]);
        let services = [
            service(serde_json::json!({"type": "NodePort", "ports": two})),
            service(serde_json::json!({"type": "LoadBalancer", "ports": [{"port": 80}]})),
            service(serde_json::json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
                                       "ports": [{"port": 80}, {"port": 81, "nodePort": 30081}]})),
            service(serde_json::json!({"ports": two})),
        ];
        let refs: Vec<&Service> = services.iter().collect();
        let counted = Counted { pods: &[], services: &refs, count: &|_| 0 };
        assert_eq!(used("services.nodeports", &counted), Some(4.0), "2 + 1 + the one named, none for a ClusterIP");
        assert_eq!(used("services.loadbalancers", &counted), Some(2.0));
        assert_eq!(used("services", &counted), Some(4.0));
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

    #[test]
    fn scoped_quotas_count_the_pods_in_their_scopes() {
        let quota = |spec: serde_json::Value| -> ResourceQuota {
            serde_json::from_value(serde_json::json!({"spec": spec})).unwrap()
        };
        let best_effort = pod(serde_json::json!([{"name": "a"}]));
        let burstable = pod(serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]));
        let scoped = quota(serde_json::json!({"scopes": ["BestEffort"]}));
        assert!(in_scope(&scoped, &best_effort) && !in_scope(&scoped, &burstable));
        let not = quota(serde_json::json!({"scopes": ["NotBestEffort", "NotTerminating"]}));
        assert!(in_scope(&not, &burstable) && !in_scope(&not, &best_effort));
        let mut high = burstable.clone();
        high.spec.as_mut().unwrap().priority_class_name = Some("high".into());
        let by_class = quota(serde_json::json!({"scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}));
        assert!(in_scope(&by_class, &high) && !in_scope(&by_class, &burstable));
        assert!(in_scope(&quota(serde_json::json!({})), &best_effort), "no scopes: every pod");
    }
}
