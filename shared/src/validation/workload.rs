//! ReplicationControllers and ReplicaSets.

use super::FieldError;
use super::meta::validate_labels;
use super::pod::validate_pod_spec;
use crate::selector::Selector;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use std::collections::BTreeMap;

fn go_map(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

fn validate_replicas(replicas: Option<i32>) -> Option<FieldError> {
    let r = replicas?;
    (r < 0).then(|| FieldError::invalid("spec.replicas", r.to_string(), "must be greater than or equal to 0"))
}

fn validate_template(template: Option<&PodTemplateSpec>, selector: &Selector) -> Vec<FieldError> {
    let Some(template) = template else {
        return vec![FieldError::required("spec.template", "")];
    };
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    let mut errs = validate_labels(&labels, "spec.template.metadata.labels");
    if !selector.matches(&labels) {
        let msg = "`selector` does not match template `labels`";
        errs.push(FieldError::invalid("spec.template.metadata.labels", go_map(&labels), msg));
    }
    match &template.spec {
        Some(spec) => errs.extend(validate_pod_spec(spec, "spec.template.spec")),
        None => errs.push(FieldError::required("spec.template.spec", "")),
    }
    errs
}

pub(super) fn validate_replication_controller(rc: &ReplicationController) -> Vec<FieldError> {
    let Some(spec) = &rc.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs: Vec<FieldError> = validate_replicas(spec.replicas).into_iter().collect();
    let selector = spec.selector.clone().unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    errs.extend(validate_labels(&selector, "spec.selector"));
    errs.extend(validate_template(spec.template.as_ref(), &Selector::from_map(&selector)));
    errs
}

pub(super) fn validate_replica_set(rs: &ReplicaSet) -> Vec<FieldError> {
    let Some(spec) = &rs.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs: Vec<FieldError> = validate_replicas(spec.replicas).into_iter().collect();
    let empty = spec.selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && spec.selector.match_expressions.as_ref().is_none_or(|e| e.is_empty());
    if empty {
        errs.push(FieldError::invalid(
            "spec.selector",
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}",
            "empty selector is invalid for deployment",
        ));
        return errs;
    }
    match Selector::from_label_selector(&spec.selector) {
        Ok(selector) => errs.extend(validate_template(spec.template.as_ref(), &selector)),
        Err(e) => errs.push(FieldError::invalid("spec.selector", "", e.to_string())),
    }
    errs
}
