//! References a route or a Gateway makes to objects: which a ReferenceGrant allows across
//! namespaces, and a route's backendRefs resolved to a Service's ready endpoints (or why not).

use super::inputs::{Inputs, Outcome};
use crate::ingress::backend::Backend;
use k8s_openapi::api::networking::v1::ServiceBackendPort;
use std::time::Duration;
use svclab_shared::gateway::ReferenceGrant;

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// Whether a ReferenceGrant in `to_ns` lets a `from_kind` in `from_ns` refer to the `to_kind`
/// called `to_name` there.
pub fn granted(
    grants: &[ReferenceGrant],
    from_kind: &str,
    from_ns: &str,
    to_kind: &str,
    to_ns: &str,
    to_name: &str,
) -> bool {
    let group = |kind: &str| if kind == "Service" || kind == "Secret" { "" } else { svclab_shared::gateway::GROUP };
    grants.iter().filter(|g| g.metadata.namespace.as_deref() == Some(to_ns)).any(|g| {
        g.spec.from.iter().any(|f| f.kind == from_kind && f.namespace == from_ns && f.group == group(from_kind))
            && g.spec.to.iter().any(|t| {
                t.kind == to_kind && t.group == group(to_kind) && t.name.as_deref().is_none_or(|n| n == to_name)
            })
    })
}

/// A reference to a backend, as backendRefs and mirrors write it.
pub struct Ref<'a> {
    pub kind: Option<&'a str>,
    pub group: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub port: Option<i32>,
}

impl<'a> Ref<'a> {
    pub fn of(
        kind: Option<&'a str>,
        group: Option<&'a str>,
        namespace: Option<&'a str>,
        name: &'a str,
        port: Option<i32>,
    ) -> Self {
        Ref { kind, group, namespace, name, port }
    }
}

/// A backendRef resolved: a Service's port in the route's namespace, or in another one that a
/// ReferenceGrant opens; otherwise an invalid backend (answered 500) and why.
pub fn backend(inputs: &Inputs, route_ns: &str, owner: &str, r: Ref, read_timeout: Duration) -> (Backend, Outcome) {
    let Ref { kind, group, namespace, name, port } = r;
    let (services, grants) = (inputs.services, inputs.grants);
    let ns = namespace.unwrap_or(route_ns);
    let invalid = |reason: &'static str, message: String| {
        let mut b = Backend::new(owner, key(ns, name), port.unwrap_or(0).to_string(), read_timeout);
        b.invalid = true;
        b.problem = Some(message.clone());
        (b, Err((reason, message)))
    };
    let kind = kind.unwrap_or("Service");
    if kind != "Service" || group.is_some_and(|g| !g.is_empty()) {
        return invalid("InvalidKind", format!("Unsupported backend kind {kind:?}"));
    }
    if ns != route_ns && !granted(grants, "HTTPRoute", route_ns, "Service", ns, name) {
        return invalid(
            "RefNotPermitted",
            format!("Backend ref to Service {ns}/{name} not permitted by any ReferenceGrant"),
        );
    }
    let Some(state) = services.service(ns, name) else {
        return invalid("BackendNotFound", format!("Service {ns}/{name} not found"));
    };
    let Some(port) = port else {
        return invalid("UnsupportedValue", format!("Backend ref to Service {ns}/{name} has no port"));
    };
    let ports = state.service.spec.as_ref().and_then(|s| s.ports.as_ref());
    if !ports.is_some_and(|ports| ports.iter().any(|p| p.port == port)) {
        return invalid("BackendNotFound", format!("Service {ns}/{name} does not have port {port}"));
    }
    let port_ref = ServiceBackendPort { number: Some(port), name: None };
    (Backend::resolve(services, ns, name, &port_ref, owner, read_timeout), Ok(()))
}
