//! The finding that the probes of an image svclab does not know pass only because its default
//! program answers them.

use super::{Finding, Severity, finding, names, pod_link};
use k8s_openapi::api::core::v1::Pod;

/// Probes that pass only because svclab's default program answers for an image it does not know.
pub(super) fn stand_in(pods: &[&Pod]) -> Option<Finding> {
    let mut images: Vec<String> = Vec::new();
    let mut probed: Vec<&Pod> = Vec::new();
    for pod in pods {
        let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
        let stood_in: Vec<&k8s_openapi::api::core::v1::Container> = containers
            .filter(|c| !crate::program::program_for(c.image.as_deref().unwrap_or_default()).is_builtin())
            .filter(|c| c.readiness_probe.is_some() || c.liveness_probe.is_some() || c.startup_probe.is_some())
            .collect();
        if stood_in.is_empty() {
            continue;
        }
        probed.push(pod);
        for c in stood_in {
            let image = c.image.clone().unwrap_or_default();
            if !images.contains(&image) {
                images.push(image);
            }
        }
    }
    if probed.is_empty() {
        return None;
    }
    Some(finding(
        Severity::Info,
        "stand-in",
        format!("The probes pass because svclab stands in for {}", images.join(", ")),
        format!(
            "svclab runs no real images: for an image it does not know, its default program answers HTTP/1.1,              h2c and gRPC health (SERVING) on each declared container port, so httpGet, tcpSocket and grpc probes              and grpc_health_probe pass as soon as the container starts. On a real cluster they test the              application itself, which may take longer to become ready, or never be. Pods: {}.",
            names(&probed)
        ),
        probed.iter().map(|p| pod_link(p)).collect(),
    ))
}
