//! Roles and bindings, as kube-apiserver validates them: each rule names verbs and either
//! resources (with their API groups) or non-resource URLs (cluster roles only); a binding refers
//! to a role of RBAC's group by a valid name, once created, and names valid subjects.

use super::names::{DNS1123_SUBDOMAIN_MSG, is_dns1123_subdomain, path_segment_errors};
use super::{FieldError, quote};
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};

const GROUP: &str = "rbac.authorization.k8s.io";

pub(super) fn validate_rules(rules: &[PolicyRule], namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        let filled = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
        if rule.verbs.is_empty() {
            errs.push(FieldError::required(format!("{at}.verbs"), "verbs must contain at least one value"));
        }
        if let Some(urls) = rule.non_resource_urls.as_ref().filter(|u| !u.is_empty()) {
            let value = format!("[]string{{{}}}", urls.iter().map(|u| quote(u)).collect::<Vec<_>>().join(", "));
            if namespaced {
                let msg = "namespaced rules cannot apply to non-resource URLs";
                errs.push(FieldError::invalid(format!("{at}.nonResourceURLs"), value.clone(), msg));
            }
            if filled(&rule.api_groups) || filled(&rule.resources) || filled(&rule.resource_names) {
                let msg = "rules cannot apply to both regular resources and non-resource URLs";
                errs.push(FieldError::invalid(format!("{at}.nonResourceURLs"), value, msg));
            }
            continue;
        }
        if !filled(&rule.api_groups) {
            errs.push(FieldError::required(
                format!("{at}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if !filled(&rule.resources) {
            errs.push(FieldError::required(
                format!("{at}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

/// A RoleBinding (`namespaced`) or ClusterRoleBinding: its role reference and subjects.
pub(super) fn validate_binding(role: &RoleRef, subjects: &[Subject], namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if role.api_group != GROUP {
        errs.push(FieldError::not_supported("roleRef.apiGroup", &role.api_group, &[GROUP]));
    }
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&role.kind.as_str()) {
        errs.push(FieldError::not_supported("roleRef.kind", &role.kind, kinds));
    }
    match role.name.as_str() {
        "" => errs.push(FieldError::required("roleRef.name", "")),
        name => errs.extend(path_segment_errors(name).map(|msg| FieldError::invalid("roleRef.name", quote(name), msg))),
    }
    for (i, subject) in subjects.iter().enumerate() {
        errs.extend(validate_subject(subject, namespaced, &format!("subjects[{i}]")));
    }
    errs
}

/// A binding's role may not change once it is made (delete and recreate it instead).
pub(super) fn validate_binding_update(old: &RoleRef, new: &RoleRef) -> Option<FieldError> {
    (old != new).then(|| {
        let value = format!("rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}", new.api_group, new.kind, new.name);
        FieldError::invalid("roleRef", value, "cannot change roleRef")
    })
}

fn validate_subject(subject: &Subject, namespaced: bool, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if subject.name.is_empty() {
        errs.push(FieldError::required(format!("{at}.name"), ""));
    }
    let group = subject.api_group.as_deref().unwrap_or_default();
    match subject.kind.as_str() {
        "ServiceAccount" => {
            if !subject.name.is_empty() && !is_dns1123_subdomain(&subject.name) {
                errs.push(FieldError::invalid(format!("{at}.name"), quote(&subject.name), DNS1123_SUBDOMAIN_MSG));
            }
            if !group.is_empty() {
                errs.push(FieldError::not_supported(format!("{at}.apiGroup"), group, &[""]));
            }
            if !namespaced && subject.namespace.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(format!("{at}.namespace"), ""));
            }
        }
        "User" | "Group" if group != GROUP => {
            errs.push(FieldError::not_supported(format!("{at}.apiGroup"), group, &[GROUP]));
        }
        "User" | "Group" => {}
        other => {
            errs.push(FieldError::not_supported(format!("{at}.kind"), other, &["ServiceAccount", "User", "Group"]))
        }
    }
    errs
}
