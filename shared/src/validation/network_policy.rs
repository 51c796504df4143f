//! A NetworkPolicy's rules, as kube-apiserver validates them: label selectors, peers (one of
//! pods, namespaces or an address block, whose `except` blocks lie strictly inside it), ports
//! and port ranges, and policy types.

use super::container::{PORT_NAME_MSG, PORT_RANGE_MSG};
use super::meta::validate_label_selector;
use super::{FieldError, quote};
use crate::cidr::Cidr;
use crate::validation::names::is_valid_port_name;
use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const POLICY_TYPES: &[&str] = &["Ingress", "Egress"];

pub(super) fn validate_network_policy(policy: &NetworkPolicy) -> Vec<FieldError> {
    let Some(spec) = &policy.spec else { return Vec::new() };
    let mut errs: Vec<FieldError> =
        spec.pod_selector.iter().flat_map(|s| validate_label_selector(s, "spec.podSelector")).collect();
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        for (j, port) in rule.ports.iter().flatten().enumerate() {
            errs.extend(validate_port(port, &format!("spec.ingress[{i}].ports[{j}]")));
        }
        for (j, peer) in rule.from.iter().flatten().enumerate() {
            errs.extend(validate_peer(peer, &format!("spec.ingress[{i}].from[{j}]")));
        }
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        for (j, peer) in rule.to.iter().flatten().enumerate() {
            errs.extend(validate_peer(peer, &format!("spec.egress[{i}].to[{j}]")));
        }
        for (j, port) in rule.ports.iter().flatten().enumerate() {
            errs.extend(validate_port(port, &format!("spec.egress[{i}].ports[{j}]")));
        }
    }
    let types = spec.policy_types.as_deref().unwrap_or_default();
    if types.len() > POLICY_TYPES.len() {
        let value = format!("[]string{{{}}}", types.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", "));
        errs.push(FieldError::invalid("spec.policyTypes", value, "may not specify more than two policyTypes"));
        return errs;
    }
    for (i, ty) in types.iter().enumerate() {
        if !POLICY_TYPES.contains(&ty.as_str()) {
            errs.push(FieldError::not_supported(format!("spec.policyTypes[{i}]"), ty, POLICY_TYPES));
        }
    }
    errs
}

fn validate_port(port: &NetworkPolicyPort, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(protocol) = port.protocol.as_deref().filter(|p| !PROTOCOLS.contains(p)) {
        errs.push(FieldError::not_supported(format!("{at}.protocol"), protocol, PROTOCOLS));
    }
    let in_range = |n: i32| (1..=65535).contains(&n);
    match (&port.port, port.end_port) {
        (Some(IntOrString::Int(n)), end) => {
            if !in_range(*n) {
                errs.push(FieldError::invalid(format!("{at}.port"), n.to_string(), PORT_RANGE_MSG));
            }
            if let Some(end) = end {
                if end < *n {
                    let msg = "must be greater than or equal to `port`";
                    errs.push(FieldError::invalid(format!("{at}.endPort"), n.to_string(), msg));
                }
                if !in_range(end) {
                    errs.push(FieldError::invalid(format!("{at}.endPort"), end.to_string(), PORT_RANGE_MSG));
                }
            }
        }
        (Some(IntOrString::String(name)), end) => {
            if let Some(end) = end {
                let msg = "may not be specified when `port` is non-numeric";
                errs.push(FieldError::invalid(format!("{at}.endPort"), end.to_string(), msg));
            }
            if !is_valid_port_name(name) {
                errs.push(FieldError::invalid(format!("{at}.port"), quote(name), PORT_NAME_MSG));
            }
        }
        (None, Some(end)) => {
            let msg = "may not be specified when `port` is not specified";
            errs.push(FieldError::invalid(format!("{at}.endPort"), end.to_string(), msg));
        }
        (None, None) => {}
    }
    errs
}

fn validate_peer(peer: &NetworkPolicyPeer, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(pods) = &peer.pod_selector {
        errs.extend(validate_label_selector(pods, &format!("{at}.podSelector")));
    }
    if let Some(namespaces) = &peer.namespace_selector {
        errs.extend(validate_label_selector(namespaces, &format!("{at}.namespaceSelector")));
    }
    if let Some(block) = &peer.ip_block {
        errs.extend(validate_ip_block(block, &format!("{at}.ipBlock")));
    }
    let peers = [peer.pod_selector.is_some(), peer.namespace_selector.is_some(), peer.ip_block.is_some()];
    match peers.iter().filter(|p| **p).count() {
        0 => errs.push(FieldError::required(at, "must specify a peer")),
        n if n > 1 && peer.ip_block.is_some() => {
            errs.push(FieldError::forbidden(at, "may not specify both ipBlock and another peer"))
        }
        _ => {}
    }
    errs
}

fn validate_ip_block(block: &IPBlock, at: &str) -> Vec<FieldError> {
    if block.cidr.is_empty() {
        return vec![FieldError::required(format!("{at}.cidr"), "")];
    }
    let Some(cidr) = Cidr::parse(&block.cidr) else {
        return vec![FieldError::invalid(format!("{at}.cidr"), quote(&block.cidr), CIDR_MSG)];
    };
    let mut errs = Vec::new();
    for (i, except) in block.except.iter().flatten().enumerate() {
        let field = format!("{at}.except[{i}]");
        match Cidr::parse(except) {
            None => errs.push(FieldError::invalid(field, quote(except), CIDR_MSG)),
            Some(inner) if !cidr.strictly_contains(&inner) => {
                errs.push(FieldError::invalid(field, quote(except), "must be a strict subset of `cidr`"))
            }
            Some(_) => {}
        }
    }
    errs
}
