//! The `scale` subresource of Deployments, ReplicaSets and ReplicationControllers: an
//! `autoscaling/v1` Scale to read, replace or patch (`kubectl scale`).

use super::ApiState;
use super::resources::parse_patch;
use crate::error::ApiError;
use crate::registry::Patch;
use crate::store::ObjectKey;
use axum::Json;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use svclab_shared::Object;
use svclab_shared::selector::Selector;

/// The desired replicas and the selector, as text, of a scalable object.
fn replicas_and_selector(object: &Object) -> Option<(i32, String)> {
    match object {
        Object::Deployment(d) => {
            let spec = d.spec.as_ref()?;
            let selector = Selector::from_label_selector(&spec.selector).ok()?;
            Some((spec.replicas.unwrap_or(1), selector.to_string()))
        }
        Object::ReplicaSet(rs) => {
            let spec = rs.spec.as_ref()?;
            let selector = Selector::from_label_selector(&spec.selector).ok()?;
            Some((spec.replicas.unwrap_or(1), selector.to_string()))
        }
        Object::ReplicationController(rc) => {
            let spec = rc.spec.as_ref()?;
            let selector = Selector::from_map(spec.selector.as_ref()?);
            Some((spec.replicas.unwrap_or(1), selector.to_string()))
        }
        _ => None,
    }
}

fn status_replicas(object: &Object) -> i32 {
    match object {
        Object::Deployment(d) => d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
        Object::ReplicaSet(rs) => rs.status.as_ref().map_or(0, |s| s.replicas),
        Object::ReplicationController(rc) => rc.status.as_ref().map_or(0, |s| s.replicas),
        _ => 0,
    }
}

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

fn with_replicas(object: &Object, replicas: i32) -> Object {
    let mut updated = object.clone();
    match &mut updated {
        Object::Deployment(d) => d.spec.get_or_insert_with(Default::default).replicas = Some(replicas),
        Object::ReplicaSet(rs) => rs.spec.get_or_insert_with(Default::default).replicas = Some(replicas),
        Object::ReplicationController(rc) => rc.spec.get_or_insert_with(Default::default).replicas = Some(replicas),
        _ => {}
    }
    updated
}

/// How often a write without a `resourceVersion` is tried again when another writer got in
/// first (kube-apiserver's retries of a patch on conflict).
const CONFLICT_RETRIES: usize = 5;

pub(super) fn handle(
    state: &ApiState,
    method: &Method,
    key: &ObjectKey,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    // A controller writing the object's status between the read and the write makes the write
    // conflict: without a resourceVersion to hold it to, it is applied again to the new object.
    for _ in 0..CONFLICT_RETRIES {
        match handle_once(state, method, key, headers, body) {
            Err(ApiError::Conflict { .. }) if !names_resource_version(body) => continue,
            done => return done,
        }
    }
    handle_once(state, method, key, headers, body)
}

/// Whether a Scale sent names the `resourceVersion` it applies to.
fn names_resource_version(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v["metadata"]["resourceVersion"].is_string())
}

fn handle_once(
    state: &ApiState,
    method: &Method,
    key: &ObjectKey,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let current = state.store().get(key).ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
    let scale = scale_of(&current);
    let wanted = match *method {
        Method::GET => return Ok(Json(scale).into_response()),
        Method::PUT => {
            let sent: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let rv = sent["metadata"]["resourceVersion"].as_str();
            if rv.is_some_and(|rv| Some(rv) != current.metadata().resource_version.as_deref()) {
                return Err(ApiError::conflict(key.kind, &key.name));
            }
            sent
        }
        Method::PATCH => {
            let mut value = scale;
            match parse_patch(headers, body)? {
                Patch::Merge(p) => json_patch::merge(&mut value, &p),
                Patch::Json(p) => json_patch::patch(&mut value, &p).map_err(|e| ApiError::BadRequest(e.to_string()))?,
            }
            value
        }
        _ => return Err(ApiError::MethodNotAllowed),
    };
    let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
    let replicas = i32::try_from(replicas).map_err(|_| ApiError::BadRequest("spec.replicas is out of range".into()))?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            key.kind,
            &key.name,
            vec![svclab_shared::validation::FieldError::invalid(
                "spec.replicas",
                replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let updated = state.registry.update(with_replicas(&current, replicas))?;
    Ok(Json(scale_of(&updated)).into_response())
}
