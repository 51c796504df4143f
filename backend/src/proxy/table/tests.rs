use super::*;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::json;
use std::collections::BTreeSet;

fn routes_for(svc: &Service, endpoints: Option<&Endpoints>) -> Vec<Arc<ServicePortRoute>> {
    super::routes_for(&ServiceState::new(svc.clone(), endpoints.cloned()))
}

fn service(spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": "kubia", "namespace": "default"}, "spec": spec})).unwrap()
}

fn endpoints() -> Endpoints {
    serde_json::from_value(json!({"metadata": {"name": "kubia"}, "subsets": [{
        "addresses": [
            {"ip": "10.244.1.2", "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "kubia-a"}},
            {"ip": "10.244.2.2", "nodeName": "node-2", "targetRef": {"kind": "Pod", "name": "kubia-b"}},
            {"ip": "10.244.2.3", "nodeName": "node-2", "targetRef": {"kind": "Pod", "name": "kubia-c"}}],
        "notReadyAddresses": [{"ip": "10.244.3.2", "nodeName": "node-3"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "https", "port": 8443, "protocol": "TCP"}]}]}))
    .unwrap()
}

fn one(routes: &[Arc<ServicePortRoute>], name: &str) -> Arc<ServicePortRoute> {
    routes.iter().find(|r| r.port_name == name).unwrap().clone()
}

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 244, 9, 9);

#[test]
fn ports_match_endpoint_ports_by_name_and_skip_unready_addresses() {
    let svc = service(json!({"clusterIP": "10.96.0.20", "ports": [
        {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443, "protocol": "TCP"}]}));
    let routes = routes_for(&svc, Some(&endpoints()));
    assert_eq!(routes.len(), 2);
    let https = one(&routes, "https");
    assert_eq!(https.backends.iter().map(|b| b.port).collect::<BTreeSet<_>>(), [8443].into());
    assert_eq!(https.backends.len(), 3, "the unready address is not a backend");
    let table = ProxyTable::new(routes, Arc::default());
    let addr = VirtualAddr { ip: Ipv4Addr::new(10, 96, 0, 20), port: 80, protocol: Protocol::Tcp };
    let chosen = table
        .cluster_ip(&addr)
        .unwrap()
        .pick(Entry::ClusterIp { client_node: None }, CLIENT, &Affinity::default(), &Zones::new())
        .unwrap();
    assert_eq!(chosen.backend.port, 8080);
    assert_eq!(chosen.reason.to_string(), "random among 3 ready endpoints");
}

#[test]
fn no_ready_endpoints_means_refused_and_headless_or_external_names_are_not_proxied() {
    let svc = service(json!({"clusterIP": "10.96.0.20", "ports": [{"port": 80, "protocol": "TCP"}]}));
    let route = routes_for(&svc, None).remove(0);
    let err =
        route.pick(Entry::ClusterIp { client_node: None }, CLIENT, &Affinity::default(), &Zones::new()).unwrap_err();
    assert_eq!(err, NoRoute::NoEndpoints);
    assert!(routes_for(&service(json!({"clusterIP": "None", "ports": [{"port": 80}]})), None).is_empty());
    assert!(routes_for(&service(json!({"type": "ExternalName", "externalName": "example.com"})), None).is_empty());
    let mut other = service(json!({"clusterIP": "10.96.0.21", "ports": [{"port": 80}]}));
    other.metadata.labels = Some([(SERVICE_PROXY_NAME.to_string(), "my-proxy".to_string())].into());
    assert!(routes_for(&other, Some(&endpoints())).is_empty(), "another proxy's service");
}

#[test]
fn client_ip_affinity_sticks_and_none_spreads() {
    let sticky = service(json!({"clusterIP": "10.96.0.20", "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}));
    let route = one(&routes_for(&sticky, Some(&endpoints())), "http");
    let affinity = Affinity::default();
    let entry = Entry::ClusterIp { client_node: None };
    let first = route.pick(entry, CLIENT, &affinity, &Zones::new()).unwrap();
    assert!(first.reason.to_string().contains("sessionAffinity ClientIP pins 10.244.9.9"), "{}", first.reason);
    for _ in 0..15 {
        let again = route.pick(entry, CLIENT, &affinity, &Zones::new()).unwrap();
        assert_eq!(again.backend, first.backend);
        assert!(again.reason.to_string().starts_with("sessionAffinity ClientIP: 10.244.9.9 stays"), "{}", again.reason);
    }
    let plain = service(json!({"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}));
    let route = one(&routes_for(&plain, Some(&endpoints())), "http");
    let hit: BTreeSet<_> =
        (0..200).map(|_| route.pick(entry, CLIENT, &affinity, &Zones::new()).unwrap().backend.ip).collect();
    assert_eq!(hit.len(), 3, "without affinity one client reaches every endpoint");
}

#[test]
fn local_traffic_policies_keep_traffic_on_the_node() {
    let svc = service(json!({"type": "NodePort", "clusterIP": "10.96.0.20", "externalTrafficPolicy": "Local",
        "internalTrafficPolicy": "Local", "ports": [{"name": "http", "port": 80, "nodePort": 30123, "protocol": "TCP"}]}));
    let routes = routes_for(&svc, Some(&endpoints()));
    let table = ProxyTable::new(routes, Arc::default());
    let route = table.node_port(30123, Protocol::Tcp).unwrap();
    let affinity = Affinity::default();
    for _ in 0..20 {
        let r = route.pick(Entry::External { node: "node-2" }, CLIENT, &affinity, &Zones::new()).unwrap();
        assert_eq!(r.backend.node.as_deref(), Some("node-2"));
        assert_eq!(r.reason.to_string(), "externalTrafficPolicy: Local: random among 2 ready endpoints on node-2");
    }
    let err = route.pick(Entry::External { node: "node-3" }, CLIENT, &affinity, &Zones::new()).unwrap_err();
    assert_eq!(err, NoRoute::NoLocalEndpoints("node-3".into()));
    let r = route.pick(Entry::ClusterIp { client_node: Some("node-1") }, CLIENT, &affinity, &Zones::new()).unwrap();
    assert_eq!(r.backend.pod.as_deref(), Some("kubia-a"));
    assert!(route.pick(Entry::ClusterIp { client_node: Some("node-3") }, CLIENT, &affinity, &Zones::new()).is_err());
}

#[test]
fn load_balancer_addresses_come_from_the_status() {
    let mut svc = service(json!({"type": "LoadBalancer", "clusterIP": "10.96.0.20",
        "ports": [{"name": "http", "port": 80, "nodePort": 30124, "protocol": "TCP"}]}));
    svc.status = serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "127.0.2.1"}]}})).unwrap();
    let table = ProxyTable::new(routes_for(&svc, Some(&endpoints())), Arc::default());
    let addr = VirtualAddr { ip: Ipv4Addr::new(127, 0, 2, 1), port: 80, protocol: Protocol::Tcp };
    assert!(table.load_balancer(&addr).is_some());
    assert!(table.node_port(30124, Protocol::Tcp).is_some());
    let cluster_ip_only = service(json!({"clusterIP": "10.96.0.21", "ports": [{"port": 80, "nodePort": 30125}]}));
    assert!(
        ProxyTable::new(routes_for(&cluster_ip_only, None), Arc::default()).node_port(30125, Protocol::Tcp).is_none()
    );
}

/// The routes of `svc` whose endpoints' slices carry `hints` (address's last octets → zones;
/// with `on_node`, each also hinted for its own node, as under `PreferSameNode`).
fn hinted_routes(svc: &Service, hints: &[(&str, &str)], on_node: bool) -> Arc<ServicePortRoute> {
    let eps = endpoints();
    let node_of = |ip: &str| {
        let addresses = eps.subsets.as_ref().unwrap()[0].addresses.as_ref().unwrap();
        addresses.iter().find(|a| a.ip == ip).unwrap().node_name.clone().unwrap()
    };
    let hints = hints.iter().map(|(ip, zone)| {
        let ip = format!("10.244.{ip}");
        let nodes = if on_node { vec![node_of(&ip)] } else { vec![] };
        (ip.parse().unwrap(), Arc::new(crate::informer::Hint { zones: vec![zone.to_string()], nodes }))
    });
    let sliced = crate::informer::SliceFacts { hints: hints.collect(), terminating: None };
    let state = ServiceState::new(svc.clone(), Some(eps.clone())).with_slices(sliced);
    one(&super::routes_for(&state), "http")
}

#[test]
fn topology_hints_keep_traffic_in_the_clients_zone_or_on_its_node() {
    let zones: Zones =
        [("node-1", "zone-a"), ("node-2", "zone-b"), ("node-3", "zone-a")].map(|(n, z)| (n.into(), z.into())).into();
    let svc = |distribution: &str| {
        service(json!({"type": "NodePort", "clusterIP": "10.96.0.20", "trafficDistribution": distribution,
            "ports": [{"name": "http", "port": 80, "nodePort": 30123, "protocol": "TCP"}]}))
    };
    let own_zones = [("1.2", "zone-a"), ("2.2", "zone-b"), ("2.3", "zone-b")];
    let affinity = Affinity::default();
    let close = hinted_routes(&svc("PreferClose"), &own_zones, false);
    for _ in 0..20 {
        // node-3 has no endpoint, but its zone does (node-1's).
        let r = close.pick(Entry::ClusterIp { client_node: Some("node-3") }, CLIENT, &affinity, &zones).unwrap();
        assert_eq!(r.backend.pod.as_deref(), Some("kubia-a"));
        assert_eq!(r.reason.to_string(), "PreferClose: random among 1 ready endpoint hinted for zone zone-a");
        let r = close.pick(Entry::External { node: "node-2" }, CLIENT, &affinity, &zones).unwrap();
        assert_eq!(r.backend.node.as_deref(), Some("node-2"));
    }
    // From the host, from a node with no zone, or with an endpoint not hinted (its node has no
    // zone), every endpoint is a candidate.
    let r = close.pick(Entry::ClusterIp { client_node: None }, CLIENT, &affinity, &zones).unwrap();
    assert_eq!(r.reason.to_string(), "random among 3 ready endpoints");
    let unzoned: Zones = [("node-1".to_string(), "zone-a".to_string())].into();
    let r = close.pick(Entry::ClusterIp { client_node: Some("node-3") }, CLIENT, &affinity, &unzoned).unwrap();
    assert_eq!(r.reason.to_string(), "random among 3 ready endpoints", "the client's node has no zone");
    let partly = hinted_routes(&svc("PreferClose"), &own_zones[..2], false);
    let r = partly.pick(Entry::ClusterIp { client_node: Some("node-1") }, CLIENT, &affinity, &zones).unwrap();
    assert_eq!(r.reason.to_string(), "random among 3 ready endpoints", "an endpoint without hints: none apply");

    let same_node = hinted_routes(&svc("PreferSameNode"), &own_zones, true);
    let r = same_node.pick(Entry::ClusterIp { client_node: Some("node-1") }, CLIENT, &affinity, &zones).unwrap();
    assert_eq!(r.reason.to_string(), "PreferSameNode: random among 1 ready endpoint on node-1");
    let r = same_node.pick(Entry::ClusterIp { client_node: Some("node-3") }, CLIENT, &affinity, &zones).unwrap();
    assert_eq!(r.reason.to_string(), "PreferSameNode: random among 1 ready endpoint hinted for zone zone-a");

    // Topology Aware Routing gave one of zone-b's endpoints to zone-a: zone-a's clients use it too.
    let mut auto = svc("PreferClose");
    auto.metadata.annotations = Some([("service.kubernetes.io/topology-mode".into(), "Auto".into())].into());
    let auto = hinted_routes(&auto, &[("1.2", "zone-a"), ("2.2", "zone-a"), ("2.3", "zone-b")], false);
    let mut chosen = BTreeSet::new();
    for _ in 0..50 {
        let r = auto.pick(Entry::ClusterIp { client_node: Some("node-3") }, CLIENT, &affinity, &zones).unwrap();
        assert_eq!(r.reason.to_string(), "topology-mode Auto: random among 2 ready endpoints hinted for zone zone-a");
        chosen.insert(r.backend.pod.unwrap());
        let r = auto.pick(Entry::External { node: "node-2" }, CLIENT, &affinity, &zones).unwrap();
        assert_eq!(r.backend.pod.as_deref(), Some("kubia-c"));
    }
    assert_eq!(chosen, BTreeSet::from(["kubia-a".to_string(), "kubia-b".to_string()]));
}

#[test]
fn with_no_ready_endpoint_traffic_goes_to_those_terminating_yet_serving() {
    let svc = service(json!({"type": "NodePort", "clusterIP": "10.96.0.20", "externalTrafficPolicy": "Local",
        "ports": [{"name": "http", "port": 80, "nodePort": 30123, "protocol": "TCP"}]}));
    // kubia-a (node-1) is terminating but still serving; no endpoint is ready.
    let terminating: Endpoints = serde_json::from_value(json!({"subsets": [{
        "addresses": [{"ip": "10.244.1.2", "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "kubia-a"}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}))
    .unwrap();
    let sliced = crate::informer::SliceFacts { terminating: Some(terminating), ..Default::default() };
    let state = ServiceState::new(svc.clone(), None).with_slices(sliced);
    let route = one(&super::routes_for(&state), "http");
    let (affinity, zones) = (Affinity::default(), Zones::new());
    let r = route.pick(Entry::ClusterIp { client_node: Some("node-3") }, CLIENT, &affinity, &zones).unwrap();
    assert_eq!(r.backend.pod.as_deref(), Some("kubia-a"));
    assert_eq!(r.reason.to_string(), "random among 1 serving terminating endpoint");
    // Under Local, per node: node-1 has it, node-2 has none and drops.
    let r = route.pick(Entry::External { node: "node-1" }, CLIENT, &affinity, &zones).unwrap();
    assert_eq!(
        r.reason.to_string(),
        "externalTrafficPolicy: Local: random among 1 serving terminating endpoint on node-1"
    );
    let dropped = route.pick(Entry::External { node: "node-2" }, CLIENT, &affinity, &zones).unwrap_err();
    assert_eq!(dropped, NoRoute::NoLocalEndpoints("node-2".into()));

    // Once an endpoint is ready, the terminating ones get nothing new.
    let state = ServiceState::new(svc, Some(endpoints())).with_slices(crate::informer::SliceFacts {
        terminating: state.sliced.terminating.clone(),
        ..Default::default()
    });
    let route = one(&super::routes_for(&state), "http");
    for _ in 0..20 {
        let r = route.pick(Entry::ClusterIp { client_node: None }, CLIENT, &affinity, &zones).unwrap();
        assert!(!r.reason.terminating, "{}", r.reason);
    }
}
