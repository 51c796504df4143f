//! The dashboard's test requests from every kind of source to every kind of target, each with
//! its trace: a pod by service name (the DNS queries of its search path), keep-alive on one
//! pod, a node port and a load balancer from outside the cluster (the hops their proxies chose,
//! the source the pod saw), a node dialling a cluster IP, and the failures a user would meet.

use crate::common;

use common::{KUBIA, Lab, eventually};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);
const NODE_PORT: &str = include_str!("../../../examples/kubia-nodeport.yaml");
const LOAD_BALANCER: &str = include_str!("../../../examples/kubia-loadbalancer.yaml");

async fn send(lab: &Lab, request: Value) -> Value {
    let (code, report) =
        lab.send(reqwest::Method::POST, "/lab/v1/test-requests", "application/json", request.to_string()).await;
    assert_eq!(code, 200, "{report}");
    report
}

fn results(report: &Value) -> &Vec<Value> {
    report["results"].as_array().unwrap()
}

fn pods_answering(report: &Value) -> BTreeSet<String> {
    results(report)
        .iter()
        .filter_map(|r| r["body"].as_str()?.trim().strip_prefix("You've hit ").map(String::from))
        .collect()
}

async fn node_ip(lab: &Lab, node: &str) -> String {
    let (_, n) = lab.get(&format!("/api/v1/nodes/{node}")).await;
    n["status"]["addresses"][0]["address"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_requests_trace_every_path_into_the_cluster() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    lab.apply(NODE_PORT).await;
    lab.apply(LOAD_BALANCER).await;
    lab.serving("kubia", 3).await;
    let pod = lab.running_pods().await.into_iter().next().unwrap();

    // From a pod by short name: the resolver's first search-path name answers.
    let report = send(
        &lab,
        json!({"url": "http://kubia/", "source": {"pod": {"namespace": "default", "name": pod}}, "count": 6}),
    )
    .await;
    assert_eq!(report["source"], format!("pod default/{pod}"));
    assert_eq!(report["url"], "http://kubia/");
    let first = &results(&report)[0];
    assert_eq!(first["dns"][0]["name"], "kubia.default.svc.cluster.local.", "{first}");
    assert_eq!(first["dns"][0]["rcode"], "NOERROR");
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia").await;
    let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert_eq!(first["address"], format!("{cluster_ip}:80"));
    assert_eq!(first["hop"]["virtualAddress"], format!("{cluster_ip}:80"));
    assert!(first["hop"]["reason"].as_str().unwrap().contains("random"), "{first}");
    let connections: BTreeSet<u64> = results(&report).iter().map(|r| r["connection"].as_u64().unwrap()).collect();
    assert_eq!(connections.len(), 6, "a connection each");

    // Keep-alive: one connection, so one pod answers every request.
    let report = send(
        &lab,
        json!({"url": "http://kubia.default.svc.cluster.local/", "source": {"pod": {"namespace": "default", "name": pod}},
               "count": 8, "keepAlive": true}),
    )
    .await;
    assert_eq!(results(&report).len(), 8);
    assert!(results(&report).iter().all(|r| r["connection"] == 0 && r["status"] == 200), "{report}");
    assert_eq!(pods_answering(&report).len(), 1, "{report}");
    assert!(results(&report)[1]["dns"].is_null(), "the name is resolved once per connection");

    // From outside to a node port: the node port's hop, with the node as the source (SNAT).
    let node1 = node_ip(&lab, "node-1").await;
    let url = format!("http://{node1}:30123/");
    eventually(PATIENCE, "the node port to answer", || async {
        let r = send(&lab, json!({"url": url, "source": "outside", "count": 1})).await;
        (r["results"][0]["status"] == 200).then_some(())
    })
    .await;
    let report = send(&lab, json!({"url": url, "source": "outside", "count": 30})).await;
    assert_eq!(report["source"], "outside the cluster");
    assert_eq!(pods_answering(&report).len(), 3, "new connections spread over all pods: {report}");
    for r in results(&report) {
        let hop = &r["hop"];
        assert_eq!(hop["virtualAddress"], format!("{node1}:30123"), "{r}");
        assert_eq!(hop["service"], "default/kubia-nodeport");
        assert!(hop["reason"].as_str().unwrap().starts_with("node port on node-1: random"), "{r}");
        assert_eq!(hop["source"], node1, "under Cluster the pod sees the node's address");
        assert_eq!(r["body"].as_str().unwrap().trim(), format!("You've hit {}", hop["pod"].as_str().unwrap()));
    }

    // Through the load balancer: its choice of node, then that node port's choice of pod.
    let lb = eventually(PATIENCE, "a load-balancer address", || async {
        let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia-loadbalancer").await;
        svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(String::from)
    })
    .await;
    let url = format!("http://{lb}/");
    eventually(PATIENCE, "the load balancer to answer", || async {
        let r = send(&lab, json!({"url": url, "source": "outside", "count": 1})).await;
        (r["results"][0]["status"] == 200).then_some(())
    })
    .await;
    let report = send(&lab, json!({"url": url, "source": "outside", "count": 5})).await;
    for r in results(&report) {
        let hops = r["hops"].as_array().unwrap();
        assert_eq!(hops.len(), 2, "{r}");
        assert_eq!(hops[0]["virtualAddress"], format!("{lb}:80"));
        assert!(hops[0]["reason"].as_str().unwrap().starts_with("load balancer: random among 3 nodes"), "{r}");
        let node = hops[0]["node"].as_str().unwrap();
        assert!(hops[1]["reason"].as_str().unwrap().starts_with(&format!("node port on {node}:")), "{r}");
        assert_eq!(r["hop"], hops[1]);
    }

    // From a node to the cluster IP: the service proxy's choice, from the node's address.
    let report =
        send(&lab, json!({"url": format!("http://{cluster_ip}/"), "source": {"node": {"name": "node-2"}}, "count": 2}))
            .await;
    assert_eq!(report["source"], format!("node node-2 ({})", node_ip(&lab, "node-2").await));
    assert!(
        results(&report).iter().all(|r| r["status"] == 200 && r["hop"]["virtualAddress"] == format!("{cluster_ip}:80"))
    );

    // What a user meets: a cluster IP from outside, a name a node can't resolve, an unknown name.
    let report = send(&lab, json!({"url": format!("http://{cluster_ip}/"), "source": "outside", "count": 1})).await;
    let error = results(&report)[0]["error"].as_str().unwrap();
    assert!(error.starts_with(&format!("Failed to connect to {cluster_ip} port 80: Connection timed out")), "{error}");
    assert!(error.contains("only pods and nodes reach it"), "{error}");
    // A host address that refuses is just refused: no word of the cluster.
    let report = send(&lab, json!({"url": "http://127.0.0.1:1/", "source": "outside", "count": 1})).await;
    assert_eq!(results(&report)[0]["error"], "Failed to connect to 127.0.0.1 port 1: Connection refused");
    let report = send(&lab, json!({"url": "http://kubia/", "source": {"node": {"name": "node-1"}}, "count": 1})).await;
    assert!(results(&report)[0]["error"].as_str().unwrap().starts_with("Could not resolve host: kubia"));
    let report = send(
        &lab,
        json!({"url": "http://nowhere/", "source": {"pod": {"namespace": "default", "name": pod}}, "count": 1}),
    )
    .await;
    let r = &results(&report)[0];
    assert_eq!(r["error"], "Could not resolve host: nowhere");
    assert_eq!(r["dns"].as_array().unwrap().len(), 4, "every search-path candidate was tried: {r}");
    let (code, refused) = lab
        .send(
            reqwest::Method::POST,
            "/lab/v1/test-requests",
            "application/json",
            json!({"url": "ftp://kubia/", "source": "outside", "count": 1}).to_string(),
        )
        .await;
    assert_eq!(code, 400);
    assert!(refused["message"].as_str().unwrap().contains("unsupported scheme ftp"), "{refused}");
    lab.app.shutdown().await;
}
