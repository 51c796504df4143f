//! StatefulSets, DaemonSets, Jobs and CronJobs, against a whole svclab on free ports: pods with
//! stable names that resolve each other through a headless service and keep their names and
//! claims across deletion; a pod on every node; jobs run to completion; a schedule that fires.

use crate::common;

use common::{Lab, eventually};
use serde_json::Value;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: nginx, labels: {app: nginx}}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{port: 80, name: web}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.24
        ports: [{containerPort: 80, name: web}]
        readinessProbe: {tcpSocket: {port: 80}, initialDelaySeconds: 1, periodSeconds: 1}
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"#;

async fn get(lab: &Lab, path: &str) -> Value {
    lab.get(path).await.1
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_set_keeps_its_pods_names_and_claims_and_they_resolve_each_other() {
    let lab = Lab::start().await;
    lab.apply(WEB).await;
    // OrderedReady: web-1 is not made before web-0 is ready (a second after it starts).
    let first = eventually(PATIENCE, "web-0", || async {
        let pods = get(&lab, "/api/v1/namespaces/default/pods?labelSelector=app%3Dnginx").await;
        (!names(&pods).is_empty()).then_some(names(&pods))
    })
    .await;
    assert_eq!(first, ["web-0"], "one at a time, in order");
    eventually(PATIENCE, "3 ready replicas", || async {
        (get(&lab, "/apis/apps/v1/namespaces/default/statefulsets/web").await["status"]["readyReplicas"] == 3)
            .then_some(())
    })
    .await;
    let claims = get(&lab, "/api/v1/namespaces/default/persistentvolumeclaims").await;
    assert_eq!(names(&claims), ["www-web-0", "www-web-1", "www-web-2"]);
    // Stable names through the headless service.
    let web0 = get(&lab, "/api/v1/namespaces/default/pods/web-0").await;
    let ip0 = web0["status"]["podIP"].as_str().unwrap().to_string();
    let lookup = lab.exec("web-1", &["nslookup", "web-0.nginx.default.svc.cluster.local"]).await;
    assert!(lookup["stdout"].as_str().unwrap().contains(&format!("Address: {ip0}")), "{lookup}");
    assert_eq!(lab.exec("web-0", &["hostname"]).await["stdout"], "web-0\n");
    // Data on web-0's claim, then web-0 deleted: it comes back with its name, its claim and its data.
    lab.exec("web-0", &["sh", "-c", "echo web-0 was here > /usr/share/nginx/html/index.html"]).await;
    lab.send(
        reqwest::Method::DELETE,
        "/api/v1/namespaces/default/pods/web-0?gracePeriodSeconds=0",
        "application/json",
        String::new(),
    )
    .await;
    let ip = eventually(PATIENCE, "web-0 to come back", || async {
        let pod = get(&lab, "/api/v1/namespaces/default/pods/web-0").await;
        let ready =
            pod["status"]["conditions"].as_array()?.iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
        let uid_changed = pod["metadata"]["uid"] != web0["metadata"]["uid"];
        (ready && uid_changed).then(|| pod["status"]["podIP"].as_str().map(str::to_string)).flatten()
    })
    .await;
    let page = eventually(PATIENCE, "web-0 by name from web-2", || async {
        let out = lab.try_exec("web-2", &["curl", "-s", "http://web-0.nginx/"]).await?;
        (out["exitCode"] == 0).then(|| out["stdout"].as_str().unwrap_or_default().to_string())
    })
    .await;
    assert_eq!(page, "web-0 was here\n");
    let lookup = lab.exec("web-1", &["nslookup", "web-0.nginx"]).await;
    assert!(
        lookup["stdout"].as_str().unwrap().contains(&format!("Address: {ip}")),
        "the name follows the new pod: {lookup}"
    );
    // Scaled down, the highest ordinals go; their claims stay.
    lab.send(
        reqwest::Method::PATCH,
        "/apis/apps/v1/namespaces/default/statefulsets/web/scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":1}}"#.into(),
    )
    .await;
    eventually(PATIENCE, "web-1 and web-2 to go", || async {
        let pods = get(&lab, "/api/v1/namespaces/default/pods?labelSelector=app%3Dnginx").await;
        (names(&pods) == ["web-0"]).then_some(())
    })
    .await;
    assert_eq!(names(&get(&lab, "/api/v1/namespaces/default/persistentvolumeclaims").await).len(), 3);
    lab.app.shutdown().await;
}

const AGENT: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: example.com/node-agent:1, ports: [{containerPort: 9100}]}]
"#;

fn pods_by_node(list: &Value) -> Vec<String> {
    let mut nodes: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
        .collect();
    nodes.sort();
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_set_runs_a_pod_on_every_node_it_fits() {
    let lab = Lab::start().await;
    lab.apply(AGENT).await;
    let by_node =
        || async { pods_by_node(&get(&lab, "/api/v1/namespaces/default/pods?labelSelector=app%3Dagent").await) };
    eventually(PATIENCE, "a pod on each node", || async {
        (by_node().await == ["node-1", "node-2", "node-3"]).then_some(())
    })
    .await;
    eventually(PATIENCE, "the status", || async {
        let ds = get(&lab, "/apis/apps/v1/namespaces/default/daemonsets/agent").await;
        (ds["status"]["desiredNumberScheduled"] == 3 && ds["status"]["numberReady"] == 3).then_some(())
    })
    .await;
    // A taint it does not tolerate moves it off node-2; taken off, it comes back.
    let taint = r#"{"spec":{"taints":[{"key":"dedicated","value":"gpu","effect":"NoSchedule"}]}}"#;
    lab.send(reqwest::Method::PATCH, "/api/v1/nodes/node-2", "application/merge-patch+json", taint.into()).await;
    eventually(PATIENCE, "node-2 without a daemon pod", || async {
        (by_node().await == ["node-1", "node-3"]).then_some(())
    })
    .await;
    lab.send(
        reqwest::Method::PATCH,
        "/api/v1/nodes/node-2",
        "application/merge-patch+json",
        r#"{"spec":{"taints":null}}"#.into(),
    )
    .await;
    eventually(PATIENCE, "node-2 with one again", || async {
        (by_node().await == ["node-1", "node-2", "node-3"]).then_some(())
    })
    .await;
    lab.app.shutdown().await;
}

const JOBS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: busybox, command: [sh, -c, "echo 3.14159"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: doomed}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: fail, image: busybox, command: [sh, -c, "echo no; exit 3"]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: hello, image: busybox, command: [sh, -c, "echo Hello from the cluster"]}]
"#;

fn condition(job: &Value, type_: &str) -> Option<Value> {
    job["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_ && c["status"] == "True").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_to_completion_and_a_cron_job_fires() {
    let lab = Lab::start().await;
    lab.apply(JOBS).await;
    let pi = eventually(PATIENCE, "pi to complete", || async {
        let job = get(&lab, "/apis/batch/v1/namespaces/default/jobs/pi").await;
        condition(&job, "Complete").map(|_| job)
    })
    .await;
    assert_eq!(pi["status"]["succeeded"], 4);
    assert!(pi["status"]["completionTime"].is_string());
    let pods = get(&lab, "/api/v1/namespaces/default/pods?labelSelector=job-name%3Dpi").await;
    assert_eq!(names(&pods).len(), 4, "one pod per completion");
    let doomed = eventually(PATIENCE, "doomed to fail", || async {
        condition(&get(&lab, "/apis/batch/v1/namespaces/default/jobs/doomed").await, "Failed")
    })
    .await;
    assert_eq!(doomed["reason"], "BackoffLimitExceeded");
    assert_eq!(doomed["message"], "Job has reached the specified backoff limit");
    // The schedule fires within the minute, and its Job runs.
    let fired = eventually(Duration::from_secs(70), "the cron job to fire", || async {
        let jobs = get(&lab, "/apis/batch/v1/namespaces/default/jobs").await;
        let made =
            jobs["items"].as_array()?.iter().find(|j| j["metadata"]["ownerReferences"][0]["name"] == "hello")?.clone();
        condition(&made, "Complete").map(|_| made)
    })
    .await;
    let name = fired["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("hello-"), "{name}");
    let cron = eventually(PATIENCE, "the last schedule time", || async {
        let cron = get(&lab, "/apis/batch/v1/namespaces/default/cronjobs/hello").await;
        cron["status"]["lastSuccessfulTime"].is_string().then_some(cron)
    })
    .await;
    assert!(cron["status"]["lastScheduleTime"].is_string(), "{cron}");
    let (_, log) = lab.get_text(&format!("/api/v1/namespaces/default/pods?labelSelector=job-name%3D{name}")).await;
    let pods: Value = serde_json::from_str(&log).unwrap();
    let pod = pods["items"][0]["metadata"]["name"].as_str().unwrap();
    let (_, out) = lab.get_text(&format!("/api/v1/namespaces/default/pods/{pod}/log")).await;
    assert_eq!(out, "Hello from the cluster\n");
    lab.app.shutdown().await;
}
