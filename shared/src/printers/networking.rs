//! networking.k8s.io, discovery.k8s.io, certificates.k8s.io and coordination.k8s.io kinds'
//! columns: ingresses, ingress classes, endpoint slices, certificate signing requests, leases.

use super::{AGE, Column, NAME, Row, age, column, human_duration, list_with_more, load_balancer_addresses};
use jiff::Timestamp;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

pub const INGRESS_COLUMNS: &[Column] = &[
    NAME,
    column("Class", "The name of the IngressClass resource that should be used for additional configuration"),
    column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
    column("Address", "Address is a list containing ingress points for the load-balancer"),
    column("Ports", "Ports of TLS configurations that open"),
    AGE,
];

/// HOSTS: the rules' hosts (the first three, then ` + N more...`), `*` when none names one.
pub fn ingress_hosts(ingress: &Ingress) -> String {
    let rules = ingress.spec.as_ref().and_then(|s| s.rules.as_deref()).unwrap_or_default();
    let max = 3;
    let list: Vec<&str> = rules.iter().take(max).filter_map(|r| r.host.as_deref()).filter(|h| !h.is_empty()).collect();
    if list.is_empty() {
        return "*".into();
    }
    if rules.len() > max {
        return format!("{} + {} more...", list.join(","), rules.len() - max);
    }
    list.join(",")
}

/// ADDRESS: the controller's addresses from the status, sorted; empty until it has one.
pub fn ingress_address(ingress: &Ingress) -> String {
    let lb = ingress.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_ref());
    load_balancer_addresses(lb.into_iter().flatten().map(|i| (&i.ip, &i.hostname))).join(",")
}

/// PORTS: `80`, or `80, 443` when the Ingress has a `tls` section.
pub fn ingress_ports(ingress: &Ingress) -> String {
    let tls = ingress.spec.as_ref().and_then(|s| s.tls.as_ref()).is_some_and(|t| !t.is_empty());
    if tls { "80, 443".into() } else { "80".into() }
}

pub fn ingress(ingress: &Ingress, now: Timestamp) -> Row {
    let class = ingress.spec.as_ref().and_then(|s| s.ingress_class_name.clone());
    Row::new(vec![
        ingress.metadata.name.clone().unwrap_or_default().into(),
        class.unwrap_or_else(|| "<none>".into()).into(),
        ingress_hosts(ingress).into(),
        ingress_address(ingress).into(),
        ingress_ports(ingress).into(),
        age(ingress.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const INGRESSCLASS_COLUMNS: &[Column] = &[
    NAME,
    column("Controller", "Controller refers to the name of the controller that should handle this class."),
    column(
        "Parameters",
        "Parameters is a link to a custom resource containing additional configuration for the controller.",
    ),
    AGE,
];

pub fn ingress_class(class: &IngressClass, now: Timestamp) -> Row {
    let spec = class.spec.as_ref();
    let parameters = match spec.and_then(|s| s.parameters.as_ref()) {
        Some(p) => match &p.api_group {
            Some(group) => format!("{}.{group}/{}", p.kind, p.name),
            None => format!("{}/{}", p.kind, p.name),
        },
        None => "<none>".into(),
    };
    Row::new(vec![
        class.metadata.name.clone().unwrap_or_default().into(),
        spec.and_then(|s| s.controller.clone()).unwrap_or_default().into(),
        parameters.into(),
        age(class.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const ENDPOINTSLICE_COLUMNS: &[Column] = &[
    NAME,
    column("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
    column("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    column("Endpoints", "endpoints is a list of unique endpoints in this slice."),
    AGE,
];

pub fn endpoint_slice(slice: &EndpointSlice, now: Timestamp) -> Row {
    let ports = slice.ports.iter().flatten().map(|p| match (p.port, &p.name) {
        (Some(port), _) => port.to_string(),
        (None, Some(name)) => name.clone(),
        (None, None) => "*".into(),
    });
    let addresses = slice.endpoints.iter().flat_map(|e| e.addresses.iter().cloned());
    Row::new(vec![
        slice.metadata.name.clone().unwrap_or_default().into(),
        slice.address_type.clone().into(),
        list_with_more(ports, 3, "<unset>").into(),
        list_with_more(addresses, 3, "<unset>").into(),
        age(slice.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const CSR_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    column("SignerName", "signerName indicates the requested signer, and is a qualified name."),
    column("Requestor", "username contains the name of the user that created the CertificateSigningRequest."),
    column("RequestedDuration", "expirationSeconds is the requested duration of validity of the issued certificate."),
    column(
        "Condition",
        "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".",
    ),
];

/// CONDITION: `Pending`, `Approved`, `Denied`, with `,Failed` and `,Issued`.
fn csr_condition(csr: &CertificateSigningRequest) -> String {
    let status = csr.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let has = |t: &str| conditions.iter().any(|c| c.type_ == t);
    let mut out = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        out.push_str(",Failed");
    }
    if status.and_then(|s| s.certificate.as_ref()).is_some_and(|c| !c.0.is_empty()) {
        out.push_str(",Issued");
    }
    out
}

pub fn csr(csr: &CertificateSigningRequest, now: Timestamp) -> Row {
    let spec = &csr.spec;
    let signer = Some(spec.signer_name.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| "<none>".into());
    let duration = spec.expiration_seconds.map_or_else(|| "<none>".into(), |s| human_duration(i64::from(s)));
    Row::new(vec![
        csr.metadata.name.clone().unwrap_or_default().into(),
        age(csr.metadata.creation_timestamp.as_ref(), now).into(),
        signer.into(),
        spec.username.clone().unwrap_or_default().into(),
        duration.into(),
        csr_condition(csr).into(),
    ])
}

pub const LEASE_COLUMNS: &[Column] =
    &[NAME, column("Holder", "holderIdentity contains the identity of the holder of a current lease."), AGE];

pub fn lease(lease: &Lease, now: Timestamp) -> Row {
    let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
    Row::new(vec![
        lease.metadata.name.clone().unwrap_or_default().into(),
        holder.unwrap_or_default().into(),
        age(lease.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}
