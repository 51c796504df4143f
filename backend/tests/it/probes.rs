//! Probes that read the container's own filesystem: the built-in servers answer 500 while
//! `/tmp/svclab-unhealthy` exists and take no connections while `/tmp/svclab-closed` does, so
//! httpGet and tcpSocket probes fail from inside the container, against a whole svclab.

use super::pods::ready_condition;
use crate::common::{KUBIA, Lab, eventually};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unhealthy_file_fails_http_probes_from_inside_the_container() {
    let lab = Lab::start().await;
    let (code, applied) = lab
        .apply(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    readinessProbe:
      periodSeconds: 1
      httpGet:
        port: 8080
        path: /
"#,
        )
        .await;
    assert_eq!(code, 200, "{applied}");
    let ready = |want: bool| ready_condition(&lab, "web", want);
    ready(true).await;
    // A sick app: every request fails with 500, so the httpGet probe fails and the pod leaves
    // service, without a restart.
    lab.exec("web", &["touch", "/tmp/svclab-unhealthy"]).await;
    let (_, pod) = lab.get("/api/v1/namespaces/default/pods/web").await;
    let url = format!("http://{}:8080/", pod["status"]["podIP"].as_str().unwrap());
    let out = lab.exec("web", &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", &url]).await;
    assert_eq!(out["stdout"], "500", "{out}");
    ready(false).await;
    let (_, events) = lab.get("/api/v1/namespaces/default/events").await;
    let messages: Vec<&str> =
        events["items"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
    assert!(messages.contains(&"Readiness probe failed: HTTP probe failed with statuscode: 500"), "{messages:?}");
    lab.exec("web", &["rm", "-f", "/tmp/svclab-unhealthy"]).await;
    ready(true).await;
    let (_, pod) = lab.get("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closed_file_fails_tcp_probes_from_inside_the_container() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    let (code, applied) = lab
        .apply(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: tcp
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    readinessProbe:
      periodSeconds: 1
      tcpSocket:
        port: 8080
"#,
        )
        .await;
    assert_eq!(code, 200, "{applied}");
    let ready = |want: bool| ready_condition(&lab, "tcp", want);
    ready(true).await;
    let (_, pod) = lab.get("/api/v1/namespaces/default/pods/tcp").await;
    let url = format!("http://{}:8080/", pod["status"]["podIP"].as_str().unwrap());
    let other = eventually(PATIENCE, "a kubia pod", || async {
        lab.running_pods().await.into_iter().find(|p| p.starts_with("kubia-"))
    })
    .await;
    // The port takes no connections while the file exists: refused, and the probe fails. The
    // app sees the file change as a real one would, just after the `touch` returns.
    lab.exec("tcp", &["touch", "/tmp/svclab-closed"]).await;
    let out = eventually(PATIENCE, "connections to be refused", || async {
        let out = lab.exec(&other, &["curl", "-sS", &url]).await;
        (out["exitCode"] != 0).then_some(out)
    })
    .await;
    assert_eq!(out["exitCode"], 7, "{out}");
    assert!(out["stderr"].as_str().unwrap().contains("Couldn't connect to server"), "{out}");
    ready(false).await;
    lab.exec("tcp", &["rm", "/tmp/svclab-closed"]).await;
    ready(true).await;
    let out = lab.exec(&other, &["curl", "-s", &url]).await;
    assert_eq!(out["stdout"], "You've hit tcp\n", "{out}");
    lab.app.shutdown().await;
}
