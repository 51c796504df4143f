//! The `scale` subresource of Deployments, ReplicaSets, StatefulSets and ReplicationControllers: an
//! `autoscaling/v1` Scale to read, replace or patch (`kubectl scale`).

use super::ApiState;
use super::decode::parse_patch;
use crate::error::ApiError;
use crate::registry::{Patch, retry_on_conflict};
use crate::store::ObjectKey;
use axum::Json;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use svclab_shared::Object;
use svclab_shared::scale::{replicas_and_selector, status_replicas, with_replicas};

/// The Scale of an object.
fn scale_of(object: &Object) -> Value {
    let (replicas, selector) = replicas_and_selector(object).unwrap_or_default();
    let meta = object.metadata();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.name,
            "namespace": meta.namespace,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
            "creationTimestamp": meta.creation_timestamp,
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": status_replicas(object), "selector": selector},
    })
}

/// What a write of the Scale sent: a whole Scale (PUT) or a patch to one.
enum Sent {
    Scale(Value),
    Patch(Patch),
}

pub(super) fn handle(
    state: &ApiState,
    registry: &crate::registry::Registry,
    method: &Method,
    key: &ObjectKey,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let read = || state.store().get(key).ok_or_else(|| ApiError::not_found(key.kind, &key.name));
    // Read first, so that a missing object is a 404 whatever was sent.
    let first = read()?;
    let sent = match *method {
        Method::GET => return Ok(Json(scale_of(&first)).into_response()),
        Method::PUT => Sent::Scale(serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))?),
        Method::PATCH => Sent::Patch(parse_patch(headers, body, key.kind)?),
        _ => return Err(ApiError::MethodNotAllowed),
    };
    let precondition = match &sent {
        Sent::Scale(scale) => scale["metadata"]["resourceVersion"].is_string(),
        Sent::Patch(patch) => patch.sets_resource_version(),
    };
    let mut latest = Some(first);
    // A controller writing the object's status between the read and the write makes the write
    // conflict: without a resourceVersion to hold it to, it is applied again to the new object.
    let updated = retry_on_conflict(precondition, || {
        let current = match latest.take() {
            Some(current) => current,
            None => read()?,
        };
        let replicas = match &sent {
            Sent::Scale(scale) => {
                let rv = scale["metadata"]["resourceVersion"].as_str();
                if rv.is_some_and(|rv| Some(rv) != current.metadata().resource_version.as_deref()) {
                    return Err(ApiError::conflict(key.kind, &key.name));
                }
                wanted_replicas(key, scale)?
            }
            Sent::Patch(patch) => {
                let mut scale = scale_of(&current);
                let schemas = crate::openapi::schemas();
                patch.apply(&schemas.definitions()[schemas.scale_name()], &mut scale)?;
                wanted_replicas(key, &scale)?
            }
        };
        registry.update(with_replicas(&current, replicas))
    })?;
    Ok(Json(scale_of(&updated)).into_response())
}

/// The replicas a Scale asks for.
fn wanted_replicas(key: &ObjectKey, wanted: &Value) -> Result<i32, ApiError> {
    let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
    let replicas = i32::try_from(replicas).map_err(|_| ApiError::BadRequest("spec.replicas is out of range".into()))?;
    if replicas < 0 {
        // The Scale is what was refused, not the object it scales (`Scale.autoscaling "kubia"`).
        return Err(ApiError::Invalid {
            kind: "Scale".into(),
            group: "autoscaling".into(),
            name: key.name.clone(),
            causes: vec![svclab_shared::validation::FieldError::invalid(
                "spec.replicas",
                replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        });
    }
    Ok(replicas)
}
