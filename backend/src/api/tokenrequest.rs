//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` (a TokenRequest, what `kubectl
//! create token` and the kubelet send): a signed token for the account, bound to a pod, secret
//! or node when asked, checked and defaulted as kube-apiserver's TokenRequest REST does.

use super::ApiState;
use crate::error::ApiError;
use crate::tokens::{Bound, Grant};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestStatus};
use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::Value;
use svclab_shared::Kind;
use svclab_shared::validation::FieldError;

/// The lifetime a request that names none gets, and the shortest and longest it may ask for.
const DEFAULT_SECONDS: i64 = 3600;
const MIN_SECONDS: i64 = 600;
const MAX_SECONDS: i64 = 1 << 32;

/// A refusal in kube-apiserver's words for an invalid TokenRequest.
fn invalid(name: &str, cause: FieldError) -> ApiError {
    ApiError::Invalid {
        kind: "TokenRequest".into(),
        group: "authentication.k8s.io".into(),
        name: name.into(),
        causes: vec![cause],
    }
}

/// The object a token is to be bound to, checked: it exists (with the uid given, if any), and a
/// pod runs as the account.
fn bound_object(
    state: &ApiState,
    ns: &str,
    account: &str,
    r: &BoundObjectReference,
) -> Result<(String, Bound), ApiError> {
    let kind = r.kind.clone().unwrap_or_default();
    let name = r.name.clone().unwrap_or_default();
    let store = state.store();
    let (uid, pod_account) = match kind.as_str() {
        "Pod" => {
            let pod = store.get_typed::<Pod>(ns, &name).ok_or_else(|| ApiError::not_found(Kind::Pod, &name))?;
            let runs_as = pod.spec.as_ref().and_then(|s| s.service_account_name.clone());
            (pod.metadata.uid, runs_as)
        }
        "Secret" => {
            let secret =
                store.get_typed::<Secret>(ns, &name).ok_or_else(|| ApiError::not_found(Kind::Secret, &name))?;
            (secret.metadata.uid, None)
        }
        "Node" => {
            let node = store.get_typed::<Node>("", &name).ok_or_else(|| ApiError::not_found(Kind::Node, &name))?;
            (node.metadata.uid, None)
        }
        other => {
            let version = r.api_version.as_deref().unwrap_or("v1");
            return Err(ApiError::BadRequest(format!(
                "cannot bind token for serviceaccount \"{account}\" to object of kind \"{}, Kind={other}\"",
                version
            )));
        }
    };
    let uid = uid.unwrap_or_default();
    if let Some(given) = r.uid.as_deref().filter(|u| !u.is_empty() && *u != uid) {
        return Err(ApiError::Other {
            code: 409,
            message: format!(
                "Operation cannot be fulfilled on {kind} \"{name}\": the UID in the bound object reference ({given}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        });
    }
    if kind == "Pod" && pod_account.as_deref().unwrap_or("default") != account {
        return Err(ApiError::BadRequest(format!(
            "cannot bind token for serviceaccount \"{account}\" to pod running with different serviceaccount name."
        )));
    }
    Ok((kind, Bound { name, uid }))
}

/// Serves a TokenRequest for the account `name` in `ns`.
pub(super) fn create(state: &ApiState, ns: &str, name: &str, mut body: Value) -> Result<Response, ApiError> {
    // What a client says of the status (kubectl sends an empty one) is not read.
    if let Value::Object(map) = &mut body {
        map.remove("status");
    }
    let request: TokenRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("the TokenRequest could not be read: {e}")))?;
    let account = state
        .store()
        .get_typed::<ServiceAccount>(ns, name)
        .ok_or_else(|| ApiError::not_found(Kind::ServiceAccount, name))?;
    let mut spec = request.spec;
    let seconds = *spec.expiration_seconds.get_or_insert(DEFAULT_SECONDS);
    if seconds < MIN_SECONDS {
        let why = "may not specify a duration less than 10 minutes";
        return Err(invalid(name, FieldError::invalid("spec.expirationSeconds", seconds.to_string(), why)));
    }
    if seconds > MAX_SECONDS {
        let why = "may not specify a duration larger than 2^32 seconds";
        return Err(invalid(name, FieldError::invalid("spec.expirationSeconds", seconds.to_string(), why)));
    }
    if spec.audiences.is_empty() {
        spec.audiences = vec![state.tokens.url.clone()];
    }
    let bound = spec.bound_object_ref.as_ref().map(|r| bound_object(state, ns, name, r)).transpose()?;
    if let (Some(r), Some((_, b))) = (spec.bound_object_ref.as_mut(), bound.as_ref()) {
        r.api_version.get_or_insert_with(|| "v1".into());
        r.uid = Some(b.uid.clone());
    }
    let grant = Grant {
        namespace: ns.into(),
        account: Bound { name: name.into(), uid: account.metadata.uid.unwrap_or_default() },
        audiences: spec.audiences.clone(),
        seconds,
        bound,
    };
    let (token, expires) = state.tokens.issue(&grant);
    let expiration = jiff::Timestamp::from_second(expires).unwrap_or_else(|_| jiff::Timestamp::now());
    let answer = TokenRequest {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some(ns.into()), ..Default::default() },
        spec,
        status: Some(TokenRequestStatus { token, expiration_timestamp: Time(expiration) }),
    };
    let mut value = serde_json::to_value(&answer).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.insert("kind".into(), "TokenRequest".into());
        map.insert("apiVersion".into(), "authentication.k8s.io/v1".into());
        map["metadata"]["creationTimestamp"] = Value::Null;
    }
    Ok((StatusCode::CREATED, Json(value)).into_response())
}
