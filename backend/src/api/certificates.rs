//! `kubectl certificate approve|deny NAME` as `POST /lab/v1/certificatesigningrequests/{name}/
//! approve` (or `/deny`): a condition added through the `approval` subresource, in kubectl's
//! words; and `GET /lab/v1/ca.crt`, the cluster CA that signs approved requests.

use super::ApiState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use svclab_shared::lab::MadeResponse;
use svclab_shared::{Kind, Object, display};

pub async fn decide(
    State(state): State<ApiState>,
    Path((name, verb)): Path<(String, String)>,
) -> Result<Json<MadeResponse>, ApiError> {
    let (kind, reason, past) = match verb.as_str() {
        "approve" => ("Approved", "KubectlApprove", "approved"),
        "deny" => ("Denied", "KubectlDeny", "denied"),
        _ => return Err(ApiError::NotFound { resource: "certificatesigningrequests".into(), name: verb }),
    };
    let csr: CertificateSigningRequest = state
        .store()
        .get_typed("", &name)
        .ok_or_else(|| ApiError::not_found(Kind::CertificateSigningRequest, &name))?;
    let conditions = csr.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let reference = display::reference(Kind::CertificateSigningRequest, &name);
    if let Some(other) =
        conditions.iter().find(|c| matches!(c.type_.as_str(), "Approved" | "Denied") && c.type_ != kind)
    {
        return Err(ApiError::BadRequest(format!(
            "error: certificatesigningrequest {name:?} is already {}",
            other.type_
        )));
    }
    if !conditions.iter().any(|c| c.type_ == kind) {
        let mut updated = csr.clone();
        let now = Time(jiff::Timestamp::now());
        updated.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new).push(
            CertificateSigningRequestCondition {
                type_: kind.into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(format!("This CSR was {past} by kubectl certificate {verb}.")),
                last_update_time: Some(now.clone()),
                last_transition_time: Some(now),
            },
        );
        state.registry.update_approval(&Object::CertificateSigningRequest(updated))?;
    }
    let object = state.store().get(&crate::store::ObjectKey::new(Kind::CertificateSigningRequest, "", &name));
    Ok(Json(MadeResponse {
        message: format!("{reference} {past}"),
        object: object.map(|o| o.to_value()).unwrap_or_default(),
    }))
}

pub async fn ca(State(state): State<ApiState>) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "application/x-pem-file")], state.ca.pem.clone())
}
