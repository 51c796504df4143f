//! Inter-pod affinity, anti-affinity and topology spread, against kube-scheduler's outcomes.

use super::*;
use serde_json::json;

fn node(name: &str, zone: &str) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name,
        "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}}}))
    .unwrap()
}

fn pod(name: &str, app: &str, at: Option<&str>, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = json!(at);
    spec["containers"] = json!([{"name": "c"}]);
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": app}}, "spec": spec}),
    )
    .unwrap()
}

fn term(app: &str, key: &str) -> serde_json::Value {
    json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key})
}

fn anti(app: &str, key: &str) -> serde_json::Value {
    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(app, key)]}}})
}

fn attracted(app: &str, key: &str) -> serde_json::Value {
    json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(app, key)]}}})
}

/// The nodes `pod` may go to, given the pods placed.
fn allowed(pod: &Pod, nodes: &[Node], pods: &[&Pod]) -> Vec<String> {
    let namespaces = BTreeMap::new();
    let placed = Placed::new(nodes, pods, &namespaces);
    nodes.iter().filter(|n| unfit(pod, n, &placed).is_none()).map(|n| n.metadata.name.clone().unwrap()).collect()
}

#[test]
fn one_replica_per_node_with_required_anti_affinity() {
    let nodes = [node("node-1", "a"), node("node-2", "a"), node("node-3", "b")];
    let host = "kubernetes.io/hostname";
    let first = pod("db-0", "db", Some("node-1"), anti("db", host));
    let second = pod("db-1", "db", Some("node-2"), anti("db", host));
    let next = pod("db-2", "db", None, anti("db", host));
    assert_eq!(allowed(&next, &nodes, &[&first, &second]), ["node-3"]);
    let third = pod("db-2", "db", Some("node-3"), anti("db", host));
    let fourth = pod("db-3", "db", None, anti("db", host));
    assert!(allowed(&fourth, &nodes, &[&first, &second, &third]).is_empty());
    let placed_namespaces = BTreeMap::new();
    let placed = Placed::new(&nodes, &[&first, &second, &third], &placed_namespaces);
    assert_eq!(unfit(&fourth, &nodes[0], &placed), Some(Unfit::PodAntiAffinity), "its own rule is read first");
    // A pod without anti-affinity of its own is kept away by the placed pods' rules all the same.
    let plain = pod("db-x", "db", None, json!({}));
    assert_eq!(unfit(&plain, &nodes[0], &placed), Some(Unfit::ExistingAntiAffinity));
    // Anti-affinity by zone: one per zone.
    let zone = "topology.kubernetes.io/zone";
    let a = pod("cache-0", "cache", Some("node-1"), anti("cache", zone));
    assert_eq!(allowed(&pod("cache-1", "cache", None, anti("cache", zone)), &nodes, &[&a]), ["node-3"]);
    assert_eq!(
        unfit(
            &pod("web", "web", None, anti("cache", zone)),
            &nodes[1],
            &Placed::new(&nodes, &[&a], &placed_namespaces)
        ),
        Some(Unfit::PodAntiAffinity),
        "the pod's own rule: no cache in its zone"
    );
}

#[test]
fn required_affinity_follows_the_pods_it_names() {
    let nodes = [node("node-1", "a"), node("node-2", "b")];
    let host = "kubernetes.io/hostname";
    let cache = pod("cache", "cache", Some("node-2"), json!({}));
    let web = pod("web", "web", None, attracted("cache", host));
    assert_eq!(allowed(&web, &nodes, &[&cache]), ["node-2"]);
    // None of what it follows is placed: it waits, unless it is the first of a group following itself.
    assert!(allowed(&web, &nodes, &[]).is_empty());
    let placed_namespaces = BTreeMap::new();
    assert_eq!(unfit(&web, &nodes[0], &Placed::new(&nodes, &[], &placed_namespaces)), Some(Unfit::PodAffinity));
    let together = pod("cache-0", "cache", None, attracted("cache", host));
    assert_eq!(allowed(&together, &nodes, &[]), ["node-1", "node-2"]);
    // Pods of another namespace are not seen unless the term names it.
    let mut elsewhere = cache.clone();
    elsewhere.metadata.namespace = Some("other".into());
    assert!(allowed(&web, &nodes, &[&elsewhere]).is_empty());
    let mut across = attracted("cache", host);
    across["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["namespaces"] =
        json!(["other"]);
    assert_eq!(allowed(&pod("web", "web", None, across), &nodes, &[&elsewhere]), ["node-2"]);
}

#[test]
fn spread_constraints_keep_the_skew_within_max_skew() {
    let nodes = [node("node-1", "a"), node("node-2", "a"), node("node-3", "b")];
    let spread = |key: &str, skew: i32| {
        json!({"topologySpreadConstraints": [{"maxSkew": skew, "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]})
    };
    let zone = "topology.kubernetes.io/zone";
    let placed = [pod("web-0", "web", Some("node-1"), json!({})), pod("web-1", "web", Some("node-2"), json!({}))];
    let refs: Vec<&Pod> = placed.iter().collect();
    // Zone a holds two, zone b none: a third in zone a would make the skew 3.
    assert_eq!(allowed(&pod("web-2", "web", None, spread(zone, 1)), &nodes, &refs), ["node-3"]);
    assert_eq!(allowed(&pod("web-2", "web", None, spread(zone, 3)), &nodes, &refs), ["node-1", "node-2", "node-3"]);
    let namespaces = BTreeMap::new();
    let at = Placed::new(&nodes, &refs, &namespaces);
    assert_eq!(unfit(&pod("web-2", "web", None, spread(zone, 1)), &nodes[0], &at), Some(Unfit::Spread));
    // ScheduleAnyway is a preference, not a filter; a node without the key cannot take the pod.
    let mut soft = spread(zone, 1);
    soft["topologySpreadConstraints"][0]["whenUnsatisfiable"] = json!("ScheduleAnyway");
    assert_eq!(allowed(&pod("web-2", "web", None, soft), &nodes, &refs).len(), 3);
    assert_eq!(unfit(&pod("web-2", "web", None, spread("rack", 1)), &nodes[0], &at), Some(Unfit::SpreadMissingLabel));
}
