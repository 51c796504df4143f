//! `kubectl describe service`, as text in kubectl's layout: selector, type, addresses, each
//! port with its target port, node port and ready endpoints, affinity, traffic policies and the
//! service's events. svclab adds the not-ready endpoints, which kubectl leaves out.

use k8s_openapi::api::core::v1::{Endpoints, Event, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

fn map_text(map: Option<&BTreeMap<String, String>>, separator: &str) -> String {
    match map.filter(|m| !m.is_empty()) {
        Some(m) => m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(separator),
        None => "<none>".into(),
    }
}

/// Endpoint addresses of the subsets serving `port` (by name), ready or not.
fn addresses(endpoints: Option<&Endpoints>, port_name: Option<&str>, ready: bool) -> Vec<String> {
    let mut out = Vec::new();
    for subset in endpoints.and_then(|e| e.subsets.as_ref()).into_iter().flatten() {
        let port = subset.ports.iter().flatten().find(|p| p.name.as_deref().filter(|n| !n.is_empty()) == port_name);
        let Some(port) = port else { continue };
        let list = if ready { &subset.addresses } else { &subset.not_ready_addresses };
        out.extend(list.iter().flatten().map(|a| format!("{}:{}", a.ip, port.port)));
    }
    out
}

/// Endpoints as kubectl lists them: the first three, then `+ N more...`.
fn endpoint_list(list: &[String]) -> String {
    match list.len() {
        0 => "<none>".into(),
        n if n <= 3 => list.join(","),
        n => format!("{} + {} more...", list[..3].join(","), n - 3),
    }
}

/// `kubectl describe svc NAME`.
pub fn describe_service(svc: &Service, endpoints: Option<&Endpoints>, events: &[Event]) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let meta = &svc.metadata;
    let type_ = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    let mut rows: Vec<(String, String)> = vec![
        ("Name".into(), meta.name.clone().unwrap_or_default()),
        ("Namespace".into(), meta.namespace.clone().unwrap_or_default()),
        ("Labels".into(), map_text(meta.labels.as_ref(), "\n")),
        ("Annotations".into(), map_text(meta.annotations.as_ref(), "\n")),
        ("Selector".into(), map_text(spec.selector.as_ref(), ",")),
        ("Type".into(), type_.clone()),
    ];
    if type_ == "ExternalName" {
        rows.push(("External Name".into(), spec.external_name.clone().unwrap_or_default()));
    } else {
        rows.push(("IP Family Policy".into(), spec.ip_family_policy.clone().unwrap_or_else(|| "SingleStack".into())));
        rows.push(("IP Families".into(), spec.ip_families.clone().unwrap_or_else(|| vec!["IPv4".into()]).join(",")));
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        rows.push(("IP".into(), ip.clone()));
        rows.push(("IPs".into(), spec.cluster_ips.clone().map(|ips| ips.join(",")).unwrap_or(ip)));
    }
    let lb: Vec<String> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref()?.ingress.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.ip.or(i.hostname))
        .collect();
    if !lb.is_empty() {
        rows.push(("LoadBalancer Ingress".into(), lb.join(", ")));
    }
    for port in spec.ports.iter().flatten() {
        let name = port.name.clone().filter(|n| !n.is_empty());
        let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
        rows.push(("Port".into(), format!("{}  {}/{protocol}", name.as_deref().unwrap_or("<unset>"), port.port)));
        let target = match &port.target_port {
            Some(IntOrString::Int(n)) => n.to_string(),
            Some(IntOrString::String(s)) => s.clone(),
            None => port.port.to_string(),
        };
        rows.push(("TargetPort".into(), format!("{target}/{protocol}")));
        if let Some(node_port) = port.node_port {
            rows.push(("NodePort".into(), format!("{}  {node_port}/{protocol}", name.as_deref().unwrap_or("<unset>"))));
        }
        if type_ != "ExternalName" {
            rows.push(("Endpoints".into(), endpoint_list(&addresses(endpoints, name.as_deref(), true))));
            let unready = addresses(endpoints, name.as_deref(), false);
            if !unready.is_empty() {
                rows.push(("Not-ready endpoints".into(), endpoint_list(&unready)));
            }
        }
    }
    rows.push(("Session Affinity".into(), spec.session_affinity.clone().unwrap_or_else(|| "None".into())));
    if let Some(timeout) = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref()?.timeout_seconds)
        .filter(|_| spec.session_affinity.as_deref() == Some("ClientIP"))
    {
        rows.push(("Session Affinity Timeout".into(), format!("{timeout}s")));
    }
    if matches!(type_.as_str(), "NodePort" | "LoadBalancer") {
        let policy = spec.external_traffic_policy.clone().unwrap_or_else(|| "Cluster".into());
        rows.push(("External Traffic Policy".into(), policy));
    }
    if type_ != "ExternalName" {
        rows.push((
            "Internal Traffic Policy".into(),
            spec.internal_traffic_policy.clone().unwrap_or_else(|| "Cluster".into()),
        ));
    }
    if let Some(port) = spec.health_check_node_port {
        rows.push(("HealthCheck NodePort".into(), port.to_string()));
    }
    let mut out = String::new();
    for (label, value) in rows {
        let mut lines = value.lines();
        out.push_str(&format!("{:<26}{}\n", format!("{label}:"), lines.next().unwrap_or_default()));
        for more in lines {
            out.push_str(&format!("{:<26}{more}\n", ""));
        }
    }
    if events.is_empty() {
        out.push_str("Events:                   <none>\n");
    } else {
        out.push_str("Events:\n  Type    Reason  Age  From  Message\n  ----    ------  ---  ----  -------\n");
        for e in events {
            let from = e.source.as_ref().and_then(|s| s.component.clone()).unwrap_or_default();
            out.push_str(&format!(
                "  {}  {}  {}  {from}  {}\n",
                e.type_.as_deref().unwrap_or("Normal"),
                e.reason.as_deref().unwrap_or_default(),
                e.count.map(|c| format!("(x{c})")).unwrap_or_default(),
                e.message.as_deref().unwrap_or_default()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_port_service_reads_as_kubectl_describes_it() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "kubia-nodeport", "namespace": "default"},
            "spec": {"type": "NodePort", "selector": {"app": "kubia"}, "clusterIP": "10.96.0.30",
                     "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30123, "protocol": "TCP"}],
                     "sessionAffinity": "None", "externalTrafficPolicy": "Cluster"}
        }))
        .unwrap();
        let endpoints: Endpoints = serde_json::from_value(json!({
            "subsets": [{"addresses": [{"ip": "10.244.1.2"}, {"ip": "10.244.2.2"}, {"ip": "10.244.3.2"}, {"ip": "10.244.1.3"}],
                         "notReadyAddresses": [{"ip": "10.244.2.3"}], "ports": [{"port": 8080}]}]
        }))
        .unwrap();
        let text = describe_service(&svc, Some(&endpoints), &[]);
        assert!(
            text.starts_with("Name:                     kubia-nodeport\nNamespace:                default\n"),
            "{text}"
        );
        assert!(text.contains("Selector:                 app=kubia\n"));
        assert!(text.contains("Port:                     <unset>  80/TCP\nTargetPort:               8080/TCP\n"));
        assert!(text.contains("NodePort:                 <unset>  30123/TCP\n"));
        assert!(
            text.contains("Endpoints:                10.244.1.2:8080,10.244.2.2:8080,10.244.3.2:8080 + 1 more...\n")
        );
        assert!(text.contains("Not-ready endpoints:      10.244.2.3:8080\n"));
        assert!(text.contains("External Traffic Policy:  Cluster\n"));
        assert!(text.ends_with("Events:                   <none>\n"));
    }
}
