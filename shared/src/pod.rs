//! Pod readiness, what a pod's readiness probe checks (the dashboard's readiness toggle), the
//! host ports it asks its node for, its QoS class, and the ConfigMap its service account volume
//! projects.

use k8s_openapi::api::core::v1::{Pod, PodSpec};

/// The ConfigMap each namespace gets with the cluster CA (kube-controller-manager's root-CA
/// publisher), which a pod's service account volume projects as `ca.crt`.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A port of the pod's node that one of its container ports takes (`hostPort`; all of a
/// `hostNetwork` pod's, once defaulted), as the scheduler and the portmap plugin read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The node address it is on, `0.0.0.0` (all of them) when the port gives none.
    pub host_ip: String,
    pub protocol: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// The host ports of a pod's containers and init containers.
pub fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let containers = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let ports = containers.flat_map(|c| c.ports.iter().flatten());
    ports
        .filter_map(|p| {
            Some(HostPort {
                host_ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                host_port: u16::try_from(p.host_port.unwrap_or(0)).ok().filter(|h| *h > 0)?,
                container_port: u16::try_from(p.container_port).ok()?,
            })
        })
        .collect()
}

/// Whether the pod's containers have all ended for good (`Succeeded` or `Failed`).
pub fn is_finished(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Whether the pod is on its way out or finished (no longer counts for its controller).
pub fn is_terminal_or_deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() || is_finished(pod)
}

/// While this file exists in a container, svclab's built-in HTTP servers answer 500 to every
/// request (so an `httpGet` probe fails, as it would against a sick app).
pub const UNHEALTHY_FILE: &str = "/tmp/svclab-unhealthy";

/// While this file exists in a container, its ports take no connections (a `tcpSocket` probe fails).
pub const CLOSED_FILE: &str = "/tmp/svclab-closed";

/// What a pod's readiness hangs on, as the dashboard's readiness toggle sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadinessCheck {
    /// No container has a readiness probe: the pod is ready as soon as its containers run.
    None,
    /// An exec probe that checks a file (`ls /var/ready`): creating or removing the file in the
    /// container flips the probe's result.
    File { container: String, path: String },
    /// A probe svclab's built-in servers can be made to fail from inside: creating `file`
    /// ([`UNHEALTHY_FILE`] for `httpGet`, [`CLOSED_FILE`] for `tcpSocket`) makes it fail, removing
    /// it makes it pass again.
    Fault { container: String, description: String, file: &'static str },
    /// Another kind of probe, described as `httpGet :8080/healthz`.
    Other { container: String, description: String },
}

/// The first readiness probe among the pod's containers, and what it checks.
pub fn readiness_check(pod: &Pod) -> ReadinessCheck {
    let containers = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    let Some((container, probe)) =
        containers.iter().find_map(|c| c.readiness_probe.as_ref().map(|p| (c.name.clone(), p)))
    else {
        return ReadinessCheck::None;
    };
    let port = |p: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString| match p {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    };
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        // The file is the last absolute path the command names (`ls /var/ready`, `test -f /x`,
        // `sh -c "cat /tmp/healthy"`).
        let path = command.iter().rev().flat_map(|arg| arg.split_whitespace().rev()).find(|w| w.starts_with('/'));
        return match path {
            Some(path) if !path.starts_with("/bin/") && !path.starts_with("/usr/") => {
                ReadinessCheck::File { container, path: path.trim_matches(|c| c == '"' || c == '\'').to_string() }
            }
            _ => ReadinessCheck::Other { container, description: format!("exec {}", command.join(" ")) },
        };
    }
    if let Some(http) = &probe.http_get {
        let description = format!("httpGet :{}{}", port(&http.port), http.path.clone().unwrap_or_else(|| "/".into()));
        return ReadinessCheck::Fault { container, description, file: UNHEALTHY_FILE };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let description = format!("tcpSocket :{}", port(&tcp.port));
        return ReadinessCheck::Fault { container, description, file: CLOSED_FILE };
    }
    let description = if probe.grpc.is_some() { "grpc".to_string() } else { "no handler".to_string() };
    ReadinessCheck::Other { container, description }
}

/// The names of a pod's app containers, and of its init and ephemeral containers, in order:
/// what a log, exec or attach may name (only an app container is chosen by default).
pub fn container_names(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let spec = pod.spec.as_ref();
    let apps = spec.iter().flat_map(|s| s.containers.iter().map(|c| c.name.clone())).collect();
    let init = spec.iter().flat_map(|s| s.init_containers.iter().flatten().map(|c| c.name.clone()));
    let ephemeral = spec.iter().flat_map(|s| s.ephemeral_containers.iter().flatten().map(|c| c.name.clone()));
    (apps, init.chain(ephemeral).collect())
}

/// What a pod takes of a resource whose amount per container is `amount`, as the scheduler and
/// the LimitRanger weigh it (kube's `PodRequests`): its app containers and sidecars (init
/// containers with `restartPolicy: Always`, which keep running) summed, or an init container's
/// amount with the sidecars started before it, whichever is more.
pub fn effective(spec: &PodSpec, amount: impl Fn(&k8s_openapi::api::core::v1::Container) -> f64) -> f64 {
    let mut running: f64 = spec.containers.iter().map(&amount).sum();
    let (mut sidecars, mut init) = (0.0, 0.0_f64);
    for container in spec.init_containers.iter().flatten() {
        if container.restart_policy.as_deref() == Some("Always") {
            running += amount(container);
            sidecars += amount(container);
        } else {
            init = init.max(sidecars + amount(container));
        }
    }
    running.max(init)
}

/// The pod's quality of service class, as kube-apiserver computes it from its containers' CPU
/// and memory: `BestEffort` with none requested or limited, `Guaranteed` when every container
/// limits both and requests what it limits, `Burstable` otherwise.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    use std::collections::BTreeMap;
    let (mut requests, mut limits) = (BTreeMap::<&str, f64>::new(), BTreeMap::<&str, f64>::new());
    let mut guaranteed = true;
    for container in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let resources = container.resources.as_ref();
        let positive = |map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            ["cpu", "memory"]
                .into_iter()
                .filter_map(|name| Some((name, map?.get(name).and_then(crate::quantity::value).filter(|v| *v > 0.0)?)))
                .collect::<Vec<_>>()
        };
        for (name, v) in positive(resources.and_then(|r| r.requests.as_ref())) {
            *requests.entry(name).or_default() += v;
        }
        let limited = positive(resources.and_then(|r| r.limits.as_ref()));
        guaranteed &= limited.len() == 2;
        for (name, v) in limited {
            *limits.entry(name).or_default() += v;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    let equal = requests.len() == limits.len()
        && requests.iter().all(|(n, r)| limits.get(n).is_some_and(|l| (l - r).abs() < 1e-9));
    if guaranteed && equal { "Guaranteed" } else { "Burstable" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn init_containers_count_at_their_peak_and_sidecars_all_along() {
        let spec: PodSpec = serde_json::from_value(json!({
            "containers": [{"name": "app", "image": "x"}, {"name": "log", "image": "x"}],
            "initContainers": [
                {"name": "mesh", "image": "x", "restartPolicy": "Always"},
                {"name": "migrate", "image": "x"}]}))
        .unwrap();
        let amount = |cpu: f64| {
            move |c: &k8s_openapi::api::core::v1::Container| match c.name.as_str() {
                "migrate" => cpu,
                _ => 1.0,
            }
        };
        assert_eq!(effective(&spec, amount(2.0)), 3.0, "app, log and the mesh sidecar");
        assert_eq!(effective(&spec, amount(5.0)), 6.0, "the migration beside the sidecar started before it");
    }

    fn with_probe(probe: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"spec": {"containers": [
            {"name": "sidecar"},
            {"name": "kubia", "readinessProbe": probe}
        ]}}))
        .unwrap()
    }

    #[test]
    fn the_file_an_exec_probe_checks_is_found() {
        let file = |path: &str| ReadinessCheck::File { container: "kubia".into(), path: path.into() };
        assert_eq!(
            readiness_check(&with_probe(json!({"exec": {"command": ["ls", "/var/ready"]}}))),
            file("/var/ready")
        );
        let shell = json!({"exec": {"command": ["/bin/sh", "-c", "test -f /tmp/healthy"]}});
        assert_eq!(readiness_check(&with_probe(shell)), file("/tmp/healthy"));
        let no_file = json!({"exec": {"command": ["/bin/true"]}});
        assert!(matches!(readiness_check(&with_probe(no_file)), ReadinessCheck::Other { .. }));
    }

    #[test]
    fn other_probes_are_described() {
        let http = json!({"httpGet": {"port": 8080, "path": "/healthz"}});
        let fault = |description: &str, file| ReadinessCheck::Fault {
            container: "kubia".into(),
            description: description.into(),
            file,
        };
        assert_eq!(readiness_check(&with_probe(http)), fault("httpGet :8080/healthz", UNHEALTHY_FILE));
        let tcp = json!({"tcpSocket": {"port": 8080}});
        assert_eq!(readiness_check(&with_probe(tcp)), fault("tcpSocket :8080", CLOSED_FILE));
        let grpc = json!({"grpc": {"port": 9090}});
        assert_eq!(
            readiness_check(&with_probe(grpc)),
            ReadinessCheck::Other { container: "kubia".into(), description: "grpc".into() }
        );
        let none: Pod = serde_json::from_value(json!({"spec": {"containers": [{"name": "c"}]}})).unwrap();
        assert_eq!(readiness_check(&none), ReadinessCheck::None);
    }

    #[test]
    fn qos_classes_follow_cpu_and_memory() {
        let spec = |containers: serde_json::Value| -> PodSpec {
            serde_json::from_value(serde_json::json!({"containers": containers})).unwrap()
        };
        assert_eq!(qos_class(&spec(serde_json::json!([{"name": "a"}]))), "BestEffort");
        let both = serde_json::json!({"cpu": "500m", "memory": "64Mi"});
        let guaranteed = spec(serde_json::json!([{"name": "a", "resources": {"requests": both, "limits": both}}]));
        assert_eq!(qos_class(&guaranteed), "Guaranteed");
        let cpu_only =
            spec(serde_json::json!([{"name": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}]));
        assert_eq!(qos_class(&cpu_only), "Burstable");
        let less = spec(
            serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": both}}]),
        );
        assert_eq!(qos_class(&less), "Burstable");
        let mixed =
            spec(serde_json::json!([{"name": "a", "resources": {"requests": both, "limits": both}}, {"name": "b"}]));
        assert_eq!(qos_class(&mixed), "Burstable", "one container without limits");
    }
}
