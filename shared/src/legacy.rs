//! Older API versions svclab still accepts, converted to the version it stores (as kube-apiserver
//! converts on the way in): Ingress in `extensions/v1beta1` (the chapter's form) and
//! `networking.k8s.io/v1beta1` becomes `networking.k8s.io/v1`; the Gateway API kinds in
//! `gateway.networking.k8s.io/v1beta1` (many manifests still write ReferenceGrants so) become v1.

use crate::Kind;
use serde_json::{Map, Value, json};

/// The `apiVersion`s that used to serve Ingress, which svclab still serves, converting.
pub const INGRESS_V1BETA1: [&str; 2] = ["extensions/v1beta1", "networking.k8s.io/v1beta1"];

/// Gateway API's beta version, the same schema as v1 for the kinds it still serves.
pub const GATEWAY_V1BETA1: &str = "gateway.networking.k8s.io/v1beta1";

/// An older version svclab serves a kind in: (`apiVersion`, kind).
pub const SERVED: &[(&str, Kind)] = &[
    ("networking.k8s.io/v1beta1", Kind::Ingress),
    ("extensions/v1beta1", Kind::Ingress),
    (GATEWAY_V1BETA1, Kind::GatewayClass),
    (GATEWAY_V1BETA1, Kind::Gateway),
    (GATEWAY_V1BETA1, Kind::HttpRoute),
    (GATEWAY_V1BETA1, Kind::ReferenceGrant),
];

/// The kind an old `/apis/<group>/<version>/<plural>` path serves, if it is one svclab converts.
pub fn kind_from_plural(group: &str, version: &str, plural: &str) -> Option<Kind> {
    let api_version = format!("{group}/{version}");
    SERVED.iter().find(|(v, k)| *v == api_version && k.plural() == plural).map(|(_, k)| *k)
}

/// The older `apiVersion` of a kind, as one of [`SERVED`] spells it.
pub fn served_version(api_version: &str, kind: Kind) -> Option<&'static str> {
    SERVED.iter().find(|(v, k)| *v == api_version && *k == kind).map(|(v, _)| *v)
}

/// Whether a document declares an old version svclab converts.
pub fn is_legacy(value: &Value) -> bool {
    let field = |f: &str| value.get(f).and_then(Value::as_str).unwrap_or_default();
    SERVED.iter().any(|(v, k)| *v == field("apiVersion") && k.name() == field("kind"))
}

/// Converts a document in an old version to the stored one; anything else is returned as is.
pub fn upgrade(mut value: Value) -> Value {
    if !is_legacy(&value) {
        return value;
    }
    if value["apiVersion"] == GATEWAY_V1BETA1 {
        value["apiVersion"] = "gateway.networking.k8s.io/v1".into();
        return value;
    }
    value["apiVersion"] = Kind::Ingress.api_version().into();
    if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(backend) = spec.remove("backend") {
            spec.insert("defaultBackend".into(), backend_v1(backend));
        }
        for rule in spec.get_mut("rules").and_then(Value::as_array_mut).into_iter().flatten() {
            let paths = rule.pointer_mut("/http/paths").and_then(Value::as_array_mut);
            for path in paths.into_iter().flatten() {
                let Some(path) = path.as_object_mut() else { continue };
                // v1beta1 defaulted a missing pathType to ImplementationSpecific.
                path.entry("pathType").or_insert_with(|| "ImplementationSpecific".into());
                if let Some(backend) = path.remove("backend") {
                    path.insert("backend".into(), backend_v1(backend));
                }
            }
        }
    }
    value
}

/// Converts a stored object to an older version of its kind (`api_version`, one of [`SERVED`]),
/// as kube-apiserver answers on an old version's path.
pub fn downgrade(mut value: Value, api_version: &str) -> Value {
    if api_version == GATEWAY_V1BETA1 {
        value["apiVersion"] = api_version.into();
        return value;
    }
    if value.get("kind").and_then(Value::as_str) != Some("Ingress") || !INGRESS_V1BETA1.contains(&api_version) {
        return value;
    }
    value["apiVersion"] = api_version.into();
    if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(backend) = spec.remove("defaultBackend") {
            spec.insert("backend".into(), backend_v1beta1(backend));
        }
        for rule in spec.get_mut("rules").and_then(Value::as_array_mut).into_iter().flatten() {
            let paths = rule.pointer_mut("/http/paths").and_then(Value::as_array_mut);
            for path in paths.into_iter().flatten() {
                if let Some(backend) = path.get_mut("backend") {
                    *backend = backend_v1beta1(backend.take());
                }
            }
        }
    }
    value
}

/// `{service: {name, port: {number | name}}}` → `{serviceName, servicePort}`.
fn backend_v1beta1(backend: Value) -> Value {
    let Value::Object(mut new) = backend else { return backend };
    let Some(Value::Object(mut service)) = new.remove("service") else { return Value::Object(new) };
    if let Some(name) = service.remove("name") {
        new.insert("serviceName".into(), name);
    }
    if let Some(Value::Object(port)) = service.remove("port") {
        if let Some(number) = port.get("number") {
            new.insert("servicePort".into(), number.clone());
        } else if let Some(name) = port.get("name") {
            new.insert("servicePort".into(), name.clone());
        }
    }
    Value::Object(new)
}

/// `{serviceName, servicePort}` → `{service: {name, port: {number | name}}}`; a `resource`
/// backend is the same in both versions.
fn backend_v1(backend: Value) -> Value {
    let Value::Object(mut old) = backend else { return backend };
    let name = old.remove("serviceName");
    let port = old.remove("servicePort");
    if name.is_none() && port.is_none() {
        return Value::Object(old);
    }
    let mut service = Map::new();
    if let Some(name) = name {
        service.insert("name".into(), name);
    }
    match port {
        Some(Value::Number(n)) => {
            service.insert("port".into(), json!({"number": n}));
        }
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(n) => {
                service.insert("port".into(), json!({"number": n}));
            }
            Err(_) => {
                service.insert("port".into(), json!({"name": s}));
            }
        },
        Some(other) => {
            service.insert("port".into(), other);
        }
        None => {}
    }
    old.insert("service".into(), Value::Object(service));
    Value::Object(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chapters_ingress_becomes_v1() {
        let old = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "kubia"},
            "spec": {"backend": {"serviceName": "default-http", "servicePort": "http"},
                "rules": [{"host": "kubia.example.com", "http": {"paths": [
                    {"path": "/", "backend": {"serviceName": "kubia-nodeport", "servicePort": 80}}]}}]}});
        let new = upgrade(old);
        assert_eq!(new["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(
            new["spec"]["defaultBackend"],
            json!({"service": {"name": "default-http", "port": {"name": "http"}}})
        );
        let path = &new["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["pathType"], "ImplementationSpecific");
        assert_eq!(path["backend"], json!({"service": {"name": "kubia-nodeport", "port": {"number": 80}}}));
        assert!(crate::Object::from_value(new).is_ok());
    }

    #[test]
    fn stored_ingresses_read_back_in_the_old_version() {
        let old = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "kubia"},
            "spec": {"backend": {"serviceName": "default-http", "servicePort": "http"},
                "rules": [{"host": "kubia.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "ImplementationSpecific",
                     "backend": {"serviceName": "kubia-nodeport", "servicePort": 80}}]}}]}});
        assert_eq!(downgrade(upgrade(old.clone()), "extensions/v1beta1"), old);
        let v1beta1 = downgrade(upgrade(old), "networking.k8s.io/v1beta1");
        assert_eq!(v1beta1["apiVersion"], "networking.k8s.io/v1beta1");
        let service = json!({"apiVersion": "v1", "kind": "Service"});
        assert_eq!(downgrade(service.clone(), "extensions/v1beta1"), service);
    }

    #[test]
    fn other_documents_are_left_alone() {
        let v1 = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": {"backend": 1}});
        assert_eq!(upgrade(v1.clone()), v1);
        assert_eq!(kind_from_plural("extensions", "v1beta1", "ingresses"), Some(Kind::Ingress));
        assert_eq!(kind_from_plural("extensions", "v1beta1", "deployments"), None);
    }
}
