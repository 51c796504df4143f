//! Columns of the kinds that configure and govern workloads rather than run them: service
//! accounts, config maps, storage (claims, volumes, classes), limit ranges and quotas, RBAC and
//! network policies.

use super::apps::label_selector_or_none;
use super::{AGE, Column, NAME, Row, age, column, integer, wide};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, PersistentVolume, PersistentVolumeClaim, ResourceQuota, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::Value;

fn name(meta: &ObjectMeta) -> Value {
    meta.name.clone().unwrap_or_default().into()
}

const CREATED_AT: Column = Column {
    name: "Created At",
    type_: "date",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
    priority: 0,
};

/// A creation time as `CREATED AT` prints it, RFC 3339 in UTC.
fn created_at(time: Option<&Time>) -> Value {
    time.map_or_else(String::new, |t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).into()
}

pub const SERVICEACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    integer(
        "Secrets",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];

pub fn service_account(sa: &ServiceAccount, now: Timestamp) -> Row {
    let secrets = sa.secrets.as_ref().map_or(0, Vec::len) as i64;
    Row::new(vec![name(&sa.metadata), secrets.into(), age(sa.metadata.creation_timestamp.as_ref(), now).into()])
}

pub const CONFIGMAP_COLUMNS: &[Column] = &[NAME, integer("Data", "Data contains the configuration data."), AGE];

pub fn config_map(cm: &ConfigMap, now: Timestamp) -> Row {
    let count = cm.data.as_ref().map_or(0, |d| d.len()) + cm.binary_data.as_ref().map_or(0, |d| d.len());
    Row::new(vec![
        name(&cm.metadata),
        Value::from(count as i64),
        age(cm.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

/// Access modes as kubectl abbreviates them, in its order: `RWO,ROX,RWX,RWOP`.
pub fn access_modes(modes: Option<&Vec<String>>) -> String {
    let modes = modes.map(Vec::as_slice).unwrap_or_default();
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(mode, _)| modes.iter().any(|m| m == mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

pub const PVC_COLUMNS: &[Column] = &[
    NAME,
    column("Status", "Phase represents the current phase of PersistentVolumeClaim."),
    column("Volume", "VolumeName is the binding reference to the PersistentVolume backing this claim."),
    column("Capacity", "Capacity represents the actual resources of the underlying volume."),
    column("Access Modes", "AccessModes contains all ways the volume can be mounted."),
    column("StorageClass", "StorageClassName is the name of the StorageClass required by the claim."),
    column(
        "VolumeAttributesClass",
        "VolumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.",
    ),
    AGE,
    wide("VolumeMode", "VolumeMode defines what type of volume is required by the claim."),
];

pub fn persistent_volume_claim(pvc: &PersistentVolumeClaim, now: Timestamp) -> Row {
    let spec = pvc.spec.clone().unwrap_or_default();
    let status = pvc.status.clone().unwrap_or_default();
    let mut phase = status.phase.clone().unwrap_or_default();
    if pvc.metadata.deletion_timestamp.is_some() {
        phase = "Terminating".into();
    }
    let volume = spec.volume_name.clone().unwrap_or_default();
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        let capacity = status.capacity.as_ref().and_then(|c| c.get("storage")).map(|q| q.0.clone());
        (capacity.unwrap_or_default(), access_modes(status.access_modes.as_ref()))
    };
    Row::new(vec![
        name(&pvc.metadata),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        spec.storage_class_name.clone().unwrap_or_default().into(),
        spec.volume_attributes_class_name.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| "<unset>".into()).into(),
        age(pvc.metadata.creation_timestamp.as_ref(), now).into(),
        spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into()).into(),
    ])
}

pub const PV_COLUMNS: &[Column] = &[
    NAME,
    column("Capacity", "capacity is the description of the persistent volume's resources and capacity."),
    column("Access Modes", "accessModes contains all ways the volume can be mounted."),
    column(
        "Reclaim Policy",
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
    ),
    column("Status", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    column("Claim", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    column("StorageClass", "storageClassName is the name of StorageClass to which this persistent volume belongs."),
    column("VolumeAttributesClass", "Name of VolumeAttributesClass to which this persistent volume belongs."),
    column("Reason", "reason is a brief CamelCase string that describes any failure."),
    AGE,
    wide(
        "VolumeMode",
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
    ),
];

pub fn persistent_volume(pv: &PersistentVolume, now: Timestamp) -> Row {
    let spec = pv.spec.clone().unwrap_or_default();
    let status = pv.status.clone().unwrap_or_default();
    let claim = spec.claim_ref.as_ref().map_or_else(String::new, |c| {
        format!("{}/{}", c.namespace.clone().unwrap_or_default(), c.name.clone().unwrap_or_default())
    });
    let mut phase = status.phase.clone().unwrap_or_default();
    if pv.metadata.deletion_timestamp.is_some() {
        phase = "Terminating".into();
    }
    Row::new(vec![
        name(&pv.metadata),
        spec.capacity.as_ref().and_then(|c| c.get("storage")).map(|q| q.0.clone()).unwrap_or_default().into(),
        access_modes(spec.access_modes.as_ref()).into(),
        spec.persistent_volume_reclaim_policy.clone().unwrap_or_default().into(),
        phase.into(),
        claim.into(),
        spec.storage_class_name.clone().unwrap_or_default().into(),
        spec.volume_attributes_class_name.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| "<unset>".into()).into(),
        status.reason.clone().unwrap_or_default().into(),
        age(pv.metadata.creation_timestamp.as_ref(), now).into(),
        spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into()).into(),
    ])
}

pub const STORAGECLASS_COLUMNS: &[Column] = &[
    NAME,
    column("Provisioner", "Provisioner indicates the type of the provisioner."),
    column(
        "ReclaimPolicy",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
    ),
    column(
        "VolumeBindingMode",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
    ),
    column("AllowVolumeExpansion", "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

/// The annotation that marks the default storage class.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

pub fn storage_class(sc: &StorageClass, now: Timestamp) -> Row {
    let mut label = sc.metadata.name.clone().unwrap_or_default();
    let default = sc.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION));
    if default.is_some_and(|v| v == "true") {
        label.push_str(" (default)");
    }
    Row::new(vec![
        label.into(),
        sc.provisioner.clone().into(),
        sc.reclaim_policy.clone().unwrap_or_else(|| "Delete".into()).into(),
        sc.volume_binding_mode.clone().unwrap_or_else(|| "Immediate".into()).into(),
        Value::from(sc.allow_volume_expansion.unwrap_or(false)),
        age(sc.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const PRIORITYCLASS_COLUMNS: &[Column] = &[
    NAME,
    integer(
        "Value",
        "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
    ),
    Column {
        name: "Global-Default",
        type_: "boolean",
        format: "",
        description: "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
        priority: 0,
    },
    AGE,
    column(
        "PreemptionPolicy",
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
    ),
];

pub fn priority_class(pc: &PriorityClass, now: Timestamp) -> Row {
    Row::new(vec![
        name(&pc.metadata),
        pc.value.into(),
        Value::from(pc.global_default.unwrap_or(false)),
        age(pc.metadata.creation_timestamp.as_ref(), now).into(),
        pc.preemption_policy.clone().unwrap_or_default().into(),
    ])
}

pub const CREATED_AT_COLUMNS: &[Column] = &[NAME, CREATED_AT];

pub fn limit_range(l: &LimitRange) -> Row {
    Row::new(vec![name(&l.metadata), created_at(l.metadata.creation_timestamp.as_ref())])
}

pub fn role(r: &Role) -> Row {
    Row::new(vec![name(&r.metadata), created_at(r.metadata.creation_timestamp.as_ref())])
}

pub fn cluster_role(r: &ClusterRole) -> Row {
    Row::new(vec![name(&r.metadata), created_at(r.metadata.creation_timestamp.as_ref())])
}

pub const RESOURCEQUOTA_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    column("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
    column(
        "Limit",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
];

pub fn resource_quota(q: &ResourceQuota, now: Timestamp) -> Row {
    let status = q.status.clone().unwrap_or_default();
    let hard = status.hard.or_else(|| q.spec.as_ref().and_then(|s| s.hard.clone())).unwrap_or_default();
    let used = status.used.unwrap_or_default();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for (resource, quantity) in &hard {
        let current = used.get(resource).map_or("0", |u| u.0.as_str());
        let item = format!("{resource}: {current}/{}", quantity.0);
        if resource.starts_with("limits.") { limits.push(item) } else { requests.push(item) }
    }
    Row::new(vec![
        name(&q.metadata),
        age(q.metadata.creation_timestamp.as_ref(), now).into(),
        requests.join(", ").into(),
        limits.join(", ").into(),
    ])
}

pub const BINDING_COLUMNS: &[Column] = &[
    NAME,
    column("Role", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
    AGE,
    wide("Users", "Users in the roleBinding"),
    wide("Groups", "Groups in the roleBinding"),
    wide("ServiceAccounts", "ServiceAccounts in the roleBinding"),
];

fn binding(meta: &ObjectMeta, role: &RoleRef, subjects: Option<&Vec<Subject>>, now: Timestamp) -> Row {
    let (mut users, mut groups, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for s in subjects.into_iter().flatten() {
        match s.kind.as_str() {
            "User" => users.push(s.name.clone()),
            "Group" => groups.push(s.name.clone()),
            "ServiceAccount" => accounts.push(format!("{}/{}", s.namespace.clone().unwrap_or_default(), s.name)),
            _ => {}
        }
    }
    Row::new(vec![
        name(meta),
        format!("{}/{}", role.kind, role.name).into(),
        age(meta.creation_timestamp.as_ref(), now).into(),
        users.join(", ").into(),
        groups.join(", ").into(),
        accounts.join(", ").into(),
    ])
}

pub fn role_binding(b: &RoleBinding, now: Timestamp) -> Row {
    binding(&b.metadata, &b.role_ref, b.subjects.as_ref(), now)
}

pub fn cluster_role_binding(b: &ClusterRoleBinding, now: Timestamp) -> Row {
    binding(&b.metadata, &b.role_ref, b.subjects.as_ref(), now)
}

pub const NETWORKPOLICY_COLUMNS: &[Column] =
    &[NAME, column("Pod-Selector", "Select the pods to which this network policy object applies."), AGE];

pub fn network_policy(n: &NetworkPolicy, now: Timestamp) -> Row {
    let selector = n.spec.as_ref().and_then(|s| s.pod_selector.as_ref());
    Row::new(vec![
        name(&n.metadata),
        label_selector_or_none(selector).into(),
        age(n.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}
