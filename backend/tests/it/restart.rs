//! The chapter's objects across a `kill -9`: after the restart kubectl lists the same services,
//! pods, endpoints and ingress, the pods' containers run again (one restart each, as after a node
//! reboot), and the services answer on the same cluster IP, node port, load-balancer address and
//! ingress host; deletions held by finalizers finish after it.

use crate::common;

use common::child::{Svclab, node_network};
use common::eventually;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MANIFESTS: &[&str] = &[
    common::KUBIA,
    include_str!("../../../examples/kubia-nodeport.yaml"),
    include_str!("../../../examples/kubia-loadbalancer.yaml"),
    include_str!("../../../examples/kubia-ingress.yaml"),
];

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
}

async fn get(svclab: &Svclab, path: &str) -> Value {
    http().get(svclab.url(path)).send().await.unwrap().json().await.unwrap()
}

/// How many ready addresses the `kubia` Endpoints has.
async fn ready(svclab: &Svclab) -> usize {
    let eps = get(svclab, "/api/v1/namespaces/default/endpoints/kubia").await;
    eps["subsets"].as_array().into_iter().flatten().map(|s| s["addresses"].as_array().map_or(0, Vec::len)).sum()
}

/// What a plain HTTP GET to `addr` answers (with `host` as the Host header, if given).
async fn answer(addr: SocketAddr, host: Option<&str>) -> String {
    let mut request = http().get(format!("http://{addr}/"));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    match request.send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => format!("no answer: {e}"),
    }
}

/// What the `kubia` service answers from inside a pod, through its cluster IP.
async fn from_a_pod(svclab: &Svclab, cluster_ip: &str) -> String {
    let pods = get(svclab, "/api/v1/namespaces/default/pods?labelSelector=app%3Dkubia").await;
    let pod = pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    let body = json!({"command": ["curl", "-s", "-m", "2", format!("http://{cluster_ip}")]});
    let url = svclab.url(&format!("/api/v1/namespaces/default/pods/{pod}/exec"));
    let out: Value = http().post(url).json(&body).send().await.unwrap().json().await.unwrap();
    out["stdout"].as_str().unwrap_or_default().to_string()
}

/// The addresses the chapter's services answer on.
#[derive(Debug, PartialEq)]
struct Addresses {
    cluster_ip: String,
    node_port: SocketAddr,
    load_balancer: SocketAddr,
}

async fn addresses(svclab: &Svclab, node_ip: &str) -> Addresses {
    let kubia = get(svclab, "/api/v1/namespaces/default/services/kubia").await;
    let nodeport = get(svclab, "/api/v1/namespaces/default/services/kubia-nodeport").await;
    let lb = get(svclab, "/api/v1/namespaces/default/services/kubia-loadbalancer").await;
    let lb_ip = lb["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().expect("a load-balancer address");
    Addresses {
        cluster_ip: kubia["spec"]["clusterIP"].as_str().unwrap().to_string(),
        node_port: format!("{node_ip}:{}", nodeport["spec"]["ports"][0]["nodePort"]).parse().unwrap(),
        load_balancer: format!("{lb_ip}:80").parse().unwrap(),
    }
}

/// Every way in answers "You've hit kubia-…".
async fn all_answer(svclab: &Svclab, at: &Addresses) {
    let ingress = svclab.ingress.expect("the ingress add-on is on");
    eventually(Duration::from_secs(30), "every service to answer", || async {
        let answers = [
            from_a_pod(svclab, &at.cluster_ip).await,
            answer(at.node_port, None).await,
            answer(at.load_balancer, None).await,
            answer(ingress, Some("kubia.example.com")).await,
        ];
        answers.iter().all(|a| a.starts_with("You've hit kubia-")).then_some(())
    })
    .await;
}

fn kubectl() -> PathBuf {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/kubectl/bin/kubectl");
    [installed, PathBuf::from("/usr/bin/kubectl")].into_iter().find(|p| p.exists()).expect("a kubectl")
}

/// `kubectl get svc,po,ep,ing` against svclab: the names it lists, and each pod's restarts.
fn kubectl_get(svclab: &Svclab, dir: &Path) -> (Vec<String>, Vec<String>) {
    let out = std::process::Command::new(kubectl())
        .args(["--server", &svclab.url(""), "get", "svc,po,ep,ing", "-o", "name"])
        .env("KUBECONFIG", dir.join("none"))
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    let out = std::process::Command::new(kubectl())
        .args([
            "--server",
            &svclab.url(""),
            "get",
            "po",
            "-o",
            "jsonpath={.items[*].status.containerStatuses[0].restartCount}",
        ])
        .env("KUBECONFIG", dir.join("none"))
        .env("HOME", dir)
        .output()
        .unwrap();
    let restarts = String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect();
    (names, restarts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chapter_comes_back_after_kill_9_on_the_same_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let network = node_network();
    let node_ip = network.trim_end_matches(".0").to_string() + ".1";
    let svclab = Svclab::start(&data, &network, &[]).await;
    for manifest in MANIFESTS {
        let r = http()
            .post(svclab.url("/lab/v1/apply"))
            .header("content-type", "application/yaml")
            .body(*manifest)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    eventually(Duration::from_secs(30), "3 ready endpoints", || async { (ready(&svclab).await == 3).then_some(()) })
        .await;
    let before = addresses(&svclab, &node_ip).await;
    all_answer(&svclab, &before).await;
    let (listed, restarts) = kubectl_get(&svclab, dir.path());
    assert_eq!(restarts, ["0", "0", "0"]);
    // Tokens: one from TokenRequest, one the token controller keeps in a Secret.
    let request = http().post(svclab.url("/api/v1/namespaces/default/serviceaccounts/default/token")).json(&json!({}));
    let (code, made) = send(request).await;
    assert_eq!(code, 201, "{made}");
    let token = made["status"]["token"].as_str().unwrap().to_string();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kept",
        "annotations": {"kubernetes.io/service-account.name": "default"}}, "type": "kubernetes.io/service-account-token"});
    let (code, _) = send(http().post(svclab.url("/api/v1/namespaces/default/secrets")).json(&secret)).await;
    assert_eq!(code, 201);
    let kept = eventually(Duration::from_secs(10), "the secret's token", || async {
        get(&svclab, "/api/v1/namespaces/default/secrets/kept").await["data"]["token"].as_str().map(String::from)
    })
    .await;
    let kept =
        String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, kept).unwrap()).unwrap();
    let whoami = |token: String| {
        let url = svclab.url("/apis/authentication.k8s.io/v1/selfsubjectreviews");
        send(http().post(url).bearer_auth(token).json(&json!({})))
    };
    for token in [&token, &kept] {
        let (code, review) = whoami(token.clone()).await;
        assert_eq!(
            (code, &review["status"]["userInfo"]["username"]),
            (201, &json!("system:serviceaccount:default:default"))
        );
    }
    let ca = ca_pem(&svclab).await;
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");

    svclab.kill().await;
    let svclab = Svclab::start(&data, &network, &[]).await;
    eventually(Duration::from_secs(30), "3 ready endpoints again", || async {
        (ready(&svclab).await == 3).then_some(())
    })
    .await;
    assert_eq!(addresses(&svclab, &node_ip).await, before, "the same addresses after the restart");
    all_answer(&svclab, &before).await;
    let (again, restarts) = kubectl_get(&svclab, dir.path());
    assert_eq!(again, listed, "kubectl lists what it listed before");
    // Both tokens still authenticate: the key outlived the restart, and the Secret kept its token.
    for token in [&token, &kept] {
        let url = svclab.url("/apis/authentication.k8s.io/v1/selfsubjectreviews");
        let (code, review) = send(http().post(url).bearer_auth(token).json(&json!({}))).await;
        assert_eq!(
            (code, &review["status"]["userInfo"]["username"]),
            (201, &json!("system:serviceaccount:default:default")),
            "{review}"
        );
    }
    // The cluster CA outlived the restart: what it signed before still verifies.
    assert_eq!(ca_pem(&svclab).await, ca, "the same cluster CA after the restart");
    let root = get(&svclab, "/api/v1/namespaces/default/configmaps/kube-root-ca.crt").await;
    assert_eq!(root["data"]["ca.crt"], json!(ca));
    assert_eq!(restarts, ["1", "1", "1"], "each container restarted once, as after a node reboot");
    let events = get(&svclab, "/api/v1/namespaces/default/events?fieldSelector=reason%3DSandboxChanged").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 3, "{events}");
    svclab.kill().await;
}

/// `status` of a request, and its body.
async fn ca_pem(svclab: &Svclab) -> String {
    http().get(svclab.url("/lab/v1/ca.crt")).send().await.unwrap().text().await.unwrap()
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// A JSON merge patch of `path`.
fn merge(svclab: &Svclab, path: &str, body: &Value) -> reqwest::RequestBuilder {
    http().patch(svclab.url(path)).header("content-type", "application/merge-patch+json").json(body)
}

/// Whether `path` exists (200) or is gone (404).
async fn exists(svclab: &Svclab, path: &str) -> bool {
    let status = http().get(svclab.url(path)).send().await.unwrap().status().as_u16();
    assert!(status == 200 || status == 404, "GET {path}: {status}");
    status == 200
}

/// Deletions held part-way across a `kill -9` finish after the restart, once what holds them
/// lets go: a namespace stays Terminating (refusing new content) while a finalizer holds its
/// last object; a Deployment deleted in the foreground waits, with its ReplicaSet, for a pod a
/// finalizer holds; then both go, as the namespace controller and the garbage collector pick
/// up where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_held_by_finalizers_finish_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let network = node_network();
    let svclab = Svclab::start(&data, &network, &[]).await;
    let hold = json!({"metadata": {"finalizers": ["example.com/hold"]}});
    let manifests = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "namespace": "doomed",
               "finalizers": ["example.com/hold"]}, "data": {"a": "1"}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kubia", "namespace": "default"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "kubia"}},
                        "template": {"metadata": {"labels": {"app": "kubia"}},
                                     "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}}}),
    ];
    for manifest in &manifests {
        let (status, body) = send(http().post(svclab.url("/lab/v1/apply")).json(manifest)).await;
        assert!(status < 300, "{body}");
    }
    let pods = "/api/v1/namespaces/default/pods?labelSelector=app%3Dkubia";
    let pod = eventually(Duration::from_secs(30), "two kubia pods", || async {
        let list = get(&svclab, pods).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then(|| items[0]["metadata"]["name"].as_str().unwrap().to_string())
    })
    .await;
    let pod_path = format!("/api/v1/namespaces/default/pods/{pod}");
    let (status, body) = send(merge(&svclab, &pod_path, &hold)).await;
    assert_eq!(status, 200, "{body}");

    // The namespace's deletion waits for the held ConfigMap; the Deployment's (foreground) for
    // the held pod.
    let (status, body) = send(http().delete(svclab.url("/api/v1/namespaces/doomed"))).await;
    assert!(status < 300, "{body}");
    let foreground = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"});
    let deployment = "/apis/apps/v1/namespaces/default/deployments/kubia";
    let (status, body) = send(http().delete(svclab.url(deployment)).json(&foreground)).await;
    assert!(status < 300, "{body}");
    eventually(Duration::from_secs(30), "the other pod gone", || async {
        (get(&svclab, pods).await["items"].as_array().map_or(0, Vec::len) == 1).then_some(())
    })
    .await;

    svclab.kill().await;
    let svclab = Svclab::start(&data, &network, &[]).await;
    let namespace = get(&svclab, "/api/v1/namespaces/doomed").await;
    assert_eq!(namespace["status"]["phase"], "Terminating", "{namespace}");
    let refused = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}});
    let (status, body) = send(http().post(svclab.url("/api/v1/namespaces/doomed/configmaps")).json(&refused)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("because it is being terminated"), "{body}");
    let held = get(&svclab, deployment).await;
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "still being deleted: {held}");
    assert_eq!(held["metadata"]["finalizers"], json!(["foregroundDeletion"]), "{held}");

    // Letting go finishes both.
    let release = json!({"metadata": {"finalizers": null}});
    let (status, body) = send(merge(&svclab, "/api/v1/namespaces/doomed/configmaps/held", &release)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(merge(&svclab, &pod_path, &release)).await;
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(30), "the namespace gone", || async {
        (!exists(&svclab, "/api/v1/namespaces/doomed").await).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the deployment and its replica set gone", || async {
        let sets = get(&svclab, "/apis/apps/v1/namespaces/default/replicasets").await;
        let none = sets["items"].as_array().is_none_or(Vec::is_empty);
        (none && !exists(&svclab, deployment).await).then_some(())
    })
    .await;
    svclab.kill().await;
}
