//! Service environment variables (`KUBIA_SERVICE_HOST`, the docker-link `KUBIA_PORT_80_TCP…`
//! family) for the services that exist when a container starts.

use k8s_openapi::api::core::v1::Service;

/// The variables for `services` (the pod's namespace, when service links are on) and the
/// `kubernetes` master service, which every pod gets.
pub fn service_env<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    master: Option<&'a Service>,
) -> Vec<(String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for svc in master.into_iter().chain(services) {
        let name = svc.metadata.name.clone().unwrap_or_default();
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(spec) = &svc.spec else { continue };
        let ip = spec.cluster_ip.as_deref().unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let ports = spec.ports.as_deref().unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        let prefix = name.to_uppercase().replace('-', "_");
        out.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
        out.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
        for port in ports {
            if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
                let port_name = port_name.to_uppercase().replace('-', "_");
                out.push((format!("{prefix}_SERVICE_PORT_{port_name}"), port.port.to_string()));
            }
        }
        let proto = |p: &k8s_openapi::api::core::v1::ServicePort| p.protocol.clone().unwrap_or_else(|| "TCP".into());
        out.push((format!("{prefix}_PORT"), format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port)));
        for port in ports {
            let (p, number) = (proto(port), port.port);
            let base = format!("{prefix}_PORT_{number}_{}", p.to_uppercase());
            out.push((base.clone(), format!("{}://{ip}:{number}", p.to_lowercase())));
            out.push((format!("{base}_PROTO"), p.to_lowercase()));
            out.push((format!("{base}_PORT"), number.to_string()));
            out.push((format!("{base}_ADDR"), ip.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_follow_the_docker_link_convention() {
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "kubia-web"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443}]}}))
        .unwrap();
        let headless: Service = serde_json::from_value(
            json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}),
        )
        .unwrap();
        let env = service_env(&[svc, headless], None);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("KUBIA_WEB_SERVICE_HOST"), Some("10.96.0.20"));
        assert_eq!(get("KUBIA_WEB_SERVICE_PORT"), Some("80"));
        assert_eq!(get("KUBIA_WEB_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get("KUBIA_WEB_PORT"), Some("tcp://10.96.0.20:80"));
        assert_eq!(get("KUBIA_WEB_PORT_443_TCP_ADDR"), Some("10.96.0.20"));
        assert_eq!(get("KUBIA_WEB_PORT_80_TCP_PROTO"), Some("tcp"));
        assert!(get("H_SERVICE_HOST").is_none(), "headless services get no variables");
    }
}
