//! The dashboard's overview as a graph: ingresses → services → pods grouped by node, each edge
//! saying how traffic can flow on it. A service's edge to a pod is `ready` (a ready endpoint),
//! `notReady` (an endpoint that gets no traffic) or `selected` (the pod matches the selector but
//! is not an endpoint at all, such as a pod without the named target port).

use crate::selector::Selector;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EdgeState {
    /// An ingress rule sending to a service.
    Routes,
    Ready,
    NotReady,
    Selected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// `ingress:ns/name`, `service:ns/name` or `pod:ns/name`.
    pub from: String,
    pub to: String,
    pub state: EdgeState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vertex {
    pub id: String,
    pub label: String,
    pub detail: String,
    /// For pods: Ready.
    pub ready: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    pub ingresses: Vec<Vertex>,
    pub services: Vec<Vertex>,
    /// Pods by node name (`<unscheduled>` for pods on none), in name order.
    pub nodes: BTreeMap<String, Vec<Vertex>>,
    pub edges: Vec<Edge>,
}

pub fn service_id(namespace: &str, name: &str) -> String {
    format!("service:{namespace}/{name}")
}

pub fn pod_id(namespace: &str, name: &str) -> String {
    format!("pod:{namespace}/{name}")
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

fn backend_service(b: &IngressBackend) -> Option<String> {
    b.service.as_ref().map(|s| s.name.clone())
}

/// The services an ingress sends to (its rules' backends and its default backend), by name.
pub fn ingress_services(ingress: &Ingress) -> BTreeSet<String> {
    let spec = ingress.spec.as_ref();
    let paths =
        spec.into_iter().flat_map(|s| s.rules.iter().flatten()).flat_map(|r| r.http.iter().flat_map(|h| &h.paths));
    paths.map(|p| &p.backend).chain(spec.and_then(|s| s.default_backend.as_ref())).filter_map(backend_service).collect()
}

/// The graph of one namespace.
pub fn build(
    namespace: &str,
    ingresses: &[Ingress],
    services: &[Service],
    endpoints: &[Endpoints],
    pods: &[Pod],
) -> Graph {
    let in_ns = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.namespace.as_deref() == Some(namespace)
    };
    let mut graph = Graph::default();
    let pods: Vec<&Pod> =
        pods.iter().filter(|p| in_ns(&p.metadata) && p.metadata.deletion_timestamp.is_none()).collect();
    for pod in &pods {
        let (ns, name) = key(&pod.metadata);
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_else(|| "<unscheduled>".into());
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
        graph.nodes.entry(node).or_default().push(Vertex {
            id: pod_id(&ns, &name),
            label: name,
            detail: ip,
            ready: crate::pod::is_ready(pod),
        });
    }
    let endpoints: BTreeMap<(String, String), &Endpoints> =
        endpoints.iter().filter(|e| in_ns(&e.metadata)).map(|e| (key(&e.metadata), e)).collect();
    for svc in services.iter().filter(|s| in_ns(&s.metadata)) {
        let (ns, name) = key(&svc.metadata);
        let id = service_id(&ns, &name);
        graph.services.push(Vertex {
            id: id.clone(),
            label: name.clone(),
            detail: format!("{} {}", crate::printers::service_cluster_ip(svc), crate::printers::service_ports(svc)),
            ready: true,
        });
        let mut linked = BTreeSet::new();
        if let Some(eps) = endpoints.get(&(ns.clone(), name.clone())) {
            for subset in eps.subsets.iter().flatten() {
                for (list, state) in
                    [(&subset.addresses, EdgeState::Ready), (&subset.not_ready_addresses, EdgeState::NotReady)]
                {
                    for a in list.iter().flatten() {
                        let Some(pod) = a.target_ref.as_ref().filter(|r| r.kind.as_deref() == Some("Pod")) else {
                            continue;
                        };
                        let to =
                            pod_id(pod.namespace.as_deref().unwrap_or(&ns), pod.name.as_deref().unwrap_or_default());
                        if linked.insert(to.clone()) {
                            graph.edges.push(Edge { from: id.clone(), to, state });
                        }
                    }
                }
            }
        }
        let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref()).filter(|s| !s.is_empty());
        if let Some(selector) = selector {
            let selector = Selector::from_map(selector);
            for pod in pods.iter().filter(|p| selector.matches_opt(p.metadata.labels.as_ref())) {
                let (pns, pname) = key(&pod.metadata);
                let to = pod_id(&pns, &pname);
                if linked.insert(to.clone()) {
                    graph.edges.push(Edge { from: id.clone(), to, state: EdgeState::Selected });
                }
            }
        }
    }
    for ingress in ingresses.iter().filter(|i| in_ns(&i.metadata)) {
        let (ns, name) = key(&ingress.metadata);
        let id = format!("ingress:{ns}/{name}");
        let targets = ingress_services(ingress);
        graph.ingresses.push(Vertex {
            id: id.clone(),
            label: name,
            detail: crate::printers::ingress_hosts(ingress),
            ready: true,
        });
        for target in targets {
            graph.edges.push(Edge { from: id.clone(), to: service_id(&ns, &target), state: EdgeState::Routes });
        }
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: serde_json::Value, node: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
            "status": {"podIP": "10.244.1.2", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    #[test]
    fn edges_say_how_traffic_flows() {
        let services: Vec<Service> = vec![
            serde_json::from_value(json!({
                "metadata": {"name": "kubia", "namespace": "default"},
                "spec": {"selector": {"app": "kubia"}, "clusterIP": "10.96.0.9", "ports": [{"port": 80}]}
            }))
            .unwrap(),
        ];
        let endpoints: Vec<Endpoints> = vec![serde_json::from_value(json!({
            "metadata": {"name": "kubia", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "10.244.1.2", "targetRef": {"kind": "Pod", "name": "a", "namespace": "default"}}],
                         "notReadyAddresses": [{"ip": "10.244.2.2", "targetRef": {"kind": "Pod", "name": "b", "namespace": "default"}}]}]
        }))
        .unwrap()];
        let pods = vec![
            pod("a", json!({"app": "kubia"}), "node-1", true),
            pod("b", json!({"app": "kubia"}), "node-2", false),
            pod("c", json!({"app": "kubia"}), "node-2", true),
            pod("other", json!({"app": "x"}), "node-1", true),
        ];
        let ingresses: Vec<Ingress> = vec![serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"rules": [{"host": "kubia.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "kubia", "port": {"number": 80}}}}]}}]}
        }))
        .unwrap()];
        let g = build("default", &ingresses, &services, &endpoints, &pods);
        let state = |to: &str| g.edges.iter().find(|e| e.to == pod_id("default", to)).map(|e| e.state);
        assert_eq!(state("a"), Some(EdgeState::Ready));
        assert_eq!(state("b"), Some(EdgeState::NotReady));
        assert_eq!(state("c"), Some(EdgeState::Selected), "matches the selector, not an endpoint (yet)");
        assert_eq!(state("other"), None);
        assert_eq!(g.nodes["node-2"].iter().map(|p| p.label.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        assert!(g.edges.contains(&Edge {
            from: "ingress:default/web".into(),
            to: service_id("default", "kubia"),
            state: EdgeState::Routes
        }));
        assert!(build("other", &ingresses, &services, &endpoints, &pods).services.is_empty());
    }
}
