//! Resolving a service port's `targetPort` (a number, or the name of a container port) per pod.

use k8s_openapi::api::core::v1::{Pod, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The port a service port forwards to on this pod, or `None` when the pod has no container port
/// of that name and protocol (the endpoints controller then leaves the pod out for that port).
pub fn resolve_target_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(s)) => match s.parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => named_container_port(pod, s, port.protocol.as_deref().unwrap_or("TCP")),
        },
    }
}

/// The number of the container port with this name and protocol.
pub fn named_container_port(pod: &Pod, name: &str, protocol: &str) -> Option<i32> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
        .map(|p| p.container_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ports: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"spec": {"containers": [{"name": "c", "ports": ports}]}})).unwrap()
    }

    fn service_port(target: serde_json::Value) -> ServicePort {
        serde_json::from_value(json!({"port": 80, "targetPort": target})).unwrap()
    }

    #[test]
    fn numbers_pass_through_and_names_resolve_per_pod() {
        let a = pod(json!([{"name": "http", "containerPort": 8080}]));
        let b = pod(json!([{"name": "http", "containerPort": 9090}]));
        assert_eq!(resolve_target_port(&service_port(json!(8080)), &a), Some(8080));
        assert_eq!(resolve_target_port(&service_port(json!("http")), &a), Some(8080));
        assert_eq!(resolve_target_port(&service_port(json!("http")), &b), Some(9090));
        assert_eq!(resolve_target_port(&service_port(json!("https")), &a), None);
        let defaulted: ServicePort = serde_json::from_value(json!({"port": 80})).unwrap();
        assert_eq!(resolve_target_port(&defaulted, &a), Some(80));
    }

    #[test]
    fn named_ports_respect_protocol() {
        let udp = pod(json!([{"name": "dns", "containerPort": 53, "protocol": "UDP"}]));
        assert_eq!(resolve_target_port(&service_port(json!("dns")), &udp), None);
        let mut p = service_port(json!("dns"));
        p.protocol = Some("UDP".into());
        assert_eq!(resolve_target_port(&p, &udp), Some(53));
    }
}
