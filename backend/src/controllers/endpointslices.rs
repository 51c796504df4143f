//! The EndpointSlice controller: for each selector service, `discovery.k8s.io/v1` EndpointSlices
//! of at most 100 endpoints, grouped by port list, with the `ready`, `serving` and `terminating`
//! conditions, node names, zones and pod references, and the topology hints a service's
//! `trafficDistribution` or Topology Aware Routing ([`topology`]) asks for; owned by the service,
//! so they go with it.

pub mod topology;

use super::endpoints::{PodEndpoint, pod_endpoints, selector_of, services_selecting};
use super::owners::reference_to;
use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointHints, EndpointPort, EndpointSlice, ForNode, ForZone,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use svclab_shared::selector::Selector;
use svclab_shared::service::{TrafficDistribution, Zones};
use svclab_shared::{Kind, Object};

/// The most endpoints one slice holds (the controller's default `--max-endpoints-per-slice`).
pub const MAX_PER_SLICE: usize = 100;
pub use svclab_shared::service::SERVICE_NAME_LABEL as SERVICE_NAME;
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// One slice's contents: its ports and endpoints.
pub type SliceContent = (Vec<EndpointPort>, Vec<Endpoint>);

/// The hints an endpoint in `zone` on `node` gets under `distribution` (the controller's
/// `trafficdist` heuristics): its own zone for `PreferSameZone`, its own node and zone for
/// `PreferSameNode`.
fn hints(distribution: Option<TrafficDistribution>, zone: Option<&str>, node: Option<&str>) -> Option<EndpointHints> {
    let for_zones = zone.map(|z| vec![ForZone { name: z.to_string() }]);
    let hints = match distribution? {
        TrafficDistribution::SameZone => EndpointHints { for_zones, for_nodes: None },
        TrafficDistribution::SameNode => {
            EndpointHints { for_zones, for_nodes: node.map(|n| vec![ForNode { name: n.to_string() }]) }
        }
    };
    (hints.for_zones.is_some() || hints.for_nodes.is_some()).then_some(hints)
}

fn endpoint_of(e: &PodEndpoint, zones: &Zones, distribution: Option<TrafficDistribution>) -> Endpoint {
    let node = e.address.node_name.as_deref();
    let zone = node.and_then(|n| zones.get(n)).map(String::as_str);
    Endpoint {
        addresses: vec![e.address.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(e.ready),
            serving: Some(e.serving),
            terminating: Some(e.terminating),
        }),
        hostname: e.address.hostname.clone(),
        node_name: e.address.node_name.clone(),
        target_ref: e.address.target_ref.clone(),
        zone: zone.map(String::from),
        hints: hints(distribution, zone, node),
        ..Default::default()
    }
}

/// The slices a service should have: endpoints grouped by their port list, in chunks of `max`,
/// each with its node's zone. Pure.
pub fn desired_slices<'a>(
    svc: &Service,
    pods: impl IntoIterator<Item = &'a Pod>,
    zones: &Zones,
    max: usize,
) -> Vec<SliceContent> {
    let distribution = svc.spec.as_ref().and_then(TrafficDistribution::of);
    let mut groups: Vec<(Vec<EndpointPort>, Vec<Endpoint>)> = Vec::new();
    for e in pod_endpoints(svc, pods) {
        let ports: Vec<EndpointPort> = e
            .ports
            .iter()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let endpoint = endpoint_of(&e, zones, distribution);
        match groups.iter_mut().find(|(p, _)| *p == ports) {
            Some((_, endpoints)) => endpoints.push(endpoint),
            None => groups.push((ports, vec![endpoint])),
        }
    }
    let mut out = Vec::new();
    for (ports, endpoints) in groups {
        for chunk in endpoints.chunks(max.max(1)) {
            out.push((ports.clone(), chunk.to_vec()));
        }
    }
    out
}

/// The slices `manager` keeps for `service` (found through the label index), by name.
pub fn slices_managed_by(registry: &Registry, namespace: &str, service: &str, manager: &str) -> Vec<EndpointSlice> {
    let labels = [(SERVICE_NAME.to_string(), service.to_string()), (MANAGED_BY.to_string(), manager.to_string())];
    let selector = Selector::from_map(&labels.into());
    let mut slices: Vec<EndpointSlice> =
        registry.store().select::<EndpointSlice>(namespace, &selector).iter().map(|s| (**s).clone()).collect();
    slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    slices
}

/// What every slice of one set carries: labels, annotations and its owner.
pub struct SliceMeta {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub owner: OwnerReference,
}

impl SliceMeta {
    /// The slices `manager` makes for `owner` (a Service, or the Endpoints mirrored): named and
    /// labelled after it, with its labels, and owned by it.
    pub fn new(kind: Kind, owner: &ObjectMeta, manager: &str) -> Self {
        let name = owner.name.clone().unwrap_or_default();
        let mut labels = owner.labels.clone().unwrap_or_default();
        labels.insert(SERVICE_NAME.into(), name);
        labels.insert(MANAGED_BY.into(), manager.into());
        SliceMeta {
            namespace: owner.namespace.clone().unwrap_or_default(),
            labels,
            annotations: None,
            owner: reference_to(kind, owner),
        }
    }
}

/// Deletes `slices` (of `namespace`); whether any deletion failed.
pub fn delete_slices(registry: &Registry, namespace: &str, slices: impl IntoIterator<Item = EndpointSlice>) -> bool {
    let mut failed = false;
    for slice in slices {
        let name = slice.metadata.name.unwrap_or_default();
        failed |= registry.delete(&ObjectKey::new(Kind::EndpointSlice, namespace, &name), None).is_err();
    }
    failed
}

/// Makes `existing` (one manager's slices of a service) into `desired` (address type, ports,
/// endpoints): existing slices are reused in order, the rest created or deleted; a slice whose
/// address type differs is replaced (the type cannot change). Whether any write failed.
pub fn sync_slices(
    registry: &Registry,
    existing: Vec<EndpointSlice>,
    desired: Vec<(&str, SliceContent)>,
    meta: &SliceMeta,
) -> bool {
    let mut failed = false;
    let mut existing = existing.into_iter();
    for (address_type, (ports, endpoints)) in desired {
        let ports = Some(ports);
        let reused = match existing.next() {
            Some(slice) if slice.address_type != address_type => {
                failed |= delete_slices(registry, &meta.namespace, [slice]);
                None
            }
            other => other,
        };
        let result = match reused {
            Some(mut slice) => {
                let unchanged = slice.ports == ports
                    && slice.endpoints == endpoints
                    && slice.metadata.labels.as_ref() == Some(&meta.labels)
                    && slice.metadata.annotations == meta.annotations;
                if unchanged {
                    continue;
                }
                (slice.ports, slice.endpoints) = (ports, endpoints);
                (slice.metadata.labels, slice.metadata.annotations) =
                    (Some(meta.labels.clone()), meta.annotations.clone());
                registry.update(Object::EndpointSlice(slice))
            }
            None => registry.create(Object::EndpointSlice(EndpointSlice {
                metadata: ObjectMeta {
                    generate_name: Some(format!("{}-", meta.owner.name)),
                    namespace: Some(meta.namespace.clone()),
                    labels: Some(meta.labels.clone()),
                    annotations: meta.annotations.clone(),
                    owner_references: Some(vec![meta.owner.clone()]),
                    ..Default::default()
                },
                address_type: address_type.into(),
                endpoints,
                ports,
            })),
        };
        failed |= result.is_err();
    }
    failed | delete_slices(registry, &meta.namespace, existing)
}

pub struct EndpointSliceController {
    registry: Registry,
    /// The services whose slices Topology Aware Routing hints (the topology cache's
    /// `hintsPopulatedByService`), for the events when that starts and stops.
    hinted: HashSet<ObjectKey>,
}

impl EndpointSliceController {
    pub fn new(registry: Registry) -> Self {
        EndpointSliceController { registry, hinted: HashSet::new() }
    }

    /// Topology Aware Routing for `svc`'s `desired` slices when its annotation asks for it
    /// (over any `trafficDistribution` hints), with the events kube-controller-manager records.
    fn topology(&mut self, key: &ObjectKey, svc: &Service, desired: &mut [SliceContent]) {
        let event = |type_: &str, reason: &str, message: &str| {
            let message = format!("{message}, addressType: IPv4");
            let about = Object::Service(svc.clone());
            self.registry.record_event(&about, type_, reason, &message, "endpoint-slice-controller");
        };
        if !svclab_shared::service::topology_auto(svc) {
            if self.hinted.remove(key) {
                event("Warning", "TopologyAwareHintsDisabled", topology::DISABLED);
            }
            return;
        }
        let nodes = self.registry.store().list(Kind::Node, None).1;
        let ratios = topology::cpu_ratios(nodes.iter().filter_map(|o| o.downcast::<Node>()));
        match topology::add_hints(desired, ratios) {
            Ok(()) if self.hinted.insert(key.clone()) => {
                event("Normal", "TopologyAwareHintsEnabled", topology::ENABLED)
            }
            Ok(()) => {}
            Err(why) => {
                self.hinted.remove(key);
                event("Warning", "TopologyAwareHintsDisabled", &why);
            }
        }
    }
}

impl Reconciler for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice-controller"
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        match object.kind() {
            Kind::Service => vec![ObjectKey::of(object)],
            Kind::EndpointSlice => {
                let service = object.metadata().labels.as_ref().and_then(|l| l.get(SERVICE_NAME));
                service.map(|s| ObjectKey::new(Kind::Service, object.namespace(), s)).into_iter().collect()
            }
            Kind::Pod => services_selecting(self.registry.store(), object, old),
            // A node's zone is every endpoint's on it, and its zone, readiness and CPU decide
            // Topology Aware Routing's shares: the services are looked at again.
            Kind::Node
                if old.is_none_or(|old| topology::Shares::of(old) != topology::Shares::of(object))
                    || self.registry.store().get(&ObjectKey::new(Kind::Node, "", object.name())).is_none() =>
            {
                self.registry.store().list(Kind::Service, None).1.iter().map(|s| ObjectKey::of(s)).collect()
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store();
        let existing = slices_managed_by(&self.registry, &key.namespace, &key.name, CONTROLLER);
        let svc = store.get_typed::<Service>(&key.namespace, &key.name).filter(|s| selector_of(s).is_some());
        let Some(svc) = svc else {
            // Gone, or no selector any more: the slices go (ownership removes them with the service).
            self.hinted.remove(key);
            delete_slices(&self.registry, &key.namespace, existing);
            return Action::AwaitChange;
        };
        let selector = selector_of(&svc).expect("checked above");
        let pods = store.select::<Pod>(&key.namespace, &selector);
        let zones = svclab_shared::service::zones(store.list(Kind::Node, None).1.iter().map(|o| &**o));
        let mut desired = desired_slices(&svc, pods.iter().map(|p| &**p), &zones, MAX_PER_SLICE);
        if desired.is_empty() {
            // A service with no endpoints still has one (empty) slice.
            let ports = svc.spec.iter().flat_map(|s| s.ports.iter().flatten()).map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: None,
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
            });
            desired.push((ports.collect(), vec![]));
        }
        self.topology(key, &svc, &mut desired);
        let meta = SliceMeta::new(Kind::Service, &svc.metadata, CONTROLLER);
        let desired = desired.into_iter().map(|content| ("IPv4", content)).collect();
        let failed = sync_slices(&self.registry, existing, desired, &meta);
        if failed { Action::RequeueAfter(Duration::from_millis(100)) } else { Action::AwaitChange }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(i: usize, ready: bool, port: u16) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("p{i}"), "namespace": "default", "labels": {"app": "kubia"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"podIP": format!("10.244.{}.{}", i / 200 + 1, i % 200 + 2),
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    #[test]
    fn slices_hold_at_most_a_hundred_and_split_by_ports() {
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "kubia"},
            "spec": {"selector": {"app": "kubia"}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}))
        .unwrap();
        let mut pods: Vec<Pod> = (0..250).map(|i| pod(i, i % 5 != 0, 8080)).collect();
        pods.push(pod(300, true, 9090));
        let slices = desired_slices(&svc, &pods, &Zones::new(), MAX_PER_SLICE);
        let sizes: Vec<(i32, usize)> = slices.iter().map(|(p, e)| (p[0].port.unwrap(), e.len())).collect();
        assert_eq!(sizes, [(8080, 100), (8080, 100), (8080, 50), (9090, 1)]);
        let unready = slices[0].1.iter().filter(|e| e.conditions.as_ref().unwrap().ready == Some(false)).count();
        assert_eq!(unready, 20);
        let first = &slices[0].1[0];
        assert_eq!(first.node_name.as_deref(), Some("node-1"));
        assert_eq!(first.conditions.as_ref().unwrap().terminating, Some(false));
        assert_eq!(first.target_ref.as_ref().unwrap().kind.as_deref(), Some("Pod"));
        assert_eq!((first.zone.as_ref(), first.hints.as_ref()), (None, None));
    }

    #[test]
    fn endpoints_carry_their_zone_and_the_hints_the_distribution_asks_for() {
        let zones: Zones = [("node-1".to_string(), "zone-a".to_string())].into();
        let svc = |distribution: &str| -> Service {
            serde_json::from_value(json!({"metadata": {"name": "kubia"}, "spec": {"selector": {"app": "kubia"},
                "trafficDistribution": distribution, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}))
            .unwrap()
        };
        let pods = [pod(1, true, 8080)];
        let endpoint =
            |distribution: &str| desired_slices(&svc(distribution), &pods, &zones, MAX_PER_SLICE)[0].1[0].clone();
        let close = endpoint("PreferClose");
        assert_eq!(close.zone.as_deref(), Some("zone-a"));
        let hints = close.hints.unwrap();
        assert_eq!((hints.for_zones.unwrap()[0].name.as_str(), hints.for_nodes), ("zone-a", None));
        let hints = endpoint("PreferSameNode").hints.unwrap();
        assert_eq!(hints.for_nodes.unwrap()[0].name, "node-1");
        let unzoned = desired_slices(&svc("PreferClose"), &pods, &Zones::new(), MAX_PER_SLICE)[0].1[0].clone();
        assert_eq!((unzoned.zone, unzoned.hints), (None, None));
    }
}
