//! Request bodies as objects: JSON, YAML or protobuf, as the content type says; an older version
//! converted (the chapter's `extensions/v1beta1` Ingress); `apiVersion` and `kind` checked
//! against the path; and unknown fields handled as `?fieldValidation=` asks (refused, warned
//! about, or dropped), with kube-apiserver's messages.

use super::media::content_type;
use super::path::Target;
use crate::error::ApiError;
use crate::openapi::fields::{self, FieldValidation};
use crate::registry::Patch;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;
use svclab_shared::{Kind, Object, legacy};

/// A decoded body and the warnings to send back with the answer.
pub struct Decoded {
    pub object: Object,
    pub warnings: Vec<String>,
}

/// The field validation a request asks for.
pub fn field_validation(query: &HashMap<String, String>) -> Result<FieldValidation, ApiError> {
    FieldValidation::from_query(query.get("fieldValidation").map(String::as_str))
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Who makes a write, for `managedFields`: `?fieldManager=`, else the client's name (its
/// `User-Agent` up to the first `/`), as kube-apiserver names it.
pub fn field_manager(query: &HashMap<String, String>, headers: &axum::http::HeaderMap) -> Result<String, ApiError> {
    let manager = match query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.clone(),
        None => {
            let agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("unknown");
            agent.split('/').next().unwrap_or("unknown").chars().take(128).collect()
        }
    };
    if manager.len() > 128 {
        return Err(ApiError::BadRequest("fieldManager: Too long: may not be longer than 128".into()));
    }
    Ok(manager)
}

/// Parses a body by its content type: JSON, YAML, or Kubernetes' protobuf.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    match content_type {
        "application/json" | "*/*" => {
            serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("error decoding request body: {e}")))
        }
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::BadRequest(format!("error decoding request body: invalid UTF-8: {e}")))?;
            super::yaml::value(text).map_err(|e| ApiError::BadRequest(format!("error decoding request body: {e}")))
        }
        "application/vnd.kubernetes.protobuf" => {
            super::protobuf::decode(body).map_err(|e| ApiError::BadRequest(e.to_string()))
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format ({other}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        ))),
    }
}

/// A body as an object of the kind the path names, in the version the path names (an older one
/// is converted after its fields are checked against its own schema).
pub fn object(
    target: &Target,
    content_type: &str,
    body: &[u8],
    validation: FieldValidation,
) -> Result<Decoded, ApiError> {
    let kind = target.kind;
    let mut value = parse(content_type, body)?;
    let api_version = target.legacy.unwrap_or(kind.api_version());
    let map = value.as_object_mut().ok_or_else(|| ApiError::BadRequest("the request body must be an object".into()))?;
    for (field, expected) in [("apiVersion", api_version), ("kind", kind.name())] {
        match map.get(field).and_then(Value::as_str) {
            None => {
                map.insert(field.into(), expected.into());
            }
            Some(given) if given != expected => {
                let what = if field == "kind" { "kind" } else { "API version" };
                return Err(ApiError::BadRequest(format!(
                    "the {what} in the data ({given}) does not match the expected {what} ({expected})"
                )));
            }
            _ => {}
        }
    }
    let warnings =
        fields::check(kind, api_version, &value, validation).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let value = legacy::upgrade(value);
    let object = crate::openapi::custom::decode(kind, value)?;
    Ok(Decoded { object, warnings })
}

/// Adds a `Warning` header per warning, as kube-apiserver sends them (kubectl prints each as
/// `Warning: …`).
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append("warning", value);
        }
    }
    response
}

/// A PATCH body by its content type, for an object of `kind`.
pub(super) fn parse_patch(headers: &HeaderMap, body: &[u8], kind: Kind) -> Result<Patch, ApiError> {
    let invalid = |e: serde_json::Error| ApiError::BadRequest(e.to_string());
    match content_type(headers).as_str() {
        // Custom resources have no Go types to carry patch strategies: kube-apiserver refuses
        // strategic merge patches for them (kubectl then says so).
        "application/strategic-merge-patch+json" if kind.is_custom() => Err(ApiError::UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
        )),
        "application/merge-patch+json" => Ok(Patch::Merge(serde_json::from_slice(body).map_err(invalid)?)),
        "application/strategic-merge-patch+json" => {
            Ok(Patch::Strategic(serde_json::from_slice(body).map_err(invalid)?))
        }
        "application/json-patch+json" => Ok(Patch::Json(serde_json::from_slice(body).map_err(invalid)?)),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format ({other}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
        ))),
    }
}
