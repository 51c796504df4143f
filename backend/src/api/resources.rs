//! Kubernetes REST paths: `/api/v1/…` and `/apis/<group>/<version>/…`, namespaced and
//! cluster-scoped, with list (label and field selectors), get, create, replace, merge and JSON
//! patch, delete and delete-collection, and the `status`, `scale`, (for pods)
//! `ephemeralcontainers` and (for CSRs) `approval` subresources (pod exec has its own route).

use super::media::content_type;
use super::media::{self, Rendering};
use super::path::{Target, parse_path};
use super::subresources::{self, Call};
use super::table::{IncludeObject, ListMeta, View};
use super::{ApiState, decode, discovery, list, selectors, watch};
use crate::error::ApiError;
use crate::registry::{self, DeleteOptions, Propagation, Registry, Write};
use crate::store::ObjectKey;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use svclab_shared::Kind;
use svclab_shared::validation::FieldError;

pub async fn handle(
    State(state): State<ApiState>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A large body is decoded (and its write made) off the runtime.
    let response = super::yaml::off_runtime(body.len(), move || {
        let response = match dispatch(&state, &method, &uri, &query, &headers, body) {
            Ok(response) => response,
            Err(e) => e.into_response(),
        };
        decode::with_warnings(response, deprecation(&uri).as_slice())
    });
    response.await.unwrap_or_else(|e| e.into_response())
}

/// The warning kube-apiserver sends with every request about a deprecated resource, which
/// kubectl prints as `Warning: …`.
fn deprecation(uri: &Uri) -> Option<String> {
    let target = parse_path(uri.path()).ok()?;
    (target.kind == Kind::Endpoints)
        .then(|| "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice".to_string())
}

fn dispatch(
    state: &ApiState,
    method: &Method,
    uri: &Uri,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(document) = discovery::for_path(uri.path()) {
        return match method {
            &Method::GET => Ok(Json(document?).into_response()),
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    let target = parse_path(uri.path())?;
    let ns = target.namespace.clone().unwrap_or_default();
    let validation = decode::field_validation(query)?;
    let manager = decode::field_manager(query, headers)?;
    let write = Write { manager: Some(&manager), validation, legacy: target.legacy };
    let include = IncludeObject::from_query(query.get("includeObject").map(String::as_str));
    // What a read asks to get back; a write answers with the object, at the path's version.
    let asked = media::rendering(headers);
    let view = View { rendering: asked.unwrap_or(Rendering::Object), include, api_version: target.legacy };
    let written = View { rendering: Rendering::Object, ..view };
    let read = || asked.map(|_| view).ok_or(ApiError::NotAcceptable);
    let registry = &writes_to(state, &dry_run(query, method, &body))?;
    if let Some(sub) = target.subresource.as_deref() {
        let read = asked.map(|_| view);
        let call =
            Call { state, registry, method, target: &target, headers, body: &body, write: &write, written, read };
        return subresources::handle(&call, sub);
    }
    match (method, target.name.as_deref()) {
        (&Method::GET, None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            let options = watch::Options::from_query(query)?;
            let scope = watch::Scope {
                kind: target.kind,
                namespace: target.namespace.clone(),
                selectors: selectors::parse(target.kind, query)?,
                view: read()?,
            };
            Ok(watch::stream(state, scope, options))
        }
        (&Method::GET, None) => list(state, &target, query, read()?),
        (&Method::GET, Some(_)) => {
            let view = read()?;
            Ok(media::rendered(view.rendering, media::json_bytes(&view.one(&target.get(state.store())?))))
        }
        (&Method::POST, None) => {
            let decoded = decode::object(&target, &content_type(headers), &body, validation)?;
            let created = registry.create_as(in_namespace(decoded.object, &target)?, write.manager)?;
            let response = (StatusCode::CREATED, Json(written.object(&created))).into_response();
            Ok(decode::with_warnings(response, &decoded.warnings))
        }
        (&Method::PUT, Some(_)) => {
            let decoded = decode::object(&target, &content_type(headers), &body, validation)?;
            target.check_identity(&decoded.object)?;
            let mut object = decoded.object;
            if target.kind.namespaced() {
                object.metadata_mut().namespace = Some(ns);
            }
            let updated = registry.update_as(object, write.manager)?;
            Ok(decode::with_warnings(Json(written.object(&updated)).into_response(), &decoded.warnings))
        }
        (&Method::PATCH, Some(name)) if content_type(headers) == "application/apply-patch+yaml" => {
            let applied = decode::parse("application/yaml", &body)?;
            let key = ObjectKey::new(target.kind, &ns, name);
            let force = query.get("force").is_some_and(|f| f == "true");
            let (object, created, warnings) = registry.apply(&key, &applied, force, &write)?;
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(decode::with_warnings((status, Json(written.object(&object))).into_response(), &warnings))
        }
        (&Method::PATCH, Some(name)) => {
            let patch = decode::parse_patch(headers, &body, target.kind)?;
            let key = ObjectKey::new(target.kind, &ns, name);
            let (patched, warnings) = registry.patch(&key, patch, &write)?;
            Ok(decode::with_warnings(Json(written.object(&patched)).into_response(), &warnings))
        }
        (&Method::DELETE, name) => delete(state, registry, &target, name, written, &body, query),
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// `GET` of a collection: the objects the selectors pick, a page at a time (`limit`, `continue`).
fn list(state: &ApiState, target: &Target, query: &HashMap<String, String>, view: View) -> Result<Response, ApiError> {
    let selectors = selectors::parse(target.kind, query)?;
    let limit = match query.get("limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::BadRequest(format!("invalid limit: {l}")))?),
        None => None,
    };
    let request = list::Request {
        kind: target.kind,
        namespace: target.namespace.as_deref(),
        selectors: &selectors,
        limit,
        continue_token: query.get("continue").map(String::as_str),
    };
    let (items, meta) = state.pages.list(state.store(), &request)?;
    Ok(media::rendered(view.rendering, view.list_json(target.kind, &items, &meta)))
}

/// An object to create at `target`, in the path's namespace: given it when it names none,
/// refused when it names another (as kube-apiserver refuses it).
fn in_namespace(mut object: svclab_shared::Object, target: &Target) -> Result<svclab_shared::Object, ApiError> {
    if !target.kind.namespaced() {
        return Ok(object);
    }
    let ns = target.namespace.clone().unwrap_or_default();
    let meta = object.metadata_mut();
    match meta.namespace.as_deref() {
        None | Some("") => meta.namespace = Some(ns),
        Some(other) if other != ns => {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        _ => {}
    }
    Ok(object)
}

/// `DELETE` of one object, or of a collection (those its selectors pick).
fn delete(
    state: &ApiState,
    registry: &Registry,
    target: &Target,
    name: Option<&str>,
    written: View,
    body: &[u8],
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let options = delete_options(body, query)?;
    let warnings = job_warning(target.kind, &options);
    let response = match name {
        Some(name) => {
            let key = ObjectKey::new(target.kind, target.namespace.as_deref().unwrap_or_default(), name);
            let deleted = registry.delete_with(&key, &options)?;
            Json(written.object(&deleted)).into_response()
        }
        None => {
            let selector = selectors::parse(target.kind, query)?;
            let (_, items) = state.store().list(target.kind, target.namespace.as_deref());
            let options = DeleteOptions { resource_version: None, ..options };
            let mut deleted = Vec::new();
            for object in items.into_iter().filter(|o| selector.matches(o)) {
                match registry.delete_with(&ObjectKey::of(&object), &options) {
                    Ok(o) => deleted.push(o),
                    Err(ApiError::NotFound { .. }) => {} // gone already, e.g. with its owner
                    Err(e) => return Err(e),
                }
            }
            let meta = ListMeta { resource_version: state.store().resource_version(), ..ListMeta::default() };
            Json(written.list(target.kind, &deleted, &meta)).into_response()
        }
    };
    Ok(decode::with_warnings(response, &warnings))
}

/// DeleteOptions from the body and the query: the resourceVersion precondition,
/// `gracePeriodSeconds` and the propagation policy (`propagationPolicy`, or the older
/// `orphanDependents`).
fn delete_options(body: &[u8], query: &HashMap<String, String>) -> Result<DeleteOptions, ApiError> {
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))?
    };
    let grace = match (options["gracePeriodSeconds"].as_i64(), query.get("gracePeriodSeconds")) {
        (Some(grace), _) => Some(grace),
        (None, Some(g)) => {
            Some(g.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("invalid gracePeriodSeconds: {g}")))?)
        }
        (None, None) => None,
    };
    let policy = options["propagationPolicy"].as_str().or(query.get("propagationPolicy").map(String::as_str));
    let orphan = options["orphanDependents"].as_bool().or(query.get("orphanDependents").map(|o| o == "true"));
    let propagation = match (policy, orphan) {
        (Some(policy), Some(_)) => {
            return Err(registry::delete::invalid_options(FieldError::invalid(
                "propagationPolicy",
                format!("{policy:?}"),
                "orphanDependents and deletionPropagation cannot be both set",
            )));
        }
        (Some(policy), None) => Some(Propagation::parse(policy)?),
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
    };
    let resource_version = options.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
    Ok(DeleteOptions { resource_version, grace, propagation })
}

/// `dryRun`: from the query, or for a delete from the DeleteOptions in the body (where kubectl
/// sends it).
fn dry_run(query: &HashMap<String, String>, method: &Method, body: &[u8]) -> Vec<String> {
    if let Some(value) = query.get("dryRun") {
        return vec![value.clone()];
    }
    if method != Method::DELETE {
        return vec![];
    }
    let options = serde_json::from_slice::<Value>(body).unwrap_or_default();
    let values = options["dryRun"].as_array().into_iter().flatten();
    values.map(|v| v.as_str().map_or_else(|| v.to_string(), String::from)).collect()
}

/// Where a write goes: the registry, or (`dryRun=All`) a dry run of it; any other value is
/// refused as kube-apiserver refuses it.
pub(super) fn writes_to(state: &ApiState, dry_run: &[String]) -> Result<Registry, ApiError> {
    match dry_run {
        [] => Ok(state.registry.clone()),
        [all] if all == "All" => Ok(state.registry.dry_run()),
        other => {
            let values: Vec<String> = other.iter().map(|v| format!("{v:?}")).collect();
            Err(ApiError::BadRequest(format!(
                "dryRun: Unsupported value: []string{{{}}}: supported values: \"All\"",
                values.join(", ")
            )))
        }
    }
}

/// kube-apiserver's warning for a Job deleted with no policy named, which keeps its pods.
fn job_warning(kind: Kind, options: &DeleteOptions) -> Vec<String> {
    if kind != Kind::Job || options.propagation.is_some() {
        return Vec::new();
    }
    vec!["child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning".into()]
}
