//! Pods that behave: readiness and liveness probes, the container filesystem, exec with a shell,
//! restarts, against a whole svclab on free ports.

use crate::common;

use common::{KUBIA, Lab, eventually};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(15);

/// Listing 5.17's RC with its readiness probe, the period shortened to a second.
const KUBIA_READINESS: &str = r#"
apiVersion: v1
kind: ReplicationController
metadata:
  name: kubia
spec:
  replicas: 3
  selector:
    app: kubia
  template:
    metadata:
      labels:
        app: kubia
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        ports:
        - containerPort: 8080
        readinessProbe:
          periodSeconds: 1
          exec:
            command:
            - ls
            - /var/ready
"#;

fn pod_of<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["items"].as_array().unwrap().iter().find(|p| p["metadata"]["name"] == name).unwrap()
}

/// Waits until the pod's Ready condition is `want`.
pub(crate) async fn ready_condition(lab: &Lab, pod: &str, want: bool) {
    let path = format!("/api/v1/namespaces/default/pods/{pod}");
    eventually(PATIENCE, if want { "the pod ready" } else { "the pod not ready" }, || async {
        let (_, pod) = lab.get(&path).await;
        let conditions = pod["status"]["conditions"].as_array()?.clone();
        let is = conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
        (is == want).then_some(())
    })
    .await
}

fn ready_column(pod: &Value) -> String {
    let statuses = pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    format!("{ready}/{}", pod["spec"]["containers"].as_array().unwrap().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readiness_walkthrough_of_the_chapter() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    lab.serving("kubia", 3).await;
    // `kubectl edit rc kubia` adding the probe, then deleting the pods so they are re-created.
    let (code, applied) = lab.apply(KUBIA_READINESS).await;
    assert_eq!(code, 200, "{applied}");
    let old: BTreeSet<String> = lab.running_pods().await.into_iter().collect();
    assert_eq!(old.len(), 3);
    let (code, _) =
        lab.send(reqwest::Method::DELETE, "/api/v1/namespaces/default/pods", "application/json", String::new()).await;
    assert_eq!(code, 200);
    let pods: Vec<String> = eventually(PATIENCE, "three new running pods", || async {
        let running = lab.running_pods().await;
        (running.len() == 3 && running.iter().all(|p| !old.contains(p))).then_some(running)
    })
    .await;
    // Running but 0/1 ready, and not endpoints; the probe's failures are events.
    let (_, list) = lab.get("/api/v1/namespaces/default/pods").await;
    for pod in &pods {
        assert_eq!(ready_column(pod_of(&list, pod)), "0/1");
    }
    assert!(lab.ready_endpoints("kubia").await.is_empty());
    eventually(PATIENCE, "an Unhealthy event", || async {
        let (_, events) = lab.get("/api/v1/namespaces/default/events").await;
        events["items"].as_array()?.iter().find(|e| {
            e["reason"] == "Unhealthy"
                && e["message"] == "Readiness probe failed: ls: cannot access '/var/ready': No such file or directory"
        })?;
        Some(())
    })
    .await;

    // `kubectl exec <pod> -- touch /var/ready`: that pod, and only it, becomes ready.
    let chosen = &pods[0];
    let out = lab.exec(chosen, &["touch", "/var/ready"]).await;
    assert_eq!(out["exitCode"], 0, "{out}");
    let endpoints = eventually(PATIENCE, "the pod to become an endpoint", || async {
        let eps = lab.ready_endpoints("kubia").await;
        (!eps.is_empty()).then_some(eps)
    })
    .await;
    let named: Vec<&String> = endpoints.iter().map(|(_, p)| p).collect();
    assert_eq!(named, [chosen]);
    lab.serving("kubia", 1).await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia").await;
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    for _ in 0..5 {
        let out = lab.exec(&pods[1], &["curl", "-s", &format!("http://{ip}")]).await;
        assert_eq!(out["stdout"], format!("You've hit {chosen}\n"), "only the ready pod answers");
    }

    // `rm /var/ready`: out again after failureThreshold (3) periods; never restarted.
    lab.exec(chosen, &["rm", "/var/ready"]).await;
    eventually(Duration::from_secs(6), "the pod to leave the endpoints", || async {
        lab.ready_endpoints("kubia").await.is_empty().then_some(())
    })
    .await;
    let (_, list) = lab.get("/api/v1/namespaces/default/pods").await;
    for pod in &pods {
        let pod = pod_of(&list, pod);
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0, "readiness never restarts");
        assert_eq!(pod["status"]["phase"], "Running");
    }
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_liveness_probe_restarts_the_container_with_a_fresh_filesystem() {
    let lab = Lab::start().await;
    // Healthy probes of every kind: ready, and never restarted.
    let healthy = r#"
apiVersion: v1
kind: Pod
metadata:
  name: healthy
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    ports:
    - name: http
      containerPort: 8080
    startupProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 1
    livenessProbe:
      httpGet:
        path: /
        port: http
        httpHeaders:
        - name: X-Probe
          value: "1"
      periodSeconds: 1
      failureThreshold: 1
    readinessProbe:
      tcpSocket:
        port: http
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: sick
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      periodSeconds: 1
      failureThreshold: 2
"#;
    let (code, applied) = lab.apply(healthy).await;
    assert_eq!(code, 200, "{applied}");
    // A file written into the sick container before its first restart.
    // (Exec is refused while the container is not running: it may still be starting.)
    loop {
        let body = serde_json::json!({"command": ["touch", "/tmp/marker"]}).to_string();
        let path = "/api/v1/namespaces/default/pods/sick/exec";
        let (code, out) = lab.send(reqwest::Method::POST, path, "application/json", body).await;
        let (_, p) = lab.get("/api/v1/namespaces/default/pods/sick").await;
        if code == 200 && out["exitCode"] == 0 && p["status"]["containerStatuses"][0]["restartCount"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restarted = eventually(PATIENCE, "a restart", || async {
        let (_, p) = lab.get("/api/v1/namespaces/default/pods/sick").await;
        let status = &p["status"]["containerStatuses"][0];
        (status["restartCount"].as_i64()? >= 1 && status["state"]["running"].is_object()).then(|| p.clone())
    })
    .await;
    let status = &restarted["status"]["containerStatuses"][0];
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 137, "{status}");
    let out = lab.exec("sick", &["ls", "/tmp"]).await;
    assert_eq!(out["stdout"], "", "the restarted container has a fresh writable layer");
    let (_, events) = lab.get("/api/v1/namespaces/default/events").await;
    let events = events["items"].as_array().unwrap().clone();
    let killing = events.iter().find(|e| e["reason"] == "Killing").expect("a Killing event");
    assert_eq!(killing["message"], "Container kubia failed liveness probe, will be restarted");
    assert!(events.iter().any(|e| e["reason"] == "Unhealthy"
        && e["message"] == "Liveness probe failed: cat: /tmp/healthy: No such file or directory"));

    let (_, p) = lab.get("/api/v1/namespaces/default/pods/healthy").await;
    let status = &p["status"]["containerStatuses"][0];
    assert_eq!((status["ready"].clone(), status["restartCount"].clone()), (Value::Bool(true), Value::from(0)), "{p}");
    assert_eq!(status["started"], true);
    lab.app.shutdown().await;
}

async fn post_json(lab: &Lab, path: &str, body: Value) -> (u16, Value) {
    lab.send(reqwest::Method::POST, path, "application/json", body.to_string()).await
}

async fn pod_status(lab: &Lab, name: &str) -> Value {
    lab.get(&format!("/api/v1/namespaces/default/pods/{name}")).await.1["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_hoc_pods_built_in_images_and_expose() {
    let lab = Lab::start().await;
    // `kubectl run dnsutils --image=tutum/dnsutils --restart=Never --command -- sleep infinity`.
    let run = serde_json::json!({"name": "dnsutils", "image": "tutum/dnsutils", "restart": "Never",
        "command": true, "args": ["sleep", "infinity"]});
    let (code, made) = post_json(&lab, "/lab/v1/run", run).await;
    assert_eq!(code, 200, "{made}");
    assert_eq!(made["message"], "pod/dnsutils created");
    assert_eq!(made["object"]["metadata"]["labels"]["run"], "dnsutils");
    eventually(PATIENCE, "dnsutils running", || async {
        (pod_status(&lab, "dnsutils").await["phase"] == "Running").then_some(())
    })
    .await;
    let out = lab.exec("dnsutils", &["ps"]).await;
    assert!(out["stdout"].as_str().unwrap().ends_with(" sleep infinity\n"), "{out}");

    // nginx serves its own filesystem; `kubectl expose pod web --port=80`.
    let (code, made) =
        post_json(&lab, "/lab/v1/run", serde_json::json!({"name": "web", "image": "nginx", "port": 80})).await;
    assert_eq!(code, 200, "{made}");
    let (code, exposed) =
        post_json(&lab, "/lab/v1/expose", serde_json::json!({"kind": "pod", "name": "web", "type": "NodePort"})).await;
    assert_eq!(code, 200, "{exposed}");
    assert_eq!(exposed["message"], "service/web exposed");
    assert_eq!(exposed["object"]["spec"]["selector"]["run"], "web");
    lab.serving("web", 1).await;
    let out = lab.exec("dnsutils", &["curl", "-s", "http://$WEB_SERVICE_HOST"]).await;
    assert_eq!(out["exitCode"], 6, "no shell, no variable expansion: {out}");
    // The service came after the pod: its variables are not in the pod's environment.
    let out = lab.exec("dnsutils", &["sh", "-c", "curl -sS http://${WEB_SERVICE_HOST:-none}"]).await;
    assert_eq!(out["stderr"], "curl: (6) Could not resolve host: none\n", "{out}");
    let ip = exposed["object"]["spec"]["clusterIP"].as_str().unwrap().to_string();
    let out = lab.exec("dnsutils", &["curl", "-s", &format!("http://{ip}")]).await;
    assert!(out["stdout"].as_str().unwrap().contains("<h1>Welcome to nginx!</h1>"), "{out}");
    lab.exec("web", &["sh", "-c", "echo custom > /usr/share/nginx/html/index.html"]).await;
    let out = lab.exec("dnsutils", &["curl", "-s", &format!("http://{ip}/")]).await;
    assert_eq!(out["stdout"], "custom\n");
    let out =
        lab.exec("dnsutils", &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{ip}/x")]).await;
    assert_eq!(out["stdout"], "404");
    // Exposing something without labels or ports says why, as kubectl does.
    let (code, err) =
        post_json(&lab, "/lab/v1/expose", serde_json::json!({"kind": "pod", "name": "dnsutils", "serviceName": "d"}))
            .await;
    assert_eq!(code, 400);
    assert_eq!(err["message"], "couldn't find port via --port flag or introspection");
    let (code, _) =
        post_json(&lab, "/lab/v1/expose", serde_json::json!({"kind": "pod", "name": "nope", "port": 80})).await;
    assert_eq!(code, 404);

    // A command that ends: Never leaves it Completed; Always restarts it into CrashLoopBackOff.
    let once = serde_json::json!({"name": "once", "image": "busybox", "restart": "Never", "command": true,
        "args": ["sh", "-c", "echo done > /tmp/x; exit 0"]});
    post_json(&lab, "/lab/v1/run", once).await;
    let status = eventually(PATIENCE, "once to finish", || async {
        let s = pod_status(&lab, "once").await;
        (s["phase"] == "Succeeded").then_some(s)
    })
    .await;
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    let crash = serde_json::json!({"name": "crash", "image": "busybox", "command": true, "args": ["false"]});
    post_json(&lab, "/lab/v1/run", crash).await;
    let status = eventually(PATIENCE, "crash to back off", || async {
        let s = pod_status(&lab, "crash").await;
        (s["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff").then_some(s)
    })
    .await;
    assert_eq!(status["containerStatuses"][0]["restartCount"], 1);
    assert_eq!(status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 1);
    // A new image ends the back-off (10 s now): the container starts again at once with it.
    let patch = r#"{"spec":{"containers":[{"name":"crash","image":"luksa/kubia"}]}}"#.to_string();
    let path = "/api/v1/namespaces/default/pods/crash";
    let (code, patched) = lab.send(reqwest::Method::PATCH, path, "application/strategic-merge-patch+json", patch).await;
    assert_eq!(code, 200, "{patched}");
    let status = eventually(Duration::from_secs(8), "crash running the new image", || async {
        let s = pod_status(&lab, "crash").await;
        let running = s["containerStatuses"][0]["state"]["running"].is_object();
        (running && s["containerStatuses"][0]["image"] == "luksa/kubia").then_some(s)
    })
    .await;
    assert_eq!(status["containerStatuses"][0]["restartCount"], 2);

    // An image svclab does not know runs the default program on its declared ports.
    let other = serde_json::json!({"name": "mine", "image": "example.com/team/app:1.2", "port": 9000});
    post_json(&lab, "/lab/v1/run", other).await;
    let status = eventually(PATIENCE, "mine running", || async {
        let s = pod_status(&lab, "mine").await;
        (s["phase"] == "Running" && s["podIP"].is_string()).then_some(s)
    })
    .await;
    let pod_ip = status["podIP"].as_str().unwrap();
    let out = lab.exec("dnsutils", &["curl", "-s", &format!("http://{pod_ip}:9000")]).await;
    assert!(
        out["stdout"].as_str().unwrap().starts_with("svclab default server for image example.com/team/app:1.2"),
        "{out}"
    );
    let (_, events) = lab.get("/api/v1/namespaces/default/events").await;
    assert!(events["items"].as_array().unwrap().iter().any(|e| e["reason"] == "DefaultProgram"));
    lab.app.shutdown().await;
}
