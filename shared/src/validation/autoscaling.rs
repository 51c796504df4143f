//! A HorizontalPodAutoscaler (`autoscaling/v2`), as kube-apiserver validates it: replica bounds,
//! the scale target's reference, each metric's source and target, and the scaling behavior.

use super::FieldError;
use super::names::path_segment_errors;
use crate::quantity;
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget};

const SOURCE_TYPES: &[&str] = &["ContainerResource", "External", "Object", "Pods", "Resource"];
/// The longest stabilization window and policy period kube-apiserver takes, in seconds.
const MAX_STABILIZATION_WINDOW: i32 = 3600;
const MAX_PERIOD: i32 = 1800;

pub(super) fn validate_horizontal_pod_autoscaler(hpa: &HorizontalPodAutoscaler) -> Vec<FieldError> {
    let Some(spec) = &hpa.spec else { return vec![FieldError::required("spec", "")] };
    let mut errs = Vec::new();
    if let Some(min) = spec.min_replicas.filter(|m| *m < 1) {
        errs.push(FieldError::invalid("spec.minReplicas", min.to_string(), "must be greater than or equal to 1"));
    }
    if spec.max_replicas < 1 {
        errs.push(FieldError::invalid("spec.maxReplicas", spec.max_replicas.to_string(), "must be greater than 0"));
    }
    if spec.min_replicas.is_some_and(|min| spec.max_replicas < min) {
        let msg = "must be greater than or equal to `minReplicas`";
        errs.push(FieldError::invalid("spec.maxReplicas", spec.max_replicas.to_string(), msg));
    }
    let target = &spec.scale_target_ref;
    errs.extend(path_segment(&target.kind, "spec.scaleTargetRef.kind"));
    errs.extend(path_segment(&target.name, "spec.scaleTargetRef.name"));
    for (i, metric) in spec.metrics.iter().flatten().enumerate() {
        errs.extend(validate_metric(metric, &format!("spec.metrics[{i}]")));
    }
    let behavior = spec.behavior.as_ref();
    if let Some(rules) = behavior.and_then(|b| b.scale_up.as_ref()) {
        errs.extend(validate_rules(rules, "spec.behavior.scaleUp"));
    }
    if let Some(rules) = behavior.and_then(|b| b.scale_down.as_ref()) {
        errs.extend(validate_rules(rules, "spec.behavior.scaleDown"));
    }
    errs
}

/// One direction's scaling rules: a window within an hour, a known select policy, and at least
/// one policy, each a known type with a positive value over a period of at most half an hour.
fn validate_rules(rules: &HPAScalingRules, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(window) = rules.stabilization_window_seconds {
        let too = match window {
            w if w < 0 => Some("must be greater than or equal to zero".to_string()),
            w if w > MAX_STABILIZATION_WINDOW => {
                Some(format!("must be less than or equal to {MAX_STABILIZATION_WINDOW}"))
            }
            _ => None,
        };
        if let Some(msg) = too {
            errs.push(FieldError::invalid(format!("{at}.stabilizationWindowSeconds"), window.to_string(), msg));
        }
    }
    if let Some(policy) = rules.select_policy.as_deref().filter(|p| !["Disabled", "Max", "Min"].contains(p)) {
        errs.push(FieldError::not_supported(format!("{at}.selectPolicy"), policy, &["Disabled", "Max", "Min"]));
    }
    let policies = rules.policies.as_deref().unwrap_or_default();
    if policies.is_empty() {
        errs.push(FieldError::required(format!("{at}.policies"), "must specify at least one Policy"));
    }
    for (i, policy) in policies.iter().enumerate() {
        let at = format!("{at}.policies[{i}]");
        if !["Percent", "Pods"].contains(&policy.type_.as_str()) {
            errs.push(FieldError::not_supported(format!("{at}.type"), &policy.type_, &["Percent", "Pods"]));
        }
        if policy.value <= 0 {
            errs.push(FieldError::invalid(
                format!("{at}.value"),
                policy.value.to_string(),
                "must be greater than zero",
            ));
        }
        let period = policy.period_seconds;
        let too = match period {
            p if p <= 0 => Some("must be greater than zero".to_string()),
            p if p > MAX_PERIOD => Some(format!("must be less than or equal to {MAX_PERIOD}")),
            _ => None,
        };
        if let Some(msg) = too {
            errs.push(FieldError::invalid(format!("{at}.periodSeconds"), period.to_string(), msg));
        }
    }
    errs
}

/// A name that must fit in a URL path segment, required.
fn path_segment(value: &str, at: &str) -> Vec<FieldError> {
    match value.is_empty() {
        true => vec![FieldError::required(at, "")],
        false => path_segment_errors(value).map(|msg| FieldError::invalid(at, super::quote(value), msg)).collect(),
    }
}

/// One metric: a known source type whose source (and only it) is filled in, with a valid target.
fn validate_metric(metric: &MetricSpec, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let present = [
        ("object", metric.object.is_some()),
        ("pods", metric.pods.is_some()),
        ("resource", metric.resource.is_some()),
        ("external", metric.external.is_some()),
        ("containerResource", metric.container_resource.is_some()),
    ];
    let expected = match metric.type_.as_str() {
        "" => {
            errs.push(FieldError::required(format!("{at}.type"), "must specify a metric source type"));
            None
        }
        "Object" => Some("object"),
        "Pods" => Some("pods"),
        "Resource" => Some("resource"),
        "External" => Some("external"),
        "ContainerResource" => Some("containerResource"),
        other => {
            errs.push(FieldError::not_supported(format!("{at}.type"), other, SOURCE_TYPES));
            None
        }
    };
    if let Some(field) = expected.filter(|f| !present.iter().any(|(name, set)| name == f && *set)) {
        let msg = "must populate information for the given metric source";
        errs.push(FieldError::required(format!("{at}.{field}"), msg));
    }
    if present.iter().filter(|(_, set)| *set).count() > 1 {
        for (name, _) in present.iter().filter(|(name, set)| *set && Some(*name) != expected) {
            errs.push(FieldError::forbidden(format!("{at}.{name}"), "must populate the given metric source only"));
        }
    }
    if let Some(resource) = &metric.resource {
        errs.extend(resource_target(&resource.name, &resource.target, &format!("{at}.resource")));
    }
    if let Some(resource) = &metric.container_resource {
        let at = format!("{at}.containerResource");
        if resource.container.is_empty() {
            errs.push(FieldError::required(format!("{at}.container"), "must specify a container"));
        }
        errs.extend(resource_target(&resource.name, &resource.target, &at));
    }
    let named = [
        ("pods", metric.pods.as_ref().map(|p| (&p.metric.name, &p.target))),
        ("object", metric.object.as_ref().map(|o| (&o.metric.name, &o.target))),
        ("external", metric.external.as_ref().map(|e| (&e.metric.name, &e.target))),
    ];
    for (field, (name, target)) in named.into_iter().filter_map(|(f, m)| Some((f, m?))) {
        if name.is_empty() {
            errs.push(FieldError::required(format!("{at}.{field}.metric.name"), "must specify a metric name"));
        }
        errs.extend(validate_target(target, &format!("{at}.{field}.target")));
    }
    errs
}

/// A resource metric's name and target: an average utilization or an average value, not both.
fn resource_target(name: &str, target: &MetricTarget, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push(FieldError::required(format!("{at}.name"), "must specify a resource name"));
    }
    errs.extend(validate_target(target, &format!("{at}.target")));
    match (target.average_utilization.is_some(), target.average_value.is_some()) {
        (false, false) => errs.push(FieldError::required(
            format!("{at}.target.averageUtilization"),
            "must set either a target raw value or a target utilization",
        )),
        (true, true) => errs.push(FieldError::forbidden(
            format!("{at}.target.averageValue"),
            "may not set both a target raw value and a target utilization",
        )),
        _ => {}
    }
    errs
}

fn validate_target(target: &MetricTarget, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.type_.is_empty() {
        errs.push(FieldError::required(format!("{at}.type"), "must specify a metric target type"));
    }
    if !["Utilization", "Value", "AverageValue"].contains(&target.type_.as_str()) {
        let msg = "must be either Utilization, Value, or AverageValue";
        errs.push(FieldError::invalid(format!("{at}.type"), super::quote(&target.type_), msg));
    }
    for (field, value) in [("value", &target.value), ("averageValue", &target.average_value)] {
        if let Some(q) = value.as_ref().filter(|q| quantity::value(q).is_none_or(|v| v <= 0.0)) {
            errs.push(FieldError::invalid(format!("{at}.{field}"), q.0.clone(), "must be positive"));
        }
    }
    if let Some(n) = target.average_utilization.filter(|n| *n < 1) {
        errs.push(FieldError::invalid(format!("{at}.averageUtilization"), n.to_string(), "must be greater than 0"));
    }
    errs
}
