//! Pods and pod templates: the spec's volumes, containers (in [`super::container`]) and policies.

use super::container::validate_container;
use super::names::*;
use super::{FieldError, quote};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use std::collections::{BTreeSet, HashSet};

const RESTART_POLICIES: &[&str] = &["Always", "Never", "OnFailure"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];

pub(super) fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    match &pod.spec {
        Some(spec) => validate_spec(spec, "spec", true),
        None => vec![FieldError::required("spec", "")],
    }
}

/// A `hostNetwork` pod's ports are its node's: a `hostPort` must be its `containerPort` (in a
/// template it may be left unset, for the pod's defaults to fill in).
fn validate_host_network_ports(c: &Container, path: &str, is_pod: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (j, port) in c.ports.iter().flatten().enumerate() {
        let host = port.host_port.unwrap_or(0);
        if (is_pod || host != 0) && host != port.container_port {
            let msg = "must match `containerPort` when `hostNetwork` is true";
            errs.push(FieldError::invalid(format!("{path}.ports[{j}].hostPort"), host.to_string(), msg));
        }
    }
    errs
}

/// A pod template's spec.
pub(super) fn validate_pod_spec(spec: &PodSpec, at: &str) -> Vec<FieldError> {
    validate_spec(spec, at, false)
}

fn validate_spec(spec: &PodSpec, at: &str, is_pod: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let volumes = validate_volumes(spec, at, &mut errs);
    if spec.containers.is_empty() {
        errs.push(FieldError::required(format!("{at}.containers"), ""));
    }
    let mut names = BTreeSet::new();
    let init = spec.init_containers.iter().flatten().enumerate().map(|(i, c)| (format!("{at}.initContainers[{i}]"), c));
    let regular = spec.containers.iter().enumerate().map(|(i, c)| (format!("{at}.containers[{i}]"), c));
    for (path, c) in init.chain(regular) {
        errs.extend(validate_container(c, &path, &volumes, &mut names));
        if spec.host_network == Some(true) {
            errs.extend(validate_host_network_ports(c, &path, is_pod));
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

/// The volumes' names: each a DNS label, none twice. Returns them, for the mounts to refer to.
fn validate_volumes<'a>(spec: &'a PodSpec, at: &str, errs: &mut Vec<FieldError>) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let field = format!("{at}.volumes[{i}].name");
        if v.name.is_empty() {
            errs.push(FieldError::required(field, ""));
        } else if !is_dns1123_label(&v.name) {
            errs.push(FieldError::invalid(field, quote(&v.name), DNS1123_LABEL_MSG));
        } else if !names.insert(v.name.as_str()) {
            errs.push(FieldError::duplicate(field, quote(&v.name)));
        }
    }
    names
}

/// A pod's spec is immutable but for a few fields, as kube-apiserver has it: its containers' and
/// init containers' images, `activeDeadlineSeconds`, tolerations added to those it has, and a
/// negative `terminationGracePeriodSeconds` made 1.
pub(super) fn validate_pod_update(old: &Pod, new: &Pod) -> Vec<FieldError> {
    let (before, after) = (old.spec.as_ref(), new.spec.as_ref());
    // Tolerations may be added, not removed or changed.
    let tolerations = |s: Option<&PodSpec>| s.and_then(|s| s.tolerations.clone()).unwrap_or_default();
    let added_only = tolerations(before).iter().all(|t| tolerations(after).contains(t));
    // A negative grace period may become 1.
    let grace = |s: Option<&PodSpec>| s.and_then(|s| s.termination_grace_period_seconds);
    let grace_fixed = grace(before).is_some_and(|g| g < 0) && grace(after) == Some(1);
    let strip = |p: &Pod| {
        let mut spec = p.spec.clone().unwrap_or_default();
        spec.active_deadline_seconds = None;
        if added_only {
            spec.tolerations = None;
        }
        if grace_fixed {
            spec.termination_grace_period_seconds = None;
        }
        for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
            c.image = None;
        }
        spec.node_name = None;
        // Pods stored before `securityContext: {}` was defaulted have none: the same thing.
        spec.security_context = spec.security_context.filter(|c| *c != Default::default());
        spec
    };
    if strip(old) != strip(new) {
        let msg = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";
        return vec![FieldError::forbidden("spec", msg)];
    }
    vec![]
}

/// What `…/ephemeralcontainers` may do, as kube-apiserver's `ValidatePodEphemeralContainersUpdate`
/// checks it: add ephemeral containers (each a valid container, named uniquely among all the
/// pod's containers, without what only a long-lived container has, targeting one of the pod's
/// containers); never change or remove one.
pub(super) fn validate_ephemeral_containers_update(old: &Pod, new: &Pod) -> Vec<FieldError> {
    let ephemeral = |p: &Pod| p.spec.as_ref().and_then(|s| s.ephemeral_containers.clone()).unwrap_or_default();
    let (before, after) = (ephemeral(old), ephemeral(new));
    let mut errs = Vec::new();
    for (i, existing) in before.iter().enumerate() {
        match after.iter().find(|c| c.name == existing.name) {
            None => errs.push(FieldError::forbidden(
                "spec",
                format!("existing ephemeral containers {} may not be removed\n", quote(&existing.name)),
            )),
            Some(now) if now != existing => errs.push(FieldError::forbidden(
                format!("spec.ephemeralContainers[{i}]"),
                format!("existing ephemeral containers {} may not be changed\n", quote(&existing.name)),
            )),
            Some(_) => {}
        }
    }
    let spec = new.spec.clone().unwrap_or_default();
    let mut names: BTreeSet<&str> =
        spec.init_containers.iter().flatten().chain(&spec.containers).map(|c| c.name.as_str()).collect();
    let targets = names.clone();
    // Checked as containers are: an ephemeral container has the same fields and one more.
    let as_containers: Vec<_> = after
        .iter()
        .map(|e| {
            serde_json::to_value(e).ok().and_then(|v| serde_json::from_value::<Container>(v).ok()).unwrap_or_default()
        })
        .collect();
    let volumes: HashSet<&str> = spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
    for (i, (e, c)) in after.iter().zip(&as_containers).enumerate() {
        let at = format!("spec.ephemeralContainers[{i}]");
        errs.extend(validate_container(c, &at, &volumes, &mut names));
        let forbidden = [
            ("ports", c.ports.is_some()),
            ("livenessProbe", c.liveness_probe.is_some()),
            ("readinessProbe", c.readiness_probe.is_some()),
            ("startupProbe", c.startup_probe.is_some()),
            ("lifecycle", c.lifecycle.is_some()),
            ("resources", c.resources.as_ref().is_some_and(|r| *r != Default::default())),
            ("restartPolicy", c.restart_policy.is_some()),
        ];
        for (field, set) in forbidden {
            if set {
                errs.push(FieldError::forbidden(format!("{at}.{field}"), "cannot be set for an Ephemeral Container"));
            }
        }
        if let Some(target) = e.target_container_name.as_deref().filter(|t| !targets.contains(t)) {
            errs.push(FieldError::not_found(format!("{at}.targetContainerName"), quote(target)));
        }
    }
    errs
}

/// Ephemeral containers are added to a running pod, never with it.
pub(super) fn validate_pod_create(pod: &Pod) -> Vec<FieldError> {
    let has = pod.spec.as_ref().and_then(|s| s.ephemeral_containers.as_ref()).is_some_and(|e| !e.is_empty());
    if has { vec![FieldError::forbidden("spec.ephemeralContainers", "cannot be set on create")] } else { vec![] }
}
