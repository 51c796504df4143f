//! Services reached from outside the cluster, with real HTTP clients on the host: NodePort on
//! every node address, LoadBalancer addresses, session affinity, keep-alive, traffic policies and
//! the source address pods see.

use crate::common;

use common::{KUBIA, Lab, eventually};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use svclab::app::{App, Config};

const PATIENCE: Duration = Duration::from_secs(10);
const NODE_PORT: &str = include_str!("../../../examples/kubia-nodeport.yaml");
const LOAD_BALANCER: &str = include_str!("../../../examples/kubia-loadbalancer.yaml");

/// A client that opens a new connection for every request, as `curl` run again does.
fn fresh_connections() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(5)).build().unwrap()
}

async fn node_ips(lab: &Lab) -> Vec<String> {
    let (_, nodes) = lab.get("/api/v1/nodes").await;
    nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"]["addresses"][0]["address"].as_str().unwrap().to_string())
        .collect()
}

async fn hit(client: &reqwest::Client, url: &str) -> String {
    let body = client.get(url).send().await.unwrap_or_else(|e| panic!("{url}: {e}")).text().await.unwrap();
    body.trim().strip_prefix("You've hit ").unwrap_or(&body).to_string()
}

/// Waits until `url` answers: the proxy opens a port a moment after the endpoints appear.
async fn answering(client: &reqwest::Client, url: &str) {
    eventually(PATIENCE, url, || async { client.get(url).send().await.ok().map(|_| ()) }).await;
}

async fn ready(lab: &Lab, service: &str, n: usize) {
    eventually(PATIENCE, "ready endpoints", || async { (lab.ready_endpoints(service).await.len() == n).then_some(()) })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ports_answer_on_every_node_and_spread_over_all_pods() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    let (code, applied) = lab.apply(NODE_PORT).await;
    assert_eq!(code, 200, "{applied}");
    ready(&lab, "kubia-nodeport", 3).await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia-nodeport").await;
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30123);

    let client = fresh_connections();
    let mut pods = BTreeSet::new();
    for ip in node_ips(&lab).await {
        answering(&client, &format!("http://{ip}:30123/")).await;
        for _ in 0..20 {
            pods.insert(hit(&client, &format!("http://{ip}:30123/")).await);
        }
    }
    assert_eq!(pods.len(), 3, "new connections spread over every pod: {pods:?}");

    // One keep-alive connection stays on one pod (the chapter's browser versus curl). The test
    // drives a single HTTP/1.1 connection itself: a pooling client may open a second one.
    let ip = &node_ips(&lab).await[0];
    let stream = tokio::net::TcpStream::connect(format!("{ip}:30123")).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut answered = BTreeSet::new();
    for _ in 0..10 {
        sender.ready().await.expect("the connection stays open");
        let request = hyper::Request::get("/")
            .header("host", "kubia")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        answered.insert(String::from_utf8_lossy(&body).into_owned());
    }
    assert_eq!(answered.len(), 1, "one connection, one pod: {answered:?}");

    // The port is taken now.
    let clash = NODE_PORT.replace("name: kubia-nodeport", "name: other");
    let (code, body) = lab.apply(&clash).await;
    assert_eq!(code, 422);
    assert_eq!(
        body["results"][0]["error"]["message"],
        "Service \"other\" is invalid: spec.ports[0].nodePort: Invalid value: 30123: provided port is already allocated"
    );
    let (code, body) = lab.apply(&NODE_PORT.replace("30123", "40000")).await;
    assert_eq!(code, 422);
    assert!(
        body["results"][0]["error"]["message"].as_str().unwrap().ends_with("The range of valid ports is 30000-32767")
    );

    // Back to ClusterIP: the node port is released and nothing listens on it any more.
    let (code, _) =
        lab.apply(&NODE_PORT.replace("type: NodePort", "type: ClusterIP").replace("    nodePort: 30123\n", "")).await;
    assert_eq!(code, 200);
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia-nodeport").await;
    assert!(svc["spec"]["ports"][0]["nodePort"].is_null(), "{svc}");
    eventually(PATIENCE, "the node port to close", || async {
        client.get(format!("http://{ip}:30123/")).send().await.is_err().then_some(())
    })
    .await;
    let (code, _) = lab.apply(&clash).await;
    assert_eq!(code, 200, "30123 is free again");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ip_affinity_pins_a_client_and_none_spreads() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    let sticky = NODE_PORT.replace("  type: NodePort\n", "  type: NodePort\n  sessionAffinity: ClientIP\n");
    lab.apply(&sticky).await;
    ready(&lab, "kubia-nodeport", 3).await;
    let ip = node_ips(&lab).await.remove(0);
    let client = fresh_connections();
    answering(&client, &format!("http://{ip}:30123/")).await;
    let answered: BTreeSet<String> = {
        let mut set = BTreeSet::new();
        for _ in 0..15 {
            set.insert(hit(&client, &format!("http://{ip}:30123/")).await);
        }
        set
    };
    assert_eq!(answered.len(), 1, "ClientIP affinity: 15 requests, one pod: {answered:?}");
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia-nodeport").await;
    assert_eq!(svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 10800);

    // Switching it off on the live service takes effect for new connections.
    lab.apply(NODE_PORT).await;
    eventually(PATIENCE, "requests to spread again", || async {
        let mut set = BTreeSet::new();
        for _ in 0..30 {
            set.insert(hit(&client, &format!("http://{ip}:30123/")).await);
        }
        (set.len() == 3).then_some(())
    })
    .await;
    lab.app.shutdown().await;
}

const ECHO: &str = "apiVersion: v1
kind: ReplicationController
metadata:
  name: echo
spec:
  replicas: 1
  selector:
    app: echo
  template:
    metadata:
      labels:
        app: echo
    spec:
      containers:
      - name: echo
        image: registry.k8s.io/echoserver:1.10
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  type: NodePort
  externalTrafficPolicy: POLICY
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: echo
";

fn client_address(page: &str) -> String {
    page.lines().find_map(|l| l.trim().strip_prefix("client_address=")).expect(page).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_policies_decide_the_source_address_and_the_hops() {
    let lab = Lab::start().await;
    lab.apply(&ECHO.replace("POLICY", "Cluster")).await;
    ready(&lab, "echo", 1).await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/echo").await;
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    let (_, pods) = lab.get("/api/v1/namespaces/default/pods?labelSelector=app%3Decho").await;
    let pod_node = pods["items"][0]["spec"]["nodeName"].as_str().unwrap().to_string();
    let (_, nodes) = lab.get("/api/v1/nodes").await;
    let nodes: Vec<(String, String)> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap().into(),
                n["status"]["addresses"][0]["address"].as_str().unwrap().into(),
            )
        })
        .collect();
    let client = fresh_connections();

    // Cluster: any node forwards, and the pod sees that node's address (SNAT).
    for (_, ip) in &nodes {
        answering(&client, &format!("http://{ip}:{node_port}/")).await;
        let page = client.get(format!("http://{ip}:{node_port}/")).send().await.unwrap().text().await.unwrap();
        assert_eq!(client_address(&page), *ip, "{page}");
    }

    // Local: only the pod's node forwards, and the pod sees the real client (this host).
    lab.apply(&ECHO.replace("POLICY", "Local")).await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/echo").await;
    assert_eq!(svc["spec"]["ports"][0]["nodePort"].as_u64(), Some(node_port), "applying again keeps the node port");
    let (pod_ip_node, other) = (
        nodes.iter().find(|(n, _)| *n == pod_node).unwrap().1.clone(),
        nodes.iter().find(|(n, _)| *n != pod_node).unwrap().1.clone(),
    );
    let page = eventually(PATIENCE, "the Local policy", || async {
        let page = client.get(format!("http://{pod_ip_node}:{node_port}/")).send().await.ok()?.text().await.ok()?;
        (client_address(&page) == "127.0.0.1").then_some(page)
    })
    .await;
    assert!(page.contains("Hostname: echo-"), "{page}");
    let short = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let err = short.get(format!("http://{other}:{node_port}/")).send().await.unwrap_err();
    assert!(err.is_timeout(), "a node without a local pod holds the connection: {err}");

    // Pod-to-service traffic keeps the client pod's address.
    lab.apply(KUBIA).await;
    let from = eventually(PATIENCE, "a kubia pod", || async {
        lab.running_pods().await.into_iter().find(|p| p.starts_with("kubia-"))
    })
    .await;
    let (_, from_pod) = lab.get(&format!("/api/v1/namespaces/default/pods/{from}")).await;
    let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap();
    let out = lab.exec(&from, &["curl", "-s", &format!("http://{cluster_ip}")]).await;
    assert_eq!(client_address(out["stdout"].as_str().unwrap()), from_pod["status"]["podIP"].as_str().unwrap());

    // Through a load balancer under Local, the pod still sees the real client: here one that
    // connects from an address of its own.
    lab.apply(&ECHO.replace("POLICY", "Local").replace("type: NodePort", "type: LoadBalancer")).await;
    let lb_ip = eventually(PATIENCE, "an external IP", || async {
        let (_, svc) = lab.get("/api/v1/namespaces/default/services/echo").await;
        svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(str::to_string)
    })
    .await;
    let elsewhere = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .local_address(std::net::IpAddr::from([127, 0, 4, 7]))
        .build()
        .unwrap();
    let page = eventually(PATIENCE, "the echo pod through the load balancer", || async {
        elsewhere.get(format!("http://{lb_ip}/")).send().await.ok()?.text().await.ok()
    })
    .await;
    assert_eq!(client_address(&page), "127.0.4.7", "{page}");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancers_get_an_address_and_spread_over_the_nodes() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    lab.apply(LOAD_BALANCER).await;
    ready(&lab, "kubia-loadbalancer", 3).await;
    let svc: Value = eventually(PATIENCE, "an external IP", || async {
        let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia-loadbalancer").await;
        svc["status"]["loadBalancer"]["ingress"][0]["ip"].is_string().then_some(svc)
    })
    .await;
    let lb_ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().unwrap();
    assert!(svc["spec"]["ports"][0]["nodePort"].is_u64(), "a LoadBalancer service is a NodePort service too");
    let client = fresh_connections();
    // The address is published before the proxy has its listener up, as with a cloud load balancer.
    answering(&client, &format!("http://{lb_ip}/")).await;
    let mut pods = BTreeSet::new();
    for _ in 0..30 {
        pods.insert(hit(&client, &format!("http://{lb_ip}/")).await);
    }
    assert_eq!(pods.len(), 3, "{pods:?}");

    // Changing the type away gives the address back.
    lab.apply(&LOAD_BALANCER.replace("type: LoadBalancer", "type: ClusterIP")).await;
    eventually(PATIENCE, "the external IP to go", || async {
        let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia-loadbalancer").await;
        svc["status"]["loadBalancer"]["ingress"].is_null().then_some(())
    })
    .await;
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_load_balancers_the_service_stays_pending_and_works_as_a_node_port() {
    let app = App::start(Config { load_balancers: false, ..Config::ephemeral() }).await.unwrap();
    let lab = Lab { app, http: reqwest::Client::new() };
    lab.apply(KUBIA).await;
    lab.apply(LOAD_BALANCER).await;
    ready(&lab, "kubia-loadbalancer", 3).await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/kubia-loadbalancer").await;
    assert!(svc["status"]["loadBalancer"]["ingress"].is_null(), "<pending>: {svc}");
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    let ip = node_ips(&lab).await.remove(0);
    let client = fresh_connections();
    answering(&client, &format!("http://{ip}:{node_port}/")).await;
    let answer = hit(&client, &format!("http://{ip}:{node_port}/")).await;
    assert!(answer.starts_with("kubia-"), "{answer}");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_port_without_ready_endpoints_refuses_connections() {
    let lab = Lab::start().await;
    let (code, _) = lab.apply(NODE_PORT).await;
    assert_eq!(code, 200);
    let ip = node_ips(&lab).await.remove(0);
    let err = fresh_connections().get(format!("http://{ip}:30123/")).send().await.unwrap_err();
    assert!(err.is_connect(), "refused, not hanging: {err}");
    let (code, _) = lab
        .send(Method::DELETE, "/api/v1/namespaces/default/services/kubia-nodeport", "application/json", String::new())
        .await;
    assert_eq!(code, 200);
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svclab_stops_with_a_connection_open_through_a_node_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab = Lab::start().await;
    // A server of the user's own on the host that holds every connection open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host_port = listener.local_addr().unwrap().port();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let got = got_tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let _ = got.send(buf[..n].to_vec()).await;
                }
            });
        }
    });
    let (code, body) = lab
        .apply(&format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: held\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: held\nsubsets:\n- addresses:\n  - ip: 127.0.0.1\n  ports:\n  - port: {host_port}\n"
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/held").await;
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    let at = format!("{}:{node_port}", node_ips(&lab).await[0]);
    let mut client =
        eventually(PATIENCE, "the node port to listen", || async { tokio::net::TcpStream::connect(&at).await.ok() })
            .await;
    client.write_all(b"hello").await.unwrap();
    let got = tokio::time::timeout(PATIENCE, got_rx.recv()).await.expect("the host server hears the client");
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));

    tokio::time::timeout(PATIENCE, lab.app.shutdown()).await.expect("svclab stops with the connection open");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, client.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the proxied connection is closed: {closed:?}");
}
