//! The cluster's initial objects: namespaces, the nodes, the default StorageClass, the `kubernetes` service whose endpoint
//! (and EndpointSlice) is the API server itself, and `kube-dns`, whose endpoint is the DNS server. Existing objects
//! are left as they are, but for those two services' addresses, which follow this run's ports.
//! And kube-apiserver's `kubernetes` service controller: that service, its Endpoints and its
//! EndpointSlice come back when deleted (a real API server puts them back within ten seconds;
//! this one at once).

use crate::controllers::runtime::{Action, Reconciler};
use crate::controllers::volumes;
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use svclab_shared::{Kind, Object};

pub const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

pub fn node_name(index: u8) -> String {
    format!("node-{index}")
}

/// Creates an object unless one of its kind and name is there already.
pub fn ensure(registry: &Registry, value: serde_json::Value) -> Result<(), ApiError> {
    let object = Object::from_value(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    if registry.store().get(&ObjectKey::of(&object)).is_some() {
        return Ok(());
    }
    match registry.create(object) {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates an object, or makes the stored one say what `value` says (the API server's and the
/// DNS server's ports may differ from the last run's).
fn upsert(registry: &Registry, value: serde_json::Value) -> Result<(), ApiError> {
    let object = Object::from_value(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    if registry.store().get(&ObjectKey::of(&object)).is_some() {
        return registry.update(object).map(|_| ());
    }
    registry.create(object).map(|_| ())
}

/// Creates what a fresh cluster has.
pub fn run(registry: &Registry, nodes: u8, api: SocketAddr) -> Result<(), ApiError> {
    for ns in NAMESPACES {
        ensure(registry, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))?;
    }
    for i in 1..=nodes {
        let name = node_name(i);
        ensure(
            registry,
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": crate::kubelet::status::architecture()}},
            "spec": {"podCIDR": format!("10.244.{i}.0/24"), "podCIDRs": [format!("10.244.{i}.0/24")]}}),
        )?;
    }
    ensure(
        registry,
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": volumes::DEFAULT_CLASS,
        "annotations": {svclab_shared::printers::DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": volumes::PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}),
    )?;
    for (name, value) in svclab_shared::validation::scheduling::SYSTEM_CLASSES {
        let description = match *name {
            "system-node-critical" => "Used for system critical pods that must not be moved from their current node.",
            _ => {
                "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."
            }
        };
        ensure(
            registry,
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, "description": description, "preemptionPolicy": "PreemptLowerPriority"}),
        )?;
    }
    for object in kubernetes_service(api) {
        upsert(registry, object)?;
    }
    Ok(())
}

/// The `kubernetes` service's cluster IP.
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

/// The `kubernetes` service in `default`, whose endpoint is the API server at `api`: the Service,
/// its Endpoints and its EndpointSlice, as kube-apiserver keeps them (its Endpoints are not
/// mirrored, and no controller manages its slice).
pub fn kubernetes_service(api: SocketAddr) -> [serde_json::Value; 3] {
    [
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
        "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": KUBERNETES_SERVICE_IP, "ports": [{"name": "https", "port": 443, "targetPort": api.port(), "protocol": "TCP"}]}}),
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default",
        "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": api.ip().to_string()}], "ports": [{"name": "https", "port": api.port(), "protocol": "TCP"}]}]}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "kubernetes", "namespace": "default",
        "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [api.ip().to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": api.port(), "protocol": "TCP"}]}),
    ]
}

/// The `kube-dns` service in `kube-system` (`10.96.0.10`, port 53 UDP and TCP), whose endpoint
/// is the cluster DNS server, so pods' queries reach it through the service proxy.
pub fn kube_dns(registry: &Registry, ip: std::net::Ipv4Addr, dns: SocketAddr) -> Result<(), ApiError> {
    upsert(
        registry,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system",
        "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "kubernetes.io/cluster-service": "true"}},
        "spec": {"clusterIP": ip.to_string(), "ports": [
            {"name": "dns", "port": 53, "targetPort": dns.port(), "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "targetPort": dns.port(), "protocol": "TCP"}]}}),
    )?;
    upsert(
        registry,
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kube-dns", "namespace": "kube-system",
        "labels": {"k8s-app": "kube-dns"}},
        "subsets": [{"addresses": [{"ip": dns.ip().to_string()}], "ports": [
            {"name": "dns", "port": dns.port(), "protocol": "UDP"},
            {"name": "dns-tcp", "port": dns.port(), "protocol": "TCP"}]}]}),
    )
}

/// The GatewayClass of svclab's Gateway controller, as a cloud provides its own.
pub fn gateway_class(registry: &Registry) -> Result<(), ApiError> {
    use svclab_shared::gateway::{CLASS, CONTROLLER};
    ensure(
        registry,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": CLASS},
        "spec": {"controllerName": CONTROLLER, "description": "svclab's Gateways: an address from the load-balancer pool, served by svclab's proxy"}}),
    )
}

/// The IngressClass the ingress add-on serves (`nginx`, ingress-nginx's controller), marked as
/// the cluster's default as minikube's add-on does.
pub fn ingress_class(registry: &Registry) -> Result<(), ApiError> {
    ensure(
        registry,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": crate::ingress::routes::CLASS,
        "labels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
        "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": crate::ingress::routes::CONTROLLER}}),
    )
}

/// Puts the `kubernetes` service back when it, its Endpoints or its EndpointSlice is deleted.
pub struct KubernetesServiceController {
    registry: Registry,
    /// Where the API server listens: the service's endpoint.
    api: SocketAddr,
}

impl KubernetesServiceController {
    pub fn new(registry: Registry, api: SocketAddr) -> Self {
        KubernetesServiceController { registry, api }
    }
}

impl Reconciler for KubernetesServiceController {
    fn name(&self) -> &'static str {
        "kubernetes-service"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        let ours = matches!(object.kind(), Kind::Service | Kind::Endpoints | Kind::EndpointSlice)
            && object.namespace() == "default"
            && object.name() == "kubernetes";
        if ours { vec![ObjectKey::new(Kind::Service, "default", "kubernetes")] } else { vec![] }
    }

    async fn reconcile(&mut self, _key: &ObjectKey) -> Action {
        for object in kubernetes_service(self.api) {
            if let Err(e) = ensure(&self.registry, object) {
                tracing::debug!(error = %e, "kubernetes service controller");
                return Action::RequeueAfter(Duration::from_millis(500));
            }
        }
        Action::AwaitChange
    }
}
