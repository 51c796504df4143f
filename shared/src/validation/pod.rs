//! Pods and pod templates.

use super::names::*;
use super::{FieldError, quote};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use std::collections::BTreeSet;

const RESTART_POLICIES: &[&str] = &["Always", "Never", "OnFailure"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];

pub(super) fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    match &pod.spec {
        Some(spec) => validate_pod_spec(spec, "spec"),
        None => vec![FieldError::required("spec", "")],
    }
}

pub(super) fn validate_pod_spec(spec: &PodSpec, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.containers.is_empty() {
        errs.push(FieldError::required(format!("{at}.containers"), ""));
    }
    let mut names = BTreeSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let field = |f: &str| format!("{at}.containers[{i}].{f}");
        if c.name.is_empty() {
            errs.push(FieldError::required(field("name"), ""));
        } else if !is_dns1123_label(&c.name) {
            errs.push(FieldError::invalid(field("name"), quote(&c.name), DNS1123_LABEL_MSG));
        } else if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(field("name"), quote(&c.name)));
        }
        if c.image.as_deref().unwrap_or_default().trim().is_empty() {
            errs.push(FieldError::required(field("image"), ""));
        }
        for (j, port) in c.ports.iter().flatten().enumerate() {
            let field = |f: &str| format!("{at}.containers[{i}].ports[{j}].{f}");
            if !(1..=65535).contains(&port.container_port) {
                let value = port.container_port.to_string();
                errs.push(FieldError::invalid(field("containerPort"), value, "must be between 1 and 65535, inclusive"));
            }
            if let Some(name) = port.name.as_deref().filter(|n| !is_valid_port_name(n)) {
                let msg = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
                errs.push(FieldError::invalid(field("name"), quote(name), msg));
            }
        }
    }
    let restart = spec.restart_policy.as_deref().unwrap_or("Always");
    if !RESTART_POLICIES.contains(&restart) {
        errs.push(FieldError::not_supported(format!("{at}.restartPolicy"), restart, RESTART_POLICIES));
    }
    let dns = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    if !DNS_POLICIES.contains(&dns) {
        errs.push(FieldError::not_supported(format!("{at}.dnsPolicy"), dns, DNS_POLICIES));
    }
    errs
}

/// A pod's spec is immutable but for a few fields; svclab lets nothing but images and
/// `activeDeadlineSeconds` change, as kube-apiserver does.
pub(super) fn validate_pod_update(old: &Pod, new: &Pod) -> Vec<FieldError> {
    let strip = |p: &Pod| {
        let mut spec = p.spec.clone().unwrap_or_default();
        spec.active_deadline_seconds = None;
        for c in &mut spec.containers {
            c.image = None;
        }
        spec.node_name = None;
        spec
    };
    if strip(old) != strip(new) {
        let msg = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";
        return vec![FieldError::forbidden("spec", msg)];
    }
    vec![]
}
