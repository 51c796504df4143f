//! `metadata`: names per kind, namespace, labels, annotations, and label selectors.

use super::names::*;
use super::{FieldError, quote};
use crate::{Kind, Object};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

pub(super) fn validate_object_meta(object: &Object) -> Vec<FieldError> {
    let meta = object.metadata();
    let mut errs = Vec::new();
    match (meta.name.as_deref(), meta.generate_name.as_deref()) {
        (None | Some(""), None | Some("")) => {
            errs.push(FieldError::required("metadata.name", "name or generateName is required"))
        }
        (Some(name), _) => {
            if let Some(msg) = name_error(object.kind(), name) {
                errs.push(FieldError::invalid("metadata.name", quote(name), msg));
            }
        }
        _ => {}
    }
    if object.kind().namespaced() && meta.namespace.as_deref().unwrap_or_default().is_empty() {
        errs.push(FieldError::required("metadata.namespace", ""));
    }
    if let Some(labels) = &meta.labels {
        errs.extend(validate_labels(labels, "metadata.labels"));
    }
    if let Some(annotations) = &meta.annotations {
        errs.extend(validate_annotations(annotations));
    }
    errs
}

/// All annotations of an object together may hold at most 256 KiB, keys and values counted.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Annotation keys are label keys in any case; together they and their values fit in
/// [`ANNOTATIONS_MAX_BYTES`] (what a big `last-applied-configuration` runs into).
fn validate_annotations(annotations: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in annotations.keys() {
        for msg in label_key_errors(&key.to_lowercase()) {
            errs.push(FieldError::invalid("metadata.annotations", quote(key), msg));
        }
    }
    if annotations.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > ANNOTATIONS_MAX_BYTES {
        errs.push(FieldError::too_long("metadata.annotations", ANNOTATIONS_MAX_BYTES));
    }
    errs
}

/// Why `name` is not a valid name for an object of this kind.
pub(super) fn name_error(kind: Kind, name: &str) -> Option<&'static str> {
    match kind {
        Kind::Namespace => (!is_dns1123_label(name)).then_some(DNS1123_LABEL_MSG),
        Kind::Service => (!is_dns1035_label(name)).then_some(DNS1035_LABEL_MSG),
        // RBAC's and CSRs' names need only fit in a URL path (`system:auth-delegator`).
        Kind::Role
        | Kind::ClusterRole
        | Kind::RoleBinding
        | Kind::ClusterRoleBinding
        | Kind::CertificateSigningRequest => path_segment_errors(name).next(),
        _ => (!is_dns1123_subdomain(name)).then_some(DNS1123_SUBDOMAIN_MSG),
    }
}

/// Label keys and values, as in `metadata.labels` or a service's `spec.selector`.
pub(super) fn validate_labels(labels: &BTreeMap<String, String>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in labels {
        for msg in label_key_errors(key) {
            errs.push(FieldError::invalid(field, quote(key), msg));
        }
        if !is_label_value(value) {
            let msg = if value.len() > 63 { "must be no more than 63 characters" } else { LABEL_VALUE_MSG };
            errs.push(FieldError::invalid(field, quote(value), msg));
        }
    }
    errs
}

/// A label selector's labels and expressions, as kube-apiserver's `ValidateLabelSelector` checks
/// them (a NetworkPolicy's pod and namespace selectors).
pub(super) fn validate_label_selector(selector: &LabelSelector, at: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&selector.match_labels.clone().unwrap_or_default(), &format!("{at}.matchLabels"));
    for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
        let at = format!("{at}.matchExpressions[{i}]");
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                errs.push(FieldError::invalid(format!("{at}.operator"), quote(other), "not a valid selector operator"))
            }
        }
        for msg in label_key_errors(&expr.key) {
            errs.push(FieldError::invalid(format!("{at}.key"), quote(&expr.key), msg));
        }
        for (j, value) in values.iter().enumerate().filter(|(_, v)| !is_label_value(v)) {
            let msg = if value.len() > 63 { "must be no more than 63 characters" } else { LABEL_VALUE_MSG };
            errs.push(FieldError::invalid(format!("{at}.values[{j}]"), quote(value), msg));
        }
    }
    errs
}
