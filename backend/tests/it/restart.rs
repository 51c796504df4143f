//! The chapter's objects across a `kill -9`: after the restart kubectl lists the same services,
//! pods, endpoints and ingress, the pods' containers run again (one restart each, as after a node
//! reboot), and the services answer on the same cluster IP, node port, load-balancer address and
//! ingress host.

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
    assert_eq!(restarts, ["1", "1", "1"], "each container restarted once, as after a node reboot");
    let events = get(&svclab, "/api/v1/namespaces/default/events?fieldSelector=reason%3DSandboxChanged").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 3, "{events}");
    svclab.kill().await;
}
