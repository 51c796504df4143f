//! `PUT /lab/v1/nodes/{name}/ready`: stopping or starting a node's kubelet.

use super::ApiState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use svclab_shared::Kind;

/// `PUT /lab/v1/nodes/{name}/ready` with `{"ready": false}` stops the node's kubelet: it stops
/// reporting, the node's Ready condition turns Unknown ("Kubelet stopped posting node status."),
/// and the node lifecycle controller takes over. `{"ready": true}` starts it again.
pub async fn node_ready(
    State(state): State<ApiState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<std::sync::Arc<svclab_shared::Object>>, ApiError> {
    use k8s_openapi::api::core::v1::Node;
    let ready =
        body["ready"].as_bool().ok_or_else(|| ApiError::BadRequest("expected {\"ready\": true|false}".into()))?;
    let node: Node = state.store().get_typed("", &name).ok_or_else(|| ApiError::not_found(Kind::Node, &name))?;
    let flag = state.sandboxes.kubelet_flag(&name);
    if ready {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let ip = svclab_shared::display::internal_ip(&node)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| ApiError::BadRequest(format!("node {name} has no InternalIP")))?;
        crate::kubelet::post_node_ready(&state.registry, &name, ip)?;
        for sandbox in state.sandboxes.on_node(&name) {
            sandbox.status_changed();
        }
    } else {
        flag.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut updated = node.clone();
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
        let status = updated.status.get_or_insert_with(Default::default);
        for c in status.conditions.iter_mut().flatten().filter(|c| c.type_ == "Ready") {
            c.status = "Unknown".into();
            c.reason = Some("NodeStatusUnknown".into());
            c.message = Some("Kubelet stopped posting node status.".into());
            c.last_transition_time = Some(now.clone());
        }
        state.registry.update_status(&svclab_shared::Object::Node(updated))?;
    }
    let current = state.store().get(&crate::store::ObjectKey::new(Kind::Node, "", &name));
    Ok(Json(current.ok_or_else(|| ApiError::not_found(Kind::Node, &name))?))
}
