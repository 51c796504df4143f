//! The dashboard's overview as a graph: Gateways → HTTPRoutes and ingresses → services → pods
//! grouped by node, each edge
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
    /// Gateways (`gateway:ns/name`), when the namespace has any.
    pub gateways: Vec<Vertex>,
    /// Ingresses (`ingress:ns/name`) and HTTPRoutes (`httproute:ns/name`).
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

/// The Services an HTTPRoute (as JSON) sends to, by `namespace/name`.
pub fn route_services(route: &serde_json::Value) -> BTreeSet<(String, String)> {
    let ns = route["metadata"]["namespace"].as_str().unwrap_or_default();
    let rules = route["spec"]["rules"].as_array().map_or(&[][..], Vec::as_slice);
    rules
        .iter()
        .flat_map(|r| r["backendRefs"].as_array().map_or(&[][..], Vec::as_slice))
        .filter(|b| b["kind"].as_str().unwrap_or("Service") == "Service")
        .map(|b| {
            (b["namespace"].as_str().unwrap_or(ns).to_string(), b["name"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// Gateway API objects of a namespace, as the server sent them.
#[derive(Clone, Copy, Default)]
pub struct GatewayApi<'a> {
    pub gateways: &'a [serde_json::Value],
    pub routes: &'a [serde_json::Value],
}

/// Adds the namespace's Gateways and HTTPRoutes: Gateway → route → service.
fn gateway_api(graph: &mut Graph, namespace: &str, objects: GatewayApi) {
    let meta = |o: &serde_json::Value| {
        (
            o["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
            o["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        )
    };
    for g in objects.gateways.iter().filter(|g| g["metadata"]["namespace"] == namespace) {
        let (ns, name) = meta(g);
        let address = g["status"]["addresses"][0]["value"].as_str().unwrap_or("<pending>");
        let ready = g["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Programmed" && c["status"] == "True");
        graph.gateways.push(Vertex {
            id: format!("gateway:{ns}/{name}"),
            label: name,
            detail: address.to_string(),
            ready,
        });
    }
    for r in objects.routes.iter().filter(|r| r["metadata"]["namespace"] == namespace) {
        let (ns, name) = meta(r);
        let id = format!("httproute:{ns}/{name}");
        let hostnames: Vec<&str> =
            r["spec"]["hostnames"].as_array().into_iter().flatten().filter_map(|h| h.as_str()).collect();
        let detail = if hostnames.is_empty() { "*".to_string() } else { hostnames.join(",") };
        graph.ingresses.push(Vertex { id: id.clone(), label: format!("route {name}"), detail, ready: true });
        for p in r["spec"]["parentRefs"].as_array().into_iter().flatten() {
            let pns = p["namespace"].as_str().unwrap_or(&ns);
            let from = format!("gateway:{pns}/{}", p["name"].as_str().unwrap_or_default());
            graph.edges.push(Edge { from, to: id.clone(), state: EdgeState::Routes });
        }
        for (sns, svc) in route_services(r) {
            graph.edges.push(Edge { from: id.clone(), to: service_id(&sns, &svc), state: EdgeState::Routes });
        }
    }
}

/// The graph of one namespace.
pub fn build(
    namespace: &str,
    ingresses: &[Ingress],
    gateway_objects: GatewayApi,
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
    gateway_api(&mut graph, namespace, gateway_objects);
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
        let gateways = vec![json!({"metadata": {"name": "gw", "namespace": "default"},
            "status": {"addresses": [{"value": "127.0.2.1"}], "conditions": [{"type": "Programmed", "status": "True"}]}})];
        let routes = vec![json!({"metadata": {"name": "canary", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "kubia", "port": 80, "weight": 9}]}]}})];
        let gateway_api = GatewayApi { gateways: &gateways, routes: &routes };
        let g = build("default", &ingresses, gateway_api, &services, &endpoints, &pods);
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
        let routes = |from: &str, to: &str| Edge { from: from.into(), to: to.into(), state: EdgeState::Routes };
        assert!(g.edges.contains(&routes("gateway:default/gw", "httproute:default/canary")));
        assert!(g.edges.contains(&routes("httproute:default/canary", &service_id("default", "kubia"))));
        assert_eq!(g.gateways[0].detail, "127.0.2.1");
        assert!(build("other", &ingresses, gateway_api, &services, &endpoints, &pods).services.is_empty());
    }
}
