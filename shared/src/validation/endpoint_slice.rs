//! EndpointSlices, as kube-apiserver's discovery validation checks them.

use super::meta::validate_labels;
use super::names::*;
use super::{FieldError, quote};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const MAX_TOPOLOGY_LABELS: usize = 16;

pub(super) fn validate_endpoint_slice(slice: &EndpointSlice) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let address_type = slice.address_type.as_str();
    if address_type.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !ADDRESS_TYPES.contains(&address_type) {
        errs.push(FieldError::not_supported("addressType", address_type, ADDRESS_TYPES));
    }
    if slice.endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many("endpoints", slice.endpoints.len(), MAX_ENDPOINTS));
    } else {
        for (i, endpoint) in slice.endpoints.iter().enumerate() {
            let at = |f: &str| format!("endpoints[{i}].{f}");
            match endpoint.addresses.len() {
                0 => errs.push(FieldError::required(at("addresses"), "must contain at least 1 address")),
                n if n > MAX_ADDRESSES => errs.push(FieldError::too_many(at("addresses"), n, MAX_ADDRESSES)),
                _ => {}
            }
            for (j, address) in endpoint.addresses.iter().enumerate() {
                if let Some(error) = address_error(address_type, address) {
                    errs.push(FieldError::invalid(format!("endpoints[{i}].addresses[{j}]"), quote(address), error));
                }
            }
            if let Some(node) = endpoint.node_name.as_deref().filter(|n| !is_dns1123_subdomain(n)) {
                errs.push(FieldError::invalid(at("nodeName"), quote(node), DNS1123_SUBDOMAIN_MSG));
            }
            if let Some(hostname) = endpoint.hostname.as_deref().filter(|h| !is_dns1123_label(h)) {
                errs.push(FieldError::invalid(at("hostname"), quote(hostname), DNS1123_LABEL_MSG));
            }
            if let Some(topology) = &endpoint.deprecated_topology {
                if topology.len() > MAX_TOPOLOGY_LABELS {
                    errs.push(FieldError::too_many(at("deprecatedTopology"), topology.len(), MAX_TOPOLOGY_LABELS));
                }
                errs.extend(validate_labels(topology, &at("deprecatedTopology")));
            }
        }
    }
    let ports = slice.ports.as_deref().unwrap_or_default();
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many("ports", ports.len(), MAX_PORTS));
        return errs;
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = |f: &str| format!("ports[{i}].{f}");
        // An absent name and protocol are defaulted ("" and TCP) before validation.
        let name = port.name.as_deref().unwrap_or_default();
        if !name.is_empty() && !is_dns1123_label(name) {
            errs.push(FieldError::invalid(at("name"), quote(name), DNS1123_LABEL_MSG));
        }
        if !names.insert(name) {
            errs.push(FieldError::duplicate(at("name"), quote(name)));
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            errs.push(FieldError::not_supported(at("protocol"), protocol, PROTOCOLS));
        }
        if let Some(app_protocol) = &port.app_protocol {
            for msg in label_key_errors(app_protocol) {
                errs.push(FieldError::invalid(at("appProtocol"), quote(app_protocol), msg));
            }
        }
    }
    errs
}

/// What may not change: the address type.
pub(super) fn validate_endpoint_slice_update(old: &EndpointSlice, new: &EndpointSlice) -> Vec<FieldError> {
    if old.address_type == new.address_type {
        return vec![];
    }
    vec![FieldError::invalid("addressType", quote(&new.address_type), "field is immutable")]
}

/// Why `address` is not an address of `address_type` (an unknown type's are not checked).
fn address_error(address_type: &str, address: &str) -> Option<String> {
    match address_type {
        "IPv4" if address.parse::<Ipv4Addr>().is_err() => Some("must be a valid IPv4 address".into()),
        "IPv6" if address.parse::<Ipv6Addr>().is_err() => Some("must be a valid IPv6 address".into()),
        "FQDN" => {
            let name = address.strip_suffix('.').unwrap_or(address);
            if !is_dns1123_subdomain(name) {
                Some(DNS1123_SUBDOMAIN_MSG.into())
            } else if !name.contains('.') {
                Some("should be a domain with at least two segments separated by dots".into())
            } else {
                None
            }
        }
        _ => None,
    }
}
