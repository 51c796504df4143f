//! Services and Endpoints.

use super::meta::validate_labels;
use super::names::*;
use super::{FieldError, quote};
use crate::cidr::Cidr;
use crate::service::{externally_accessible, needs_health_check};
use k8s_openapi::api::core::v1::{Endpoints, Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeSet;
use std::net::IpAddr;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];
const IP_FAMILIES: &[&str] = &["IPv4", "IPv6"];
const IP_FAMILY_POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

pub(super) fn validate_service(service: &Service) -> Vec<FieldError> {
    let Some(spec) = &service.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs = Vec::new();
    let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !TYPES.contains(&ty) {
        errs.push(FieldError::not_supported("spec.type", ty, TYPES));
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && ty != "ExternalName" && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        match spec.external_name.as_deref() {
            None | Some("") => errs.push(FieldError::required("spec.externalName", "")),
            Some(name) if !is_dns1123_subdomain(name.trim_end_matches('.')) => {
                errs.push(FieldError::invalid("spec.externalName", quote(name), DNS1123_SUBDOMAIN_MSG))
            }
            _ => {}
        }
    }
    errs.extend(validate_ports(spec));
    if let Some(ip) = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None")
        && ip.parse::<IpAddr>().is_err()
    {
        errs.push(FieldError::invalid("spec.clusterIPs[0]", quote(ip), IP_MSG));
    }
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        if ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(format!("spec.externalIPs[{i}]"), quote(ip), IP_MSG));
        }
    }
    errs.extend(validate_ip_families(spec));
    errs.extend(validate_source_ranges(spec, ty));
    errs.extend(validate_load_balancer_class(spec, ty));
    if let Some(selector) = &spec.selector {
        errs.extend(validate_labels(selector, "spec.selector"));
    }
    errs.extend(validate_traffic_policies(spec));
    let affinity = spec.session_affinity.as_deref().unwrap_or("None");
    if !AFFINITIES.contains(&affinity) {
        errs.push(FieldError::not_supported("spec.sessionAffinity", affinity, AFFINITIES));
    }
    if affinity == "None" && spec.session_affinity_config.is_some() {
        errs.push(FieldError::forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"));
    }
    let timeout = spec.session_affinity_config.as_ref().and_then(|c| c.client_ip.as_ref()?.timeout_seconds);
    if let Some(t) = timeout
        && !(1..=86400).contains(&t)
    {
        let field = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
        errs.push(FieldError::invalid(field, t.to_string(), "must be greater than 0 and less than 86400"));
    }
    errs
}

/// IP families: svclab's cluster is single-stack IPv4, and says so as kube-apiserver's allocator
/// does on such a cluster.
fn validate_ip_families(spec: &ServiceSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match spec.ip_family_policy.as_deref() {
        Some(policy) if !IP_FAMILY_POLICIES.contains(&policy) => {
            errs.push(FieldError::not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))
        }
        Some(policy @ "RequireDualStack") => errs.push(FieldError::invalid(
            "spec.ipFamilyPolicy",
            quote(policy),
            "this cluster is not configured for dual-stack services",
        )),
        _ => {}
    }
    for (i, family) in spec.ip_families.iter().flatten().enumerate() {
        let at = format!("spec.ipFamilies[{i}]");
        if !IP_FAMILIES.contains(&family.as_str()) {
            errs.push(FieldError::not_supported(at, family, IP_FAMILIES));
        } else if family != "IPv4" {
            errs.push(FieldError::invalid(at, quote(family), "not configured on this cluster"));
        }
    }
    errs
}

/// `loadBalancerClass`: a qualified name (`example.com/internal-vip`), on a load balancer only.
fn validate_load_balancer_class(spec: &ServiceSpec, ty: &str) -> Vec<FieldError> {
    let Some(class) = spec.load_balancer_class.as_deref() else { return vec![] };
    if ty != "LoadBalancer" {
        return vec![FieldError::forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'")];
    }
    label_key_errors(class)
        .into_iter()
        .map(|m| FieldError::invalid("spec.loadBalancerClass", quote(class), m))
        .collect()
}

/// `loadBalancerSourceRanges`: CIDRs, on a load balancer only (the field path is spelled as
/// kube-apiserver spells it, capital L included).
fn validate_source_ranges(spec: &ServiceSpec, ty: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ranges = spec.load_balancer_source_ranges.as_deref().unwrap_or_default();
    if ranges.is_empty() {
        return errs;
    }
    if ty != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    for (i, range) in ranges.iter().enumerate() {
        // Space-padded values are allowed (a leftover of the annotation they replaced).
        let range = range.trim();
        // Space-padded values are allowed here, a leftover of the annotation this field replaced.
        if Cidr::parse(range.trim()).is_none() {
            errs.push(FieldError::invalid(
                format!("spec.LoadBalancerSourceRanges[{i}]"),
                quote(range),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

/// The traffic policies and the health-check node port, as kube-apiserver checks them: an
/// external policy only on a service reachable from outside (a node port, a load balancer, or
/// external IPs), a health-check port only where kube-proxy answers one (`LoadBalancer` with
/// `externalTrafficPolicy: Local`).
fn validate_traffic_policies(spec: &ServiceSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match spec.external_traffic_policy.as_deref().filter(|p| !p.is_empty()) {
        Some(policy) if !externally_accessible(spec) => errs.push(FieldError::invalid(
            "spec.externalTrafficPolicy",
            quote(policy),
            "may only be set for externally-accessible services",
        )),
        Some(policy) if !TRAFFIC_POLICIES.contains(&policy) => {
            errs.push(FieldError::not_supported("spec.externalTrafficPolicy", policy, TRAFFIC_POLICIES))
        }
        _ => {}
    }
    if let Some(policy) = spec.internal_traffic_policy.as_deref()
        && !TRAFFIC_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported("spec.internalTrafficPolicy", policy, TRAFFIC_POLICIES));
    }
    if let Some(distribution) = spec.traffic_distribution.as_deref()
        && !crate::service::TrafficDistribution::VALUES.contains(&distribution)
    {
        errs.push(FieldError::not_supported(
            "spec.trafficDistribution",
            distribution,
            crate::service::TrafficDistribution::VALUES,
        ));
    }
    if let Some(port) = spec.health_check_node_port.filter(|p| *p != 0)
        && !needs_health_check(spec)
    {
        errs.push(FieldError::invalid(
            "spec.healthCheckNodePort",
            port.to_string(),
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    errs
}

fn validate_ports(spec: &ServiceSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ports = spec.ports.as_deref().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut port_protocols = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = |f: &str| format!("spec.ports[{i}]{f}");
        match port.name.as_deref() {
            None | Some("") if ports.len() > 1 => errs.push(FieldError::required(at(".name"), "")),
            None | Some("") => {}
            Some(name) => {
                if !is_dns1123_label(name) {
                    errs.push(FieldError::invalid(at(".name"), quote(name), DNS1123_LABEL_MSG));
                }
                if !names.insert(name) {
                    errs.push(FieldError::duplicate(at(".name"), quote(name)));
                }
            }
        }
        if !(1..=65535).contains(&port.port) {
            errs.push(FieldError::invalid(at(".port"), port.port.to_string(), PORT_RANGE));
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            errs.push(FieldError::not_supported(at(".protocol"), protocol, PROTOCOLS));
        } else if !port_protocols.insert((port.port, protocol)) {
            errs.push(FieldError::duplicate(
                at(""),
                format!("core.ServicePort{{Port:{}, Protocol:{protocol:?}}}", port.port),
            ));
        }
        if let Some(app_protocol) = &port.app_protocol {
            for msg in label_key_errors(app_protocol) {
                errs.push(FieldError::invalid(at(".appProtocol"), quote(app_protocol), msg));
            }
        }
        match &port.target_port {
            Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => {
                errs.push(FieldError::invalid(at(".targetPort"), n.to_string(), PORT_RANGE))
            }
            Some(IntOrString::String(s)) if !is_valid_port_name(s) && s.parse::<u16>().is_err() => {
                errs.push(FieldError::invalid(
                    at(".targetPort"),
                    quote(s),
                    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                ))
            }
            _ => {}
        }
        if let Some(node_port) = port.node_port.filter(|p| !(0..=65535).contains(p)) {
            errs.push(FieldError::invalid(at(".nodePort"), node_port.to_string(), PORT_RANGE));
        } else if let Some(node_port) = port.node_port {
            let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
            if ty != "NodePort" && ty != "LoadBalancer" && node_port != 0 {
                errs.push(FieldError::forbidden(at(".nodePort"), format!("may not be used when `type` is '{ty}'")));
            }
        }
    }
    errs
}

pub(super) fn validate_service_update(old: &Service, new: &Service) -> Vec<FieldError> {
    let ip = |s: &Service| s.spec.as_ref().and_then(|s| s.cluster_ip.clone()).unwrap_or_default();
    let (old_ip, new_ip) = (ip(old), ip(new));
    let new_type = new.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
    if !old_ip.is_empty() && !new_ip.is_empty() && old_ip != new_ip && new_type != "ExternalName" {
        return vec![FieldError::invalid(
            "spec.clusterIPs[0]",
            format!("[]string{{{new_ip:?}}}"),
            "may not change once set",
        )];
    }
    // The class of a load balancer is its implementation's: it stays while the type does.
    let lb = |s: &Service| s.spec.as_ref().is_some_and(|s| s.type_.as_deref() == Some("LoadBalancer"));
    let class = |s: &Service| s.spec.as_ref().and_then(|s| s.load_balancer_class.clone());
    if lb(old) && lb(new) && class(old) != class(new) {
        let value = quote(&class(new).unwrap_or_else(|| "null".into()));
        return vec![FieldError::invalid("spec.loadBalancerClass", value, "may not change once set")];
    }
    vec![]
}

pub(super) fn validate_endpoints(endpoints: &Endpoints) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, subset) in endpoints.subsets.iter().flatten().enumerate() {
        let groups = [("addresses", &subset.addresses), ("notReadyAddresses", &subset.not_ready_addresses)];
        for (group, addresses) in groups {
            for (j, address) in addresses.iter().flatten().enumerate() {
                if address.ip.parse::<IpAddr>().is_err() {
                    let field = format!("subsets[{i}].{group}[{j}].ip");
                    errs.push(FieldError::invalid(
                        field,
                        quote(&address.ip),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                }
            }
        }
        for (j, port) in subset.ports.iter().flatten().enumerate() {
            if !(1..=65535).contains(&port.port) {
                errs.push(FieldError::invalid(
                    format!("subsets[{i}].ports[{j}].port"),
                    port.port.to_string(),
                    PORT_RANGE,
                ));
            }
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            if !PROTOCOLS.contains(&protocol) {
                errs.push(FieldError::not_supported(format!("subsets[{i}].ports[{j}].protocol"), protocol, PROTOCOLS));
            }
        }
    }
    errs
}
