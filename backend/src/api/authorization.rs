//! `SelfSubjectAccessReview` (`kubectl auth can-i`): may the caller do this? and
//! `SelfSubjectRulesReview` (`kubectl auth can-i --list`): what may the caller do? svclab has no
//! authorizer, so whoever the API guard let in may do everything, and the reviews say so.

use super::decode::parse;
use super::media::content_type;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use svclab_shared::validation::FieldError;

/// Why every review is allowed (kube-apiserver's authorizers give a reason the same way).
const REASON: &str = "svclab has no RBAC: every request the API accepts is allowed";

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: the review sent, answered.
pub async fn access_review(headers: HeaderMap, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut review = parse(&content_type(&headers), &body)?;
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let asks = |field: &str| spec.get(field).is_some_and(Value::is_object);
    if asks("resourceAttributes") == asks("nonResourceAttributes") {
        let why = "exactly one of nonResourceAttributes or resourceAttributes must be specified";
        let causes = vec![FieldError::invalid("spec.resourceAttributes", "\"null\"", why)];
        let (kind, group, name) = ("SelfSubjectAccessReview".into(), "authorization.k8s.io".into(), String::new());
        return Err(ApiError::Invalid { kind, group, name, causes });
    }
    let map =
        review.as_object_mut().ok_or_else(|| ApiError::BadRequest("the request body must be an object".into()))?;
    map.insert("apiVersion".into(), "authorization.k8s.io/v1".into());
    map.insert("kind".into(), "SelfSubjectAccessReview".into());
    map.entry("metadata").or_insert_with(|| json!({}));
    map.insert("status".into(), json!({"allowed": true, "reason": REASON}));
    Ok((StatusCode::CREATED, Json(review)))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`: the caller's rules in the
/// namespace asked about: every verb on every resource and every URL.
pub async fn rules_review(headers: HeaderMap, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut review = parse(&content_type(&headers), &body)?;
    let map =
        review.as_object_mut().ok_or_else(|| ApiError::BadRequest("the request body must be an object".into()))?;
    map.insert("apiVersion".into(), "authorization.k8s.io/v1".into());
    map.insert("kind".into(), "SelfSubjectRulesReview".into());
    map.entry("metadata").or_insert_with(|| json!({}));
    map.insert(
        "status".into(),
        json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
    );
    Ok((StatusCode::CREATED, Json(review)))
}
