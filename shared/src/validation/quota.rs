//! ResourceQuotas and LimitRanges, as kube-apiserver validates them: resource names that are
//! standard or fully qualified, quantities that are not negative (whole numbers for object
//! counts), known scopes and limit types, and limits in order (min ≤ default request ≤ default ≤
//! max).

use super::names::label_key_errors as qualified_name_errors;
use super::{FieldError, quote};
use crate::quantity;
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, ResourceQuota};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// Resources counted in whole objects.
const COUNTED: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// Compute and storage a quota may limit, besides the counted objects and huge pages.
const AMOUNTS: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

/// What a scoped quota may count besides pods (`IsResourceQuotaScopeValidForResource`).
const POD_COMPUTE: &[&str] = &["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];

const SCOPES: &[&str] =
    &["Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"];

const LIMIT_TYPES: &[&str] = &["Pod", "Container", "PersistentVolumeClaim"];

pub(super) fn validate_resource_quota(quota: &ResourceQuota) -> Vec<FieldError> {
    let Some(spec) = &quota.spec else { return Vec::new() };
    let mut errs = Vec::new();
    for (name, value) in spec.hard.iter().flatten() {
        let at = format!("spec.hard[{name}]");
        match resource_name_errors(name, &at) {
            found if !found.is_empty() => errs.extend(found),
            _ if !name.contains('/') && !is_quota_resource(name) => {
                errs.push(FieldError::invalid(&at, quote(name), "must be a standard resource for quota"));
            }
            _ => {}
        }
        errs.extend(quantity_errors(name, value, &at));
    }
    errs.extend(validate_scopes(spec.scopes.as_deref().unwrap_or_default(), spec.hard.as_ref()));
    errs
}

/// Known scopes, not in conflict, over resources they can count (`BestEffort` only pods; the
/// others pods and their compute).
fn validate_scopes(scopes: &[String], hard: Option<&BTreeMap<String, Quantity>>) -> Vec<FieldError> {
    let value =
        format!("[]core.ResourceQuotaScope{{{}}}", scopes.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "));
    let mut errs = Vec::new();
    let standard = hard.into_iter().flat_map(|h| h.keys()).filter(|r| is_quota_resource(r));
    let standard: Vec<&String> = standard.collect();
    for scope in scopes {
        if !SCOPES.contains(&scope.as_str()) {
            errs.push(FieldError::invalid("spec.scopes", value.clone(), "unsupported scope"));
        }
        let known = SCOPES.contains(&scope.as_str());
        let countable = |r: &str| !known || r == "pods" || (scope != "BestEffort" && POD_COMPUTE.contains(&r));
        for _ in standard.iter().filter(|r| !countable(r)) {
            errs.push(FieldError::invalid("spec.scopes", value.clone(), "unsupported scope applied to resource"));
        }
    }
    let has = |s: &str| scopes.iter().any(|x| x == s);
    for (a, b) in [("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")] {
        if has(a) && has(b) {
            errs.push(FieldError::invalid("spec.scopes", value.clone(), "conflicting scopes"));
        }
    }
    errs
}

pub(super) fn validate_limit_range(range: &LimitRange) -> Vec<FieldError> {
    let Some(spec) = &range.spec else { return vec![FieldError::required("spec", "")] };
    let mut errs = Vec::new();
    let mut seen = Vec::new();
    for (i, limit) in spec.limits.iter().enumerate() {
        let at = format!("spec.limits[{i}]");
        let ty = limit.type_.as_str();
        errs.extend(
            qualified_name_errors(ty).into_iter().map(|m| FieldError::invalid(format!("{at}.type"), quote(ty), m)),
        );
        if !ty.contains('/') && !LIMIT_TYPES.contains(&ty) && !ty.is_empty() {
            let msg = "must be a standard limit type or fully qualified";
            errs.push(FieldError::invalid(format!("{at}.type"), quote(ty), msg));
        }
        if seen.contains(&ty) {
            errs.push(FieldError::duplicate(format!("{at}.type"), quote(ty)));
        }
        seen.push(ty);
        errs.extend(validate_limit(limit, &at));
    }
    errs
}

fn validate_limit(limit: &LimitRangeItem, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lists = [
        ("max", &limit.max),
        ("min", &limit.min),
        ("default", &limit.default),
        ("defaultRequest", &limit.default_request),
        ("maxLimitRequestRatio", &limit.max_limit_request_ratio),
    ];
    for (field, list) in lists {
        for (name, value) in list.iter().flatten() {
            let at = format!("{at}.{field}[{name}]");
            errs.extend(resource_name_errors(name, &at));
            if field != "maxLimitRequestRatio" {
                errs.extend(quantity_errors(name, value, &at));
            }
        }
    }
    if limit.type_ == "Pod" {
        for (field, list) in [("default", &limit.default), ("defaultRequest", &limit.default_request)] {
            if list.as_ref().is_some_and(|l| !l.is_empty()) {
                errs.push(FieldError::forbidden(format!("{at}.{field}"), "may not be specified when `type` is 'Pod'"));
            }
        }
    }
    let get = |list: &Option<BTreeMap<String, Quantity>>, name: &str| {
        list.as_ref().and_then(|l| l.get(name)).and_then(|q| Some((quantity::value(q)?, q.0.clone())))
    };
    let names: std::collections::BTreeSet<&String> =
        lists.iter().flat_map(|(_, list)| list.iter().flat_map(|l| l.keys())).collect();
    for name in names {
        let (min, max) = (get(&limit.min, name), get(&limit.max, name));
        let (default, request) = (get(&limit.default, name), get(&limit.default_request, name));
        // Each pair in order: (lower, upper, the field blamed, the value shown, the message).
        let pairs = [
            (&min, &max, "min", &min, "min value {a} is greater than max value {b}"),
            (&min, &request, "defaultRequest", &request, "min value {a} is greater than default request value {b}"),
            (&request, &max, "defaultRequest", &request, "default request value {a} is greater than max value {b}"),
            (
                &request,
                &default,
                "defaultRequest",
                &request,
                "default request value {a} is greater than default limit value {b}",
            ),
            (&min, &default, "default", &min, "min value {a} is greater than default value {b}"),
            (&default, &max, "default", &max, "default value {a} is greater than max value {b}"),
        ];
        for (lower, upper, field, shown, msg) in pairs {
            if let (Some((a, a_text)), Some((b, b_text)), Some((_, shown))) = (lower, upper, shown)
                && a > b
            {
                let msg = msg.replace("{a}", a_text).replace("{b}", b_text);
                errs.push(FieldError::invalid(format!("{at}.{field}[{name}]"), quote(shown), msg));
            }
        }
        if let Some((_, text)) = get(&limit.max_limit_request_ratio, name).filter(|(r, _)| *r < 1.0) {
            let msg = format!("ratio {text} is less than 1");
            errs.push(FieldError::invalid(format!("{at}.maxLimitRequestRatio[{name}]"), quote(&text), msg));
        }
    }
    errs
}

/// What a quota may limit without a `domain/` prefix (`IsStandardQuotaResourceName`).
fn is_quota_resource(name: &str) -> bool {
    COUNTED.contains(&name)
        || AMOUNTS.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

/// A resource name: a qualified name, standard unless it has a `domain/` prefix.
fn resource_name_errors(name: &str, at: &str) -> Vec<FieldError> {
    let errs: Vec<FieldError> =
        qualified_name_errors(name).into_iter().map(|msg| FieldError::invalid(at, quote(name), msg)).collect();
    if !errs.is_empty() || name.contains('/') || is_quota_resource(name) || name == "storage" {
        return errs;
    }
    vec![FieldError::invalid(at, quote(name), "must be a standard resource type or fully qualified")]
}

/// Not negative, and whole for resources counted in objects.
fn quantity_errors(name: &str, value: &Quantity, at: &str) -> Vec<FieldError> {
    match quantity::value(value) {
        Some(v) if v < 0.0 => vec![FieldError::invalid(at, quote(&value.0), "must be greater than or equal to 0")],
        Some(v) if COUNTED.contains(&name) && v.fract() != 0.0 => {
            vec![FieldError::invalid(at, quote(&value.0), "must be an integer")]
        }
        _ => Vec::new(),
    }
}
