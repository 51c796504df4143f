//! Workloads: Deployments rolling out through ReplicaSets with readiness, the scale subresource,
//! matchExpressions selectors and garbage collection, against a whole svclab on free ports.

use crate::common;

use common::{Lab, eventually};
use serde_json::Value;
use std::time::Duration;
use svclab::store::WatchItem;
use svclab_shared::Object;

const PATIENCE: Duration = Duration::from_secs(20);

fn deployment(image: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kubia
spec:
  replicas: 3
  selector:
    matchExpressions:
    - key: app
      operator: In
      values: [kubia]
  template:
    metadata:
      labels:
        app: kubia
    spec:
      containers:
      - name: nodejs
        image: {image}
        readinessProbe:
          periodSeconds: 1
          httpGet:
            path: /
            port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: kubia
spec:
  selector:
    app: kubia
  ports:
  - port: 80
    targetPort: 8080
"#
    )
}

fn ready_addresses(object: &Object) -> Option<usize> {
    let Object::Endpoints(eps) = object else { return None };
    if eps.metadata.name.as_deref() != Some("kubia") {
        return None;
    }
    Some(eps.subsets.iter().flatten().map(|s| s.addresses.as_ref().map_or(0, Vec::len)).sum())
}

async fn deployment_status(lab: &Lab) -> Value {
    lab.get("/apis/apps/v1/namespaces/default/deployments/kubia").await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_with_readiness_never_leaves_the_service_without_endpoints() {
    let lab = Lab::start().await;
    let (code, applied) = lab.apply(&deployment("luksa/kubia:v1")).await;
    assert_eq!(code, 200, "{applied}");
    assert_eq!(applied["results"][0]["message"], "deployment.apps/kubia created");
    eventually(PATIENCE, "3 available replicas", || async {
        let d = deployment_status(&lab).await;
        (d["status"]["availableReplicas"] == 3).then_some(())
    })
    .await;
    let first = lab.get("/apis/apps/v1/namespaces/default/replicasets").await.1;
    let first_rs = first["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(first["items"][0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    let hash = first["items"][0]["metadata"]["labels"]["pod-template-hash"].as_str().unwrap();
    assert_eq!(first_rs, format!("kubia-{hash}"));

    // Every version of the Endpoints from here on, as the store writes them.
    let mut watch = lab.app.registry.store().watch();
    let (min_tx, min_rx) = tokio::sync::oneshot::channel::<usize>();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    let watcher = tokio::spawn(async move {
        let mut min = usize::MAX;
        loop {
            let item = tokio::select! {
                item = watch.next() => item,
                _ = stopped.cancelled() => break,
            };
            let objects: Vec<std::sync::Arc<Object>> = match item {
                Some(WatchItem::Relist { objects, .. }) => objects,
                Some(WatchItem::Change(change)) => vec![change.object.clone()],
                None => break,
            };
            for o in objects {
                if let Some(n) = ready_addresses(&o) {
                    min = min.min(n);
                }
            }
        }
        let _ = min_tx.send(min);
    });

    // `kubectl set image deployment kubia nodejs=luksa/kubia:v2`.
    let (code, applied) = lab.apply(&deployment("luksa/kubia:v2")).await;
    assert_eq!(code, 200, "{applied}");
    assert_eq!(applied["results"][0]["message"], "deployment.apps/kubia configured");
    eventually(PATIENCE, "the rollout to complete", || async {
        let d = deployment_status(&lab).await;
        let s = &d["status"];
        // As `kubectl rollout status` does: only a status that has seen the new template counts.
        let seen = s["observedGeneration"] == d["metadata"]["generation"];
        let done = s["updatedReplicas"] == 3 && s["replicas"] == 3 && s["availableReplicas"] == 3;
        (seen && done && s["conditions"][1]["reason"] == "NewReplicaSetAvailable").then_some(())
    })
    .await;
    stop.cancel();
    watcher.await.unwrap();
    let min = min_rx.await.unwrap();
    assert!(min >= 1 && min != usize::MAX, "the service kept a ready endpoint throughout (min {min})");

    // The old ReplicaSet is kept at zero for rollbacks; the new one is revision 2.
    let (_, rss) = lab.get("/apis/apps/v1/namespaces/default/replicasets").await;
    let rss = rss["items"].as_array().unwrap();
    assert_eq!(rss.len(), 2);
    let old = rss.iter().find(|rs| rs["metadata"]["name"] == first_rs.as_str()).unwrap();
    assert_eq!(old["spec"]["replicas"], 0);
    let new = rss.iter().find(|rs| rs["metadata"]["name"] != first_rs.as_str()).unwrap();
    assert_eq!(new["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    let (_, events) = lab.get("/api/v1/namespaces/default/events").await;
    let scaled: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "ScalingReplicaSet")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(scaled.contains(&format!("Scaled down replica set {first_rs} from 1 to 0").as_str()), "{scaled:?}");
    // Every pod now runs v2.
    let (_, pods) = lab.get("/api/v1/namespaces/default/pods").await;
    let images: Vec<&str> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["luksa/kubia:v2"; 3]);
    // And the service answers as v2 does, from one of the new pods.
    let pod = lab
        .running_pods()
        .await
        .into_iter()
        .find(|p| p.starts_with(&format!("kubia-{}", new["metadata"]["labels"]["pod-template-hash"].as_str().unwrap())))
        .unwrap();
    let answer = eventually(PATIENCE, "v2 answering through the service", || async {
        let out = lab.try_exec(&pod, &["curl", "-s", "http://kubia"]).await?;
        let body = out["stdout"].as_str()?.to_string();
        body.starts_with("This is v2").then_some(body)
    })
    .await;
    assert!(answer.starts_with("This is v2 running in pod kubia-") && answer.ends_with('\n'), "{answer}");

    // Deleting the Deployment takes its ReplicaSets and pods along.
    let (code, _) = lab
        .send(
            reqwest::Method::DELETE,
            "/apis/apps/v1/namespaces/default/deployments/kubia",
            "application/json",
            String::new(),
        )
        .await;
    assert_eq!(code, 200);
    eventually(PATIENCE, "the pods to go", || async {
        let (_, rss) = lab.get("/apis/apps/v1/namespaces/default/replicasets").await;
        (rss["items"].as_array()?.is_empty() && lab.running_pods().await.is_empty()).then_some(())
    })
    .await;
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_subresource_and_bad_deployments() {
    let lab = Lab::start().await;
    lab.apply(&deployment("luksa/kubia")).await;
    let path = "/apis/apps/v1/namespaces/default/deployments/kubia/scale";
    let (code, scale) = lab.get(path).await;
    assert_eq!(code, 200, "{scale}");
    assert_eq!((scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()), (Some("Scale"), Some(3)));
    assert_eq!(scale["status"]["selector"], "app in (kubia)");
    // `kubectl scale deployment kubia --replicas=1`.
    let body = r#"{"spec":{"replicas":1}}"#.to_string();
    let (code, scaled) = lab.send(reqwest::Method::PATCH, path, "application/merge-patch+json", body).await;
    assert_eq!(code, 200, "{scaled}");
    eventually(PATIENCE, "one pod", || async {
        let d = deployment_status(&lab).await;
        (d["status"]["replicas"] == 1 && lab.running_pods().await.len() == 1).then_some(())
    })
    .await;
    let body = r#"{"spec":{"replicas":-1}}"#.to_string();
    let (code, refused) = lab.send(reqwest::Method::PATCH, path, "application/merge-patch+json", body).await;
    assert_eq!(code, 422, "{refused}");

    // Invalid Deployments are refused with kube's words; nothing is stored.
    let bad = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: kubia2}
spec:
  selector: {matchLabels: {app: x}}
  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: x}}
    spec: {containers: [{name: c, image: nginx}]}
"#;
    let (_, applied) = lab.apply(bad).await;
    let message = applied["results"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains(
            "Deployment.apps \"kubia2\" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
        ),
        "{applied}"
    );
    let (code, _) = lab.get("/apis/apps/v1/namespaces/default/deployments/kubia2").await;
    assert_eq!(code, 404);

    // A pod relabelled out of its ReplicaSet is released and replaced.
    let pod = lab.running_pods().await[0].clone();
    let body = r#"{"metadata":{"labels":{"app":"debug"}}}"#.to_string();
    let pod_path = format!("/api/v1/namespaces/default/pods/{pod}");
    let (code, _) = lab.send(reqwest::Method::PATCH, &pod_path, "application/merge-patch+json", body).await;
    assert_eq!(code, 200);
    eventually(PATIENCE, "a replacement and the orphan released", || async {
        let (_, p) = lab.get(&pod_path).await;
        let released = p["metadata"]["ownerReferences"].is_null();
        (released && lab.running_pods().await.len() == 2).then_some(())
    })
    .await;
    lab.app.shutdown().await;
}

/// A dependent whose owner is gone (a controller's pod made just as its ReplicaSet was deleted)
/// is collected, as the garbage collector's graph finds it; one whose owner exists stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependents_of_a_deleted_owner_are_collected() {
    let lab = Lab::start().await;
    let owned = |name: &str, uid: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  ownerReferences: [{{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}}}]\n"
        )
    };
    lab.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owner}\n").await;
    let (_, owner) = lab.get("/api/v1/namespaces/default/configmaps/owner").await;
    let uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
    lab.apply(&owned("kept", &uid)).await;
    lab.apply(&owned("stray", "4a3e6f1c-0000-4000-8000-000000000000")).await;
    eventually(PATIENCE, "the stray dependent collected", || async {
        let (code, _) = lab.get("/api/v1/namespaces/default/configmaps/stray").await;
        (code == 404).then_some(())
    })
    .await;
    let (code, _) = lab.get("/api/v1/namespaces/default/configmaps/kept").await;
    assert_eq!(code, 200, "a dependent whose owner exists stays");
}
