//! Validation with kube-apiserver's rules and wording: each problem is a [`FieldError`] naming the
//! field path (`spec.ports[0].port`) and reading like `Invalid value: 0: must be between 1 and
//! 65535, inclusive`.

mod autoscaling;
mod config;
mod container;
mod endpoint_slice;
mod gateway;
mod ingress;
mod meta;
pub mod names;
mod network_policy;
mod pod;
mod policy;
mod quota;
mod rbac;
pub mod scheduling;
mod service;
mod storage;
mod workload;

pub use ingress::KEY_USAGES;
pub use names::{
    LABEL_VALUE_MSG, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_label_value, is_valid_port_name,
};

use crate::Object;
use std::fmt;

/// The kinds of field error kube-apiserver reports (`field.ErrorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooMany,
    NotFound,
    TooLong,
}

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub kind: ErrorType,
    /// The offending value as Go's `%#v` would print it (quoted strings), when there is one.
    pub value: Option<String>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: ErrorType::Required, value: None, detail: detail.into() }
    }

    pub fn invalid(field: impl Into<String>, value: impl Into<String>, detail: impl Into<String>) -> Self {
        let (field, value, detail) = (field.into(), Some(value.into()), detail.into());
        FieldError { field, kind: ErrorType::Invalid, value, detail }
    }

    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            field: field.into(),
            kind: ErrorType::NotSupported,
            value: Some(format!("{value:?}")),
            detail: format!("supported values: {}", list.join(", ")),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<String>) -> Self {
        let (field, value) = (field.into(), Some(value.into()));
        FieldError { field, kind: ErrorType::Duplicate, value, detail: String::new() }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: ErrorType::Forbidden, value: None, detail: detail.into() }
    }

    pub fn not_found(field: impl Into<String>, value: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: ErrorType::NotFound, value: Some(value.into()), detail: String::new() }
    }

    /// A value longer than `max` bytes (the value itself is not repeated).
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let detail = format!("may not be more than {max} bytes");
        FieldError { field: field.into(), kind: ErrorType::TooLong, value: None, detail }
    }

    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorType::TooMany,
            value: Some(actual.to_string()),
            detail: format!("must have at most {max} items"),
        }
    }

    /// The `reason` of this cause in a `metav1.Status` (`FieldValueInvalid`…).
    pub fn reason(&self) -> &'static str {
        match self.kind {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::TooLong => "FieldValueTooLong",
        }
    }

    /// The message without the field path: `Invalid value: 0: must be …`.
    pub fn message(&self) -> String {
        let head = match self.kind {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooMany => "Too many",
            ErrorType::NotFound => "Not found",
            ErrorType::TooLong => "Too long",
        };
        let mut out = head.to_string();
        if let Some(v) = &self.value {
            out.push_str(": ");
            out.push_str(v);
        }
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// Go's `%#v` of a string, which kube-apiserver uses for string values.
pub(crate) fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// Validates a new object as kube-apiserver would on create.
pub fn validate(object: &Object) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(object);
    match object {
        Object::Service(s) => errs.extend(service::validate_service(s)),
        Object::Pod(p) => errs.extend(pod::validate_pod(p)),
        Object::ReplicationController(rc) => errs.extend(workload::validate_replication_controller(rc)),
        Object::ReplicaSet(rs) => errs.extend(workload::validate_replica_set(rs)),
        Object::Deployment(d) => errs.extend(workload::validate_deployment(d)),
        Object::Endpoints(e) => errs.extend(service::validate_endpoints(e)),
        Object::EndpointSlice(s) => errs.extend(endpoint_slice::validate_endpoint_slice(s)),
        Object::Ingress(i) => errs.extend(ingress::validate_ingress(i)),
        Object::IngressClass(c) => errs.extend(ingress::validate_ingress_class(c)),
        Object::Secret(s) => errs.extend(config::validate_secret(s)),
        Object::ConfigMap(c) => errs.extend(config::validate_config_map(c)),
        Object::CertificateSigningRequest(c) => errs.extend(ingress::validate_csr(c)),
        Object::StatefulSet(s) => errs.extend(workload::validate_stateful_set(s)),
        Object::DaemonSet(d) => errs.extend(workload::validate_daemon_set(d)),
        Object::Job(j) => match &j.spec {
            Some(spec) => errs.extend(workload::validate_job_spec(spec, "spec")),
            None => errs.push(FieldError::required("spec", "")),
        },
        Object::CronJob(c) => errs.extend(workload::validate_cron_job(c)),
        Object::Gateway(g) => errs.extend(gateway::validate_gateway(g)),
        Object::HttpRoute(r) => errs.extend(gateway::validate_http_route(r)),
        Object::NetworkPolicy(p) => errs.extend(network_policy::validate_network_policy(p)),
        Object::PodDisruptionBudget(p) => errs.extend(policy::validate_pod_disruption_budget(p)),
        Object::HorizontalPodAutoscaler(h) => errs.extend(autoscaling::validate_horizontal_pod_autoscaler(h)),
        Object::ResourceQuota(q) => errs.extend(quota::validate_resource_quota(q)),
        Object::PriorityClass(c) => errs.extend(scheduling::validate_priority_class(c)),
        Object::LimitRange(l) => errs.extend(quota::validate_limit_range(l)),
        Object::PersistentVolumeClaim(c) => {
            errs.extend(c.spec.iter().flat_map(|spec| storage::validate_claim_spec(spec, "spec")))
        }
        Object::PersistentVolume(v) => errs.extend(storage::validate_persistent_volume(v)),
        Object::Role(r) => errs.extend(rbac::validate_rules(r.rules.as_deref().unwrap_or_default(), true)),
        Object::ClusterRole(r) => errs.extend(rbac::validate_rules(r.rules.as_deref().unwrap_or_default(), false)),
        Object::RoleBinding(b) => {
            errs.extend(rbac::validate_binding(&b.role_ref, b.subjects.as_deref().unwrap_or_default(), true))
        }
        Object::ClusterRoleBinding(b) => {
            errs.extend(rbac::validate_binding(&b.role_ref, b.subjects.as_deref().unwrap_or_default(), false))
        }
        _ => {}
    }
    errs
}

/// Validates an object to be created: what [`validate`] checks, and what only a creation may
/// not set.
pub fn validate_create(object: &Object) -> Vec<FieldError> {
    let mut errs = validate(object);
    if let Object::Pod(p) = object {
        errs.extend(pod::validate_pod_create(p));
    }
    errs
}

/// Validates a pod's new ephemeral containers (`…/ephemeralcontainers`): see
/// [`pod::validate_ephemeral_containers_update`].
pub fn validate_ephemeral_containers_update(
    old: &k8s_openapi::api::core::v1::Pod,
    new: &k8s_openapi::api::core::v1::Pod,
) -> Vec<FieldError> {
    pod::validate_ephemeral_containers_update(old, new)
}

/// Validates an update: everything [`validate`] checks, plus the fields that may not change. A
/// problem the stored object already had (kept from before a rule existed) does not stop it
/// being updated, as kube-apiserver ratchets its newer rules.
pub fn validate_update(old: &Object, new: &Object) -> Vec<FieldError> {
    let mut errs = validate(new);
    if !errs.is_empty() {
        let before = validate(old);
        errs.retain(|e| !before.contains(e));
    }
    match (old, new) {
        (Object::Service(old), Object::Service(new)) => errs.extend(service::validate_service_update(old, new)),
        (Object::Pod(old), Object::Pod(new)) => errs.extend(pod::validate_pod_update(old, new)),
        (Object::StatefulSet(old), Object::StatefulSet(new)) => {
            errs.extend(workload::validate_stateful_set_update(old, new))
        }
        (Object::EndpointSlice(old), Object::EndpointSlice(new)) => {
            errs.extend(endpoint_slice::validate_endpoint_slice_update(old, new))
        }
        (Object::CertificateSigningRequest(old), Object::CertificateSigningRequest(new)) => {
            errs.extend(ingress::validate_csr_update(old, new))
        }
        (Object::Secret(old), Object::Secret(new)) => errs.extend(config::validate_secret_update(old, new)),
        (Object::PriorityClass(old), Object::PriorityClass(new)) => {
            errs.extend(scheduling::validate_priority_class_update(old, new))
        }
        (Object::RoleBinding(old), Object::RoleBinding(new)) => {
            errs.extend(rbac::validate_binding_update(&old.role_ref, &new.role_ref))
        }
        (Object::ClusterRoleBinding(old), Object::ClusterRoleBinding(new)) => {
            errs.extend(rbac::validate_binding_update(&old.role_ref, &new.role_ref))
        }
        (Object::ConfigMap(old), Object::ConfigMap(new)) => errs.extend(config::validate_config_map_update(old, new)),
        (Object::Job(old), Object::Job(new)) => {
            let spec = |j: &k8s_openapi::api::batch::v1::Job| j.spec.clone().unwrap_or_default();
            errs.extend(workload::validate_job_update(&spec(old), &spec(new)))
        }
        _ => {}
    }
    errs.extend(workload::validate_selector_update(old, new));
    errs
}

#[cfg(test)]
mod tests;
