//! The endpoints controller: keeps each selector service's Endpoints equal to the pods its
//! selector matches, ready ones in `addresses` and the others in `notReadyAddresses`, with named
//! target ports resolved per pod. Services without a selector are left alone, so their Endpoints
//! can be written by hand.

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::{ObjectKey, Store};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use svclab_shared::pod::is_ready;
use svclab_shared::ports::resolve_target_port;
use svclab_shared::selector::Selector;
use svclab_shared::service::Facts;
use svclab_shared::{Kind, Object};

const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// The most addresses one Endpoints object holds.
pub const MAX_ENDPOINTS: usize = 1000;

/// When the change that triggers an Endpoints update happened (kube-proxy measures from it).
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

pub struct EndpointsController {
    registry: Registry,
    /// For each service waiting to be reconciled, when its first pending change was seen.
    triggers: Mutex<HashMap<ObjectKey, Timestamp>>,
}

impl EndpointsController {
    pub fn new(registry: Registry) -> Self {
        EndpointsController { registry, triggers: Mutex::default() }
    }

    fn keys_noting_triggers(&self, keys: Vec<ObjectKey>) -> Vec<ObjectKey> {
        let now = Timestamp::now();
        let mut triggers = self.triggers.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            triggers.entry(key.clone()).or_insert(now);
        }
        keys
    }
}

pub fn selector_of(svc: &Service) -> Option<Selector> {
    Facts::of(svc).selector
}

/// The services whose selector matches a pod as it is now or as it was before the change: the
/// ones whose endpoints the change may affect.
pub fn services_selecting(store: &Store, pod: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
    let labels: Vec<_> = [Some(pod), old].into_iter().flatten().map(|o| o.metadata().labels.as_ref()).collect();
    let services = store.list_views::<Service>(Some(pod.namespace()));
    services
        .iter()
        .filter(|s| selector_of(s).is_some_and(|sel| labels.iter().any(|l| sel.matches_opt(*l))))
        .map(|s| ObjectKey::new(Kind::Service, pod.namespace(), s.metadata.name.as_deref().unwrap_or_default()))
        .collect()
}

/// One selected pod as an endpoint of a service: its address, its conditions and the ports the
/// service's ports resolve to on it.
#[derive(Clone, Debug, PartialEq)]
pub struct PodEndpoint {
    pub address: EndpointAddress,
    /// Counts as ready for the service (ready, or the service publishes unready pods).
    pub ready: bool,
    /// The pod itself is ready (whether or not it is terminating).
    pub serving: bool,
    pub terminating: bool,
    pub ports: Vec<EndpointPort>,
}

/// The pods a service selects, as endpoints, sorted by address. Pure: the heart of both the
/// endpoints and the EndpointSlice controllers.
pub fn pod_endpoints<'a>(svc: &Service, pods: impl IntoIterator<Item = &'a Pod>) -> Vec<PodEndpoint> {
    let facts = Facts::of(svc);
    let Some(selector) = facts.selector else { return vec![] };
    let spec = svc.spec.as_ref().expect("a selector implies a spec");
    let tolerate_unready = facts.publishes_unready;
    let mut out = Vec::new();
    for pod in pods {
        let finished = svclab_shared::pod::is_finished(pod);
        if !selector.matches_opt(pod.metadata.labels.as_ref()) || finished {
            continue;
        }
        let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()) else {
            continue;
        };
        let mut ports: Vec<EndpointPort> = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|port| {
                Some(EndpointPort {
                    name: port.name.clone().filter(|n| !n.is_empty()),
                    port: resolve_target_port(port, pod)?,
                    protocol: port.protocol.clone(),
                    app_protocol: port.app_protocol.clone(),
                })
            })
            .collect();
        if ports.is_empty() {
            continue;
        }
        ports.sort_by(|a, b| (&a.name, a.port).cmp(&(&b.name, b.port)));
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let serving = is_ready(pod);
        out.push(PodEndpoint {
            address: address_of(pod, &ip, svc),
            ready: (serving || tolerate_unready) && !terminating,
            serving: serving || tolerate_unready,
            terminating,
            ports,
        });
    }
    out.sort_by(|a, b| a.address.ip.cmp(&b.address.ip));
    out
}

/// The Endpoints subsets a service should have: pods packed by identical port lists, ready ones
/// in `addresses`, the rest in `notReadyAddresses`; terminating pods are left out.
pub fn desired_subsets<'a>(svc: &Service, pods: impl IntoIterator<Item = &'a Pod>) -> Vec<EndpointSubset> {
    let mut subsets: Vec<(Vec<EndpointPort>, EndpointSubset)> = Vec::new();
    for endpoint in pod_endpoints(svc, pods).into_iter().filter(|e| !e.terminating) {
        let i = match subsets.iter().position(|(p, _)| *p == endpoint.ports) {
            Some(i) => i,
            None => {
                let subset = EndpointSubset { ports: Some(endpoint.ports.clone()), ..Default::default() };
                subsets.push((endpoint.ports, subset));
                subsets.len() - 1
            }
        };
        let subset = &mut subsets[i].1;
        let list = if endpoint.ready { &mut subset.addresses } else { &mut subset.not_ready_addresses };
        list.get_or_insert_with(Vec::new).push(endpoint.address);
    }
    subsets.into_iter().map(|(_, s)| s).collect()
}

/// Caps Endpoints at `max` addresses, ready ones first, as the endpoints controller does at 1000;
/// `true` when some were left out (the object is then annotated as over capacity).
pub fn truncate(subsets: &mut [EndpointSubset], max: usize) -> bool {
    let total: usize = subsets
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len) + s.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum();
    if total <= max {
        return false;
    }
    let mut room = max;
    for ready in [true, false] {
        for subset in subsets.iter_mut() {
            let list = if ready { &mut subset.addresses } else { &mut subset.not_ready_addresses };
            if let Some(list) = list {
                list.truncate(room);
                room -= list.len();
            }
        }
    }
    true
}

fn address_of(pod: &Pod, ip: &str, svc: &Service) -> EndpointAddress {
    let spec = pod.spec.as_ref();
    // A pod's hostname is published when its subdomain names this service (headless DNS).
    let hostname =
        spec.filter(|s| s.subdomain.is_some() && s.subdomain == svc.metadata.name).and_then(|s| s.hostname.clone());
    EndpointAddress {
        ip: ip.to_string(),
        hostname,
        node_name: spec.and_then(|s| s.node_name.clone()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
    }
}

impl Reconciler for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoints-controller"
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        let keys = match object.kind() {
            Kind::Service => vec![ObjectKey::of(object)],
            Kind::Endpoints => vec![ObjectKey::new(Kind::Service, object.namespace(), object.name())],
            Kind::Pod => services_selecting(self.registry.store(), object, old),
            _ => vec![],
        };
        self.keys_noting_triggers(keys)
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store();
        let endpoints_key = ObjectKey::new(Kind::Endpoints, &key.namespace, &key.name);
        let current = store.get_typed::<Endpoints>(&key.namespace, &key.name);
        let Some(svc) = store.get_typed::<Service>(&key.namespace, &key.name) else {
            if current.is_some() {
                let _ = self.registry.delete(&endpoints_key, None);
            }
            return Action::AwaitChange;
        };
        if selector_of(&svc).is_none() {
            return Action::AwaitChange;
        }
        let selector = selector_of(&svc).expect("checked above");
        let pods = store.select::<Pod>(&key.namespace, &selector);
        let mut subsets = desired_subsets(&svc, pods.iter().map(|p| &**p));
        let truncated = truncate(&mut subsets, MAX_ENDPOINTS);
        let subsets = (!subsets.is_empty()).then_some(subsets);
        let labels = svc.metadata.labels.clone();
        let trigger =
            self.triggers.lock().unwrap_or_else(|e| e.into_inner()).remove(key).unwrap_or_else(Timestamp::now);
        let mut annotations: BTreeMap<String, String> = BTreeMap::new();
        if truncated {
            annotations.insert(OVER_CAPACITY.into(), "truncated".into());
        }
        let unchanged = current.as_ref().is_some_and(|c| c.subsets == subsets && c.metadata.labels == labels);
        let previous_trigger =
            current.as_ref().and_then(|c| c.metadata.annotations.as_ref()?.get(TRIGGER_TIME).cloned());
        // The trigger time changes only with the endpoints themselves.
        let trigger = if unchanged { previous_trigger } else { Some(trigger.to_string()) };
        if let Some(t) = trigger {
            annotations.insert(TRIGGER_TIME.into(), t);
        }
        let annotations = Some(annotations);
        let result = match current {
            Some(current)
                if current.subsets == subsets
                    && current.metadata.labels == labels
                    && current.metadata.annotations == annotations =>
            {
                return Action::AwaitChange;
            }
            Some(mut current) => {
                current.subsets = subsets;
                current.metadata.labels = labels;
                current.metadata.annotations = annotations;
                self.registry.update(Object::Endpoints(current))
            }
            None => {
                let meta = ObjectMeta {
                    name: Some(key.name.clone()),
                    namespace: Some(key.namespace.clone()),
                    labels,
                    annotations,
                    ..Default::default()
                };
                self.registry.create(Object::Endpoints(Endpoints { metadata: meta, subsets }))
            }
        };
        match result {
            Ok(_) => Action::AwaitChange,
            Err(e) => {
                tracing::debug!(error = %e, service = %key.name, "endpoints update failed; retrying");
                Action::RequeueAfter(Duration::from_millis(100))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "kubia", "namespace": "default"}, "spec": spec})).unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, labels: serde_json::Value, ports: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": ports}]},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        list.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_unready_pods_are_split() {
        let s =
            svc(json!({"selector": {"app": "kubia"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}));
        let pods = [
            pod("a", "10.244.1.2", true, json!({"app": "kubia"}), json!([])),
            pod("b", "10.244.2.2", false, json!({"app": "kubia"}), json!([])),
            pod("c", "10.244.3.2", true, json!({"app": "other"}), json!([])),
        ];
        let subsets = desired_subsets(&s, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.244.1.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.244.2.2"]);
        let port = &subsets[0].ports.as_ref().unwrap()[0];
        assert_eq!((port.port, port.name.as_deref()), (8080, None));
        let target = subsets[0].addresses.as_ref().unwrap()[0].target_ref.as_ref().unwrap();
        assert_eq!(target.name.as_deref(), Some("a"));
    }

    #[test]
    fn named_ports_resolve_per_pod_into_separate_subsets() {
        let s = svc(
            json!({"selector": {"app": "kubia"}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}),
        );
        let pods = [
            pod("a", "10.244.1.2", true, json!({"app": "kubia"}), json!([{"name": "http", "containerPort": 8080}])),
            pod("b", "10.244.2.2", true, json!({"app": "kubia"}), json!([{"name": "http", "containerPort": 9090}])),
            pod("c", "10.244.3.2", true, json!({"app": "kubia"}), json!([{"name": "web", "containerPort": 8080}])),
        ];
        let subsets = desired_subsets(&s, &pods);
        let mut seen: Vec<(i32, Vec<&str>)> =
            subsets.iter().map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses))).collect();
        seen.sort();
        // Pod c has no port named http, so it is left out.
        assert_eq!(seen, [(8080, vec!["10.244.1.2"]), (9090, vec!["10.244.2.2"])]);
    }

    #[test]
    fn pods_without_an_ip_or_services_without_a_selector_give_nothing() {
        let s = svc(json!({"selector": {"app": "kubia"}, "ports": [{"port": 80}]}));
        let mut p = pod("a", "", true, json!({"app": "kubia"}), json!([]));
        p.status.as_mut().unwrap().pod_ip = None;
        assert!(desired_subsets(&s, &[p]).is_empty());
        let selectorless = svc(json!({"ports": [{"port": 80}]}));
        let p = pod("a", "10.244.1.2", true, json!({"app": "kubia"}), json!([]));
        assert!(desired_subsets(&selectorless, &[p]).is_empty());
    }

    #[test]
    fn endpoints_are_capped_at_a_thousand_ready_first() {
        let s = svc(json!({"selector": {"app": "kubia"}, "ports": [{"port": 80}]}));
        let pods: Vec<Pod> = (0..1100)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.244.{}.{}", i / 250 + 1, i % 250 + 2),
                    i % 2 == 0,
                    json!({"app": "kubia"}),
                    json!([]),
                )
            })
            .collect();
        let mut subsets = desired_subsets(&s, &pods);
        assert!(truncate(&mut subsets, MAX_ENDPOINTS));
        assert_eq!(ips(&subsets[0].addresses).len(), 550, "every ready address is kept");
        assert_eq!(ips(&subsets[0].not_ready_addresses).len(), 450);
        assert!(!truncate(&mut subsets, MAX_ENDPOINTS));
    }

    #[test]
    fn publish_not_ready_addresses_counts_unready_pods_as_ready() {
        let s = svc(json!({"selector": {"app": "kubia"}, "publishNotReadyAddresses": true, "ports": [{"port": 80}]}));
        let p = pod("a", "10.244.1.2", false, json!({"app": "kubia"}), json!([]));
        let subsets = desired_subsets(&s, &[p]);
        assert_eq!(ips(&subsets[0].addresses), ["10.244.1.2"]);
    }
}
