//! Sections 5.3 and 5.4: NodePort and LoadBalancer services reached from the host, an Ingress
//! (the chapter's `extensions/v1beta1` listing) with TLS from a Secret `kubectl create secret tls`
//! makes, a CertificateSigningRequest approved with `kubectl certificate approve`,
//! `kubectl port-forward` to a pod and a service, and the API server's proxy to them.

use crate::support::{Cluster, binaries, row, table};
use std::path::Path;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(15);

/// The real curl from the host; its body, or its error.
async fn curl(args: &[&str]) -> Result<String, String> {
    let out =
        tokio::process::Command::new("curl").args(["-sS", "-m", "5"]).args(args).output().await.expect("curl runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// curl until kubia answers.
async fn answered(args: &[&str]) -> String {
    answered_with(args, "You've hit kubia-").await
}

/// curl until the body starts with `want`.
async fn answered_with(args: &[&str], want: &str) -> String {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        match curl(args).await {
            Ok(body) if body.starts_with(want) => return body,
            other => assert!(tokio::time::Instant::now() < deadline, "curl {args:?}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A cluster running the chapter's kubia pods, with `services` applied.
async fn kubia_and(binary: &crate::support::Binary, services: &str) -> Cluster {
    let cluster = Cluster::start(binary).await;
    let kubia = cluster.file("kubia.yaml", crate::KUBIA);
    cluster.kubectl(&["create", "-f", kubia.to_str().unwrap()]).await.ok();
    let services = cluster.file("services.yaml", services);
    cluster.kubectl(&["apply", "-f", services.to_str().unwrap()]).await.ok();
    cluster
}

/// The name of the first pod, once it is ready.
async fn a_ready_pod(cluster: &Cluster) -> String {
    let pods = cluster.until(&["get", "pods", "-o", "name"], WITHIN, "pods", |out| !out.is_empty()).await;
    let pod = pods.lines().next().unwrap().trim_start_matches("pod/").to_string();
    cluster.kubectl(&["wait", "--for=condition=Ready", &format!("pod/{pod}"), "--timeout=30s"]).await.ok();
    pod
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_3_node_ports_and_load_balancers() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let kubia = cluster.file("kubia.yaml", crate::KUBIA);
        let node_port = cluster.file("kubia-svc-nodeport.yaml", include_str!("../../../examples/kubia-nodeport.yaml"));
        let lb = cluster.file("kubia-svc-loadbalancer.yaml", include_str!("../../../examples/kubia-loadbalancer.yaml"));
        cluster.kubectl(&["create", "-f", kubia.to_str().unwrap()]).await.ok();
        assert_eq!(
            cluster.kubectl(&["create", "-f", node_port.to_str().unwrap()]).await.ok(),
            "service/kubia-nodeport created\n"
        );
        let services = table(&cluster.kubectl(&["get", "svc", "kubia-nodeport"]).await.ok());
        assert_eq!(
            row(&services, "kubia-nodeport")[1..5][..],
            ["NodePort", &row(&services, "kubia-nodeport")[2], "<none>", "80:30123/TCP"]
        );

        // The nodes' addresses, as the chapter reads them with jsonpath.
        let jsonpath = "jsonpath={.items[*].status.addresses[?(@.type==\"InternalIP\")].address}";
        let addresses = cluster.kubectl(&["get", "nodes", "-o", jsonpath]).await.ok();
        let nodes: Vec<&str> = addresses.split_whitespace().collect();
        assert_eq!(nodes.len(), 3, "{addresses}");
        for node in nodes {
            answered(&[&format!("http://{node}:30123/")]).await;
        }

        assert_eq!(
            cluster.kubectl(&["create", "-f", lb.to_str().unwrap()]).await.ok(),
            "service/kubia-loadbalancer created\n"
        );
        let out = cluster
            .until(&["get", "svc", "kubia-loadbalancer"], WITHIN, "a load balancer address", |out| {
                !out.contains("<pending>")
            })
            .await;
        let services = table(&out);
        let svc = row(&services, "kubia-loadbalancer");
        assert_eq!(svc[1], "LoadBalancer");
        assert!(svc[4].starts_with("80:3") && svc[4].ends_with("/TCP"), "{svc:?}");
        answered(&[&format!("http://{}/", svc[3])]).await;
        let described = cluster.kubectl(&["describe", "svc", "kubia-loadbalancer"]).await.ok();
        assert!(described.contains(&format!("LoadBalancer Ingress:     {}", svc[3])), "{described}");
        assert!(described.contains("External Traffic Policy:  Cluster"), "{described}");
        cluster.stop().await;
    }
}

/// `loadBalancerSourceRanges` let only the clients in them through a load balancer: a pod's
/// address in range is served, the host (127.0.0.1) is dropped until the range takes it in. A
/// `loadBalancerClass` names another implementation: the built-in one leaves the service
/// `<pending>` until that implementation writes its status, whose address then answers; the class
/// cannot change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_source_ranges_and_classes() {
    const SERVICES: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: ranged}\nspec:\n  type: LoadBalancer\n  loadBalancerSourceRanges: [10.244.0.0/16]\n  selector: {app: kubia}\n  ports: [{port: 80, targetPort: 8080}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: classed}\nspec:\n  type: LoadBalancer\n  loadBalancerClass: example.com/internal-vip\n  selector: {app: kubia}\n  ports: [{port: 80, targetPort: 8080}]\n";
    for binary in binaries() {
        let cluster = kubia_and(&binary, SERVICES).await;
        let ingress = ["get", "svc", "ranged", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"];
        let ip = cluster.until(&ingress, WITHIN, "a load balancer address", |out| !out.is_empty()).await;
        let url = format!("http://{ip}/");
        let pod = a_ready_pod(&cluster).await;
        let from_pod = ["exec", pod.as_str(), "--", "curl", "-s", "-m", "2", url.as_str()];
        let answer = cluster.until(&from_pod, WITHIN, "a pod in range is served", |out| !out.is_empty()).await;
        assert!(answer.starts_with("You've hit kubia-"), "{answer}");
        let dropped = curl(&["-m", "1", &url]).await.unwrap_err();
        assert!(dropped.contains("timed out"), "the host is outside the range: {dropped}");
        let widened = r#"{"spec":{"loadBalancerSourceRanges":["10.244.0.0/16","127.0.0.1/32"]}}"#;
        cluster.kubectl(&["patch", "svc", "ranged", "-p", widened]).await.ok();
        answered(&[&url]).await;

        let classed = table(&cluster.kubectl(&["get", "svc", "classed"]).await.ok());
        assert_eq!(row(&classed, "classed")[3], "<pending>", "left to its class's implementation");
        let status = r#"{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.3.7"}]}}}"#;
        cluster.kubectl(&["patch", "svc", "classed", "--subresource=status", "--type=merge", "-p", status]).await.ok();
        answered(&["http://127.0.3.7/"]).await;
        let changed = r#"{"spec":{"loadBalancerClass":"example.com/other"}}"#;
        let refused = cluster.kubectl(&["patch", "svc", "classed", "-p", changed]).await.fails(1);
        assert!(
            refused.contains("spec.loadBalancerClass: Invalid value: \"example.com/other\": may not change once set"),
            "{refused}"
        );
        cluster.stop().await;
    }
}

/// `externalIPs`: traffic to an external IP's service port reaches the service, from pods (whose
/// traffic kube-proxy catches on every node) to any such address, and from the host to one it can
/// listen on (`127.0.0.0/8`); the column shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ips_take_traffic_to_the_service_port() {
    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec:\n  externalIPs: [127.0.9.9, 203.0.113.10]\n  selector: {app: kubia}\n  ports: [{port: 80, targetPort: 8080}]\n";
    for binary in binaries() {
        let cluster = kubia_and(&binary, SERVICE).await;
        let listed = table(&cluster.kubectl(&["get", "svc", "ext"]).await.ok());
        assert_eq!(row(&listed, "ext")[3], "127.0.9.9,203.0.113.10");
        answered(&["http://127.0.9.9/"]).await;
        let pod = a_ready_pod(&cluster).await;
        for ip in ["203.0.113.10", "127.0.9.9"] {
            let from_pod = ["exec", pod.as_str(), "--", "curl", "-s", "-m", "2", ip];
            let answer = cluster.until(&from_pod, WITHIN, "a pod reaches the external IP", |out| !out.is_empty()).await;
            assert!(answer.starts_with("You've hit kubia-"), "{ip}: {answer}");
        }
        cluster.stop().await;
    }
}

const HOST_NETWORK: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: hostnet}
spec:
  selector: {matchLabels: {app: hostnet}}
  template:
    metadata: {labels: {app: hostnet}}
    spec:
      hostNetwork: true
      containers:
      - {name: kubia, image: luksa/kubia, ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hostnet}
spec:
  selector: {app: hostnet}
  ports: [{port: 80, targetPort: 8080}]
";

/// A pod on node-1 whose port 8080 is the node's port 9000.
fn host_port_pod(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeSelector: {{kubernetes.io/hostname: node-1}}\n  containers:\n  - {{name: kubia, image: luksa/kubia, ports: [{{containerPort: 8080, hostPort: 9000}}]}}\n"
    )
}

/// Pods on their node's network (`hostNetwork`, a DaemonSet's, as node agents run) have the
/// node's address and name, their ports are the node's, and a service over them names the
/// nodes; a `hostPort` maps one port of the node to a pod, and the scheduler gives each node's
/// port to one pod at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_network_pods_and_host_ports_are_their_nodes() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let manifests = cluster.file("hostnet.yaml", HOST_NETWORK);
        cluster.kubectl(&["apply", "-f", manifests.to_str().unwrap()]).await.ok();
        cluster.kubectl(&["rollout", "status", "daemonset/hostnet", "--timeout=30s"]).await.ok();
        let ips = [
            "get",
            "pods",
            "-l",
            "app=hostnet",
            "-o",
            "jsonpath={range .items[*]}{.status.podIP}={.status.hostIP} {.spec.containers[0].ports[0].hostPort}{\"\\n\"}{end}",
        ];
        let listed = cluster.kubectl(&ips).await.ok();
        let nodes: Vec<&str> = listed.lines().map(|l| l.split('=').next().unwrap()).collect();
        assert_eq!(nodes.len(), 3, "{listed}");
        for line in listed.lines() {
            let (pod_ip, rest) = line.split_once('=').unwrap();
            assert_eq!(rest, format!("{pod_ip} 8080"), "a host network pod has its node's address: {listed}");
        }
        // Its port is the node's, from the host; it answers with the node's name.
        let answer = answered_with(&[&format!("http://{}:8080/", nodes[0])], "You've hit node-").await;
        assert!(answer.starts_with("You've hit node-"), "{answer}");
        // The service's endpoints are the nodes; a pod reaches them through it.
        let endpoints = ["get", "endpoints", "hostnet", "-o", "jsonpath={.subsets[0].addresses[*].ip}"];
        let named = cluster.until(&endpoints, WITHIN, "three endpoints", |out| out.split(' ').count() == 3).await;
        let mut named: Vec<&str> = named.split(' ').collect();
        let mut expected = nodes.clone();
        named.sort();
        expected.sort();
        assert_eq!(named, expected);
        cluster.kubectl(&["run", "client", "--image=busybox", "--", "sleep", "3600"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/client", "--timeout=30s"]).await.ok();
        let through = ["exec", "client", "--", "wget", "-qO-", "http://hostnet"];
        let answer = cluster.until(&through, WITHIN, "the service answers", |out| !out.is_empty()).await;
        assert!(answer.starts_with("You've hit node-"), "{answer}");

        // A host port: the pod keeps its own address; node-1's port 9000 is its 8080.
        let first = cluster.file("hp-1.yaml", &host_port_pod("hp-1"));
        cluster.kubectl(&["apply", "-f", first.to_str().unwrap()]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/hp-1", "--timeout=30s"]).await.ok();
        let pod_ip = cluster.kubectl(&["get", "pod", "hp-1", "-o", "jsonpath={.status.podIP}"]).await.ok();
        assert!(pod_ip.starts_with("10.244.1."), "{pod_ip}");
        let node_1 = cluster
            .kubectl(&[
                "get",
                "node",
                "node-1",
                "-o",
                "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
            ])
            .await
            .ok();
        let url = format!("http://{node_1}:9000/");
        assert_eq!(answered_with(&[&url], "You've hit hp-1").await, "You've hit hp-1\n");
        // A second pod asking for node-1's port 9000 waits until the first is gone.
        let second = cluster.file("hp-2.yaml", &host_port_pod("hp-2"));
        cluster.kubectl(&["apply", "-f", second.to_str().unwrap()]).await.ok();
        let events = ["get", "events", "--field-selector", "involvedObject.name=hp-2,reason=FailedScheduling"];
        let why = cluster.until(&events, WITHIN, "the scheduler's reason", |out| out.contains("free ports")).await;
        assert!(why.contains("1 node(s) didn't have free ports for the requested pod ports"), "{why}");
        cluster.kubectl(&["delete", "pod", "hp-1", "--grace-period=1"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/hp-2", "--timeout=30s"]).await.ok();
        assert_eq!(answered_with(&[&url], "You've hit hp-2").await, "You've hit hp-2\n");
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_4_ingress_with_tls_and_a_signed_certificate() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let addresses = cluster.app.ingress.addresses().await.expect("the ingress add-on runs");
        let kubia = cluster.file("kubia.yaml", crate::KUBIA);
        let node_port = cluster.file("kubia-svc-nodeport.yaml", include_str!("../../../examples/kubia-nodeport.yaml"));
        let ingress = cluster.file("kubia-ingress.yaml", include_str!("../../../examples/kubia-ingress.yaml"));
        let tls = cluster.file("kubia-ingress-tls.yaml", include_str!("../../../examples/kubia-ingress-tls.yaml"));
        for file in [&kubia, &node_port] {
            cluster.kubectl(&["create", "-f", file.to_str().unwrap()]).await.ok();
        }
        let all = table(&cluster.kubectl(&["get", "po", "--all-namespaces"]).await.ok());
        assert_eq!(all[0][..3], ["NAMESPACE", "NAME", "READY"]);
        assert_eq!(
            cluster.kubectl(&["create", "-f", ingress.to_str().unwrap()]).await.ok(),
            "ingress.extensions/kubia created\n"
        );
        let out = cluster
            .until(&["get", "ingresses"], WITHIN, "an ingress address", |out| {
                table(out).get(1).is_some_and(|r| !r[3].is_empty())
            })
            .await;
        let ingresses = table(&out);
        assert_eq!(ingresses[0], ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]);
        assert_eq!(row(&ingresses, "kubia")[1..5], ["nginx", "kubia.example.com", "127.0.0.1", "80"]);
        let url = format!("http://{}/", addresses.http);
        answered(&["-H", "Host: kubia.example.com", &url]).await;

        // TLS, as the chapter makes the key and certificate.
        let dir = cluster.file("tls.key", "").parent().unwrap().to_path_buf();
        openssl(&dir, &["genrsa", "-out", "tls.key", "2048"]);
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                "tls.key",
                "-out",
                "tls.cert",
                "-days",
                "360",
                "-subj",
                "/CN=kubia.example.com",
            ],
        );
        let created =
            cluster.kubectl(&["create", "secret", "tls", "tls-secret", "--cert=tls.cert", "--key=tls.key"]).await.ok();
        assert_eq!(created, "secret/tls-secret created\n");
        let secrets = table(&cluster.kubectl(&["get", "secrets"]).await.ok());
        assert_eq!(row(&secrets, "tls-secret")[1..3], ["kubernetes.io/tls", "2"]);
        let applied = cluster.kubectl(&["apply", "-f", tls.to_str().unwrap()]).await;
        assert!(applied.stderr.contains("missing the kubectl.kubernetes.io/last-applied-configuration annotation"));
        assert_eq!(applied.ok(), "ingress.extensions/kubia configured\n");
        let resolve = format!("kubia.example.com:{}:127.0.0.1", addresses.https.port());
        let https = format!("https://kubia.example.com:{}/kubia", addresses.https.port());
        answered(&["-k", "--resolve", &resolve, &https]).await;
        let verbose = tokio::process::Command::new("curl")
            .args(["-skv", "-m", "5", "--resolve", &resolve, &https])
            .output()
            .await
            .unwrap();
        let trace = String::from_utf8_lossy(&verbose.stderr);
        assert!(trace.contains("subject: CN=kubia.example.com"), "{trace}");
        let ports = table(&cluster.kubectl(&["get", "ing", "kubia"]).await.ok());
        assert_eq!(row(&ports, "kubia")[4], "80, 443");

        // A certificate signed through a CertificateSigningRequest.
        openssl(
            &dir,
            &["req", "-new", "-key", "tls.key", "-out", "kubia.csr", "-subj", "/CN=kubia.example.com/O=system:nodes"],
        );
        let request = std::fs::read(dir.join("kubia.csr")).unwrap();
        let csr = format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: kubia\nspec:\n  request: {}\n  signerName: kubernetes.io/kube-apiserver-client\n  usages: [client auth]\n",
            base64(&request)
        );
        let csr_file = cluster.file("csr.yaml", &csr);
        cluster.kubectl(&["create", "-f", csr_file.to_str().unwrap()]).await.ok();
        let pending = table(&cluster.kubectl(&["get", "csr"]).await.ok());
        assert_eq!(row(&pending, "kubia")[5], "Pending");
        let approved = cluster.kubectl(&["certificate", "approve", "kubia"]).await.ok();
        assert_eq!(approved, "certificatesigningrequest.certificates.k8s.io/kubia approved\n");
        cluster
            .until(&["get", "csr", "kubia"], WITHIN, "an issued certificate", |out| out.contains("Approved,Issued"))
            .await;
        let issued = cluster.kubectl(&["get", "csr", "kubia", "-o", "jsonpath={.status.certificate}"]).await.ok();
        assert!(!issued.is_empty());
        cluster.stop().await;
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The local port `kubectl port-forward … :<port>` chose, from its `Forwarding from
/// 127.0.0.1:<local> -> <port>` line.
async fn forwarded(watcher: &mut crate::support::Watcher) -> u16 {
    let lines = watcher.until(|line| line.starts_with("Forwarding from 127.0.0.1:")).await;
    let line = lines.last().unwrap();
    line["Forwarding from 127.0.0.1:".len()..].split(' ').next().unwrap().parse().unwrap()
}

/// `kubectl port-forward` to a pod and to a service (kubectl picks one of its pods and the target
/// port), curl through it, bodies larger than SPDY's initial window both ways, and a port nothing
/// listens on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_to_a_pod_and_a_service() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("kubia.yaml", crate::KUBIA);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        cluster
            .until(&["get", "endpoints", "kubia"], WITHIN, "three endpoints", |out| out.matches(":8080").count() == 3)
            .await;
        let pod =
            cluster.kubectl(&["get", "pods", "-l", "app=kubia", "-o", "jsonpath={.items[0].metadata.name}"]).await.ok();

        let mut to_pod = cluster.watch(&["port-forward", &format!("pod/{pod}"), ":8080"]);
        let port = forwarded(&mut to_pod).await;
        let body = curl(&[&format!("http://127.0.0.1:{port}/")]).await.unwrap();
        assert_eq!(body, format!("You've hit {pod}\n"));

        let mut to_service = cluster.watch(&["port-forward", "svc/kubia", ":80"]);
        let port = forwarded(&mut to_service).await;
        let body = curl(&[&format!("http://127.0.0.1:{port}/")]).await.unwrap();
        assert!(body.starts_with("You've hit kubia-"), "{body}");

        // Nothing listens on 9999: the kubelet's error ends the connection (kubectl prints it).
        let mut nowhere = cluster.watch(&["port-forward", &format!("pod/{pod}"), ":9999"]);
        let port = forwarded(&mut nowhere).await;
        assert!(curl(&[&format!("http://127.0.0.1:{port}/")]).await.is_err());

        // 300 KB up to an echoserver, which reads the whole body and answers with it (more than
        // the 64 KiB a SPDY stream may send before a window update), and 2.7 MB down from a file
        // an nginx pod serves.
        cluster.kubectl(&["run", "echo", "--image=registry.k8s.io/echoserver:1.10"]).await.ok();
        cluster.kubectl(&["run", "web", "--image=nginx"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/echo", "pod/web", "--timeout=30s"]).await.ok();
        let mut to_echo = cluster.watch(&["port-forward", "pod/echo", ":8080"]);
        let port = forwarded(&mut to_echo).await;
        let upload = cluster.file("upload.txt", &"x".repeat(300_000));
        let data = format!("@{}", upload.display());
        let body = curl(&["-X", "POST", "--data-binary", &data, &format!("http://127.0.0.1:{port}/")]).await.unwrap();
        assert!(body.contains(&"x".repeat(300_000)), "{} bytes back", body.len());
        cluster.kubectl(&["exec", "web", "--", "sh", "-c", "seq 1 400000 > /usr/share/nginx/html/big.txt"]).await.ok();
        let mut to_web = cluster.watch(&["port-forward", "pod/web", ":80"]);
        let port = forwarded(&mut to_web).await;
        let body = curl(&[&format!("http://127.0.0.1:{port}/big.txt")]).await.unwrap();
        let expected: String = (1..=400_000).map(|n| format!("{n}\n")).collect();
        assert!(body == expected, "{} bytes of {}", body.len(), expected.len());
        drop((to_pod, to_service, nowhere, to_echo, to_web));
        cluster.stop().await;
    }
}

/// The proxy subresources: `kubectl get --raw …/services/kubia:80/proxy/` reaches one of the
/// service's pods, `…/pods/echo/proxy/<path>` reaches that pod with the path and query, through
/// `kubectl proxy` too (a POST with its body), and what cannot be reached is kube-apiserver's
/// 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_subresources_reach_pods_and_services() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("kubia.yaml", crate::KUBIA);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        cluster.kubectl(&["run", "echo", "--image=registry.k8s.io/echoserver:1.10", "--port=8080"]).await.ok();
        cluster
            .until(&["get", "endpoints", "kubia"], WITHIN, "three endpoints", |out| out.matches(":8080").count() == 3)
            .await;
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/echo", "--timeout=30s"]).await.ok();

        for path in
            ["/api/v1/namespaces/default/services/kubia:80/proxy/", "/api/v1/namespaces/default/services/kubia/proxy/"]
        {
            let body = cluster.kubectl(&["get", "--raw", path]).await.ok();
            assert!(body.starts_with("You've hit kubia-"), "{path}: {body}");
        }
        // The pod's first declared port, the path past `proxy` and the query.
        let body = cluster.kubectl(&["get", "--raw", "/api/v1/namespaces/default/pods/echo/proxy/a/b?c=d"]).await.ok();
        assert!(body.contains("real path=/a/b") && body.contains("query=c=d"), "{body}");
        assert!(body.contains("x-forwarded-uri=/api/v1/namespaces/default/pods/echo/proxy/a/b?c=d"), "{body}");

        let mut proxy = cluster.watch(&["proxy", "--port=0"]);
        let lines = proxy.until(|line| line.starts_with("Starting to serve on 127.0.0.1:")).await;
        let port = lines.last().unwrap().rsplit(':').next().unwrap().to_string();
        let url = format!("http://127.0.0.1:{port}/api/v1/namespaces/default/pods/echo:8080/proxy/form");
        let body = curl(&["-X", "POST", "-d", "hello=world", &url]).await.unwrap();
        assert!(body.contains("method=POST") && body.contains("hello=world"), "{body}");
        // `…/proxy` is redirected to `…/proxy/`, which kubia answers.
        let url = format!("http://127.0.0.1:{port}/api/v1/namespaces/default/services/kubia/proxy");
        let redirect = curl(&["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", &url]).await.unwrap();
        assert!(redirect.starts_with("301 ") && redirect.ends_with("/services/kubia/proxy/"), "{redirect}");
        answered(&["-L", &url]).await;
        drop(proxy);

        let pod =
            cluster.kubectl(&["get", "pods", "-l", "app=kubia", "-o", "jsonpath={.items[0].metadata.name}"]).await.ok();
        let refused =
            cluster.kubectl(&["get", "--raw", &format!("/api/v1/namespaces/default/pods/{pod}:9999/proxy/")]).await;
        let refused = refused.fails(1);
        assert!(
            refused.contains("error trying to reach service: dial tcp 10.")
                && refused.contains(":9999: connect: connection refused"),
            "{refused}"
        );
        let no_port =
            cluster.kubectl(&["get", "--raw", "/api/v1/namespaces/default/services/kubia:81/proxy/"]).await.fails(1);
        assert!(no_port.contains("(ServiceUnavailable): no service port 81 found for service \"kubia\""), "{no_port}");
        let missing =
            cluster.kubectl(&["get", "--raw", "/api/v1/namespaces/default/services/nope/proxy/"]).await.fails(1);
        assert!(missing.contains("(NotFound): endpoints \"nope\" not found"), "{missing}");
        cluster.stop().await;
    }
}
