//! `POST /lab/v1/namespaces/{ns}/secrets/tls`: `kubectl create secret tls NAME --cert --key`,
//! from the two PEM files as JSON or as a multipart upload (fields `name`, `cert`, `key`). The
//! pair is checked on the way in, as kubectl does.

use super::ApiState;
use super::media::content_type;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use std::collections::BTreeMap;
use svclab_shared::lab::{MadeResponse, TlsSecretRequest};
use svclab_shared::{Object, display};

async fn read(state: &ApiState, request: Request) -> Result<TlsSecretRequest, ApiError> {
    if content_type(request.headers()) != "multipart/form-data" {
        let Json(body) = Json::<TlsSecretRequest>::from_request(request, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        return Ok(body);
    }
    let mut multipart =
        Multipart::from_request(request, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut out = TlsSecretRequest::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| ApiError::BadRequest(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        let text = field.text().await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        match name.as_str() {
            "name" => out.name = text.trim().to_string(),
            "cert" => out.cert = text,
            "key" => out.key = text,
            other => return Err(ApiError::BadRequest(format!("unknown field {other:?}: expected name, cert and key"))),
        }
    }
    Ok(out)
}

pub async fn create_tls(State(state): State<ApiState>, Path(namespace): Path<String>, request: Request) -> Response {
    let made = async {
        let body = read(&state, request).await?;
        if body.name.is_empty() {
            return Err(ApiError::BadRequest("error: exactly one NAME is required, got 0".into()));
        }
        if let Err(e) = crate::ingress::certs::load(body.cert.as_bytes(), body.key.as_bytes()) {
            return Err(ApiError::BadRequest(format!("error: {e}")));
        }
        let data: BTreeMap<String, ByteString> = [
            ("tls.crt".to_string(), ByteString(body.cert.into_bytes())),
            ("tls.key".to_string(), ByteString(body.key.into_bytes())),
        ]
        .into();
        let mut secret = Secret { data: Some(data), type_: Some("kubernetes.io/tls".into()), ..Default::default() };
        secret.metadata.name = Some(body.name.clone());
        secret.metadata.namespace = Some(namespace);
        let created = state.registry.create(Object::Secret(secret))?;
        let message = format!("{} created", display::reference(created.kind(), created.name()));
        Ok(MadeResponse { message, object: created.to_value() })
    };
    match made.await {
        Ok(made) => (StatusCode::CREATED, Json(made)).into_response(),
        Err(e) => e.into_response(),
    }
}
