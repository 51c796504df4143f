//! One container of a pod spec: its name and image, ports, environment, volume mounts, resources
//! and probes, checked as kube-apiserver's `validateContainers` does.

use super::names::*;
use super::{FieldError, quote};
use crate::quantity;
use k8s_openapi::api::core::v1::{Container, EnvVar, Probe, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet, HashSet};

const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
pub(super) const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";
pub(super) const PORT_NAME_MSG: &str = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
const ENV_NAME_MSG: &str =
    "a valid environment variable name must consist only of printable ASCII characters other than '='";

/// A container at `at` (`spec.containers[0]`); `volumes` are the pod's volume names, `names` the
/// container names seen so far (they are unique across init and regular containers).
pub(super) fn validate_container<'a>(
    c: &'a Container,
    at: &str,
    volumes: &HashSet<&str>,
    names: &mut BTreeSet<&'a str>,
) -> Vec<FieldError> {
    let field = |f: &str| format!("{at}.{f}");
    let mut errs = Vec::new();
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
    if let Some(policy) = c.image_pull_policy.as_deref().filter(|p| !PULL_POLICIES.contains(p)) {
        errs.push(FieldError::not_supported(field("imagePullPolicy"), policy, PULL_POLICIES));
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
    errs.extend(validate_ports(c, at));
    for (i, var) in c.env.iter().flatten().enumerate() {
        errs.extend(validate_env(var, &format!("{at}.env[{i}]")));
    }
    errs.extend(validate_mounts(c, at, volumes));
    if let Some(resources) = &c.resources {
        errs.extend(validate_resources(resources, &field("resources")));
    }
    errs
}

fn validate_ports(c: &Container, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (j, port) in c.ports.iter().flatten().enumerate() {
        let field = |f: &str| format!("{at}.ports[{j}].{f}");
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            if !is_valid_port_name(name) {
                errs.push(FieldError::invalid(field("name"), quote(name), PORT_NAME_MSG));
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(field("name"), quote(name)));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(field("containerPort"), ""));
        } else if !(1..=65535).contains(&port.container_port) {
            errs.push(FieldError::invalid(field("containerPort"), port.container_port.to_string(), PORT_RANGE_MSG));
        }
        if let Some(host) = port.host_port.filter(|p| *p != 0 && !(1..=65535).contains(p)) {
            errs.push(FieldError::invalid(field("hostPort"), host.to_string(), PORT_RANGE_MSG));
        }
        if let Some(protocol) = port.protocol.as_deref().filter(|p| !PORT_PROTOCOLS.contains(p)) {
            errs.push(FieldError::not_supported(field("protocol"), protocol, PORT_PROTOCOLS));
        }
    }
    errs
}

/// An environment variable: a name (any printable ASCII but `=`, since Kubernetes 1.32) and
/// either a value or one source.
fn validate_env(var: &EnvVar, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if var.name.is_empty() {
        errs.push(FieldError::required(format!("{at}.name"), ""));
    } else if !var.name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=') {
        errs.push(FieldError::invalid(format!("{at}.name"), quote(&var.name), ENV_NAME_MSG));
    }
    let Some(from) = &var.value_from else { return errs };
    let sources = [
        from.field_ref.is_some(),
        from.resource_field_ref.is_some(),
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
    ];
    let at = format!("{at}.valueFrom");
    match sources.iter().filter(|s| **s).count() {
        0 => errs.push(FieldError::invalid(
            at,
            "\"\"",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        )),
        _ if var.value.as_deref().is_some_and(|v| !v.is_empty()) => {
            errs.push(FieldError::invalid(at, "\"\"", "may not be specified when `value` is not empty"))
        }
        1 => {}
        _ => errs.push(FieldError::invalid(at, "\"\"", "may not have more than one field specified at a time")),
    }
    errs
}

/// Each mount names one of the pod's volumes and a path no other mount of the container uses.
fn validate_mounts(c: &Container, at: &str, volumes: &HashSet<&str>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut paths = HashSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let field = |f: &str| format!("{at}.volumeMounts[{i}].{f}");
        if m.name.is_empty() {
            errs.push(FieldError::required(field("name"), ""));
        }
        if !volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(field("name"), quote(&m.name)));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(field("mountPath"), ""));
        }
        if !paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(field("mountPath"), quote(&m.mount_path), "must be unique"));
        }
    }
    errs
}

/// A container's resources: standard names, no negative amounts, and no request above its
/// limit (for resources that cannot be overcommitted, such as `nvidia.com/gpu`, equal to it).
fn validate_resources(r: &ResourceRequirements, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let none = BTreeMap::new();
    let (limits, requests) = (r.limits.as_ref().unwrap_or(&none), r.requests.as_ref().unwrap_or(&none));
    for (which, list) in [("limits", limits), ("requests", requests)] {
        for (name, amount) in list {
            let at = format!("{at}.{which}[{name}]");
            if !name.contains('/') && !is_standard_container_resource(name) {
                errs.push(FieldError::invalid(&at, quote(name), "must be a standard resource for containers"));
            }
            if quantity::value(amount).is_some_and(|v| v < 0.0) {
                errs.push(FieldError::invalid(&at, quote(&amount.0), "must be greater than or equal to 0"));
            }
        }
    }
    for (name, request) in requests {
        let Some(limit) = limits.get(name) else { continue };
        let (Some(req), Some(lim)) = (quantity::value(request), quantity::value(limit)) else { continue };
        let overcommit = is_standard_container_resource(name) && !name.starts_with("hugepages-");
        let detail = if !overcommit && req != lim {
            format!("must be equal to {name} limit of {}", limit.0)
        } else if req > lim {
            format!("must be less than or equal to {name} limit of {}", limit.0)
        } else {
            continue;
        };
        errs.push(FieldError::invalid(format!("{at}.requests"), quote(&request.0), detail));
    }
    errs
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
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

fn validate_port_ref(port: &IntOrString, at: &str) -> Option<FieldError> {
    match port {
        IntOrString::Int(n) if !(1..=65535).contains(n) => Some(FieldError::invalid(at, n.to_string(), PORT_RANGE_MSG)),
        IntOrString::String(name) if !is_valid_port_name(name) => {
            Some(FieldError::invalid(at, quote(name), PORT_NAME_MSG))
        }
        _ => None,
    }
}
