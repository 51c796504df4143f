//! `minikube addons`-like endpoints: `GET /lab/v1/addons` lists the add-ons, and
//! `PUT /lab/v1/addons/ingress` with `{"enabled": true|false}` starts or stops the ingress
//! controller (`minikube addons enable ingress`).

use super::ApiState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use svclab_shared::lab::{Addon, AddonChange};

async fn ingress(state: &ApiState) -> Addon {
    let addresses = state.ingress.addresses().await;
    let endpoints = addresses.map(|a| vec![format!("http://{}", a.http), format!("https://{}", a.https)]);
    Addon { name: "ingress".into(), enabled: addresses.is_some(), endpoints: endpoints.unwrap_or_default() }
}

pub async fn list(State(state): State<ApiState>) -> Json<Vec<Addon>> {
    let dns = Addon { name: "kube-dns".into(), enabled: true, endpoints: Vec::new() };
    Json(vec![ingress(&state).await, dns])
}

pub async fn change(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Json(change): Json<AddonChange>,
) -> Result<Json<Addon>, ApiError> {
    if name != "ingress" {
        return Err(ApiError::NotFound { resource: "addons".into(), name });
    }
    if change.enabled {
        state
            .ingress
            .enable()
            .await
            .map_err(|e| ApiError::Internal(format!("the ingress controller cannot listen: {e}")))?;
    } else {
        state.ingress.disable().await;
    }
    Ok(Json(ingress(&state).await))
}
