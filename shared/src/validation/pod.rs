//! Pods and pod templates.

use super::names::*;
use super::{FieldError, quote};
use k8s_openapi::api::core::v1::{Pod, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
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
        let probes = [
            ("livenessProbe", &c.liveness_probe),
            ("readinessProbe", &c.readiness_probe),
            ("startupProbe", &c.startup_probe),
        ];
        for (name, probe) in probes {
            if let Some(probe) = probe {
                errs.extend(validate_probe(probe, &field(name), name != "readinessProbe"));
            }
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

fn validate_port_ref(port: &IntOrString, at: &str) -> Option<FieldError> {
    match port {
        IntOrString::Int(n) if !(1..=65535).contains(n) => {
            Some(FieldError::invalid(at, n.to_string(), "must be between 1 and 65535, inclusive"))
        }
        IntOrString::String(name) if !is_valid_port_name(name) => Some(FieldError::invalid(
            at,
            quote(name),
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        )),
        _ => None,
    }
}

/// A probe: exactly one handler, non-negative timings, and a success threshold of 1 for
/// liveness and startup probes.
fn validate_probe(probe: &Probe, at: &str, threshold_must_be_one: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let handlers = [probe.exec.is_some(), probe.http_get.is_some(), probe.tcp_socket.is_some(), probe.grpc.is_some()];
    match handlers.iter().filter(|h| **h).count() {
        0 => errs.push(FieldError::required(at, "must specify a handler type")),
        1 => {}
        _ => errs.push(FieldError::forbidden(at, "may not specify more than 1 handler type")),
    }
    if let Some(h) = &probe.http_get {
        errs.extend(validate_port_ref(&h.port, &format!("{at}.httpGet.port")));
    }
    if let Some(t) = &probe.tcp_socket {
        errs.extend(validate_port_ref(&t.port, &format!("{at}.tcpSocket.port")));
    }
    let timings = [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ];
    for (name, value) in timings {
        if let Some(v) = value.filter(|v| *v < 0) {
            errs.push(FieldError::invalid(format!("{at}.{name}"), v.to_string(), "must be greater than or equal to 0"));
        }
    }
    if threshold_must_be_one && probe.success_threshold.is_some_and(|t| t != 1) {
        let v = probe.success_threshold.unwrap_or_default().to_string();
        errs.push(FieldError::invalid(format!("{at}.successThreshold"), v, "must be 1"));
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
