//! An Ingress as Gateway API objects, the way `ingress2gateway` converts one: a Gateway with an
//! HTTP listener per host (and an HTTPS one per host its `tls` section covers, with the same
//! Secret), and an HTTPRoute per host whose rules are the host's paths (Prefix and
//! ImplementationSpecific as PathPrefix, Exact as Exact) sending to the same Service ports; the
//! default backend becomes a route without hostnames. Two differences, so that the result runs
//! here on its own: the Gateway is of svclab's class and named after the Ingress (ingress2gateway
//! names it after the IngressClass, shared by every Ingress of the class).

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use serde_json::{Value, json};

/// What went wrong converting, e.g. a named service port the Service does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

/// `kubia.example.com` → `kubia-example-com`; no host → `all-hosts`.
fn label(host: Option<&str>) -> String {
    match host.filter(|h| !h.is_empty()) {
        Some(h) => h.replace("*.", "wildcard-").replace('.', "-"),
        None => "all-hosts".into(),
    }
}

/// A backendRef for an Ingress backend; `port_of(service, port name)` finds a named port's number.
fn backend_ref(backend: &IngressBackend, port_of: &dyn Fn(&str, &str) -> Option<i32>) -> Result<Value, ConvertError> {
    let Some(service) = &backend.service else {
        return Err(ConvertError("resource backends have no Gateway API equivalent".into()));
    };
    let port = service.port.clone().unwrap_or_default();
    let number = match (port.number, port.name.as_deref()) {
        (Some(n), _) => n,
        (None, Some(name)) => port_of(&service.name, name).ok_or_else(|| {
            ConvertError(format!(
                "service {:?} has no port named {name:?}: backendRefs need a port number",
                service.name
            ))
        })?,
        (None, None) => return Err(ConvertError(format!("the backend for service {:?} names no port", service.name))),
    };
    Ok(json!({"name": service.name, "port": number}))
}

/// The Gateway and HTTPRoutes equivalent to `ingress`, as JSON manifests (the Gateway first).
pub fn ingress_to_gateway(
    ingress: &Ingress,
    port_of: &dyn Fn(&str, &str) -> Option<i32>,
) -> Result<Vec<Value>, ConvertError> {
    let name = ingress.metadata.name.clone().unwrap_or_default();
    let namespace = ingress.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let spec = ingress.spec.clone().unwrap_or_default();
    let tls = spec.tls.clone().unwrap_or_default();
    let mut listeners: Vec<Value> = Vec::new();
    let mut routes: Vec<Value> = Vec::new();
    let meta = |route: &str| {
        json!({"name": route, "namespace": namespace,
               "annotations": {"gateway.networking.k8s.io/generator": "svclab (as ingress2gateway)"}})
    };
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.clone().filter(|h| !h.is_empty());
        let label = label(host.as_deref());
        if !listeners.iter().any(|l| l["name"] == format!("{label}-http")) {
            let mut http = json!({"name": format!("{label}-http"), "port": 80, "protocol": "HTTP"});
            if let Some(h) = &host {
                http["hostname"] = h.clone().into();
            }
            listeners.push(http);
            let secret = tls.iter().find(|t| t.hosts.iter().flatten().any(|h| Some(h) == host.as_ref()));
            if let Some(secret) = secret.and_then(|t| t.secret_name.clone()) {
                let mut https = json!({"name": format!("{label}-https"), "port": 443, "protocol": "HTTPS",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": secret}]}});
                if let Some(h) = &host {
                    https["hostname"] = h.clone().into();
                }
                listeners.push(https);
            }
        }
        let mut rules = Vec::new();
        for path in rule.http.iter().flat_map(|h| &h.paths) {
            let value = path.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
            let kind = if path.path_type == "Exact" { "Exact" } else { "PathPrefix" };
            rules.push(json!({"matches": [{"path": {"type": kind, "value": value}}],
                              "backendRefs": [backend_ref(&path.backend, port_of)?]}));
        }
        if let Some(default) = &spec.default_backend {
            rules.push(json!({"backendRefs": [backend_ref(default, port_of)?]}));
        }
        let mut route_spec = json!({"parentRefs": [{"name": name}], "rules": rules});
        if let Some(h) = &host {
            route_spec["hostnames"] = json!([h]);
        }
        routes.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                           "metadata": meta(&format!("{name}-{label}")), "spec": route_spec}));
    }
    let hosted = spec.rules.iter().flatten().any(|r| r.host.as_deref().is_some_and(|h| !h.is_empty()));
    if let Some(default) = spec.default_backend.as_ref().filter(|_| hosted || routes.is_empty()) {
        if !listeners.iter().any(|l| l.get("hostname").is_none()) {
            listeners.push(json!({"name": "http", "port": 80, "protocol": "HTTP"}));
        }
        routes.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": meta(&format!("{name}-default-backend")),
            "spec": {"parentRefs": [{"name": name}], "rules": [{"backendRefs": [backend_ref(default, port_of)?]}]}}));
    }
    let gateway = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": meta(&name),
                         "spec": {"gatewayClassName": crate::gateway::CLASS, "listeners": listeners}});
    Ok(std::iter::once(gateway).chain(routes).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(value: Value) -> Ingress {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_chapters_ingress_converts_as_ingress2gateway_does() {
        let i = ingress(json!({"metadata": {"name": "kubia", "namespace": "default"}, "spec": {"rules": [
            {"host": "kubia.example.com", "http": {"paths": [
                {"path": "/", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "kubia-nodeport", "port": {"number": 80}}}}]}}]}}));
        let out = ingress_to_gateway(&i, &|_, _| None).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["spec"]["gatewayClassName"], "svclab");
        assert_eq!(
            out[0]["spec"]["listeners"],
            json!([{"name": "kubia-example-com-http", "hostname": "kubia.example.com", "port": 80, "protocol": "HTTP"}])
        );
        assert_eq!(out[1]["metadata"]["name"], "kubia-kubia-example-com");
        assert_eq!(
            out[1]["spec"],
            json!({"parentRefs": [{"name": "kubia"}], "hostnames": ["kubia.example.com"], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": "kubia-nodeport", "port": 80}]}]})
        );
    }

    #[test]
    fn tls_hosts_get_https_listeners_and_named_ports_resolve() {
        let i = ingress(json!({"metadata": {"name": "kubia"}, "spec": {
            "tls": [{"hosts": ["kubia.example.com"], "secretName": "tls-secret"}],
            "defaultBackend": {"service": {"name": "fallback", "port": {"number": 8080}}},
            "rules": [{"host": "kubia.example.com", "http": {"paths": [
                {"path": "/exact", "pathType": "Exact", "backend": {"service": {"name": "kubia", "port": {"name": "http"}}}}]}}]}}));
        let out = ingress_to_gateway(&i, &|svc, port| (svc == "kubia" && port == "http").then_some(80)).unwrap();
        let listeners = out[0]["spec"]["listeners"].as_array().unwrap();
        assert_eq!(listeners[1]["tls"]["certificateRefs"][0]["name"], "tls-secret");
        assert_eq!(listeners[1]["port"], 443);
        assert_eq!(out[1]["spec"]["rules"][0]["matches"][0]["path"]["type"], "Exact");
        assert_eq!(out[1]["spec"]["rules"][0]["backendRefs"][0]["port"], 80);
        assert_eq!(out[1]["spec"]["rules"][1]["backendRefs"][0]["name"], "fallback");
        let err = ingress_to_gateway(&i, &|_, _| None).unwrap_err();
        assert!(err.0.contains("no port named \"http\""), "{err}");
    }
}
