//! The service doctor over a running cluster: a healthy service passes, a broken selector names
//! its near misses, a wrong targetPort is found by what really listens in the pods, and
//! unready pods carry the kubelet's probe failure.

use crate::common;

use common::{KUBIA, Lab, eventually};
use serde_json::Value;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(15);

async fn diagnosis(lab: &Lab, service: &str) -> Value {
    let (code, d) = lab.get(&format!("/lab/v1/namespaces/default/services/{service}/diagnosis")).await;
    assert_eq!(code, 200, "{d}");
    d
}

fn findings<'a>(d: &'a Value, check: &str) -> Vec<&'a Value> {
    d["findings"].as_array().unwrap().iter().filter(|f| f["check"] == check).collect()
}

const BROKEN: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: typo
spec:
  selector:
    app: kubai
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: wrong-port
spec:
  selector:
    app: kubia
  ports:
  - port: 80
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_runs_the_troubleshooting_checklist() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    lab.apply(BROKEN).await;
    lab.serving("kubia", 3).await;

    let healthy = eventually(PATIENCE, "a clean bill of health", || async {
        let d = diagnosis(&lab, "kubia").await;
        d["findings"].as_array()?.iter().all(|f| f["severity"] != "error" && f["severity"] != "warning").then_some(d)
    })
    .await;
    assert!(findings(&healthy, "selector")[0]["title"].as_str().unwrap().starts_with("3 pods match"), "{healthy}");
    assert!(findings(&healthy, "listening")[0]["title"].as_str().unwrap().contains("targetPort 8080"));
    assert!(findings(&healthy, "clients")[0]["title"].as_str().unwrap().contains("never answers ping"));

    // A selector with a typo: no pod, and the pods labelled app=kubia are the near misses.
    let typo = diagnosis(&lab, "typo").await;
    let selector = findings(&typo, "selector")[0];
    assert_eq!(selector["severity"], "error", "{typo}");
    assert_eq!(selector["title"], "No pod matches the selector app=kubai");
    assert!(selector["detail"].as_str().unwrap().contains("has app=kubia (the selector wants app=kubai)"), "{typo}");
    assert_eq!(selector["objects"].as_array().unwrap().len(), 3);

    // targetPort left out: it defaults to 80, where nothing listens; kubia listens on 8080.
    let wrong = diagnosis(&lab, "wrong-port").await;
    let listening = findings(&wrong, "listening");
    assert_eq!(listening.len(), 3, "one finding per pod: {wrong}");
    let detail = listening[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("defaults to the service's port (80)") && detail.contains("set targetPort: 8080"),
        "{wrong}"
    );

    // A readiness probe that fails: the kubelet's message reaches the finding.
    lab.apply(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: unready
  labels:
    app: gated
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    readinessProbe:
      periodSeconds: 1
      exec:
        command: ["ls", "/var/ready"]
---
apiVersion: v1
kind: Service
metadata:
  name: gated
spec:
  selector:
    app: gated
  ports:
  - port: 80
    targetPort: 8080
"#,
    )
    .await;
    let gated = eventually(PATIENCE, "the probe failure in the diagnosis", || async {
        let d = diagnosis(&lab, "gated").await;
        let text = findings(&d, "readiness").first()?["detail"].as_str()?.to_string();
        text.starts_with("Readiness probe failed: ls: cannot access '/var/ready'").then_some(d)
    })
    .await;
    let readiness = findings(&gated, "readiness");
    assert!(readiness.iter().any(|f| f["severity"] == "error" && f["title"].as_str().unwrap().contains("refused")));

    // An app bound to localhost: reachable inside its pod only, and the doctor says so.
    lab.apply(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: local
  labels:
    app: local
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    env:
    - name: BIND_ADDRESS
      value: 127.0.0.1
---
apiVersion: v1
kind: Service
metadata:
  name: local
spec:
  selector:
    app: local
  ports:
  - port: 80
    targetPort: 8080
"#,
    )
    .await;
    let local = eventually(PATIENCE, "the localhost-only finding", || async {
        let d = diagnosis(&lab, "local").await;
        let title = findings(&d, "listening").first()?["title"].as_str()?.to_string();
        (title == "local listens on 127.0.0.1:8080 only").then_some(d)
    })
    .await;
    assert_eq!(findings(&local, "listening")[0]["severity"], "error");
    let inside = lab.exec("local", &["curl", "-s", "http://localhost:8080/"]).await;
    assert_eq!(inside["stdout"], "You've hit local\n", "{inside}");
    let (_, pod) = lab.get("/api/v1/namespaces/default/pods/local").await;
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    let other = lab.running_pods().await.into_iter().find(|p| p.starts_with("kubia-")).unwrap();
    let outside = lab.exec(&other, &["curl", "-sS", &format!("http://{ip}:8080/")]).await;
    assert_eq!(outside["exitCode"], 7, "refused at the pod's IP: {outside}");
    // Any pod reaches its own servers at localhost, as containers sharing a network namespace do.
    let own = lab.exec(&other, &["curl", "-s", "http://127.0.0.1:8080/"]).await;
    assert_eq!(own["stdout"], format!("You've hit {other}\n"));

    let (code, missing) = lab.get("/lab/v1/namespaces/default/services/nope/diagnosis").await;
    assert_eq!((code, missing["message"].as_str()), (404, Some("services \"nope\" not found")));
    lab.app.shutdown().await;
}

/// The endpoint timeline: a pod's place in a service's endpoints over time, each change with
/// why — the readiness probe's message, its success, a label change, a deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_timeline_says_when_and_why_pods_join_and_leave() {
    let lab = Lab::start().await;
    lab.apply(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: flip
  labels:
    app: flip
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    readinessProbe:
      periodSeconds: 1
      exec:
        command: ["ls", "/var/ready"]
---
apiVersion: v1
kind: Service
metadata:
  name: flip
spec:
  selector:
    app: flip
  ports:
  - port: 80
    targetPort: 8080
"#,
    )
    .await;
    let timeline = || async {
        let (code, t) = lab.get("/lab/v1/namespaces/default/services/flip/timeline").await;
        assert_eq!(code, 200, "{t}");
        t["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["state"].as_str().unwrap().to_string(), e["reason"].as_str().unwrap().to_string()))
            .collect::<Vec<_>>()
    };
    let has = |entries: &[(String, String)], state: &str, reason: &str| {
        entries.iter().any(|(s, r)| s == state && r.contains(reason))
    };
    eventually(PATIENCE, "the pod joins as not ready", || async {
        let t = timeline().await;
        has(&t, "NotReady", "selected by app=flip; not ready yet").then_some(())
    })
    .await;
    lab.exec("flip", &["touch", "/var/ready"]).await;
    eventually(PATIENCE, "ready once the probe passes", || async {
        has(&timeline().await, "Ready", "readiness probe succeeded").then_some(())
    })
    .await;
    lab.exec("flip", &["rm", "/var/ready"]).await;
    let t = eventually(PATIENCE, "not ready again, with the probe's message", || async {
        let t = timeline().await;
        (t.len() >= 3).then_some(t)
    })
    .await;
    assert_eq!(t[2].0, "NotReady", "{t:?}");
    assert!(t[2].1.starts_with("Readiness probe failed: "), "{t:?}");

    // A label change takes it out, and says so.
    let (code, body) = lab
        .send(
            reqwest::Method::PATCH,
            "/api/v1/namespaces/default/pods/flip",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"app":"moved"}}}"#.into(),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    eventually(PATIENCE, "gone, for its labels", || async {
        has(&timeline().await, "Gone", "its labels no longer match the selector app=flip").then_some(())
    })
    .await;

    // A service that does not exist has no timeline.
    let (code, status) = lab.get("/lab/v1/namespaces/default/services/nowhere/timeline").await;
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")), "{status}");
}
