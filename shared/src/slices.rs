//! A service's EndpointSlices read as the Endpoints they stand for: how a selectorless service
//! whose user wrote EndpointSlices rather than an Endpoints object (the way Kubernetes' docs now
//! show it) is served, since kube-proxy and CoreDNS read the slices; and the endpoints that are
//! terminating yet serving, which Endpoints leave out and kube-proxy falls back on.

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints};
use k8s_openapi::api::discovery::v1::{EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The Endpoints of service `name` in `namespace` that `slices` (labelled for it) describe: one
/// subset per IPv4 slice with ports, its ready endpoints (`ready` unset counts as ready) as
/// addresses and the rest as not ready; `None` when no slice has any.
pub fn as_endpoints<'a>(
    namespace: &str,
    name: &str,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> Option<Endpoints> {
    read(namespace, name, slices, |c| Some(c.and_then(|c| c.ready).unwrap_or(true)))
}

/// The endpoints of `slices` that are terminating yet still serving (their pod is ready), as
/// ready addresses: what kube-proxy sends to when a service has no ready endpoint left.
pub fn serving_terminating<'a>(
    namespace: &str,
    name: &str,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> Option<Endpoints> {
    let serving = |c: &EndpointConditions| c.serving == Some(true) && c.terminating == Some(true);
    read(namespace, name, slices, |c| c.is_some_and(serving).then_some(true))
}

/// The Endpoints `slices` stand for, each endpoint as `ready(conditions)` says: a ready address,
/// a not-ready one, or (`None`) left out.
fn read<'a>(
    namespace: &str,
    name: &str,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ready: impl Fn(Option<&EndpointConditions>) -> Option<bool>,
) -> Option<Endpoints> {
    let mut subsets = Vec::new();
    for slice in slices.into_iter().filter(|s| s.address_type == "IPv4") {
        let (mut ready_addresses, mut not_ready) = (Vec::new(), Vec::new());
        for endpoint in &slice.endpoints {
            let Some(is_ready) = ready(endpoint.conditions.as_ref()) else { continue };
            for ip in &endpoint.addresses {
                let address = EndpointAddress {
                    ip: ip.clone(),
                    hostname: endpoint.hostname.clone(),
                    node_name: endpoint.node_name.clone(),
                    target_ref: endpoint.target_ref.clone(),
                };
                if is_ready { ready_addresses.push(address) } else { not_ready.push(address) }
            }
        }
        // Most slices, read for what they might add, have nothing to: no ports are built for them.
        if ready_addresses.is_empty() && not_ready.is_empty() {
            continue;
        }
        let ports: Vec<EndpointPort> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(EndpointPort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port: p.port?,
                    protocol: p.protocol.clone(),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        if ports.is_empty() {
            continue;
        }
        subsets.push(EndpointSubset {
            addresses: (!ready_addresses.is_empty()).then_some(ready_addresses),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: Some(ports),
        });
    }
    (!subsets.is_empty()).then(|| Endpoints {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..Default::default() },
        subsets: Some(subsets),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_docs_selectorless_slice_reads_as_endpoints() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "my-service-1", "labels": {"kubernetes.io/service-name": "my-service"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "appProtocol": "http", "protocol": "TCP", "port": 9376}],
            "endpoints": [{"addresses": ["10.4.5.6"]}, {"addresses": ["10.1.2.3"], "conditions": {"ready": false}}]
        }))
        .unwrap();
        let e = as_endpoints("default", "my-service", [&slice]).unwrap();
        assert_eq!(e.metadata.name.as_deref(), Some("my-service"));
        let subset = &e.subsets.unwrap()[0];
        assert_eq!(subset.addresses.as_ref().unwrap()[0].ip, "10.4.5.6", "ready unset counts as ready");
        assert_eq!(subset.not_ready_addresses.as_ref().unwrap()[0].ip, "10.1.2.3");
        let port = &subset.ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port, port.protocol.as_deref()), (Some("http"), 9376, Some("TCP")));
        let portless = EndpointSlice { ports: None, ..slice.clone() };
        assert!(as_endpoints("default", "my-service", [&portless]).is_none());
        let fqdn = EndpointSlice { address_type: "FQDN".into(), ..slice.clone() };
        assert!(as_endpoints("default", "my-service", [&fqdn]).is_none());
        assert!(serving_terminating("default", "my-service", [&slice]).is_none(), "none is terminating");
    }

    #[test]
    fn terminating_endpoints_that_still_serve_are_read_apart() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "", "protocol": "TCP", "port": 8080}],
            "endpoints": [
                {"addresses": ["10.244.1.2"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["10.244.1.3"], "conditions": {"ready": false, "serving": false, "terminating": true}},
                {"addresses": ["10.244.1.4"], "conditions": {"ready": true, "serving": true, "terminating": false}}]
        }))
        .unwrap();
        let e = serving_terminating("default", "web", [&slice]).unwrap();
        let subset = &e.subsets.unwrap()[0];
        let ips: Vec<&str> = subset.addresses.iter().flatten().map(|a| a.ip.as_str()).collect();
        assert_eq!(ips, ["10.244.1.2"]);
        assert_eq!(subset.ports.as_ref().unwrap()[0].name, None, "an unnamed port, as Endpoints have it");
    }
}
