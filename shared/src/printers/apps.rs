//! apps/v1 kinds' columns: replica sets and deployments; and label selectors as kubectl
//! writes them.

use super::core::containers_and_images;
use super::{AGE, Column, NAME, Row, age, column, integer, wide};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

pub const REPLICASET_COLUMNS: &[Column] = &[
    NAME,
    integer("Desired", "Replicas is the number of desired pods."),
    integer("Current", "Replicas is the most recently observed number of non-terminating pods."),
    integer("Ready", "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."),
    AGE,
    wide("Containers", "Names of each container in the template."),
    wide("Images", "Images referenced by each container in the template."),
    wide("Selector", "Selector is a label query over pods that should match the replica count."),
];

pub const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    column("Ready", "Number of the pod with ready state"),
    column(
        "Up-to-date",
        "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
    ),
    column(
        "Available",
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    wide("Containers", "Names of each container in the template."),
    wide("Images", "Images referenced by each container in the template."),
    wide(
        "Selector",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
    ),
];

/// A label selector as `app=kubia,tier in (a,b),!canary`, terms sorted by key; empty for
/// a selector without terms.
pub fn label_selector(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else { return String::new() };
    let mut terms: Vec<(String, String)> = Vec::new();
    for (k, v) in selector.match_labels.iter().flatten() {
        terms.push((k.clone(), format!("{k}={v}")));
    }
    for e in selector.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        let term = match e.operator.as_str() {
            "In" => format!("{} in ({})", e.key, values.join(",")),
            "NotIn" => format!("{} notin ({})", e.key, values.join(",")),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({})", e.key, values.join(",")),
        };
        terms.push((e.key.clone(), term));
    }
    terms.sort();
    terms.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(",")
}

/// `FormatLabelSelector`: the selector, `<none>` when it has no terms.
pub(super) fn label_selector_or_none(selector: Option<&LabelSelector>) -> String {
    let s = label_selector(selector);
    if s.is_empty() { "<none>".into() } else { s }
}

pub fn replica_set(rs: &ReplicaSet, now: Timestamp) -> Row {
    let spec = rs.spec.as_ref();
    let status = rs.status.as_ref();
    let (containers, images) = containers_and_images(spec.and_then(|s| s.template.as_ref()));
    Row::new(vec![
        rs.metadata.name.clone().unwrap_or_default().into(),
        Value::from(i64::from(spec.and_then(|s| s.replicas).unwrap_or(1))),
        Value::from(i64::from(status.map_or(0, |s| s.replicas))),
        Value::from(i64::from(status.and_then(|s| s.ready_replicas).unwrap_or(0))),
        age(rs.metadata.creation_timestamp.as_ref(), now).into(),
        containers.into(),
        images.into(),
        label_selector_or_none(spec.map(|s| &s.selector)).into(),
    ])
}

pub fn deployment(d: &Deployment, now: Timestamp) -> Row {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let (containers, images) = containers_and_images(spec.map(|s| &s.template));
    Row::new(vec![
        d.metadata.name.clone().unwrap_or_default().into(),
        format!("{ready}/{desired}").into(),
        Value::from(i64::from(status.and_then(|s| s.updated_replicas).unwrap_or(0))),
        Value::from(i64::from(status.and_then(|s| s.available_replicas).unwrap_or(0))),
        age(d.metadata.creation_timestamp.as_ref(), now).into(),
        containers.into(),
        images.into(),
        label_selector(spec.map(|s| &s.selector)).into(),
    ])
}
