//! The chapter's service listings, applied as the chapter gives them, behaving as it says:
//! multi-port and named-port services, a selectorless service with hand-written Endpoints,
//! ExternalName and headless services, UDP, and the health-check node port.

use crate::common;

use common::{Lab, eventually};
use std::collections::BTreeSet;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

/// Pods running agnhost netexec, with two containers: HTTP on 8080 and on 8443.
const TWO_PORT_PODS: &str = "apiVersion: v1
kind: ReplicationController
metadata:
  name: kubia
spec:
  replicas: 2
  selector:
    app: kubia
  template:
    metadata:
      labels:
        app: kubia
    spec:
      containers:
      - name: http
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: [netexec, --http-port=8080, --udp-port=8081]
        ports:
        - name: http
          containerPort: 8080
      - name: https
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: [netexec, --http-port=8443, --udp-port=8444]
        ports:
        - name: https
          containerPort: 8443
";

/// Listing 5.3.
const MULTI_PORT: &str = "apiVersion: v1
kind: Service
metadata:
  name: kubia
spec:
  ports:
    - name: http
      port: 80
      targetPort: 8080
    - name: https
      port: 443
      targetPort: 8443
  selector:
    app: kubia
";

async fn curl(lab: &Lab, from: &str, url: &str) -> (i64, String, String) {
    let out = lab.exec(from, &["curl", "-sS", "-m", "2", url]).await;
    (
        out["exitCode"].as_i64().unwrap(),
        out["stdout"].as_str().unwrap().to_string(),
        out["stderr"].as_str().unwrap().to_string(),
    )
}

async fn cluster_ip(lab: &Lab, service: &str) -> String {
    let (_, svc) = lab.get(&format!("/api/v1/namespaces/default/services/{service}")).await;
    svc["spec"]["clusterIP"].as_str().unwrap_or_default().to_string()
}

async fn running(lab: &Lab, n: usize) -> Vec<String> {
    eventually(PATIENCE, "running pods", || async {
        let pods = lab.running_pods().await;
        (pods.len() >= n).then_some(pods)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_port_service_forwards_each_port_to_its_target() {
    let lab = Lab::start().await;
    lab.apply(TWO_PORT_PODS).await;
    let (code, body) = lab.apply(MULTI_PORT).await;
    assert_eq!(code, 200, "{body}");
    let pods = running(&lab, 2).await;
    eventually(PATIENCE, "2 ready endpoints", || async {
        (lab.ready_endpoints("kubia").await.len() == 2).then_some(())
    })
    .await;
    lab.serving("kubia", 2).await;
    let ip = cluster_ip(&lab, "kubia").await;
    let mut seen = BTreeSet::new();
    for port in [80, 443] {
        for _ in 0..10 {
            let (code, body, err) = curl(&lab, &pods[0], &format!("http://{ip}:{port}/hostname")).await;
            assert_eq!(code, 0, "port {port}: {err}");
            seen.insert((port, body));
        }
    }
    let pods: BTreeSet<String> = pods.into_iter().collect();
    for port in [80, 443] {
        let answered: BTreeSet<String> = seen.iter().filter(|(p, _)| *p == port).map(|(_, b)| b.clone()).collect();
        assert_eq!(answered, pods, "port {port} reaches both pods");
    }
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_target_ports_resolve_per_pod() {
    let lab = Lab::start().await;
    // Listings 5.4 and 5.5: two pods call different port numbers "http".
    let pod = |name: &str, port: u16| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: kubia\nspec:\n  containers:\n    - name: kubia\n      image: registry.k8s.io/e2e-test-images/agnhost:2.53\n      args: [netexec, --http-port={port}]\n      ports:\n        - name: http\n          containerPort: {port}\n"
        )
    };
    lab.apply(&format!("{}---\n{}", pod("old", 8080), pod("new", 80))).await;
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kubia\nspec:\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n  selector:\n    app: kubia\n";
    let (code, body) = lab.apply(service).await;
    assert_eq!(code, 200, "{body}");
    running(&lab, 2).await;
    let (_, eps) = eventually(PATIENCE, "two subsets", || async {
        let (code, eps) = lab.get("/api/v1/namespaces/default/endpoints/kubia").await;
        (eps["subsets"].as_array().map_or(0, Vec::len) == 2).then_some((code, eps))
    })
    .await;
    let ports: BTreeSet<u64> =
        eps["subsets"].as_array().unwrap().iter().map(|s| s["ports"][0]["port"].as_u64().unwrap()).collect();
    assert_eq!(ports, [80, 8080].into());
    lab.serving("kubia", 2).await;
    let ip = cluster_ip(&lab, "kubia").await;
    let mut answered = BTreeSet::new();
    for _ in 0..20 {
        let (code, body, err) = curl(&lab, "old", &format!("http://{ip}/hostname")).await;
        assert_eq!(code, 0, "{err}");
        answered.insert(body);
    }
    assert_eq!(answered, ["new".to_string(), "old".to_string()].into());
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectorless_services_use_hand_written_endpoints() {
    let lab = Lab::start().await;
    // A server of the user's own, on this host.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host_port = listener.local_addr().unwrap().port();
    tokio::spawn(axum::serve(listener, axum::Router::new().fallback(|| async { "from the host\n" })).into_future());
    lab.apply(&format!(
        "{}---\n{}",
        common::KUBIA.split("---").nth(1).unwrap(),
        include_str!("../../../examples/external-service.yaml")
    ))
    .await;
    let pods = running(&lab, 3).await;
    let ip = cluster_ip(&lab, "external-service").await;
    // Listing 5.8 alone: no selector, so no Endpoints yet, and nothing answers.
    let (code, _) = lab.get("/api/v1/namespaces/default/endpoints/external-service").await;
    assert_eq!(code, 404);

    let endpoints = format!(
        "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: external-service\nsubsets:\n  - addresses:\n    - ip: 127.0.0.1\n    ports:\n    - port: {host_port}\n"
    );
    let (code, body) = lab.apply(&endpoints).await;
    assert_eq!(code, 200, "{body}");
    let answer = eventually(PATIENCE, "the host server to answer", || async {
        let (code, body, _) = curl(&lab, &pods[0], &format!("http://{ip}")).await;
        (code == 0).then_some(body)
    })
    .await;
    assert_eq!(answer, "from the host\n");

    // Listing 5.9 names addresses outside this machine: svclab never sends traffic there.
    let (code, _) = lab.apply(include_str!("../../../examples/external-service-endpoints.yaml")).await;
    assert_eq!(code, 200);
    lab.serving("external-service", 2).await;
    let (code, _, err) = curl(&lab, &pods[0], &format!("http://{ip}")).await;
    assert_eq!(code, 7, "{err}");
    assert!(err.ends_with("No route to host\n"), "{err}");
    // Mirrored into an EndpointSlice, as kube-controller-manager's mirroring controller does.
    let slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name%3Dexternal-service";
    let mirrored = eventually(PATIENCE, "the mirrored EndpointSlice", || async {
        let (_, list) = lab.get(slices).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let addresses: Vec<String> = items
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .map(|e| e["addresses"][0].as_str().unwrap_or_default().to_string())
            .collect();
        (addresses == ["11.11.11.11", "22.22.22.22"]).then_some(items)
    })
    .await;
    assert_eq!(mirrored.len(), 1, "{mirrored:?}");
    let slice = &mirrored[0];
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslicemirroring-controller.k8s.io"
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Endpoints");
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["ports"][0]["port"], 80);

    // Adding a selector makes the Endpoints managed; removing it leaves them as they are.
    let with_selector = "apiVersion: v1\nkind: Service\nmetadata:\n  name: external-service\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n  selector:\n    app: kubia\n";
    lab.apply(with_selector).await;
    eventually(PATIENCE, "managed endpoints", || async {
        (lab.ready_endpoints("external-service").await.len() == 3).then_some(())
    })
    .await;
    lab.serving("external-service", 3).await;
    // Managed by the service's selector now: the mirrored slice goes, the controller's own stays.
    eventually(PATIENCE, "the mirrored slice to go", || async {
        let (_, list) = lab.get(slices).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let managers: Vec<&str> = items
            .iter()
            .map(|s| s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"].as_str().unwrap_or_default())
            .collect();
        (managers == ["endpointslice-controller.k8s.io"]).then_some(())
    })
    .await;
    let (code, body, _) = curl(&lab, &pods[0], &format!("http://{ip}")).await;
    assert_eq!(code, 0);
    assert!(body.starts_with("You've hit kubia-"), "{body}");
    let (_, before) = lab.get("/api/v1/namespaces/default/endpoints/external-service").await;
    lab.apply(&with_selector.replace("  selector:\n    app: kubia\n", "")).await;
    lab.send(
        reqwest::Method::DELETE,
        &format!("/api/v1/namespaces/default/pods/{}", pods[0]),
        "application/json",
        String::new(),
    )
    .await;
    eventually(PATIENCE, "a replacement pod", || async {
        let now = lab.running_pods().await;
        (now.len() == 3 && !now.contains(&pods[0])).then_some(())
    })
    .await;
    let (_, after) = lab.get("/api/v1/namespaces/default/endpoints/external-service").await;
    assert_eq!(after["subsets"], before["subsets"], "no selector: nobody updates the endpoints any more");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_name_and_headless_services_are_not_proxied() {
    let lab = Lab::start().await;
    let (code, body) = lab.apply(include_str!("../../../examples/external-service-externalname.yaml")).await;
    assert_eq!(code, 200, "{body}");
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/external-service").await;
    assert!(svc["spec"]["clusterIP"].is_null(), "an ExternalName service gets no cluster IP: {svc}");
    let (code, body) =
        lab.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  type: ExternalName\n").await;
    assert_eq!(code, 422);
    assert_eq!(body["results"][0]["error"]["message"], "Service \"x\" is invalid: spec.externalName: Required value");

    // Headless: endpoints are kept (unready ones too, when asked), but there is nothing to dial.
    lab.apply(common::KUBIA.split("---").nth(1).unwrap()).await;
    let headless = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kubia-headless\nspec:\n  clusterIP: None\n  publishNotReadyAddresses: true\n  ports:\n  - port: 80\n    targetPort: 8080\n  selector:\n    app: kubia\n";
    let (code, _) = lab.apply(headless).await;
    assert_eq!(code, 200);
    eventually(PATIENCE, "headless endpoints", || async {
        (lab.ready_endpoints("kubia-headless").await.len() == 3).then_some(())
    })
    .await;
    assert_eq!(cluster_ip(&lab, "kubia-headless").await, "None");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_node_ports_and_load_balancers_carry_datagrams_both_ways() {
    let lab = Lab::start().await;
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: netexec\n  labels:\n    app: netexec\nspec:\n  containers:\n  - name: netexec\n    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n    args: [netexec]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: udp\nspec:\n  type: LoadBalancer\n  ports:\n  - name: udp\n    port: 53\n    targetPort: 8081\n    protocol: UDP\n  selector:\n    app: netexec\n";
    let (code, body) = lab.apply(manifest).await;
    assert_eq!(code, 200, "{body}");
    eventually(PATIENCE, "the endpoint", || async { (lab.ready_endpoints("udp").await.len() == 1).then_some(()) })
        .await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/udp").await;
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
    let (_, nodes) = lab.get("/api/v1/nodes").await;
    let node_ip = nodes["items"][1]["status"]["addresses"][0]["address"].as_str().unwrap().to_string();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ask = async |to: (&str, u16), what: &str| -> Option<String> {
        socket.send_to(what.as_bytes(), to).await.ok()?;
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await.ok()?.ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let node = (node_ip.as_str(), node_port);
    let hostname = eventually(PATIENCE, "a UDP answer", || ask(node, "hostname")).await;
    assert_eq!(hostname, "netexec");
    assert_eq!(ask(node, "echo hello over udp").await.as_deref(), Some("hello over udp"));
    let client = ask(node, "clientip").await.unwrap();
    assert!(client.starts_with(&format!("{node_ip}:")), "under Cluster the pod sees the node: {client}");
    // The load balancer's address forwards UDP too, through a node.
    let lb_ip = eventually(PATIENCE, "a load-balancer address", || async {
        let (_, svc) = lab.get("/api/v1/namespaces/default/services/udp").await;
        svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(String::from)
    })
    .await;
    let lb = (lb_ip.as_str(), 53);
    let hostname = eventually(PATIENCE, "a UDP answer through the load balancer", || ask(lb, "hostname")).await;
    assert_eq!(hostname, "netexec");
    let client = ask(lb, "clientip").await.unwrap();
    assert!(!client.starts_with("127.0.0.1:"), "the pod sees a node, not the host: {client}");
    // An external IP the host can reach (on loopback, beside this lab's nodes) takes UDP too.
    let external = format!("{}.200", node_ip.rsplit_once('.').unwrap().0);
    let patch = format!(r#"{{"spec":{{"externalIPs":["{external}"]}}}}"#);
    let path = "/api/v1/namespaces/default/services/udp";
    let (code, body) = lab.send(reqwest::Method::PATCH, path, "application/merge-patch+json", patch).await;
    assert_eq!(code, 200, "{body}");
    let at = (external.as_str(), 53);
    let hostname = eventually(PATIENCE, "a UDP answer at the external IP", || ask(at, "hostname")).await;
    assert_eq!(hostname, "netexec");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_node_port_reports_local_endpoints() {
    let lab = Lab::start().await;
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  containers:\n  - name: web\n    image: luksa/kubia\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ports:\n  - port: 80\n    targetPort: 8080\n  selector:\n    app: web\n";
    let (code, body) = lab.apply(manifest).await;
    assert_eq!(code, 200, "{body}");
    eventually(PATIENCE, "the endpoint", || async { (lab.ready_endpoints("web").await.len() == 1).then_some(()) })
        .await;
    let (_, svc) = lab.get("/api/v1/namespaces/default/services/web").await;
    let hc = svc["spec"]["healthCheckNodePort"].as_u64().expect("a Local load balancer gets a health-check port");
    let (_, pod) = lab.get("/api/v1/namespaces/default/pods/web").await;
    let host = pod["status"]["hostIP"].as_str().unwrap().to_string();
    let (_, nodes) = lab.get("/api/v1/nodes").await;
    let client = reqwest::Client::new();
    for node in nodes["items"].as_array().unwrap() {
        let ip = node["status"]["addresses"][0]["address"].as_str().unwrap();
        let response = eventually(PATIENCE, "the health check", || async {
            client.get(format!("http://{ip}:{hc}/healthz")).send().await.ok()
        })
        .await;
        let expected = if ip == host { 200 } else { 503 };
        assert_eq!(response.status().as_u16(), expected, "node {ip}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["localEndpoints"], if ip == host { 1 } else { 0 });
        assert_eq!(body["service"]["name"], "web");
    }
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_slices_mirror_the_pods_and_go_with_their_service() {
    let lab = Lab::start().await;
    lab.apply(common::KUBIA).await;
    let path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkubia";
    let slice = eventually(PATIENCE, "a slice with three ready endpoints", || async {
        let (_, list) = lab.get(path).await;
        let slice = list["items"].as_array()?.first()?.clone();
        let ready = slice["endpoints"].as_array()?.iter().filter(|e| e["conditions"]["ready"] == true).count();
        (ready == 3).then_some(slice)
    })
    .await;
    assert!(slice["metadata"]["name"].as_str().unwrap().starts_with("kubia-"));
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["ports"][0]["port"], 8080);
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert!(slice["endpoints"][0]["nodeName"].as_str().unwrap().starts_with("node-"));
    lab.send(reqwest::Method::DELETE, "/api/v1/namespaces/default/services/kubia", "application/json", String::new())
        .await;
    let (_, list) = lab.get(path).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "the slices went with their service");
    lab.app.shutdown().await;
}
