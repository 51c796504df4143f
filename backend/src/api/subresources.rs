//! The subresources served under the resource paths (`…/{name}/{subresource}`): `status`,
//! `scale`, a pod's `ephemeralcontainers` and `binding`, a CertificateSigningRequest's
//! `approval`, a ServiceAccount's `token`. Pods' exec, attach, log, port-forward and proxy have routes of their own.

use super::media::{self, content_type};
use super::path::Target;
use super::table::View;
use super::{ApiState, decode, scale};
use crate::error::ApiError;
use crate::registry::{Registry, Write};
use crate::store::ObjectKey;
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use svclab_shared::Kind;
use svclab_shared::validation::FieldError;

/// A request to a resource path, as parsed once for its handlers.
pub(super) struct Call<'a> {
    pub state: &'a ApiState,
    /// Where writes go (a dry run's registry for `dryRun=All`).
    pub registry: &'a Registry,
    pub method: &'a Method,
    pub target: &'a Target,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    pub write: &'a Write<'a>,
    /// How a written object is answered.
    pub written: View,
    /// How a read is answered; `None` when the client accepts nothing it can be given.
    pub read: Option<View>,
}

/// Serves `sub` of the object the call names.
pub(super) fn handle(call: &Call, sub: &str) -> Result<Response, ApiError> {
    let Call { state, registry, method, target, headers, body, write, written, .. } = *call;
    let name = target.name.as_deref().unwrap_or_default();
    let ns = target.namespace.clone().unwrap_or_default();
    let decoded = || {
        let decoded = decode::object(target, &content_type(headers), body, write.validation)?;
        target.check_identity(&decoded.object)?;
        Ok::<_, ApiError>(decoded)
    };
    match (sub, target.kind, method) {
        ("status", _, &Method::GET) | ("ephemeralcontainers", Kind::Pod, &Method::GET) => {
            let view = call.read.ok_or(ApiError::NotAcceptable)?;
            Ok(media::rendered(view.rendering, media::json_bytes(&view.one(&target.get(state.store())?))))
        }
        ("status", _, &Method::PUT) => {
            let decoded = decoded()?;
            let updated = registry.update_status(&decoded.object)?;
            Ok(decode::with_warnings(Json(written.object(&updated)).into_response(), &decoded.warnings))
        }
        ("status", _, &Method::PATCH) => {
            let patch = decode::parse_patch(headers, body, target.kind)?;
            let key = ObjectKey::new(target.kind, &ns, name);
            let (patched, warnings) = registry.patch_status(&key, patch, write)?;
            Ok(decode::with_warnings(Json(written.object(&patched)).into_response(), &warnings))
        }
        ("scale", kind, _) if kind.subresource("scale").is_some() => {
            let key = ObjectKey::new(target.kind, &ns, name);
            scale::handle(state, registry, method, &key, headers, body)
        }
        ("ephemeralcontainers", Kind::Pod, &Method::PUT) => {
            let decoded = decoded()?;
            let updated = registry.update_ephemeral_containers(&decoded.object)?;
            Ok(decode::with_warnings(Json(written.object(&updated)).into_response(), &decoded.warnings))
        }
        ("ephemeralcontainers", Kind::Pod, &Method::PATCH) => {
            let patch = decode::parse_patch(headers, body, target.kind)?;
            let key = ObjectKey::new(target.kind, &ns, name);
            let (patched, warnings) = registry.patch_ephemeral_containers(&key, patch, write)?;
            Ok(decode::with_warnings(Json(written.object(&patched)).into_response(), &warnings))
        }
        ("approval", Kind::CertificateSigningRequest, &Method::GET) => {
            target.get(state.store()).map(|o| Json(o).into_response())
        }
        ("approval", Kind::CertificateSigningRequest, &Method::PUT) => {
            Ok(Json(registry.update_approval(&decoded()?.object)?).into_response())
        }
        ("binding", Kind::Pod, &Method::POST) => {
            // A Binding names the node a scheduler chose: `{"target": {"kind": "Node", "name": …}}`.
            let binding = decode::parse(&content_type(headers), body)?;
            let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or_default();
            if node.is_empty() {
                return Err(ApiError::invalid(Kind::Pod, name, vec![FieldError::required("target.name", "")]));
            }
            registry.bind(&ns, name, node)?;
            let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
            Ok((StatusCode::CREATED, Json(status)).into_response())
        }
        ("token", Kind::ServiceAccount, &Method::POST) => {
            super::tokenrequest::create(state, &ns, name, decode::parse(&content_type(headers), body)?)
        }
        ("status" | "scale" | "approval" | "binding" | "ephemeralcontainers", _, _)
        | ("token", Kind::ServiceAccount, _) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::PathNotFound),
    }
}
