//! `kubectl get`'s columns as kube-apiserver prints them (its `printers.go`): for each kind the
//! column definitions and the cells of a row, wide columns included (kubectl hides those of
//! priority 1 unless `-o wide`). The API answers `kubectl get` with these as a `meta.k8s.io`
//! Table; the dashboard shows the same words.

mod apps;
mod config;
mod core;
mod gateway;
mod networking;
mod pod;
mod workloads;

pub use self::core::{endpoints_list, service_cluster_ip, service_external_ip, service_ports};
pub use apps::label_selector;
pub use config::{DEFAULT_CLASS_ANNOTATION, access_modes};
pub use gateway::condition_status;
pub use networking::{ingress_address, ingress_hosts, ingress_ports};
pub use pod::{pod_ready, pod_restart_count, pod_restarts, pod_status};
pub use workloads::{job_status, job_status_of};

use crate::{Kind, Object};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One column of a Table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    /// 0 for the columns kubectl always shows, 1 for `-o wide` ones.
    pub priority: i32,
}

/// A row's condition (a finished pod's row says it is `Completed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowCondition {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: &'static str,
}

/// One object's cells, in its kind's column order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub cells: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RowCondition>,
}

impl Row {
    fn new(cells: Vec<Value>) -> Self {
        Row { cells, conditions: vec![] }
    }
}

const fn column(name: &'static str, description: &'static str) -> Column {
    Column { name, type_: "string", format: "", description, priority: 0 }
}

const fn wide(name: &'static str, description: &'static str) -> Column {
    Column { name, type_: "string", format: "", description, priority: 1 }
}

const fn integer(name: &'static str, description: &'static str) -> Column {
    Column { name, type_: "integer", format: "", description, priority: 0 }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    priority: 0,
};

const AGE: Column = column(
    "Age",
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.",
);

/// The columns of a kind's Table.
pub fn columns(kind: Kind) -> &'static [Column] {
    match kind {
        Kind::Pod => pod::POD_COLUMNS,
        Kind::Service => core::SERVICE_COLUMNS,
        Kind::Endpoints => core::ENDPOINTS_COLUMNS,
        Kind::Node => core::NODE_COLUMNS,
        Kind::Namespace => core::NAMESPACE_COLUMNS,
        Kind::Secret => core::SECRET_COLUMNS,
        Kind::Event => core::EVENT_COLUMNS,
        Kind::ReplicationController => core::RC_COLUMNS,
        Kind::ReplicaSet => apps::REPLICASET_COLUMNS,
        Kind::Deployment => apps::DEPLOYMENT_COLUMNS,
        Kind::EndpointSlice => networking::ENDPOINTSLICE_COLUMNS,
        Kind::Ingress => networking::INGRESS_COLUMNS,
        Kind::IngressClass => networking::INGRESSCLASS_COLUMNS,
        Kind::CertificateSigningRequest => networking::CSR_COLUMNS,
        Kind::Lease => networking::LEASE_COLUMNS,
        Kind::ServiceAccount => config::SERVICEACCOUNT_COLUMNS,
        Kind::ConfigMap => config::CONFIGMAP_COLUMNS,
        Kind::PersistentVolumeClaim => config::PVC_COLUMNS,
        Kind::PersistentVolume => config::PV_COLUMNS,
        Kind::StorageClass => config::STORAGECLASS_COLUMNS,
        Kind::PriorityClass => config::PRIORITYCLASS_COLUMNS,
        Kind::LimitRange | Kind::Role | Kind::ClusterRole => config::CREATED_AT_COLUMNS,
        Kind::ResourceQuota => config::RESOURCEQUOTA_COLUMNS,
        Kind::RoleBinding | Kind::ClusterRoleBinding => config::BINDING_COLUMNS,
        Kind::NetworkPolicy => config::NETWORKPOLICY_COLUMNS,
        Kind::StatefulSet => workloads::STATEFULSET_COLUMNS,
        Kind::DaemonSet => workloads::DAEMONSET_COLUMNS,
        Kind::ControllerRevision => workloads::CONTROLLERREVISION_COLUMNS,
        Kind::Job => workloads::JOB_COLUMNS,
        Kind::CronJob => workloads::CRONJOB_COLUMNS,
        Kind::PodDisruptionBudget => workloads::PDB_COLUMNS,
        Kind::HorizontalPodAutoscaler => workloads::HPA_COLUMNS,
        Kind::GatewayClass => gateway::GATEWAYCLASS_COLUMNS,
        Kind::Gateway => gateway::GATEWAY_COLUMNS,
        Kind::HttpRoute => gateway::HTTPROUTE_COLUMNS,
        Kind::ReferenceGrant => gateway::REFERENCEGRANT_COLUMNS,
    }
}

/// One object's row, its ages measured at `now`.
pub fn row(object: &Object, now: Timestamp) -> Row {
    match object {
        Object::Pod(o) => pod::pod(o, now),
        Object::Service(o) => core::service(o, now),
        Object::Endpoints(o) => core::endpoints(o, now),
        Object::Node(o) => core::node(o, now),
        Object::Namespace(o) => core::namespace(o, now),
        Object::Secret(o) => core::secret(o, now),
        Object::Event(o) => core::event(o, now),
        Object::ReplicationController(o) => core::replication_controller(o, now),
        Object::ReplicaSet(o) => apps::replica_set(o, now),
        Object::Deployment(o) => apps::deployment(o, now),
        Object::EndpointSlice(o) => networking::endpoint_slice(o, now),
        Object::Ingress(o) => networking::ingress(o, now),
        Object::IngressClass(o) => networking::ingress_class(o, now),
        Object::CertificateSigningRequest(o) => networking::csr(o, now),
        Object::Lease(o) => networking::lease(o, now),
        Object::ServiceAccount(o) => config::service_account(o, now),
        Object::ConfigMap(o) => config::config_map(o, now),
        Object::PersistentVolumeClaim(o) => config::persistent_volume_claim(o, now),
        Object::PersistentVolume(o) => config::persistent_volume(o, now),
        Object::StorageClass(o) => config::storage_class(o, now),
        Object::PriorityClass(o) => config::priority_class(o, now),
        Object::LimitRange(o) => config::limit_range(o),
        Object::Role(o) => config::role(o),
        Object::ClusterRole(o) => config::cluster_role(o),
        Object::ResourceQuota(o) => config::resource_quota(o, now),
        Object::RoleBinding(o) => config::role_binding(o, now),
        Object::ClusterRoleBinding(o) => config::cluster_role_binding(o, now),
        Object::NetworkPolicy(o) => config::network_policy(o, now),
        Object::StatefulSet(o) => workloads::stateful_set(o, now),
        Object::DaemonSet(o) => workloads::daemon_set(o, now),
        Object::ControllerRevision(o) => workloads::controller_revision(o, now),
        Object::Job(o) => workloads::job(o, now),
        Object::CronJob(o) => workloads::cron_job(o, now),
        Object::PodDisruptionBudget(o) => workloads::pod_disruption_budget(o, now),
        Object::HorizontalPodAutoscaler(o) => workloads::horizontal_pod_autoscaler(o, now),
        Object::GatewayClass(o) => gateway::gateway_class(o, now),
        Object::Gateway(o) => gateway::gateway(o, now),
        Object::HttpRoute(o) => gateway::http_route(o, now),
        Object::ReferenceGrant(o) => gateway::reference_grant(o, now),
    }
}

/// A duration as kubectl prints ages (apimachinery's `HumanDuration`): `42s`, `5m3s`, `17m`,
/// `3h5m`, `30h`, `2d4h`, `45d`, `2y10d`, `9y`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let seconds = seconds.max(0);
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of a timestamp at `now`, `<unknown>` without one.
pub fn age(time: Option<&Time>, now: Timestamp) -> String {
    match time {
        Some(t) => human_duration(now.as_second() - t.0.as_second()),
        None => "<unknown>".into(),
    }
}

/// Labels as `k=v,k2=v2`, keys sorted; `<none>` when there are none.
pub fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    match labels.filter(|l| !l.is_empty()) {
        Some(l) => l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        None => "<none>".into(),
    }
}

/// A load balancer's addresses from its status entries' `(ip, hostname)`: the IP, else the
/// hostname, sorted and unique.
fn load_balancer_addresses<'a>(entries: impl Iterator<Item = (&'a Option<String>, &'a Option<String>)>) -> Vec<String> {
    let mut set: Vec<String> = entries
        .filter_map(|(ip, hostname)| {
            ip.clone().filter(|ip| !ip.is_empty()).or_else(|| hostname.clone().filter(|h| !h.is_empty()))
        })
        .collect();
    set.sort();
    set.dedup();
    set
}

/// Up to `max` items joined by `,`, then ` + N more...`; `empty` when there are none.
fn list_with_more(items: impl IntoIterator<Item = String>, max: usize, empty: &str) -> String {
    let (mut list, mut count) = (Vec::new(), 0);
    for item in items {
        if list.len() < max {
            list.push(item);
        }
        count += 1;
    }
    if count > max {
        return format!("{} + {} more...", list.join(","), count - max);
    }
    if list.is_empty() { empty.to_string() } else { list.join(",") }
}

#[cfg(test)]
mod tests;
