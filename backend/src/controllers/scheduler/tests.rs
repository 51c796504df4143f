//! The scheduler's filters, choice of node and preemption, against nodes and pods as JSON.

use super::*;
use serde_json::json;

fn node(name: &str, ready: bool) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
    .unwrap()
}

/// No pods placed that attract or repel: preemption's tests weigh room alone.
fn placed_none() -> affinity::Placed<'static> {
    static NONE: BTreeMap<String, affinity::Labels> = BTreeMap::new();
    affinity::Placed { nodes: &[], pods: vec![], namespaces: &NONE }
}

/// Where [`least_loaded`] would put `pod` among `pods` (no namespace labels).
fn fit<'a, 'p>(
    pod: &Pod,
    nodes: &'a [Node],
    pods: impl IntoIterator<Item = &'p Pod>,
) -> Result<Vec<&'a str>, Unschedulable> {
    let pods: Vec<&Pod> = pods.into_iter().collect();
    let namespaces = BTreeMap::new();
    least_loaded(pod, nodes, &pods, &affinity::Placed::new(nodes, &pods, &namespaces))
}

fn pod_on(node: &str) -> Pod {
    serde_json::from_value(json!({"spec": {"nodeName": node, "containers": []}})).unwrap()
}

#[test]
fn picks_the_least_loaded_ready_nodes() {
    let nodes = [node("node-1", true), node("node-2", true), node("node-3", false)];
    let pod = Pod::default();
    assert_eq!(fit(&pod, &nodes, &[]).unwrap(), ["node-1", "node-2"]);
    assert_eq!(fit(&pod, &nodes, &[pod_on("node-1")]).unwrap(), ["node-2"]);
    let err = fit(&pod, &[node("node-3", false)], &[]).unwrap_err().to_string();
    assert_eq!(err, "0/1 nodes are available: 1 node(s) were not ready.");
}

#[test]
fn host_ports_are_taken_once_per_node() {
    let with_port = |node: Option<&str>, ip: Option<&str>, port: i32| {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({"spec": {"containers": [{"name": "c",
            "ports": [{"containerPort": 8080, "hostPort": port, "protocol": "TCP"}]}]}}))
        .unwrap();
        let spec = pod.spec.as_mut().unwrap();
        spec.node_name = node.map(String::from);
        spec.containers[0].ports.as_mut().unwrap()[0].host_ip = ip.map(String::from);
        pod
    };
    let nodes = [node("node-1", true), node("node-2", true)];
    let on_1 = with_port(Some("node-1"), None, 9000);
    assert_eq!(fit(&with_port(None, None, 9000), &nodes, [&on_1]).unwrap(), ["node-2"]);
    // Another port, or the same on another address, is free.
    assert_eq!(fit(&with_port(None, None, 9001), &nodes, [&on_1]).unwrap(), ["node-2"]);
    let on_1_addr = with_port(Some("node-1"), Some("127.0.0.1"), 9000);
    let elsewhere = with_port(None, Some("127.0.0.2"), 9000);
    assert_eq!(fit(&elsewhere, &[node("node-1", true)], [&on_1_addr]).unwrap(), ["node-1"]);
    let err = fit(&with_port(None, None, 9000), &nodes, [&on_1, &with_port(Some("node-2"), None, 9000)])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.");
}

/// A ready node with 2 CPUs and 4Gi to allocate, as svclab's kubelets report theirs.
fn sized(name: &str) -> Node {
    let mut n = node(name, true);
    let allocatable = [("cpu", "2"), ("memory", "4Gi")]
        .map(|(k, v)| (k.to_string(), k8s_openapi::apimachinery::pkg::api::resource::Quantity(v.into())));
    n.status.as_mut().unwrap().allocatable = Some(allocatable.into());
    n
}

#[test]
fn pods_go_where_their_cpu_and_memory_requests_fit() {
    let asking = |at: Option<&str>, cpu: &str, memory: &str| -> Pod {
        serde_json::from_value(json!({"spec": {"nodeName": at, "containers": [
            {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}))
        .unwrap()
    };
    let nodes = [sized("node-1"), sized("node-2")];
    let busy = asking(Some("node-1"), "1500m", "1Gi");
    assert_eq!(fit(&asking(None, "1", "1Gi"), &nodes, [&busy]).unwrap(), ["node-2"]);
    let err = fit(&asking(None, "3", "1Gi"), &nodes, [&busy]).unwrap_err().to_string();
    assert_eq!(err, "0/2 nodes are available: 2 Insufficient cpu.");
    let err = fit(&asking(None, "3", "5Gi"), &nodes, []).unwrap_err().to_string();
    assert_eq!(err, "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.");
    // A finished pod's requests are free again.
    let mut done = busy.clone();
    done.status = Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
    let fits = fit(&asking(None, "1", "1Gi"), &nodes[..1], [&done]).unwrap();
    assert_eq!(fits, ["node-1"]);
}

#[test]
fn preemption_evicts_the_fewest_least_important_pods() {
    let pod = |name: &str, at: Option<&str>, priority: i32, cpu: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": at, "priority": priority,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
        .unwrap()
    };
    let nodes = [sized("node-1"), sized("node-2")];
    let (low, kept, middling) = (
        pod("low", Some("node-1"), 0, "1500m"),
        pod("kept", Some("node-1"), 100, "300m"),
        pod("mid", Some("node-2"), 50, "1800m"),
    );
    let running = [&low, &kept, &middling];
    let (node, victims) = preemption(&pod("vip", None, 1000, "1"), &nodes, &running, &[], &placed_none()).unwrap();
    assert_eq!(node, "node-1", "its most important victim matters least");
    assert_eq!(victims.iter().map(|v| v.metadata.name.as_deref().unwrap()).collect::<Vec<_>>(), ["low"]);
    let err = preemption(&pod("peer", None, 0, "1"), &nodes, &running, &[], &placed_none()).unwrap_err().to_string();
    assert_eq!(err, "0/2 nodes are available: 2 No preemption victims found for incoming pod..");
    let mut polite = pod("polite", None, 1000, "1");
    polite.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
    assert_eq!(
        preemption(&polite, &nodes, &running, &[], &placed_none()).unwrap_err().to_string(),
        "not eligible due to preemptionPolicy=Never."
    );
    // Once nominated, it waits for its victims to go instead of evicting more.
    let mut leaving = low.clone();
    leaving.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
    let mut nominated = pod("vip", None, 1000, "1");
    nominated.status = Some(k8s_openapi::api::core::v1::PodStatus {
        nominated_node_name: Some("node-1".into()),
        ..Default::default()
    });
    let err =
        preemption(&nominated, &nodes, &[&leaving, &kept, &middling], &[], &placed_none()).unwrap_err().to_string();
    assert_eq!(err, "not eligible due to a terminating pod on the nominated node.");
}

#[test]
fn full_nodes_take_no_more_pods() {
    let mut small = node("node-1", true);
    let pods = std::collections::BTreeMap::from([(
        "pods".to_string(),
        k8s_openapi::apimachinery::pkg::api::resource::Quantity("2".into()),
    )]);
    small.status.as_mut().unwrap().allocatable = Some(pods);
    let running = [pod_on("node-1"), pod_on("node-1")];
    let err = fit(&Pod::default(), &[small, node("node-2", false)], &running).unwrap_err().to_string();
    assert_eq!(err, "0/2 nodes are available: 1 Too many pods, 1 node(s) were not ready.");
}

#[test]
fn selectors_affinity_and_taints_choose_the_nodes() {
    let mut ssd = node("node-1", true);
    ssd.metadata.labels = Some([("disktype".to_string(), "ssd".to_string())].into());
    let mut tainted = node("node-2", true);
    tainted.spec = Some(
        serde_json::from_value(json!({"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}))
            .unwrap(),
    );
    let plain = node("node-3", true);
    let nodes = [ssd, tainted, plain];
    let with = |spec: serde_json::Value| -> Pod { serde_json::from_value(json!({"spec": spec})).unwrap() };
    let wants_ssd = with(json!({"containers": [], "nodeSelector": {"disktype": "ssd"}}));
    assert_eq!(fit(&wants_ssd, &nodes, &[]).unwrap(), ["node-1"]);
    let nowhere = with(json!({"containers": [], "nodeSelector": {"disktype": "nvme"}}));
    assert_eq!(
        fit(&nowhere, &nodes, &[]).unwrap_err().to_string(),
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    );
    let affinity = with(
        json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}]}}}}),
    );
    assert_eq!(
        fit(&affinity, &nodes, &[]).unwrap_err().to_string(),
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 2 node(s) didn't match Pod's node affinity/selector."
    );
    let tolerant = with(
        json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}]}}}}),
    );
    assert_eq!(fit(&tolerant, &nodes, &[]).unwrap(), ["node-2"]);
}

#[test]
fn preemption_frees_a_host_port_held_by_a_lower_pod() {
    let pod = |name: &str, at: Option<&str>, priority: i32, host_port: Option<i32>| -> Pod {
        let ports = host_port.map(|p| json!([{"containerPort": 80, "hostPort": p}]));
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": at, "priority": priority,
            "containers": [{"name": "c", "ports": ports}]}}))
        .unwrap()
    };
    let nodes = [sized("node-1")];
    let (holder, bystander) = (pod("holder", Some("node-1"), 0, Some(8080)), pod("bystander", Some("node-1"), 0, None));
    let vip = pod("vip", None, 1000, Some(8080));
    let err = fit(&vip, &nodes, [&holder, &bystander]).unwrap_err().to_string();
    assert_eq!(err, "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.");
    let (node, victims) = preemption(&vip, &nodes, &[&holder, &bystander], &[], &placed_none()).unwrap();
    assert_eq!(node, "node-1");
    assert_eq!(victims.iter().map(|v| v.metadata.name.as_deref().unwrap()).collect::<Vec<_>>(), ["holder"]);
    // Held by a pod as important: nothing to evict.
    let peer = pod("peer", Some("node-1"), 1000, Some(8080));
    let err = preemption(&vip, &nodes, &[&peer], &[], &placed_none()).unwrap_err().to_string();
    assert_eq!(err, "0/1 nodes are available: 1 No preemption victims found for incoming pod..");
}

#[test]
fn preemption_spares_pods_a_disruption_budget_guards() {
    let pod = |name: &str, at: &str, app: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"nodeName": at, "priority": 0, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1500m"}}}]}}))
        .unwrap()
    };
    let budget = |app: &str, allowed: i32| -> k8s_openapi::api::policy::v1::PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": app, "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}}))
        .unwrap()
    };
    let vip: Pod =
        serde_json::from_value(json!({"metadata": {"name": "vip", "namespace": "default"}, "spec": {"priority": 1000,
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}))
        .unwrap();
    let nodes = [sized("node-1"), sized("node-2")];
    let (db, cache) = (pod("db", "node-1", "db"), pod("cache", "node-2", "cache"));
    let guarded = budget("db", 0);
    let (node, victims) = preemption(&vip, &nodes, &[&db, &cache], &[&guarded], &placed_none()).unwrap();
    assert_eq!((node, victims[0].metadata.name.as_deref()), ("node-2", Some("cache")), "the node without a violation");
    let (node, _) = preemption(&vip, &nodes, &[&db, &cache], &[&budget("db", 1)], &placed_none()).unwrap();
    assert_eq!(node, "node-1", "a budget with room left guards nothing: the first node of equal rank");
    // When every choice violates a budget, preemption still goes ahead.
    let (node, victims) = preemption(&vip, &nodes[..1], &[&db], &[&guarded], &placed_none()).unwrap();
    assert_eq!((node, victims.len()), ("node-1", 1));
}

#[test]
fn preemption_evicts_a_lower_pod_that_anti_affinity_keeps_out() {
    let pod = |name: &str, at: Option<&str>, priority: i32, avoid: Option<&str>| -> Pod {
        let affinity = avoid.map(|app| {
            json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}]}})
        });
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"nodeName": at, "priority": priority, "affinity": affinity, "containers": [{"name": "c"}]}}))
        .unwrap()
    };
    let mut nodes = [sized("node-1")];
    nodes[0].metadata.labels = Some([("kubernetes.io/hostname".to_string(), "node-1".to_string())].into());
    let (batch, web) = (pod("batch", Some("node-1"), 0, None), pod("web", Some("node-1"), 0, None));
    let vip = pod("vip", None, 1000, Some("batch"));
    let namespaces = BTreeMap::new();
    let all = [&batch, &web];
    let err = fit(&vip, &nodes, all).unwrap_err().to_string();
    assert_eq!(err, "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.");
    let placed = affinity::Placed::new(&nodes, &all, &namespaces);
    let (_, victims) = preemption(&vip, &nodes, &all, &[], &placed).unwrap();
    assert_eq!(victims.iter().map(|v| v.metadata.name.as_deref().unwrap()).collect::<Vec<_>>(), ["batch"]);
    let peer = pod("peer", None, 0, Some("batch"));
    let err = preemption(&peer, &nodes, &all, &[], &placed).unwrap_err().to_string();
    assert_eq!(err, "0/1 nodes are available: 1 No preemption victims found for incoming pod..");
}
