//! Columns as `kubectl get` prints them: PORT(S), SELECTOR, AGE, EXTERNAL-IP, and an Ingress's
//! HOSTS, ADDRESS and PORTS.

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::networking::v1::Ingress;

/// PORT(S): `80/TCP`, `80:30123/TCP,443:30443/TCP`.
pub fn service_ports(svc: &Service) -> String {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    let list: Vec<String> = ports
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port {
                Some(np) => format!("{}:{np}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect();
    if list.is_empty() { "<none>".into() } else { list.join(",") }
}

/// SELECTOR: `app=kubia`, or `<none>`.
pub fn service_selector(svc: &Service) -> String {
    let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref()).filter(|s| !s.is_empty());
    match selector {
        Some(s) => s.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        None => "<none>".into(),
    }
}

/// CLUSTER-IP: the address, `None` for headless services, `<none>` for ExternalName.
pub fn cluster_ip(svc: &Service) -> String {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.clone()).filter(|ip| !ip.is_empty()).unwrap_or_else(|| "<none>".into())
}

/// EXTERNAL-IP: the load balancer's address, `<pending>` while it has none, the external name
/// for ExternalName services, otherwise `<none>`.
pub fn external_ip(svc: &Service) -> String {
    let spec = svc.spec.as_ref();
    match spec.and_then(|s| s.type_.as_deref()) {
        Some("ExternalName") => spec.and_then(|s| s.external_name.clone()).unwrap_or_default(),
        Some("LoadBalancer") => {
            let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()?.ingress.as_ref());
            let ips: Vec<String> =
                ingress.into_iter().flatten().filter_map(|i| i.ip.clone().or(i.hostname.clone())).collect();
            if ips.is_empty() { "<pending>".into() } else { ips.join(",") }
        }
        _ => "<none>".into(),
    }
}

/// A node's INTERNAL-IP: the address its kubelet reported.
pub fn internal_ip(node: &Node) -> Option<&str> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    addresses.iter().find(|a| a.type_ == "InternalIP").map(|a| a.address.as_str())
}

/// An Ingress's HOSTS: its rules' hosts, `*` for a rule without one.
pub fn ingress_hosts(ingress: &Ingress) -> String {
    let rules = ingress.spec.as_ref().and_then(|s| s.rules.as_ref());
    let hosts: Vec<String> = rules
        .into_iter()
        .flatten()
        .map(|r| r.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| "*".into()))
        .collect();
    if hosts.is_empty() { "*".into() } else { hosts.join(",") }
}

/// An Ingress's ADDRESS: the controller's addresses from its status, empty until it has one.
pub fn ingress_address(ingress: &Ingress) -> String {
    let lb = ingress.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_ref());
    let ips: Vec<String> = lb.into_iter().flatten().filter_map(|i| i.ip.clone().or(i.hostname.clone())).collect();
    ips.join(",")
}

/// An Ingress's PORTS: `80`, or `80, 443` when it has a `tls` section.
pub fn ingress_ports(ingress: &Ingress) -> String {
    let tls = ingress.spec.as_ref().and_then(|s| s.tls.as_ref()).is_some_and(|t| !t.is_empty());
    if tls { "80, 443".into() } else { "80".into() }
}

/// AGE from seconds: `42s`, `5m3s` under ten minutes, `17m`, `3h`, `2d4h`, `45d`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..172800 => format!("{}h", s / 3600),
        172800..2592000 => format!("{}d{}h", s / 86400, s % 86400 / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// How kubectl names an object in its output: `service/kubia`, `deployment.apps/kubia`.
pub fn reference(kind: crate::Kind, name: &str) -> String {
    match kind.group() {
        "" => format!("{}/{name}", kind.name().to_lowercase()),
        group => format!("{}.{group}/{name}", kind.name().to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn columns_read_like_kubectl() {
        let s = svc(json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "selector": {"app": "kubia"},
            "ports": [{"port": 80, "nodePort": 30123, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}));
        assert_eq!(service_ports(&s), "80:30123/TCP,53/UDP");
        assert_eq!(service_selector(&s), "app=kubia");
        assert_eq!(cluster_ip(&s), "10.96.0.9");
        assert_eq!(external_ip(&s), "<none>");
        let lb = svc(json!({"spec": {"type": "LoadBalancer"}}));
        assert_eq!(external_ip(&lb), "<pending>");
        let ext = svc(json!({"spec": {"type": "ExternalName", "externalName": "api.example.com"}}));
        assert_eq!(
            (external_ip(&ext), cluster_ip(&ext), service_ports(&ext)),
            ("api.example.com".into(), "<none>".into(), "<none>".into())
        );
    }

    #[test]
    fn ages_are_compact() {
        assert_eq!(age(42), "42s");
        assert_eq!(age(303), "5m3s");
        assert_eq!(age(1020), "17m");
        assert_eq!(age(3 * 3600 + 5), "3h");
        assert_eq!(age(2 * 86400 + 4 * 3600), "2d4h");
        assert_eq!(age(45 * 86400), "45d");
    }

    #[test]
    fn ingress_columns_read_like_kubectl() {
        let ing: Ingress = serde_json::from_value(json!({"spec": {"tls": [{"hosts": ["a.com"]}],
            "rules": [{"host": "a.com"}, {"http": {"paths": []}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}))
        .unwrap();
        assert_eq!(ingress_hosts(&ing), "a.com,*");
        assert_eq!(ingress_address(&ing), "127.0.0.1");
        assert_eq!(ingress_ports(&ing), "80, 443");
        assert_eq!(ingress_ports(&Ingress::default()), "80");
        assert_eq!(ingress_address(&Ingress::default()), "");
    }
}
