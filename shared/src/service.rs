//! What a Service is, typed once: its type, whether it is headless, whether it publishes unready
//! endpoints, and its selector. Every component that asks these questions (the allocators, the
//! endpoints controller, the proxy, DNS, the ingress, the doctor) asks them here, so the
//! defaults (`type` ClusterIP) and the legacy annotation are written once. Pure, so the backend
//! and the dashboard share it.

use crate::selector::Selector;
use k8s_openapi::api::core::v1::{Node, Service, ServiceSpec};
use std::net::Ipv4Addr;

/// `spec.type`, defaulted as the API server defaults it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
    ExternalName,
}

impl ServiceType {
    pub fn of(spec: &ServiceSpec) -> Self {
        match spec.type_.as_deref() {
            Some("NodePort") => ServiceType::NodePort,
            Some("LoadBalancer") => ServiceType::LoadBalancer,
            Some("ExternalName") => ServiceType::ExternalName,
            _ => ServiceType::ClusterIP,
        }
    }

    /// Whether it is reached from outside the cluster through node ports.
    pub fn is_external(self) -> bool {
        matches!(self, ServiceType::NodePort | ServiceType::LoadBalancer)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }
}

/// Whether kube-proxy answers a health-check node port for it: a `LoadBalancer` under
/// `externalTrafficPolicy: Local` (Kubernetes' `NeedsHealthCheck`).
pub fn needs_health_check(spec: &ServiceSpec) -> bool {
    ServiceType::of(spec) == ServiceType::LoadBalancer && spec.external_traffic_policy.as_deref() == Some("Local")
}

/// Whether it is reached from outside the cluster at all: through node ports, or at external
/// IPs (Kubernetes' `ExternallyAccessible`), the services an `externalTrafficPolicy` applies to.
pub fn externally_accessible(spec: &ServiceSpec) -> bool {
    let type_ = ServiceType::of(spec);
    type_.is_external()
        || (type_ == ServiceType::ClusterIP && spec.external_ips.as_ref().is_some_and(|ips| !ips.is_empty()))
}

/// The node label naming its zone, which topology-aware routing reads.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// Each node's zone (its [`ZONE_LABEL`]), for the nodes that have one.
pub type Zones = std::collections::BTreeMap<String, String>;

/// The zones of the nodes among `objects`.
pub fn zones<'a>(objects: impl IntoIterator<Item = &'a crate::Object>) -> Zones {
    let zone = |n: &Node| Some((n.metadata.name.clone()?, n.metadata.labels.as_ref()?.get(ZONE_LABEL)?.clone()));
    objects.into_iter().filter_map(|o| o.downcast::<Node>()).filter_map(zone).collect()
}

/// `spec.trafficDistribution`: where the proxy prefers to send traffic, by the hints the
/// EndpointSlice controller puts on each endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrafficDistribution {
    /// `PreferSameZone` (and `PreferClose`, its older name): endpoints in the client's zone.
    SameZone,
    /// `PreferSameNode`: endpoints on the client's node, else in its zone.
    SameNode,
}

impl TrafficDistribution {
    /// The values kube-apiserver accepts.
    pub const VALUES: &[&str] = &["PreferClose", "PreferSameZone", "PreferSameNode"];

    pub fn of(spec: &ServiceSpec) -> Option<Self> {
        match spec.traffic_distribution.as_deref()? {
            "PreferClose" | "PreferSameZone" => Some(TrafficDistribution::SameZone),
            "PreferSameNode" => Some(TrafficDistribution::SameNode),
            _ => None,
        }
    }
}

/// The legacy form of `publishNotReadyAddresses`, still honoured by the endpoints controller.
pub const TOLERATE_UNREADY: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/// The label naming the service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Topology Aware Routing's annotation: `Auto` has the EndpointSlice controller hint endpoints
/// for zones in proportion to their CPU (it takes precedence over `trafficDistribution`).
pub const TOPOLOGY_MODE: &str = "service.kubernetes.io/topology-mode";
/// The annotation's older name, still honoured when the new one is absent.
pub const TOPOLOGY_AWARE_HINTS: &str = "service.kubernetes.io/topology-aware-hints";

/// Whether the service asks for Topology Aware Routing (its annotation, or the older one, is
/// `Auto`), as the EndpointSlice controller reads it.
pub fn topology_auto(svc: &Service) -> bool {
    let annotations = svc.metadata.annotations.as_ref();
    let mode = annotations.and_then(|a| a.get(TOPOLOGY_MODE).or_else(|| a.get(TOPOLOGY_AWARE_HINTS)));
    mode.is_some_and(|m| m == "Auto" || m == "auto")
}

/// The facts about one Service that routing and naming depend on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub type_: ServiceType,
    /// Its cluster IP; `None` when headless (`clusterIP: None`), an ExternalName, or not yet
    /// allocated.
    pub cluster_ip: Option<Ipv4Addr>,
    /// `clusterIP: None`: DNS answers with the endpoints themselves, and nothing is proxied.
    pub headless: bool,
    /// Unready endpoints count as ready (`publishNotReadyAddresses`, or the legacy annotation).
    pub publishes_unready: bool,
    /// The pods it selects; `None` when it has no selector (its Endpoints are the user's own).
    pub selector: Option<Selector>,
    /// `service.kubernetes.io/topology-mode: Auto` (or the older annotation).
    pub topology_auto: bool,
}

impl Facts {
    pub fn of(svc: &Service) -> Self {
        let Some(spec) = &svc.spec else { return Facts::default() };
        let annotations = svc.metadata.annotations.as_ref();
        let annotated = annotations.and_then(|a| a.get(TOLERATE_UNREADY));
        let type_ = ServiceType::of(spec);
        let cluster_ip = spec.cluster_ip.as_deref();
        Facts {
            type_,
            cluster_ip: cluster_ip.and_then(|ip| ip.parse().ok()).filter(|_| type_ != ServiceType::ExternalName),
            headless: cluster_ip == Some("None") && type_ != ServiceType::ExternalName,
            publishes_unready: spec.publish_not_ready_addresses == Some(true) || annotated.is_some_and(|v| v == "true"),
            selector: spec.selector.as_ref().filter(|s| !s.is_empty()).map(Selector::from_map),
            topology_auto: topology_auto(svc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(v: serde_json::Value) -> Facts {
        Facts::of(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn a_service_is_typed_once_with_the_api_servers_defaults() {
        let plain = facts(json!({"spec": {"clusterIP": "10.96.0.7", "selector": {"app": "kubia"}}}));
        assert_eq!(plain.type_, ServiceType::ClusterIP);
        assert_eq!(plain.cluster_ip, Some(Ipv4Addr::new(10, 96, 0, 7)));
        assert!(!plain.headless && !plain.publishes_unready && plain.selector.is_some());
        let headless = facts(json!({"spec": {"clusterIP": "None", "publishNotReadyAddresses": true}}));
        assert!(headless.headless && headless.publishes_unready && headless.cluster_ip.is_none());
        assert!(headless.selector.is_none(), "no selector: the user's own Endpoints");
        let legacy = facts(json!({"metadata": {"annotations": {TOLERATE_UNREADY: "true"}}, "spec": {}}));
        assert!(legacy.publishes_unready);
        let external = facts(json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}));
        assert_eq!(external.type_, ServiceType::ExternalName);
        assert!(!external.headless && external.cluster_ip.is_none());
        assert!(facts(json!({"spec": {"type": "LoadBalancer"}})).type_.is_external());
        assert!(facts(json!({"spec": {"selector": {}}})).selector.is_none(), "an empty selector selects nothing");
        assert!(!plain.topology_auto);
        let auto = |key: &str, value: &str| {
            facts(json!({"metadata": {"annotations": {key: value}}, "spec": {}})).topology_auto
        };
        assert!(auto(TOPOLOGY_MODE, "Auto") && auto(TOPOLOGY_MODE, "auto") && auto(TOPOLOGY_AWARE_HINTS, "Auto"));
        assert!(!auto(TOPOLOGY_MODE, "Disabled"));
    }
}
