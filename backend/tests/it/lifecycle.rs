//! Pod lifecycle: Pending → ContainerCreating → Running, graceful deletion with preStop hooks and
//! terminating endpoints, and a node going NotReady (taints, pods out of service, eviction and
//! rescheduling), against a whole svclab on free ports.

use crate::common;

use common::{Lab, eventually};
use serde_json::Value;
use std::time::Duration;
use svclab::store::WatchItem;
use svclab_shared::Object;

const PATIENCE: Duration = Duration::from_secs(15);

const SLOW: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: slow
  labels:
    app: slow
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: kubia
    image: luksa/kubia
    lifecycle:
      preStop:
        exec:
          command: ["sleep", "1"]
---
apiVersion: v1
kind: Service
metadata:
  name: slow
spec:
  selector:
    app: slow
  ports:
  - port: 80
    targetPort: 8080
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_start_through_container_creating_and_terminate_gracefully() {
    let lab = Lab::start().await;
    let mut watch = lab.app.registry.store().watch();
    assert!(matches!(watch.try_next(), Some(WatchItem::Relist { .. })), "a watch starts with the list");
    let (code, applied) = lab.apply(SLOW).await;
    assert_eq!(code, 200, "{applied}");
    lab.serving("slow", 1).await;

    // Every state the pod went through, in order.
    let mut seen: Vec<String> = Vec::new();
    while let Some(item) = watch.try_next() {
        let WatchItem::Change(change) = item else { continue };
        let Object::Pod(pod) = &*change.object else { continue };
        let status = pod.status.clone().unwrap_or_default();
        let waiting =
            status.container_statuses.iter().flatten().find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
        let state =
            format!("{}{}", status.phase.unwrap_or_default(), waiting.map(|w| format!("/{w}")).unwrap_or_default());
        if seen.last() != Some(&state) {
            seen.push(state);
        }
    }
    assert_eq!(seen, ["Pending", "Pending/ContainerCreating", "Running"]);

    // `kubectl delete pod slow`: Terminating while its preStop hook runs.
    let (code, deleted) = lab
        .send(reqwest::Method::DELETE, "/api/v1/namespaces/default/pods/slow", "application/json", String::new())
        .await;
    assert_eq!(code, 200);
    assert!(deleted["metadata"]["deletionTimestamp"].is_string(), "{deleted}");
    assert_eq!(deleted["metadata"]["deletionGracePeriodSeconds"], 10);
    let slice_endpoint = eventually(PATIENCE, "a terminating endpoint in the slice", || async {
        let (_, slices) = lab.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name=slow").await;
        let endpoint = slices["items"][0]["endpoints"][0].clone();
        (endpoint["conditions"]["terminating"] == true).then_some(endpoint)
    })
    .await;
    assert_eq!(slice_endpoint["conditions"]["ready"], false);
    assert_eq!(slice_endpoint["conditions"]["serving"], true);
    assert!(lab.ready_endpoints("slow").await.is_empty(), "Endpoints leave terminating pods out");
    let (code, pod) = lab.get("/api/v1/namespaces/default/pods/slow").await;
    assert_eq!(code, 200, "still there while preStop sleeps");
    assert!(pod["metadata"]["deletionTimestamp"].is_string());
    eventually(PATIENCE, "the pod to be removed", || async {
        (lab.get("/api/v1/namespaces/default/pods/slow").await.0 == 404).then_some(())
    })
    .await;

    // `--grace-period=0` removes at once.
    lab.apply(SLOW).await;
    lab.serving("slow", 1).await;
    let (code, _) = lab
        .send(
            reqwest::Method::DELETE,
            "/api/v1/namespaces/default/pods/slow?gracePeriodSeconds=0",
            "application/json",
            String::new(),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(lab.get("/api/v1/namespaces/default/pods/slow").await.0, 404);
    lab.app.shutdown().await;
}

fn pods_by_node(list: &Value) -> Vec<(String, String, bool)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["spec"]["nodeName"].as_str().unwrap_or_default().to_string(),
                p["metadata"]["deletionTimestamp"].is_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_goes_not_ready_loses_its_pods_to_the_other_nodes() {
    let lab = Lab::start().await;
    let rc = common::KUBIA.replace(
        "      containers:\n",
        "      tolerations:\n      - key: node.kubernetes.io/unreachable\n        operator: Exists\n        effect: NoExecute\n        tolerationSeconds: 1\n      containers:\n",
    );
    let (code, applied) = lab.apply(&rc).await;
    assert_eq!(code, 200, "{applied}");
    lab.serving("kubia", 3).await;
    let (_, list) = lab.get("/api/v1/namespaces/default/pods").await;
    let before = pods_by_node(&list);
    let on_node_1: Vec<String> = before.iter().filter(|(_, n, _)| n == "node-1").map(|(p, _, _)| p.clone()).collect();
    assert_eq!(on_node_1.len(), 1, "{before:?}");

    let body = serde_json::json!({"ready": false}).to_string();
    let (code, node) = lab.send(reqwest::Method::PUT, "/lab/v1/nodes/node-1/ready", "application/json", body).await;
    assert_eq!(code, 200, "{node}");
    let ready = node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(
        (ready["status"].as_str(), ready["message"].as_str()),
        (Some("Unknown"), Some("Kubelet stopped posting node status."))
    );
    // Its pod leaves the service at once; the node is tainted.
    eventually(PATIENCE, "the node's pod out of the endpoints", || async {
        let eps = lab.ready_endpoints("kubia").await;
        (eps.len() == 2 && eps.iter().all(|(_, p)| !on_node_1.contains(p))).then_some(())
    })
    .await;
    let (_, node) = lab.get("/api/v1/nodes/node-1").await;
    let taints: Vec<(&str, &str)> = node["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap(), t["effect"].as_str().unwrap()))
        .collect();
    assert!(taints.contains(&("node.kubernetes.io/unreachable", "NoExecute")), "{taints:?}");
    // After its toleration (1 s) the pod is evicted and replaced on another node; the stopped
    // kubelet cannot finish the deletion, so it stays Terminating, as in Kubernetes.
    let after = eventually(PATIENCE, "a replacement on another node", || async {
        let (_, list) = lab.get("/api/v1/namespaces/default/pods").await;
        let pods = pods_by_node(&list);
        let live: Vec<_> = pods.iter().filter(|(_, _, deleting)| !deleting).collect();
        (live.len() == 3 && live.iter().all(|(_, n, _)| n != "node-1")).then_some(pods)
    })
    .await;
    assert!(after.iter().any(|(p, _, deleting)| *deleting && on_node_1.contains(p)), "{after:?}");
    lab.serving("kubia", 3).await;
    let (_, events) = lab.get("/api/v1/namespaces/default/events").await;
    assert!(events["items"].as_array().unwrap().iter().any(|e| e["reason"] == "TaintManagerEviction"));

    // The kubelet comes back: the node is Ready, untainted, and the evicted pod goes.
    let body = serde_json::json!({"ready": true}).to_string();
    let (code, _) = lab.send(reqwest::Method::PUT, "/lab/v1/nodes/node-1/ready", "application/json", body).await;
    assert_eq!(code, 200);
    eventually(PATIENCE, "the evicted pod removed and the taints gone", || async {
        let (_, node) = lab.get("/api/v1/nodes/node-1").await;
        let gone = lab.get(&format!("/api/v1/namespaces/default/pods/{}", on_node_1[0])).await.0 == 404;
        (gone && node["spec"]["taints"].is_null()).then_some(())
    })
    .await;
    lab.app.shutdown().await;
}

/// A sidecar (an init container with `restartPolicy: Always`) given a new image is restarted
/// with it, as an app container is; the app container runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_given_a_new_image_restarts_with_it() {
    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sided\nspec:\n  initContainers:\n  - name: proxy\n    image: busybox\n    restartPolicy: Always\n    command: [sh, -c, 'echo proxy up; sleep 3600']\n  containers:\n  - name: kubia\n    image: luksa/kubia\n";
    let lab = Lab::start().await;
    lab.apply(POD).await;
    let statuses = |pod: &Value, list: &str| -> Vec<(String, i64)> {
        let list = pod["status"][list].as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|s| (s["image"].as_str().unwrap_or_default().to_string(), s["restartCount"].as_i64().unwrap_or(0)))
            .collect()
    };
    let running = |pod: &Value| pod["status"]["phase"] == "Running";
    eventually(PATIENCE, "the pod running", || async {
        let (_, pod) = lab.get("/api/v1/namespaces/default/pods/sided").await;
        running(&pod).then_some(())
    })
    .await;
    let patch = r#"{"spec": {"initContainers": [{"name": "proxy", "image": "busybox:1.36"}]}}"#;
    let (code, patched) = lab
        .send(
            reqwest::Method::PATCH,
            "/api/v1/namespaces/default/pods/sided",
            "application/strategic-merge-patch+json",
            patch.into(),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    let pod = eventually(PATIENCE, "the sidecar restarted with its new image", || async {
        let (_, pod) = lab.get("/api/v1/namespaces/default/pods/sided").await;
        (statuses(&pod, "initContainerStatuses") == [("busybox:1.36".to_string(), 1)]).then_some(pod)
    })
    .await;
    assert_eq!(statuses(&pod, "containerStatuses"), [("luksa/kubia".to_string(), 0)], "the app container ran on");
    lab.app.shutdown().await;
}
