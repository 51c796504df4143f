//! The chapter's first steps against a whole svclab on free ports: a kubia Service and a 3-replica
//! ReplicationController, traffic from a pod through the cluster IP, pod replacement, and errors.

use crate::common;

use common::{KUBIA, Lab, eventually};
use reqwest::Method;
use std::collections::BTreeSet;
use std::time::Duration;

/// The chapter's promise: endpoints appear within a second.
const SECOND: Duration = Duration::from_secs(1);
/// Headroom for waits that are not themselves a promise, on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubia_pods_answer_through_the_cluster_ip() {
    let lab = Lab::start().await;
    let (code, applied) = lab.apply(KUBIA).await;
    assert_eq!(code, 200, "{applied}");
    assert_eq!(applied["results"][0]["message"], "service/kubia created");
    assert_eq!(applied["results"][1]["message"], "replicationcontroller/kubia created");

    // Three ready endpoints within a second, each naming its pod.
    let endpoints = eventually(SECOND, "3 ready endpoints", || async {
        let eps = lab.ready_endpoints("kubia").await;
        (eps.len() == 3).then_some(eps)
    })
    .await;
    let pods: BTreeSet<String> = endpoints.iter().map(|(_, pod)| pod.clone()).collect();
    assert_eq!(pods.len(), 3);
    lab.serving("kubia", 3).await;
    for pod in &pods {
        assert!(pod.starts_with("kubia-") && pod.len() == "kubia-".len() + 5, "{pod}");
    }
    // The scheduler spread them over the three nodes.
    let (_, list) = lab.get("/api/v1/namespaces/default/pods").await;
    let nodes: BTreeSet<&str> =
        list["items"].as_array().unwrap().iter().map(|p| p["spec"]["nodeName"].as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 3, "one pod per node");

    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia").await;
    let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(cluster_ip.starts_with("10."), "{cluster_ip}");

    // `kubectl exec <pod> -- curl -s http://<clusterIP>` from one pod reaches all three.
    let from = pods.iter().next().unwrap().clone();
    let mut answered = BTreeSet::new();
    for _ in 0..30 {
        let out = lab.exec(&from, &["curl", "-s", &format!("http://{cluster_ip}")]).await;
        assert_eq!(out["exitCode"], 0, "{out}");
        let body = out["stdout"].as_str().unwrap();
        let pod = body.strip_prefix("You've hit ").and_then(|b| b.strip_suffix('\n')).expect(body);
        answered.insert(pod.to_string());
    }
    assert_eq!(answered, pods, "30 requests should reach every pod");

    // The service existed before the pods started, so their environment describes it.
    let env = lab.exec(&from, &["env"]).await;
    let env = env["stdout"].as_str().unwrap();
    assert!(env.contains(&format!("KUBIA_SERVICE_HOST={cluster_ip}\n")), "{env}");
    assert!(env.contains("KUBIA_SERVICE_PORT=80\n") && env.contains("KUBERNETES_SERVICE_HOST=10.96.0.1\n"), "{env}");
    assert!(env.contains(&format!("KUBIA_PORT_80_TCP=tcp://{cluster_ip}:80\n")), "{env}");

    // The test-request endpoint reports the hop the proxy chose.
    let body = serde_json::json!({"namespace": "default", "service": "kubia", "count": 10}).to_string();
    let (code, report) = lab.send(Method::POST, "/lab/v1/test-requests", "application/json", body).await;
    assert_eq!(code, 200, "{report}");
    for r in report["results"].as_array().unwrap() {
        let answered_by = r["body"].as_str().unwrap().trim().strip_prefix("You've hit ").unwrap();
        assert_eq!(r["hop"]["pod"], answered_by, "the hop names the pod that answered");
        assert_eq!(r["hop"]["virtualAddress"], format!("{cluster_ip}:80"));
    }
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_leaves_the_endpoints_and_is_replaced() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    let endpoints = eventually(PATIENCE, "3 ready endpoints", || async {
        let eps = lab.ready_endpoints("kubia").await;
        (eps.len() == 3).then_some(eps)
    })
    .await;
    let (victim_ip, victim) = endpoints[0].clone();
    let (code, _) = lab
        .send(Method::DELETE, &format!("/api/v1/namespaces/default/pods/{victim}"), "application/json", String::new())
        .await;
    assert_eq!(code, 200);
    eventually(PATIENCE, "the deleted pod to leave the endpoints and a replacement to join", || async {
        let eps = lab.ready_endpoints("kubia").await;
        let gone = eps.iter().all(|(_, pod)| *pod != victim);
        (gone && eps.len() == 3).then_some(())
    })
    .await;
    // The deleted pod is Terminating a moment longer, then gone.
    let running = eventually(PATIENCE, "the deleted pod to be gone", || async {
        let running = lab.running_pods().await;
        (running.len() == 3 && !running.contains(&victim)).then_some(running)
    })
    .await;
    // Nothing answers on the deleted pod's address any more.
    let from = &running[0];
    let out = lab.exec(from, &["curl", "-s", "-m", "1", &format!("http://{victim_ip}:8080")]).await;
    assert_ne!(out["exitCode"], 0, "{out}");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_located_errors_and_stores_nothing() {
    let lab = Lab::start().await;
    let (_, before) = lab.get("/api/v1/services").await;
    let before_rv = before["metadata"]["resourceVersion"].clone();

    // Malformed YAML: 400, with the line and column in the whole input (the unclosed bracket).
    let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports: [\n";
    let (code, body) = lab.apply(yaml).await;
    assert_eq!(code, 400, "{body}");
    let err = &body["results"][0]["error"];
    assert_eq!((err["line"].as_u64(), err["column"].as_u64()), (Some(6), Some(10)), "{err}");

    // A good document and a bad one: the good one applies, the bad one names its line.
    let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: good\nspec:\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n  - port: 80\n  - name: b\n    port: 70000\n";
    let (code, body) = lab.apply(yaml).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["results"][0]["outcome"], "created");
    let err = &body["results"][1]["error"];
    assert_eq!(body["results"][1]["line"], 9);
    assert!(
        err["message"].as_str().unwrap().starts_with("Service \"bad\" is invalid: [spec.ports[0].name: Required value"),
        "{err}"
    );
    assert_eq!(err["line"], 15, "points at the first item, which lacks a name: {err}");
    let (code, _) = lab.get("/api/v1/namespaces/default/services/bad").await;
    assert_eq!(code, 404, "the bad document stored nothing");

    // A type error names the field and its place.
    let (code, body) =
        lab.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: t\nspec:\n  ports:\n  - port: eighty\n").await;
    assert_eq!(code, 400);
    let message = body["results"][0]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("spec.ports[0].port: invalid value \"eighty\", expected i32"), "{message}");
    assert_eq!(body["results"][0]["error"]["line"], 7);

    // Nothing to apply at all.
    let (code, body) = lab.apply("# only a comment\n---\n").await;
    assert_eq!((code, body["message"].as_str()), (400, Some("no objects passed to apply")));

    // An unknown kind.
    let (code, body) = lab.apply("apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n").await;
    assert_eq!(code, 400);
    assert_eq!(body["results"][0]["error"]["message"], "no matches for kind \"Widget\" in version \"v1\"");

    // Only `good` was stored.
    let (_, after) = lab.get("/api/v1/namespaces/default/services").await;
    let names: Vec<&str> =
        after["items"].as_array().unwrap().iter().map(|s| s["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["good", "kubernetes"]);
    assert_ne!(after["metadata"]["resourceVersion"], before_rv);
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_semantics_follow_kube_apiserver() {
    let lab = Lab::start().await;
    let svc = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":80}],"selector":{"app":"web"}}}"#;
    let (code, created) =
        lab.send(Method::POST, "/api/v1/namespaces/default/services", "application/json", svc.into()).await;
    assert_eq!(code, 201, "{created}");
    let (code, again) =
        lab.send(Method::POST, "/api/v1/namespaces/default/services", "application/json", svc.into()).await;
    assert_eq!((code, again["reason"].as_str()), (409, Some("AlreadyExists")));
    assert_eq!(again["message"], "services \"web\" already exists");

    // Optimistic concurrency: the first writer wins, the stale one gets 409 Conflict.
    let mut first = created.clone();
    first["metadata"]["labels"] = serde_json::json!({"v": "1"});
    let (code, _) =
        lab.send(Method::PUT, "/api/v1/namespaces/default/services/web", "application/json", first.to_string()).await;
    assert_eq!(code, 200);
    let mut stale = created.clone();
    stale["metadata"]["labels"] = serde_json::json!({"v": "2"});
    let (code, conflict) =
        lab.send(Method::PUT, "/api/v1/namespaces/default/services/web", "application/json", stale.to_string()).await;
    assert_eq!((code, conflict["reason"].as_str()), (409, Some("Conflict")), "{conflict}");

    // A taken cluster IP is refused.
    let ip = created["spec"]["clusterIP"].as_str().unwrap();
    let clash = format!(r#"{{"metadata":{{"name":"clash"}},"spec":{{"clusterIP":"{ip}","ports":[{{"port":80}}]}}}}"#);
    let (code, body) = lab.send(Method::POST, "/api/v1/namespaces/default/services", "application/json", clash).await;
    assert_eq!(code, 422);
    assert!(body["message"].as_str().unwrap().ends_with("provided IP is already allocated"), "{body}");
    assert_eq!(body["details"]["causes"][0]["field"], "spec.clusterIPs");

    // A service with no ready endpoints refuses connections (it does not hang).
    lab.apply(KUBIA).await;
    lab.serving("web", 0).await;
    let from = eventually(PATIENCE, "a running pod", || async { lab.running_pods().await.into_iter().next() }).await;
    let out = lab.exec(&from, &["curl", "-sS", &format!("http://{ip}")]).await;
    assert_eq!(out["exitCode"], 7, "{out}");
    let stderr = out["stderr"].as_str().unwrap();
    assert!(stderr.starts_with(&format!("curl: (7) Failed to connect to {ip} port 80 after ")), "{out}");
    assert!(stderr.ends_with(" ms: Couldn't connect to server\n"), "{out}");

    // Merge patch, label selectors and delete-collection.
    let (code, patched) = lab
        .send(
            Method::PATCH,
            "/api/v1/namespaces/default/services/web",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"tier":"front"}}}"#.into(),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(patched["metadata"]["labels"]["tier"], "front");
    let (_, list) = lab.get("/api/v1/namespaces/default/services?labelSelector=tier%3Dfront").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (code, bad) = lab.get("/api/v1/namespaces/default/services?labelSelector=tier%20in%20front").await;
    assert_eq!(code, 400, "{bad}");
    let (code, _) = lab
        .send(
            Method::DELETE,
            "/api/v1/namespaces/default/services?labelSelector=tier%3Dfront",
            "application/json",
            String::new(),
        )
        .await;
    assert_eq!(code, 200);
    let (code, missing) = lab.get("/api/v1/namespaces/default/services/web").await;
    assert_eq!((code, missing["message"].as_str()), (404, Some("services \"web\" not found")));

    // Nodes are registered and ready at their addresses.
    let (_, nodes) = lab.get("/api/v1/nodes").await;
    let nodes = nodes["items"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    // Node i sits at .i of the lab's node network (127.0.1.0/24 by default; tests use their own).
    let address = nodes[0]["status"]["addresses"][0]["address"].as_str().unwrap();
    assert!(address.starts_with("127.") && address.ends_with(".1"), "{address}");
    assert_eq!(nodes[0]["status"]["conditions"][0]["status"], "True");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_idempotent_scales_and_takes_uploads() {
    let lab = Lab::start().await;
    // As a multipart upload, the way the dashboard uploads files.
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::text(KUBIA).file_name("kubia.yaml"));
    let response = lab.http.post(lab.url("/lab/v1/apply")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["file"], "kubia.yaml");
    assert_eq!(body["results"][1]["outcome"], "created");
    eventually(PATIENCE, "3 running pods", || async { (lab.running_pods().await.len() == 3).then_some(()) }).await;

    let (_, again) = lab.apply(KUBIA).await;
    let outcomes: Vec<&str> =
        again["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["unchanged", "unchanged"]);

    let (_, scaled) = lab.apply(&KUBIA.replace("replicas: 3", "replicas: 1")).await;
    assert_eq!(scaled["results"][1]["message"], "replicationcontroller/kubia configured");
    eventually(PATIENCE, "one pod left", || async {
        let eps = lab.ready_endpoints("kubia").await;
        (lab.running_pods().await.len() == 1 && eps.len() == 1).then_some(())
    })
    .await;
    let (_, rc) = lab.get("/api/v1/namespaces/default/replicationcontrollers/kubia").await;
    assert_eq!(rc["status"]["replicas"], 1);
    assert_eq!(rc["metadata"]["generation"], 2);
    // Services keep no generation, as in Kubernetes (`kubectl diff` showed one appearing).
    let (_, _) = lab.apply(&KUBIA.replace("port: 80", "port: 81")).await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia").await;
    assert_eq!(svc["spec"]["ports"][0]["port"], 81);
    assert_eq!(svc["metadata"].get("generation"), None, "{svc}");

    // A pod applied again keeps what the API server added to it (its service account volume,
    // mounted in its container), as kubectl apply's strategic merge keeps it; a new image is
    // applied (what else a running pod may not change, as kube-apiserver says).
    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: one\nspec:\n  containers:\n  - name: kubia\n    image: luksa/kubia\n    env:\n    - {name: A, value: '1'}\n    - {name: B, value: '2'}\n";
    lab.apply(POD).await;
    let (_, again) = lab.apply(POD).await;
    assert_eq!(again["results"][0]["outcome"], "unchanged", "{again}");
    let (_, next) = lab.apply(&POD.replace("luksa/kubia\n", "luksa/kubia:v2\n")).await;
    assert_eq!(next["results"][0]["message"], "pod/one configured", "{next}");
    let (_, pod) = lab.get("/api/v1/namespaces/default/pods/one").await;
    let container = &pod["spec"]["containers"][0];
    assert_eq!(
        (container["image"].as_str(), container["env"].as_array().map(Vec::len)),
        (Some("luksa/kubia:v2"), Some(2))
    );
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/var/run/secrets/kubernetes.io/serviceaccount");
    assert!(pod["spec"]["volumes"][0]["name"].as_str().unwrap().starts_with("kube-api-access-"), "{pod}");

    // `kubectl delete -f`: each object the manifests name, in kubectl's words; a second time
    // they are not found.
    let (code, deleted) = lab.send(Method::POST, "/lab/v1/delete", "application/yaml", KUBIA.to_string()).await;
    assert_eq!(code, 200, "{deleted}");
    let messages: Vec<&str> =
        deleted["results"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["service \"kubia\" deleted", "replicationcontroller \"kubia\" deleted"]);
    assert_eq!(deleted["results"][0]["outcome"], "deleted");
    let (code, _) = lab.get("/api/v1/namespaces/default/services/kubia").await;
    assert_eq!(code, 404);
    let (code, again) = lab.send(Method::POST, "/lab/v1/delete", "application/yaml", KUBIA.to_string()).await;
    assert_eq!(code, 404, "{again}");
    assert_eq!(again["results"][0]["error"]["message"], "services \"kubia\" not found");
    assert_eq!(again["results"][0]["line"], 1);
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_programming_latency_is_measured() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    eventually(PATIENCE, "3 ready endpoints", || async {
        (lab.ready_endpoints("kubia").await.len() == 3).then_some(())
    })
    .await;
    let (_, eps) = lab.get("/api/v1/namespaces/default/endpoints/kubia").await;
    let trigger = eps["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"].as_str().unwrap();
    assert!(trigger.ends_with('Z'), "an RFC 3339 time: {trigger}");
    let count = eventually(PATIENCE, "observations", || async {
        let text = lab.http.get(lab.url("/metrics")).send().await.ok()?.text().await.ok()?;
        let line = text.lines().find(|l| l.starts_with("kubeproxy_network_programming_duration_seconds_count"))?;
        let count: u64 = line.rsplit(' ').next()?.parse().ok()?;
        (count > 0).then_some(count)
    })
    .await;
    assert!(count >= 1);
    lab.app.shutdown().await;
}

/// `/livez` and `/readyz` as kube-apiserver answers them, and `/readyz` failing once the durable
/// store can no longer commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_report_a_store_that_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let location = svclab::store::Location::new(dir.path(), "health").unwrap();
    let config =
        svclab::app::Config { storage: svclab::app::Storage::Durable(location), ..svclab::app::Config::ephemeral() };
    let lab = Lab::start_with(config).await;
    let text = |path: &'static str| {
        let request = lab.http.get(lab.url(path));
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(text("/readyz").await, (200, "ok".to_string()));
    assert_eq!(text("/readyz?verbose").await, (200, "[+]ping ok\n[+]store ok\nreadyz check passed\n".to_string()));
    assert_eq!(text("/livez?verbose").await, (200, "[+]ping ok\nlivez check passed\n".to_string()));
    assert_eq!(text("/readyz/store").await, (200, "ok".to_string()));

    lab.app.registry.store().close();
    assert_eq!(
        text("/readyz").await,
        (500, "[+]ping ok\n[-]store failed: reason withheld\nreadyz check failed\n".to_string())
    );
    assert_eq!(text("/readyz/store").await.0, 500);
    assert_eq!(text("/livez").await, (200, "ok".to_string()));
    lab.app.shutdown().await;
}
