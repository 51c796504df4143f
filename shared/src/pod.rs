//! Pod status as `kubectl get pods` reads it: readiness, the READY column and the STATUS column.

use k8s_openapi::api::core::v1::Pod;

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether the pod's containers have all ended for good (`Succeeded` or `Failed`).
pub fn is_finished(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Whether the pod is on its way out or finished (no longer counts for its controller).
pub fn is_terminal_or_deleting(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_some() || matches!(phase, Some("Succeeded" | "Failed"))
}

/// The READY column: ready containers / containers, e.g. `1/1`.
pub fn ready_column(pod: &Pod) -> String {
    let total = pod.spec.as_ref().map_or(0, |s| s.containers.len());
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().filter(|c| c.ready).count());
    format!("{ready}/{total}")
}

/// The STATUS column: `Terminating`, a waiting or terminated container's reason, or the phase.
pub fn status_column(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".into();
    }
    let status = pod.status.as_ref();
    for cs in status.and_then(|s| s.container_statuses.as_ref()).into_iter().flatten() {
        let state = cs.state.as_ref();
        if let Some(reason) = state.and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.clone()) {
            return reason;
        }
        if let Some(reason) = state.and_then(|s| s.terminated.as_ref()).and_then(|t| t.reason.clone()) {
            return reason;
        }
    }
    status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into())
}

/// The RESTARTS column.
pub fn restarts(pod: &Pod) -> i32 {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses.map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum())
}
