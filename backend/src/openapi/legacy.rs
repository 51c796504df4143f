//! Schemas of the older versions svclab serves (`svclab_shared::legacy::SERVED`): Ingress in
//! `extensions/v1beta1` and `networking.k8s.io/v1beta1`, derived from the `networking.k8s.io/v1`
//! definitions with v1beta1's differences (`backend` for `defaultBackend`, and a backend named by
//! `serviceName` and `servicePort`).

use super::REF_PREFIX;
use serde_json::{Map, Value, json};

const V1: &str = "io.k8s.api.networking.v1.";

/// The Ingress definitions that differ between the versions (the others are shared).
const COPIED: &[&str] =
    &["Ingress", "IngressSpec", "IngressBackend", "IngressRule", "HTTPIngressRuleValue", "HTTPIngressPath"];

/// `io.k8s.api.extensions.v1beta1.` for `extensions/v1beta1`.
fn package(api_version: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let group = group.split('.').next().unwrap_or(group);
    format!("io.k8s.api.{group}.{version}.")
}

/// Points references to the copied definitions at their copies in `package`.
fn retarget(value: &mut Value, package: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix(REF_PREFIX).and_then(|n| n.strip_prefix(V1))
                && COPIED.contains(&name)
            {
                *r = format!("{REF_PREFIX}{package}{name}");
            }
            map.values_mut().for_each(|v| retarget(v, package));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| retarget(v, package)),
        _ => {}
    }
}

/// Adds the v1beta1 Ingress definitions for `api_version`; returns the root's name.
pub fn add_ingress(definitions: &mut Map<String, Value>, api_version: &str) -> Option<String> {
    let package = package(api_version);
    for name in COPIED {
        let mut schema = definitions.get(&format!("{V1}{name}"))?.clone();
        retarget(&mut schema, &package);
        definitions.insert(format!("{package}{name}"), schema);
    }
    let backend = definitions.get_mut(&format!("{package}IngressBackend"))?.as_object_mut()?;
    let resource = backend.get("properties").and_then(|p| p.get("resource")).cloned().unwrap_or(json!({}));
    backend.insert(
        "properties".into(),
        json!({
            "serviceName": {"description": "Specifies the name of the referenced service.", "type": "string"},
            "servicePort": {
                "allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.util.intstr.IntOrString")}],
                "description": "Specifies the port of the referenced service.",
            },
            "resource": resource,
        }),
    );
    let spec = definitions.get_mut(&format!("{package}IngressSpec"))?.get_mut("properties")?.as_object_mut()?;
    if let Some(default) = spec.remove("defaultBackend") {
        spec.insert("backend".into(), default);
    }
    let path = definitions.get_mut(&format!("{package}HTTPIngressPath"))?.as_object_mut()?;
    if let Some(Value::Array(required)) = path.get_mut("required") {
        required.retain(|r| r != "pathType");
    }
    let root = format!("{package}Ingress");
    let (group, version) = api_version.split_once('/')?;
    let ingress = definitions.get_mut(&root)?.as_object_mut()?;
    ingress.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": group, "version": version, "kind": "Ingress"}]),
    );
    Some(root)
}

#[cfg(test)]
mod tests {
    use crate::openapi::schemas;
    use svclab_shared::Kind;

    #[test]
    fn the_chapters_ingress_has_a_schema() {
        let schemas = schemas();
        let root = schemas.root_in("extensions/v1beta1", Kind::Ingress).unwrap();
        assert_eq!(
            schemas.root_name_in("extensions/v1beta1", Kind::Ingress),
            Some("io.k8s.api.extensions.v1beta1.Ingress")
        );
        let spec = schemas.property(root, "spec").unwrap();
        let backend = schemas.property(spec, "backend").unwrap();
        assert!(schemas.property(backend, "serviceName").is_some());
        let rules = schemas.property(spec, "rules").unwrap();
        let rule = schemas.items(rules).unwrap();
        let paths = schemas.property(schemas.property(rule, "http").unwrap(), "paths").unwrap();
        let path_backend = schemas.property(schemas.items(paths).unwrap(), "backend").unwrap();
        assert!(schemas.property(path_backend, "servicePort").is_some());
        assert!(schemas.property(path_backend, "service").is_none());
        // The current version is untouched.
        let v1_spec = schemas.property(schemas.root(Kind::Ingress), "spec").unwrap();
        assert!(schemas.property(v1_spec, "defaultBackend").is_some());
        assert!(schemas.root_in("networking.k8s.io/v1beta1", Kind::Ingress).is_some());
    }
}
