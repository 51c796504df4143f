//! Ingress, IngressClass and CertificateSigningRequests, as kube-apiserver validates them
//! (`pkg/apis/networking/validation`, `certificates`).

use super::names::*;
use super::{FieldError, quote};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, IngressBackend, IngressClass};

const PATH_TYPES: [&str; 3] = ["Exact", "ImplementationSpecific", "Prefix"];
const WILDCARD_MSG: &str = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn validate_host(host: &str, at: &str, errs: &mut Vec<FieldError>) {
    if host.parse::<std::net::IpAddr>().is_ok() {
        errs.push(FieldError::invalid(at, quote(host), "must be a DNS name, not an IP address"));
    }
    if host.contains('*') {
        let ok = host.strip_prefix("*.").is_some_and(|rest| !rest.contains('*') && is_dns1123_subdomain(rest));
        if !ok {
            errs.push(FieldError::invalid(at, quote(host), WILDCARD_MSG));
        }
    } else if !is_dns1123_subdomain(host) {
        errs.push(FieldError::invalid(at, quote(host), DNS1123_SUBDOMAIN_MSG));
    }
}

pub(super) fn validate_ingress(ingress: &Ingress) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = ingress.spec.clone().unwrap_or_default();
    let rules = spec.rules.unwrap_or_default();
    if rules.is_empty() && spec.default_backend.is_none() {
        errs.push(FieldError::invalid("spec", "[]", "either `defaultBackend` or `rules` must be specified"));
    }
    if let Some(backend) = &spec.default_backend {
        validate_backend(backend, "spec.defaultBackend", &mut errs);
    }
    if let Some(class) = spec.ingress_class_name.as_deref().filter(|c| !is_dns1123_subdomain(c)) {
        errs.push(FieldError::invalid("spec.ingressClassName", quote(class), DNS1123_SUBDOMAIN_MSG));
    }
    for (i, tls) in spec.tls.iter().flatten().enumerate() {
        for (j, host) in tls.hosts.iter().flatten().enumerate() {
            validate_host(host, &format!("spec.tls[{i}].hosts[{j}]"), &mut errs);
        }
    }
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        if let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            validate_host(host, &format!("{at}.host"), &mut errs);
        }
        let Some(http) = &rule.http else { continue };
        if http.paths.is_empty() {
            errs.push(FieldError::required(format!("{at}.http.paths"), ""));
        }
        for (j, path) in http.paths.iter().enumerate() {
            validate_path(path, &format!("{at}.http.paths[{j}]"), &mut errs);
        }
    }
    errs
}

fn validate_path(path: &HTTPIngressPath, at: &str, errs: &mut Vec<FieldError>) {
    let value = path.path.clone().unwrap_or_default();
    match path.path_type.as_str() {
        "" => errs.push(FieldError::required(format!("{at}.pathType"), "pathType must be specified")),
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(format!("{at}.path"), quote(&value), "must be an absolute path"));
            }
            for bad in ["//", "/./", "/../", "%2f", "%2F"] {
                if value.contains(bad) {
                    errs.push(FieldError::invalid(
                        format!("{at}.path"),
                        quote(&value),
                        format!("must not contain '{bad}'"),
                    ));
                }
            }
            for bad in ["/..", "/."] {
                if value.ends_with(bad) {
                    errs.push(FieldError::invalid(
                        format!("{at}.path"),
                        quote(&value),
                        format!("cannot end with '{bad}'"),
                    ));
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(format!("{at}.path"), quote(&value), "must be an absolute path"));
            }
        }
        other => errs.push(FieldError::not_supported(format!("{at}.pathType"), other, &PATH_TYPES)),
    }
    validate_backend(&path.backend, &format!("{at}.backend"), errs);
}

fn validate_backend(backend: &IngressBackend, at: &str, errs: &mut Vec<FieldError>) {
    match (&backend.service, &backend.resource) {
        (Some(_), Some(_)) => {
            errs.push(FieldError::invalid(at, "\"\"", "cannot set both resource and service backends"))
        }
        (None, Some(resource)) => {
            if resource.kind.is_empty() {
                errs.push(FieldError::required(format!("{at}.resource.kind"), ""));
            }
            if resource.name.is_empty() {
                errs.push(FieldError::required(format!("{at}.resource.name"), ""));
            }
        }
        (Some(service), None) => {
            if service.name.is_empty() {
                errs.push(FieldError::required(format!("{at}.service.name"), ""));
            } else if !is_dns1035_label(&service.name) {
                errs.push(FieldError::invalid(format!("{at}.service.name"), quote(&service.name), DNS1035_LABEL_MSG));
            }
            let port = service.port.clone().unwrap_or_default();
            let name = port.name.unwrap_or_default();
            let number = port.number.unwrap_or(0);
            match (name.is_empty(), number) {
                (false, n) if n != 0 => {
                    errs.push(FieldError::invalid(at, "\"\"", "cannot set both port name & port number"))
                }
                (false, _) if !is_valid_port_name(&name) => errs.push(FieldError::invalid(
                    format!("{at}.service.port.name"),
                    quote(&name),
                    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                )),
                (false, _) => {}
                (true, 0) => errs.push(FieldError::required(at, "port name or number is required")),
                (true, n) if !(1..=65535).contains(&n) => errs.push(FieldError::invalid(
                    format!("{at}.service.port.number"),
                    n.to_string(),
                    "must be between 1 and 65535, inclusive",
                )),
                _ => {}
            }
        }
        (None, None) => errs.push(FieldError::invalid(at, "\"\"", "resource or service backend is required")),
    }
}

pub(super) fn validate_ingress_class(class: &IngressClass) -> Vec<FieldError> {
    let controller = class.spec.as_ref().and_then(|s| s.controller.clone()).unwrap_or_default();
    let mut errs = Vec::new();
    if controller.is_empty() {
        errs.push(FieldError::required("spec.controller", ""));
    } else if controller.len() > 250 {
        errs.push(FieldError::invalid("spec.controller", quote(&controller), "must be no more than 250 characters"));
    }
    errs
}

/// Key usages a CSR may ask for (`certificates.k8s.io/v1` KeyUsage).
pub const KEY_USAGES: [&str; 21] = [
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
];

pub(super) fn validate_csr(csr: &CertificateSigningRequest) -> Vec<FieldError> {
    let spec = &csr.spec;
    let mut errs = Vec::new();
    let pem = String::from_utf8_lossy(&spec.request.0);
    if !pem.contains("-----BEGIN CERTIFICATE REQUEST-----") {
        errs.push(FieldError::invalid("spec.request", "[]byte{…}", "PEM block type must be CERTIFICATE REQUEST"));
    }
    if spec.signer_name.is_empty() {
        errs.push(FieldError::required("spec.signerName", ""));
    } else if !spec.signer_name.contains('/') {
        errs.push(FieldError::invalid(
            "spec.signerName",
            quote(&spec.signer_name),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
    }
    let usages = spec.usages.clone().unwrap_or_default();
    if usages.is_empty() {
        errs.push(FieldError::required("spec.usages", "usages must be provided"));
    }
    for (i, usage) in usages.iter().enumerate() {
        if !KEY_USAGES.contains(&usage.as_str()) {
            errs.push(FieldError::not_supported(format!("spec.usages[{i}]"), usage, &KEY_USAGES));
        } else if usages[..i].contains(usage) {
            errs.push(FieldError::duplicate(format!("spec.usages[{i}]"), quote(usage)));
        }
    }
    if let Some(seconds) = spec.expiration_seconds.filter(|s| *s < 600) {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            seconds.to_string(),
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    errs
}

/// The approval conditions: Approved and Denied exclude each other, are always `True`, and once
/// given cannot be taken back.
pub(super) fn validate_csr_update(old: &CertificateSigningRequest, new: &CertificateSigningRequest) -> Vec<FieldError> {
    let conditions =
        |c: &CertificateSigningRequest| c.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let (before, after) = (conditions(old), conditions(new));
    let mut errs = Vec::new();
    if old.spec != new.spec {
        errs.push(FieldError::invalid("spec", "…", "field is immutable"));
    }
    for (i, c) in after.iter().enumerate() {
        if matches!(c.type_.as_str(), "Approved" | "Denied" | "Failed") && c.status != "True" {
            errs.push(FieldError::not_supported(format!("status.conditions[{i}].status"), &c.status, &["True"]));
        }
        if c.type_ == "Denied" && after.iter().any(|o| o.type_ == "Approved") {
            errs.push(FieldError::invalid(
                format!("status.conditions[{i}].type"),
                quote(&c.type_),
                "Approved and Denied conditions are mutually exclusive",
            ));
        }
    }
    for kind in ["Approved", "Denied"] {
        if before.iter().any(|c| c.type_ == kind) && !after.iter().any(|c| c.type_ == kind) {
            errs.push(FieldError::forbidden(
                "status.conditions",
                format!("updates may not remove a condition of type {kind:?}"),
            ));
        }
    }
    errs
}
