//! Custom resources (the Gateway API kinds) read as apiextensions-apiserver reads them: a
//! document that does not fit the CRD's schema is refused as invalid (422) with the field it is
//! about, `spec.listeners: Required value` or `spec.rules[0].matches[0].path.type: Unsupported
//! value: "Prefix": supported values: "Exact", "PathPrefix", "RegularExpression"`, where a
//! built-in kind's decoding error is kube-apiserver's 400 (`cannot be handled as a Service`).

use crate::error::ApiError;
use serde_json::Value;
use svclab_shared::gateway::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};
use svclab_shared::validation::FieldError;
use svclab_shared::{Kind, Object};

/// Reads `value` as an object of `kind`.
pub fn decode(kind: Kind, value: Value) -> Result<Object, ApiError> {
    match kind {
        Kind::GatewayClass => located::<GatewayClass>(kind, value),
        Kind::Gateway => located::<Gateway>(kind, value),
        Kind::HttpRoute => located::<HttpRoute>(kind, value),
        Kind::ReferenceGrant => located::<ReferenceGrant>(kind, value),
        _ => {
            Object::from_value_as(kind, value).map_err(|e| ApiError::BadRequest(super::fields::cannot_handle(kind, e)))
        }
    }
}

/// A custom resource read in one pass that tracks where it is; when it does not fit `T`, the
/// field and why, as apiextensions-apiserver says it.
fn located<T: svclab_shared::Typed + serde::de::DeserializeOwned>(
    kind: Kind,
    value: Value,
) -> Result<Object, ApiError> {
    let error = match serde_path_to_error::deserialize::<_, T>(&value) {
        Ok(object) => return Ok(object.into_object()),
        Err(e) => e,
    };
    let path = error.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let cause = field_error(&path, &error.inner().to_string(), &value);
    Err(ApiError::invalid(kind, value["metadata"]["name"].as_str().unwrap_or_default(), vec![cause]))
}

/// serde's words as apiextensions-apiserver's: `missing field `x``, `unknown variant `v`,
/// expected one of `a`, `b``, `invalid type: string "x", expected i32`.
fn field_error(path: &str, message: &str, value: &Value) -> FieldError {
    let join = |field: &str| if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
    let quoted = |s: &str| s.split('`').skip(1).step_by(2).map(String::from).collect::<Vec<_>>();
    if let Some(rest) = message.strip_prefix("missing field ") {
        return FieldError::required(join(&quoted(rest).concat()), "");
    }
    if message.starts_with("unknown variant ") {
        let names = quoted(message);
        if let Some((given, supported)) = names.split_first() {
            let supported: Vec<&str> = supported.iter().map(String::as_str).collect();
            return FieldError::not_supported(path, given, &supported);
        }
    }
    let pointer = format!("/{}", path.replace(['.', '['], "/").replace(']', ""));
    // kube-apiserver names the type it was given, not the value.
    let given = match value.pointer(&pointer) {
        Some(Value::String(_)) => "string",
        Some(Value::Number(n)) if n.is_f64() => "number",
        Some(Value::Number(_)) => "integer",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
        _ => "null",
    };
    let expected = match message.rsplit("expected ").next().unwrap_or_default() {
        e if e.starts_with('i') || e.starts_with('u') => "integer",
        e if e.contains("bool") => "boolean",
        e if e.contains("sequence") => "array",
        e if e.contains("map") || e.contains("struct") => "object",
        _ => "string",
    };
    FieldError::invalid(path, format!("{given:?}"), format!("{path} in body must be of type {expected}: {given:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(kind: Kind, value: Value) -> String {
        match decode(kind, value) {
            Err(ApiError::Invalid { causes, .. }) => causes[0].to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn documents_that_do_not_fit_the_crd_say_where() {
        let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
            "spec": {"rules": [{"matches": [{"path": {"type": "Prefix", "value": "/x"}}]}]}});
        assert_eq!(
            refused(Kind::HttpRoute, route),
            "spec.rules[0].matches[0].path.type: Unsupported value: \"Prefix\": supported values: \"Exact\", \"PathPrefix\", \"RegularExpression\""
        );
        let gateway = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
            "spec": {"gatewayClassName": "svclab"}});
        assert_eq!(refused(Kind::Gateway, gateway), "spec.listeners: Required value");
        let port = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
            "spec": {"gatewayClassName": "svclab", "listeners": [{"name": "a", "port": "eighty", "protocol": "HTTP"}]}});
        assert_eq!(
            refused(Kind::Gateway, port),
            "spec.listeners[0].port: Invalid value: \"string\": spec.listeners[0].port in body must be of type integer: \"string\""
        );
    }
}
