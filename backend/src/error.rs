//! API errors as kube-apiserver reports them: a `metav1.Status` with its code, reason, message and
//! field causes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Status, StatusCause, StatusDetails};
use svclab_shared::Kind;
use svclab_shared::validation::FieldError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    /// A path the API does not serve.
    #[error("the server could not find the requested resource")]
    PathNotFound,
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { resource: String, name: String },
    #[error("{}", invalid_message(kind, group, name, causes))]
    Invalid { kind: String, group: String, name: String, causes: Vec<FieldError> },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("only the following media types are accepted: application/json")]
    NotAcceptable,
    /// A continue token or resourceVersion older than what the server keeps (410 Gone).
    #[error("{0}")]
    Expired(String),
    #[error("{0}")]
    Internal(String),
    /// Refused before anything is read: another site's request, a host svclab does not answer to.
    #[error("{0}")]
    Forbidden(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("Request entity too large: limit is {0}")]
    RequestEntityTooLarge(usize),
    /// The client took too long (to send its body, say).
    #[error("{0}")]
    Timeout(String),
    /// Nothing to send the request on to (a service with no endpoints, a pod that refused).
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Any other answer, by its HTTP code (an extractor's refusal, given a Status).
    #[error("{message}")]
    Other { code: u16, message: String },
    /// Server-side apply would change fields other managers own: (cause, field) pairs.
    #[error("{message}")]
    ApplyConflict { message: String, fields: Vec<(String, String)> },
}

fn invalid_message(kind: &str, group: &str, name: &str, causes: &[FieldError]) -> String {
    let list: Vec<String> = causes.iter().map(ToString::to_string).collect();
    let kind = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    match list.as_slice() {
        [one] => format!("{kind} \"{name}\" is invalid: {one}"),
        many => format!("{kind} \"{name}\" is invalid: [{}]", many.join(", ")),
    }
}

/// The resource name kube-apiserver uses in messages: `pods`, `replicasets.apps`.
pub fn resource_name(kind: Kind) -> String {
    match kind.group() {
        "" => kind.plural().to_string(),
        group => format!("{}.{group}", kind.plural()),
    }
}

impl ApiError {
    pub fn not_found(kind: Kind, name: &str) -> Self {
        ApiError::NotFound { resource: resource_name(kind), name: name.to_string() }
    }

    pub fn already_exists(kind: Kind, name: &str) -> Self {
        ApiError::AlreadyExists { resource: resource_name(kind), name: name.to_string() }
    }

    pub fn conflict(kind: Kind, name: &str) -> Self {
        ApiError::Conflict { resource: resource_name(kind), name: name.to_string() }
    }

    pub fn invalid(kind: Kind, name: &str, causes: Vec<FieldError>) -> Self {
        let group = kind.group().to_string();
        ApiError::Invalid { kind: kind.name().to_string(), group, name: name.to_string(), causes }
    }

    /// An answer of some HTTP code as a Status: a decoding error (axum's 422) is kube-apiserver's
    /// 400 BadRequest.
    pub fn from_status(code: u16, message: String) -> Self {
        let message = if message.is_empty() { format!("the request failed with HTTP {code}") } else { message };
        match code {
            422 => ApiError::BadRequest(message),
            code => ApiError::Other { code, message },
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::PathNotFound => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable => 406,
            ApiError::Forbidden(_) => 403,
            ApiError::Unauthorized => 401,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::Timeout(_) => 408,
            ApiError::ServiceUnavailable(_) => 503,
            ApiError::Other { code, .. } => *code,
            ApiError::Expired(_) => 410,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::PathNotFound => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable => "NotAcceptable",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            ApiError::Timeout(_) => "Timeout",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::Other { code, .. } => match code {
                404 => "NotFound",
                405 => "MethodNotAllowed",
                406 => "NotAcceptable",
                409 => "Conflict",
                413 => "RequestEntityTooLarge",
                415 => "UnsupportedMediaType",
                429 => "TooManyRequests",
                500..=599 => "InternalError",
                _ => "BadRequest",
            },
            ApiError::Expired(_) => "Expired",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `metav1.Status` body.
    pub fn to_status(&self) -> Status {
        let details = match self {
            ApiError::NotFound { resource, name }
            | ApiError::AlreadyExists { resource, name }
            | ApiError::Conflict { resource, name } => {
                let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
                Some(StatusDetails {
                    name: Some(name.clone()),
                    kind: Some(kind.to_string()),
                    group: (!group.is_empty()).then(|| group.to_string()),
                    ..Default::default()
                })
            }
            ApiError::Invalid { kind, group, name, causes } => Some(StatusDetails {
                name: Some(name.clone()),
                kind: Some(kind.clone()),
                group: (!group.is_empty()).then(|| group.clone()),
                causes: Some(
                    causes
                        .iter()
                        .map(|c| StatusCause {
                            field: Some(c.field.clone()),
                            message: Some(c.message()),
                            reason: Some(c.reason().to_string()),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ApiError::PathNotFound => Some(StatusDetails::default()),
            ApiError::ApplyConflict { fields, .. } => Some(StatusDetails {
                causes: Some(
                    fields
                        .iter()
                        .map(|(message, field)| StatusCause {
                            field: Some(field.clone()),
                            message: Some(message.clone()),
                            reason: Some("FieldManagerConflict".into()),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            _ => None,
        };
        Status {
            code: Some(self.code().into()),
            details,
            message: Some(self.to_string()),
            metadata: ListMeta::default(),
            reason: Some(self.reason().to_string()),
            status: Some("Failure".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_kube_apiserver() {
        assert_eq!(ApiError::not_found(Kind::Pod, "x").to_string(), "pods \"x\" not found");
        assert_eq!(ApiError::not_found(Kind::ReplicaSet, "x").to_string(), "replicasets.apps \"x\" not found");
        let conflict = ApiError::conflict(Kind::Service, "kubia");
        assert_eq!(conflict.code(), 409);
        assert!(
            conflict
                .to_string()
                .starts_with("Operation cannot be fulfilled on services \"kubia\": the object has been modified")
        );
        let one = ApiError::invalid(Kind::Service, "kubia", vec![FieldError::required("spec.ports", "")]);
        assert_eq!(one.to_string(), "Service \"kubia\" is invalid: spec.ports: Required value");
        let status = one.to_status();
        assert_eq!(status.code, Some(422));
        let cause = &status.details.unwrap().causes.unwrap()[0];
        assert_eq!((cause.field.as_deref(), cause.reason.as_deref()), (Some("spec.ports"), Some("FieldValueRequired")));
    }
}
