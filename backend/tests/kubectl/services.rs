//! Sections 5.1 and 5.2: a service in front of a ReplicationController's pods, reached from a pod
//! with `kubectl exec`, discovered through environment variables and DNS; services for
//! something outside the cluster.

use crate::support::{Binary, Cluster, binaries, row, table};
use std::time::Duration;

const READY_IN: Duration = Duration::from_secs(15);

/// The names of the pods `kubectl get pods` lists as Running.
async fn running_pods(cluster: &Cluster, want: usize) -> Vec<String> {
    let out = cluster
        .until(&["get", "pods", "-l", "app=kubia"], READY_IN, "pods running", |out| {
            table(out).iter().skip(1).filter(|r| r[2] == "Running" && r[1] == "1/1").count() == want
        })
        .await;
    table(&out).iter().skip(1).map(|r| r[0].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_1_creating_and_using_a_service() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("kubia.yaml", crate::KUBIA);
        let created = cluster.kubectl(&["create", "-f", file.to_str().unwrap()]).await.ok();
        assert_eq!(created, "service/kubia created\nreplicationcontroller/kubia created\n");

        let services = table(&cluster.kubectl(&["get", "svc"]).await.ok());
        assert_eq!(services[0], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
        assert_eq!(row(&services, "kubernetes")[1..5], ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]);
        // The API server's own endpoint, as an EndpointSlice too.
        let slices = table(
            &cluster.kubectl(&["get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes"]).await.ok(),
        );
        // (over TLS, where pods reach it: not the address kubectl uses)
        let api_slice = row(&slices, "kubernetes");
        assert_eq!([&api_slice[1], &api_slice[3]], ["IPv4", "127.0.0.1"]);
        assert_ne!(api_slice[2], cluster.app.api_addr.port().to_string());
        // kube-apiserver puts its service back when it is deleted.
        cluster.kubectl(&["delete", "service", "kubernetes"]).await.ok();
        let back = cluster
            .until(&["get", "service", "kubernetes"], Duration::from_secs(10), "the service back", |out| {
                out.contains("10.96.0.1")
            })
            .await;
        assert_eq!(row(&table(&back), "kubernetes")[1..5], ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]);
        let kubia = row(&services, "kubia");
        let cluster_ip = kubia[2].clone();
        assert!(cluster_ip.starts_with("10."), "{kubia:?}");
        assert_eq!(kubia[4], "80/TCP");

        let pods = running_pods(&cluster, 3).await;
        let wide = table(&cluster.kubectl(&["get", "pods", "-o", "wide"]).await.ok());
        assert_eq!(wide[0][..7], ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]);
        assert!(row(&wide, &pods[0])[5].starts_with("10.244."), "{wide:?}");

        // kubectl exec kubia-7nog1 -- curl -s http://10.111.249.153, until every pod answered.
        let url = format!("http://{cluster_ip}");
        let first = ["exec", pods[0].as_str(), "--", "curl", "-s", url.as_str()];
        cluster.until(&first, READY_IN, "the cluster IP answers", |out| out.starts_with("You've hit ")).await;
        let mut answered = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let out = cluster.kubectl(&["exec", &pods[0], "--", "curl", "-s", &url]).await.ok();
            answered.insert(out.trim().strip_prefix("You've hit ").expect("kubia answers").to_string());
            if answered.len() == 3 {
                break;
            }
        }
        assert_eq!(answered.len(), 3, "requests spread over the pods: {answered:?}");
        // A loop in the pod shows each answer as it comes, as a terminal does (it never ends).
        let script = format!("while true; do curl -s {url}; sleep 0.1; done");
        let mut looping = cluster.watch(&["exec", &pods[0], "--", "sh", "-c", &script]);
        let mut streamed = std::collections::BTreeSet::new();
        while streamed.len() < 3 {
            let lines = looping.until(|l| l.starts_with("You've hit ")).await;
            streamed.insert(lines.last().expect("a line").clone());
        }
        drop(looping);
        // Without the double dash kubectl refuses, as the chapter warns.
        let refused = cluster.kubectl(&["exec", &pods[0], "curl", "-s", &url]).await.fails(1);
        assert!(refused.contains("exec [POD] [COMMAND] is not supported anymore"), "{refused}");

        // describe shows the endpoints (from the EndpointSlices) and the session affinity.
        let described = cluster.kubectl(&["describe", "svc", "kubia"]).await.ok();
        let endpoints = described.lines().find(|l| l.starts_with("Endpoints:")).expect("an Endpoints line");
        assert_eq!(endpoints.matches(":8080").count(), 3, "{described}");
        assert!(described.contains("Session Affinity:         None"), "{described}");

        // Pods started after the service carry its environment variables.
        let deleted = cluster.kubectl(&["delete", "po", "--all"]).await.ok();
        assert_eq!(deleted.lines().filter(|l| l.starts_with("pod \"kubia-") && l.contains("\" deleted")).count(), 3);
        let pods = running_pods(&cluster, 3).await;
        let env = cluster.kubectl(&["exec", &pods[0], "--", "env"]).await.ok();
        assert!(env.contains(&format!("KUBIA_SERVICE_HOST={cluster_ip}\n")), "{env}");
        assert!(env.contains("KUBIA_SERVICE_PORT=80\n"), "{env}");

        // kubectl exec -it kubia-3inly -- bash: the service by its FQDN and by its short name.
        let keys = "curl http://kubia.default.svc.cluster.local\rcurl http://kubia\rcat /etc/resolv.conf\rexit\r";
        let session = cluster.kubectl_tty(&["exec", "-it", &pods[0], "--", "bash"], keys).await;
        assert_eq!(session.code, 0, "{}{}", session.stdout, session.stderr);
        assert_eq!(session.stdout.matches("You've hit kubia-").count(), 2, "{}", session.stdout);
        assert!(session.stdout.contains("search default.svc.cluster.local svc.cluster.local cluster.local"));
        assert!(session.stdout.contains(&format!("root@{}:/# ", pods[0])), "{}", session.stdout);
        // Exit codes come back as kubectl's own.
        let failed = cluster.kubectl(&["exec", &pods[0], "--", "sh", "-c", "exit 3"]).await;
        assert!(failed.fails(3).contains("command terminated with exit code 3"));
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_2_services_for_what_is_outside_the_cluster() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let service = cluster.file("external-service.yaml", include_str!("../../../examples/external-service.yaml"));
        let endpoints = cluster
            .file("external-service-endpoints.yaml", include_str!("../../../examples/external-service-endpoints.yaml"));
        let out = cluster.kubectl(&["create", "-f", service.to_str().unwrap()]).await.ok();
        assert_eq!(out, "service/external-service created\n");
        let out = cluster.kubectl(&["create", "-f", endpoints.to_str().unwrap()]).await.ok();
        assert_eq!(out, "endpoints/external-service created\n");
        let listed = table(&cluster.kubectl(&["get", "endpoints", "external-service"]).await.ok());
        assert_eq!(row(&listed, "external-service")[1], "11.11.11.11:80,22.22.22.22:80");
        let out = cluster.kubectl(&["delete", "svc", "external-service"]).await.ok();
        assert!(out.starts_with("service \"external-service\" deleted"), "{out}");

        let external_name = cluster.file(
            "external-service-externalname.yaml",
            include_str!("../../../examples/external-service-externalname.yaml"),
        );
        cluster.kubectl(&["create", "-f", external_name.to_str().unwrap()]).await.ok();
        let services = table(&cluster.kubectl(&["get", "svc", "external-service"]).await.ok());
        assert_eq!(
            row(&services, "external-service")[1..5],
            ["ExternalName", "<none>", "someapi.somecompany.com", "80/TCP"]
        );
        cluster.stop().await;
    }
}

/// A selectorless service whose endpoints are an EndpointSlice its user wrote (as Kubernetes'
/// docs now show it, with no Endpoints object): the proxy and cluster DNS serve it from the slice,
/// as kube-proxy and CoreDNS read slices, headless too, while `kubectl get endpoints` still finds
/// nothing; a slice endpoint marked not ready is left out, and deleting the slice leaves none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selectorless_service_is_served_from_the_endpointslices_its_user_wrote() {
    const MANIFEST: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: NAME}\nspec:\n  CLUSTER_IP\n  ports: [{name: http, port: 80, targetPort: 8080}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: NAME-1\n  labels: {kubernetes.io/service-name: NAME}\naddressType: IPv4\nports: [{name: http, appProtocol: http, protocol: TCP, port: 8080}]\nendpoints:\n- addresses: [IP]\n- addresses: [10.244.3.250]\n  conditions: {ready: false}\n";
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["run", "kubia", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/kubia", "--timeout=30s"]).await.ok();
        let ip = cluster.kubectl(&["get", "pod", "kubia", "-o", "jsonpath={.status.podIP}"]).await.ok();
        for (name, cluster_ip) in [("my-service", "type: ClusterIP"), ("my-headless", "clusterIP: None")] {
            let manifest =
                MANIFEST.replace("NAME", name).replace("CLUSTER_IP", cluster_ip).replace("IP]", &format!("{ip}]"));
            let file = cluster.file(&format!("{name}.yaml"), &manifest);
            cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        }
        let curl = ["exec", "kubia", "--", "curl", "-s", "-m", "2", "my-service"];
        let answer = cluster.until(&curl, READY_IN, "the service answers", |out| !out.is_empty()).await;
        assert_eq!(answer, "You've hit kubia\n");
        let dig = ["exec", "kubia", "--", "dig", "+short", "my-headless.default.svc.cluster.local"];
        let records = cluster.until(&dig, READY_IN, "the headless name resolves", |out| !out.is_empty()).await;
        assert_eq!(records.trim(), ip, "the ready endpoint only");
        let missing = cluster.kubectl(&["get", "endpoints", "my-service"]).await.fails(1);
        assert!(missing.contains("endpoints \"my-service\" not found"), "{missing}");

        cluster.kubectl(&["delete", "endpointslice", "my-service-1"]).await.ok();
        // No endpoints: the proxy refuses connections, and curl exits 7.
        let deadline = tokio::time::Instant::now() + READY_IN;
        while cluster.kubectl(&curl).await.code != 7 {
            assert!(tokio::time::Instant::now() < deadline, "my-service still answers without its slice");
        }
        cluster.stop().await;
    }
}

/// A Deployment scaled to zero whose pod drains in a preStop hook: with no ready endpoint left,
/// the service still sends new connections to the pod while it terminates and serves (its slice
/// endpoint `serving` and `terminating`), as kube-proxy does, rather than refusing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_pod_that_still_serves_takes_traffic_when_none_is_ready() {
    const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 60\n      containers:\n      - name: kubia\n        image: luksa/kubia\n        ports: [{containerPort: 8080}]\n        lifecycle: {preStop: {exec: {command: [sleep, \"60\"]}}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n";
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("web.yaml", WEB);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        cluster.kubectl(&["run", "client", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=30s"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/client", "--timeout=30s"]).await.ok();
        let pod =
            cluster.kubectl(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"]).await.ok();
        let curl = ["exec", "client", "--", "curl", "-s", "-m", "2", "web"];
        let hit = format!("You've hit {pod}\n");
        cluster.until(&curl, READY_IN, "the service answers", |out| out == hit).await;

        cluster.kubectl(&["scale", "deployment", "web", "--replicas=0"]).await.ok();
        let conditions = "jsonpath={.items[*].endpoints[*].conditions}";
        let slices = ["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", conditions];
        let draining = r#"{"ready":false,"serving":true,"terminating":true}"#;
        cluster.until(&slices, READY_IN, "the endpoint terminating yet serving", |out| out == draining).await;
        let endpoints = cluster.kubectl(&["get", "endpoints", "web", "-o", "jsonpath={.subsets}"]).await.ok();
        assert_eq!(endpoints, "", "Endpoints leave terminating pods out");
        cluster.until(&curl, READY_IN, "still served while it drains", |out| out == hit).await;
        cluster.stop().await;
    }
}

const ZONE: &str = "topology.kubernetes.io/zone";

/// A cluster with node-1 and node-3 in zone-a and node-2 in zone-b, pod kubia-1 on node-1,
/// kubia-2 on node-2 and a client on node-3.
async fn zoned(binary: &Binary) -> Cluster {
    let cluster = Cluster::start(binary).await;
    cluster.kubectl(&["label", "node", "node-1", "node-3", &format!("{ZONE}=zone-a")]).await.ok();
    cluster.kubectl(&["label", "node", "node-2", &format!("{ZONE}=zone-b")]).await.ok();
    run_on(&cluster, &[("kubia-1", "node-1"), ("kubia-2", "node-2"), ("client", "node-3")]).await;
    cluster
}

/// Runs kubia pods (`name`, `node`) on the nodes named, labelled `app=kubia`, or `app=client` for
/// the one named `client`.
async fn run_on(cluster: &Cluster, pods: &[(&str, &str)]) {
    for (name, node) in pods {
        let overrides = format!(r#"{{"spec":{{"nodeName":"{node}"}}}}"#);
        let labels = if *name == "client" { "app=client" } else { "app=kubia" };
        let run = ["run", name, "--image=luksa/kubia", "--labels", labels, "--overrides", &overrides];
        cluster.kubectl(&run).await.ok();
    }
}

/// kubia's slices' endpoints as `pod:zone:hinted-zone`.
const HINTS: [&str; 6] = [
    "get",
    "endpointslices",
    "-l",
    "kubernetes.io/service-name=kubia",
    "-o",
    "jsonpath={range .items[*].endpoints[*]}{.targetRef.name}:{.zone}:{.hints.forZones[0].name} {end}",
];

/// The distinct answers to eight `curl kubia` from pod `from`.
async fn hits(cluster: &Cluster, from: &str) -> Vec<String> {
    let mut hit = Vec::new();
    for _ in 0..8 {
        hit.push(cluster.kubectl(&["exec", from, "--", "curl", "-s", "kubia"]).await.ok());
    }
    hit.sort();
    hit.dedup();
    hit
}

/// `trafficDistribution: PreferClose` with nodes labelled into zones: the EndpointSlices carry
/// each endpoint's zone and hint, a pod's connections stay in its zone (on a node with no
/// endpoint of its own), follow the node when it is relabelled, and a value Kubernetes does not
/// know is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_distribution_keeps_connections_in_the_clients_zone() {
    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: kubia}\nspec:\n  selector: {app: kubia}\n  trafficDistribution: DISTRIBUTION\n  ports: [{port: 80, targetPort: 8080}]\n";
    for binary in binaries() {
        let cluster = zoned(&binary).await;
        let bogus = cluster.file("bogus.yaml", &SERVICE.replace("DISTRIBUTION", "PreferFar"));
        let refused = cluster.kubectl(&["apply", "-f", bogus.to_str().unwrap()]).await.fails(1);
        assert!(refused.contains("spec.trafficDistribution: Unsupported value: \"PreferFar\""), "{refused}");
        let file = cluster.file("kubia.yaml", &SERVICE.replace("DISTRIBUTION", "PreferClose"));
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        running_pods(&cluster, 2).await;
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/client", "--timeout=30s"]).await.ok();
        let two = |out: &str| out.split_whitespace().count() == 2;
        let slices = cluster.until(&HINTS, READY_IN, "two hinted endpoints", two).await;
        let mut slices: Vec<&str> = slices.split_whitespace().collect();
        slices.sort();
        assert_eq!(slices, ["kubia-1:zone-a:zone-a", "kubia-2:zone-b:zone-b"]);

        let hits = async || hits(&cluster, "client").await;
        let deadline = tokio::time::Instant::now() + READY_IN;
        while hits().await != ["You've hit kubia-1\n"] {
            assert!(tokio::time::Instant::now() < deadline, "node-3 is in zone-a, where kubia-1 runs");
        }
        cluster.kubectl(&["label", "node", "node-3", &format!("{ZONE}=zone-b"), "--overwrite"]).await.ok();
        let deadline = tokio::time::Instant::now() + READY_IN;
        while hits().await != ["You've hit kubia-2\n"] {
            assert!(tokio::time::Instant::now() < deadline, "node-3 moved to zone-b, where kubia-2 runs");
        }
        cluster.stop().await;
    }
}

/// Topology Aware Routing (`service.kubernetes.io/topology-mode: Auto`): zone-a has two thirds
/// of the nodes' CPU, so with one endpoint there and two in zone-b, one of zone-b's is hinted for
/// zone-a; until there are enough endpoints to share without overloading one, there are no hints
/// and a Warning event says why. Clients stay on their zone's hinted endpoints; removing the
/// annotation removes the hints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_aware_routing_shares_endpoints_by_the_zones_cpu() {
    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kubia\n  annotations: {service.kubernetes.io/topology-mode: Auto}\nspec:\n  selector: {app: kubia}\n  ports: [{port: 80, targetPort: 8080}]\n";
    for binary in binaries() {
        let cluster = zoned(&binary).await;
        let file = cluster.file("kubia.yaml", SERVICE);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        running_pods(&cluster, 2).await;
        let events = |reason: &str| {
            let selector = format!("involvedObject.name=kubia,reason={reason}");
            ["get", "events", "--field-selector", &selector, "-o", "jsonpath={.items[*].message}"].map(String::from)
        };
        let args = events("TopologyAwareHintsDisabled");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let overload = "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold (2 endpoints, 2 zones), addressType: IPv4";
        cluster.until(&args, READY_IN, "the overload warning", |out| out.contains(overload)).await;

        run_on(&cluster, &[("kubia-3", "node-2")]).await;
        running_pods(&cluster, 3).await;
        let args = events("TopologyAwareHintsEnabled");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let enabled = "Topology Aware Hints has been enabled, addressType: IPv4";
        cluster.until(&args, READY_IN, "hints enabled", |out| out == enabled).await;
        let out =
            cluster.until(&HINTS, READY_IN, "three hinted endpoints", |out| out.matches(":zone-").count() == 6).await;
        let mut slices: Vec<&str> = out.split_whitespace().collect();
        slices.sort();
        assert_eq!(slices[0], "kubia-1:zone-a:zone-a", "{slices:?}");
        let zone_b: Vec<&str> = slices[1..].iter().map(|s| s.split_once(':').unwrap().1).collect();
        assert_eq!(
            zone_b.iter().filter(|h| **h == "zone-b:zone-a").count(),
            1,
            "one of zone-b's serves zone-a: {slices:?}"
        );
        let kept = slices[1..].iter().find(|s| s.ends_with(":zone-b:zone-b")).unwrap().split(':').next().unwrap();
        let given = if kept == "kubia-2" { "kubia-3" } else { "kubia-2" };

        // The proxy follows the hints once it has read the slices: zone-b's clients keep to the
        // one left to zone-b, and zone-a's never reach it.
        let only_kept = [format!("You've hit {kept}\n")];
        let deadline = tokio::time::Instant::now() + READY_IN;
        while hits(&cluster, given).await != only_kept {
            assert!(tokio::time::Instant::now() < deadline, "zone-b's clients keep to {kept}");
        }
        let from_zone_a = hits(&cluster, "client").await;
        assert!(!from_zone_a.contains(&only_kept[0]), "{kept} is zone-b's alone: {from_zone_a:?}");

        cluster.kubectl(&["annotate", "service", "kubia", "service.kubernetes.io/topology-mode-"]).await.ok();
        let args = events("TopologyAwareHintsDisabled");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let disabled = "Topology Aware Hints has been disabled, addressType: IPv4";
        cluster.until(&args, READY_IN, "hints disabled", |out| out.contains(disabled)).await;
        cluster.until(&HINTS, READY_IN, "no hints", |out| out.matches(":zone-").count() == 3).await;
        cluster.stop().await;
    }
}

/// NetworkPolicies enforced as a CNI plugin enforces them: once a policy selects the service's
/// pods, only the pods and namespaces its rules name reach them (through the service or
/// directly), a node port's traffic (the node's address, under the Cluster policy) is dropped,
/// and deleting the policy opens them again; an egress policy limits where a pod may connect,
/// DNS included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_policies_decide_who_reaches_the_pods() {
    const EGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: client-egress}\nspec:\n  podSelector: {matchLabels: {role: client}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 8080}]\n  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]\n";
    const POLICY: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-from-clients}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {role: client}}\n    - namespaceSelector: {matchLabels: {team: ops}}\n    ports: [{port: 8080}]\n";
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster
            .kubectl(&["create", "deployment", "web", "--image=luksa/kubia", "--replicas=2", "--port=8080"])
            .await
            .ok();
        let expose = ["expose", "deployment", "web", "--port=80", "--target-port=8080", "--type=NodePort"];
        cluster.kubectl(&expose).await.ok();
        cluster.kubectl(&["create", "namespace", "ops"]).await.ok();
        cluster.kubectl(&["label", "namespace", "ops", "team=ops"]).await.ok();
        cluster.kubectl(&["run", "client", "--image=luksa/kubia", "--labels=role=client"]).await.ok();
        cluster.kubectl(&["run", "other", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["-n", "ops", "run", "monitor", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/client", "pod/other", "--timeout=30s"]).await.ok();
        cluster.kubectl(&["-n", "ops", "wait", "--for=condition=Ready", "pod/monitor", "--timeout=30s"]).await.ok();
        let started = &cluster;
        let curl = |ns: &'static str, pod: &'static str, url: &'static str| {
            let args = ["-n", ns, "exec", pod, "--", "curl", "-s", "-m", "1", url];
            async move { started.kubectl(&args).await }
        };
        let before = ["exec", "other", "--", "curl", "-s", "-m", "1", "web"];
        cluster.until(&before, READY_IN, "web answers", |out| out.starts_with("You've hit web-")).await;

        let file = cluster.file("policy.yaml", POLICY);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        let deadline = tokio::time::Instant::now() + READY_IN;
        while curl("default", "other", "web").await.code != 28 {
            assert!(tokio::time::Instant::now() < deadline, "the policy keeps `other` out");
        }
        assert!(curl("default", "client", "web").await.ok().starts_with("You've hit web-"));
        let own = curl("default", "client", "http://localhost:8080").await.ok();
        assert!(own.starts_with("You've hit client"), "a pod's own localhost is not policed: {own}");
        assert!(curl("ops", "monitor", "web.default").await.ok().starts_with("You've hit web-"));
        let pod_ip = cluster.kubectl(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}"]);
        let url: &'static str = format!("http://{}:8080", pod_ip.await.ok()).leak();
        curl("default", "other", url).await.fails(28);
        let node_port = cluster.kubectl(&["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"]).await.ok();
        let node = cluster.kubectl(&["get", "nodes", "-o", "jsonpath={.items[0].status.addresses[0].address}"]);
        let from_host = tokio::process::Command::new("curl")
            .args(["-s", "-m", "1", &format!("http://{}:{node_port}/", node.await.ok())])
            .output()
            .await
            .unwrap();
        assert_eq!(from_host.status.code(), Some(28), "the node's address is not a client pod");
        // The service doctor names the policy and what it lets in.
        let diagnosis = ["get", "--raw", "/lab/v1/namespaces/default/services/web/diagnosis"];
        let diagnosis = cluster.kubectl(&diagnosis).await.ok();
        assert!(
            diagnosis.contains("web-from-clients lets in pods role=client of its namespace or every pod of namespaces team=ops, on TCP 8080"),
            "{diagnosis}"
        );

        cluster.kubectl(&["delete", "networkpolicy", "web-from-clients"]).await.ok();
        let deadline = tokio::time::Instant::now() + READY_IN;
        while curl("default", "other", "web").await.code != 0 {
            assert!(tokio::time::Instant::now() < deadline, "without the policy anyone reaches web");
        }

        // Egress: the client may reach web's pods and, as in a real cluster, DNS only when a
        // rule lets it reach CoreDNS's pods.
        let file = cluster.file("egress.yaml", EGRESS);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        let other_ip = cluster.kubectl(&["get", "pod", "other", "-o", "jsonpath={.status.podIP}"]).await.ok();
        let other: &'static str = format!("http://{other_ip}:8080").leak();
        let deadline = tokio::time::Instant::now() + READY_IN;
        while curl("default", "client", other).await.code != 28 {
            assert!(tokio::time::Instant::now() < deadline, "the egress policy keeps the client from `other`");
        }
        assert!(curl("default", "client", "web").await.ok().starts_with("You've hit web-"));
        assert!(curl("default", "other", other).await.ok().starts_with("You've hit other"), "other is not isolated");
        let no_dns = [
            "patch",
            "networkpolicy",
            "client-egress",
            "--type=json",
            "-p",
            r#"[{"op": "remove", "path": "/spec/egress/1"}]"#,
        ];
        cluster.kubectl(&no_dns).await.ok();
        let deadline = tokio::time::Instant::now() + READY_IN;
        loop {
            let run = cluster.kubectl(&["exec", "client", "--", "curl", "-sS", "-m", "1", "web"]).await;
            if run.code == 28 {
                assert!(run.stderr.contains("curl: (28) Resolving timed out after"), "{}", run.stderr);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "without the DNS rule names do not resolve");
        }
        assert!(curl("default", "client", url).await.ok().starts_with("You've hit web-"), "addresses still work");
        cluster.stop().await;
    }
}
