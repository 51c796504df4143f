//! Core kinds' columns: services, endpoints, nodes, namespaces, secrets, events and replication
//! controllers (pods have [`super::pod`]).

use super::{
    AGE, Column, NAME, Row, age, column, format_labels, integer, list_with_more, load_balancer_addresses, wide,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Endpoints, Event, Namespace, Node, ReplicationController, Secret, Service};
use serde_json::Value;

pub const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    column("Type", "type determines how the Service is exposed."),
    column("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
    column(
        "External-IP",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    column("Port(s)", "The list of ports that are exposed by this service."),
    AGE,
    wide("Selector", "Route service traffic to pods with label keys and values matching this selector."),
];

/// CLUSTER-IP: the first cluster IP (`None` for a headless service), `<none>` without one.
pub fn service_cluster_ip(svc: &Service) -> String {
    let ips = svc.spec.as_ref().and_then(|s| s.cluster_ips.as_ref());
    ips.and_then(|ips| ips.first()).cloned().unwrap_or_else(|| "<none>".into())
}

/// EXTERNAL-IP: external IPs, a load balancer's addresses (`<pending>` until it has one), an
/// ExternalName's name, otherwise `<none>`.
pub fn service_external_ip(svc: &Service) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let external = spec.external_ips.clone().unwrap_or_default();
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_ref());
            let mut all = load_balancer_addresses(lb.into_iter().flatten().map(|i| (&i.ip, &i.hostname)));
            all.extend(external);
            if all.is_empty() { "<pending>".into() } else { all.join(",") }
        }
        "ExternalName" => spec.external_name.unwrap_or_default(),
        _ => "<unknown>".into(),
    }
}

/// PORT(S): `80/TCP`, `80:30123/TCP,443:30443/TCP`; `<none>` without ports.
pub fn service_ports(svc: &Service) -> String {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    let list: Vec<String> = ports
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port.filter(|n| *n > 0) {
                Some(np) => format!("{}:{np}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect();
    if list.is_empty() { "<none>".into() } else { list.join(",") }
}

pub fn service(svc: &Service, now: Timestamp) -> Row {
    let spec = svc.spec.as_ref();
    Row::new(vec![
        svc.metadata.name.clone().unwrap_or_default().into(),
        spec.and_then(|s| s.type_.clone()).unwrap_or_default().into(),
        service_cluster_ip(svc).into(),
        service_external_ip(svc).into(),
        service_ports(svc).into(),
        age(svc.metadata.creation_timestamp.as_ref(), now).into(),
        format_labels(spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}

pub const ENDPOINTS_COLUMNS: &[Column] =
    &[NAME, column("Endpoints", "The set of all endpoints is the union of all subsets."), AGE];

/// ENDPOINTS: ready `ip:port` pairs (bare IPs for a subset without ports), the first three
/// and ` + N more...`; `<none>` without any.
pub fn endpoints_list(eps: &Endpoints) -> String {
    let mut items = Vec::new();
    for subset in eps.subsets.iter().flatten() {
        let addresses = subset.addresses.as_deref().unwrap_or_default();
        match subset.ports.as_deref().filter(|p| !p.is_empty()) {
            None => items.extend(addresses.iter().map(|a| a.ip.clone())),
            Some(ports) => {
                for port in ports {
                    items.extend(addresses.iter().map(|a| host_port(&a.ip, port.port)));
                }
            }
        }
    }
    list_with_more(items, 3, "<none>")
}

fn host_port(ip: &str, port: i32) -> String {
    if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") }
}

pub fn endpoints(eps: &Endpoints, now: Timestamp) -> Row {
    Row::new(vec![
        eps.metadata.name.clone().unwrap_or_default().into(),
        endpoints_list(eps).into(),
        age(eps.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const NODE_COLUMNS: &[Column] = &[
    NAME,
    column("Status", "The status of the node"),
    column("Roles", "The roles of the node"),
    AGE,
    column("Version", "Kubelet Version reported by the node."),
    wide("Internal-IP", "List of addresses reachable to the node."),
    wide("External-IP", "List of addresses reachable to the node."),
    wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    wide(
        "Container-Runtime",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

/// INTERNAL-IP or EXTERNAL-IP: the node's first address of that type, `<none>` without one.
fn node_address(node: &Node, type_: &str) -> String {
    crate::display::node_address(node, type_).unwrap_or("<none>").to_string()
}

pub fn node(node: &Node, now: Timestamp) -> Row {
    let status = node.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let mut state: Vec<String> = conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| if c.status == "True" { "Ready".to_string() } else { "NotReady".to_string() })
        .into_iter()
        .collect();
    if state.is_empty() {
        state.push("Unknown".into());
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        state.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    for (key, value) in node.metadata.labels.iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/").filter(|r| !r.is_empty()) {
            roles.push(role.to_string());
        } else if key == "kubernetes.io/role" && !value.is_empty() {
            roles.push(value.clone());
        }
    }
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() { "<none>".to_string() } else { roles.join(",") };
    let info = status.and_then(|s| s.node_info.as_ref());
    let known = |v: Option<&String>| v.filter(|v| !v.is_empty()).cloned().unwrap_or_else(|| "<unknown>".into());
    Row::new(vec![
        node.metadata.name.clone().unwrap_or_default().into(),
        state.join(",").into(),
        roles.into(),
        age(node.metadata.creation_timestamp.as_ref(), now).into(),
        info.map(|i| i.kubelet_version.clone()).unwrap_or_default().into(),
        node_address(node, "InternalIP").into(),
        node_address(node, "ExternalIP").into(),
        known(info.map(|i| &i.os_image)).into(),
        known(info.map(|i| &i.kernel_version)).into(),
        known(info.map(|i| &i.container_runtime_version)).into(),
    ])
}

pub const NAMESPACE_COLUMNS: &[Column] = &[NAME, column("Status", "The status of the namespace"), AGE];

pub fn namespace(ns: &Namespace, now: Timestamp) -> Row {
    Row::new(vec![
        ns.metadata.name.clone().unwrap_or_default().into(),
        ns.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default().into(),
        age(ns.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const SECRET_COLUMNS: &[Column] = &[
    NAME,
    column("Type", "Used to facilitate programmatic handling of secret data."),
    column("Data", "Data contains the secret data."),
    AGE,
];

pub fn secret(secret: &Secret, now: Timestamp) -> Row {
    Row::new(vec![
        secret.metadata.name.clone().unwrap_or_default().into(),
        secret.type_.clone().unwrap_or_default().into(),
        Value::from(secret.data.as_ref().map_or(0, |d| d.len()) as i64),
        age(secret.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const EVENT_COLUMNS: &[Column] = &[
    column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    column(
        "Reason",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    column("Object", "The object that this event is about."),
    wide(
        "Subobject",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    wide("Source", "The component reporting this event. Should be a short machine understandable string."),
    column("Message", "A human-readable description of the status of this operation."),
    wide("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    wide("Count", "The number of times this event has occurred."),
    Column { name: "Name", type_: "string", format: "name", description: NAME.description, priority: 1 },
];

pub fn event(ev: &Event, now: Timestamp) -> Row {
    let micro = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>| match t {
        Some(t) => super::human_duration(now.as_second() - t.0.as_second()),
        None => "<unknown>".to_string(),
    };
    let first = match ev.first_timestamp.as_ref() {
        Some(t) => age(Some(t), now),
        None => micro(ev.event_time.as_ref()),
    };
    let mut last = match ev.last_timestamp.as_ref() {
        Some(t) => age(Some(t), now),
        None => first.clone(),
    };
    let mut count = ev.count.unwrap_or(0);
    if let Some(series) = &ev.series {
        last = micro(series.last_observed_time.as_ref());
        count = series.count.unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let involved = &ev.involved_object;
    let kind = involved.kind.clone().unwrap_or_default().to_lowercase();
    let target = match involved.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let source = ev.source.as_ref();
    let component = source.and_then(|s| s.component.clone()).filter(|c| !c.is_empty());
    let component = component.or(ev.reporting_component.clone()).unwrap_or_default();
    let host = source.and_then(|s| s.host.clone()).filter(|h| !h.is_empty());
    let host = host.or(ev.reporting_instance.clone()).unwrap_or_default();
    let source = if host.is_empty() { component } else { format!("{component}, {host}") };
    Row::new(vec![
        last.into(),
        ev.type_.clone().unwrap_or_default().into(),
        ev.reason.clone().unwrap_or_default().into(),
        target.into(),
        involved.field_path.clone().unwrap_or_default().into(),
        source.into(),
        ev.message.clone().unwrap_or_default().trim().into(),
        first.into(),
        Value::from(i64::from(count)),
        ev.metadata.name.clone().unwrap_or_default().into(),
    ])
}

pub const RC_COLUMNS: &[Column] = &[
    NAME,
    integer("Desired", "Replicas is the number of desired replicas."),
    integer("Current", "Replicas is the most recently observed number of replicas."),
    integer("Ready", "The number of ready replicas for this replication controller."),
    AGE,
    wide("Containers", "Names of each container in the template."),
    wide("Images", "Images referenced by each container in the template."),
    wide("Selector", "Selector is a label query over pods that should match the Replicas count."),
];

/// CONTAINERS and IMAGES of a pod template.
pub(super) fn containers_and_images(spec: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> (String, String) {
    let containers = spec.and_then(|t| t.spec.as_ref()).map(|s| s.containers.as_slice()).unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers.iter().map(|c| c.image.as_deref().unwrap_or_default()).collect();
    (names.join(","), images.join(","))
}

pub fn replication_controller(rc: &ReplicationController, now: Timestamp) -> Row {
    let spec = rc.spec.as_ref();
    let status = rc.status.as_ref();
    let (containers, images) = containers_and_images(spec.and_then(|s| s.template.as_ref()));
    Row::new(vec![
        rc.metadata.name.clone().unwrap_or_default().into(),
        Value::from(i64::from(spec.and_then(|s| s.replicas).unwrap_or(1))),
        Value::from(i64::from(status.map_or(0, |s| s.replicas))),
        Value::from(i64::from(status.and_then(|s| s.ready_replicas).unwrap_or(0))),
        age(rc.metadata.creation_timestamp.as_ref(), now).into(),
        containers.into(),
        images.into(),
        format_labels(spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}
