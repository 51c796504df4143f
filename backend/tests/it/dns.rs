//! Cluster DNS: the records of the Kubernetes DNS specification queried with a real `dig` from
//! the host, and names resolved from inside pods (search path, nslookup, dig, curl by name).

use crate::common;

use common::{KUBIA, Lab, eventually};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(15);

/// `dig @<dns> -p <port> <args>`: everything it prints.
fn dig_full(lab: &Lab, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", lab.app.dns_addr.ip()))
        .args(["-p", &lab.app.dns_addr.port().to_string(), "+tries=1", "+time=5"])
        .args(args)
        .output()
        .expect("dig runs (bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dig … +short`: the lines it prints.
fn dig(lab: &Lab, args: &[&str]) -> Vec<String> {
    let args: Vec<&str> = args.iter().copied().chain(["+short"]).collect();
    dig_full(lab, &args).lines().map(String::from).collect()
}

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: kubia-headless
spec:
  clusterIP: None
  selector:
    app: kubia
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: external-service
spec:
  type: ExternalName
  externalName: someapi.somecompany.com
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: kubia-named
spec:
  selector:
    app: kubia
  ports:
  - name: http
    port: 80
    targetPort: 8080
"#;

async fn cluster_ip(lab: &Lab, name: &str) -> String {
    let (_, svc) = lab.get(&format!("/api/v1/namespaces/default/services/{name}")).await;
    svc["spec"]["clusterIP"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_from_the_host_gets_the_records_of_the_spec() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    lab.apply(SERVICES).await;
    lab.serving("kubia", 3).await;
    let ip = cluster_ip(&lab, "kubia").await;
    let found = eventually(PATIENCE, "the service in DNS", || async {
        let a = dig(&lab, &["kubia.default.svc.cluster.local"]);
        (a == [ip.as_str()]).then_some(a)
    })
    .await;
    assert_eq!(found, [ip.as_str()]);
    assert_eq!(dig(&lab, &["KUBIA.default.SVC.cluster.local"]), [ip.as_str()], "case-insensitive");
    let named = cluster_ip(&lab, "kubia-named").await;
    assert_eq!(
        dig(&lab, &["-t", "SRV", "_http._tcp.kubia-named.default.svc.cluster.local"]),
        ["0 100 80 kubia-named.default.svc.cluster.local."]
    );
    assert_eq!(dig(&lab, &["-x", &named]), ["kubia-named.default.svc.cluster.local."]);
    // Headless: one A per ready pod, and per-pod names and SRV targets.
    let pods = eventually(PATIENCE, "three pod addresses", || async {
        let mut a = dig(&lab, &["kubia-headless.default.svc.cluster.local"]);
        a.sort();
        (a.len() == 3).then_some(a)
    })
    .await;
    let mut expected: Vec<String> = lab.ready_endpoints("kubia").await.into_iter().map(|(ip, _)| ip).collect();
    expected.sort();
    assert_eq!(pods, expected);
    let first = &pods[0];
    let dashed = first.replace('.', "-");
    assert_eq!(dig(&lab, &[&format!("{dashed}.kubia-headless.default.svc.cluster.local")]), [first.as_str()]);
    let srv = dig(&lab, &["SRV", "_http._tcp.kubia-headless.default.svc.cluster.local"]);
    assert_eq!(srv.len(), 3, "{srv:?}");
    assert!(
        srv.iter().any(|l| l.ends_with(&format!(" 8080 {dashed}.kubia-headless.default.svc.cluster.local."))),
        "{srv:?}"
    );
    assert_eq!(dig(&lab, &["-x", first]), [format!("{dashed}.kubia-headless.default.svc.cluster.local.")]);
    // ExternalName, pods, the version record, the zone's apex.
    assert_eq!(dig(&lab, &["external-service.default.svc.cluster.local", "CNAME"]), ["someapi.somecompany.com."]);
    assert_eq!(dig(&lab, &[&format!("{dashed}.default.pod.cluster.local")]), [first.as_str()]);
    assert_eq!(dig(&lab, &["dns-version.cluster.local", "TXT"]), ["\"1.1.0\""]);
    assert_eq!(dig(&lab, &["kube-dns.kube-system.svc.cluster.local"]), ["10.96.0.10"]);
    // Negative answers carry the SOA; names outside the cluster are refused (no upstream).
    let nx = dig_full(&lab, &["nope.default.svc.cluster.local"]);
    assert!(nx.contains("status: NXDOMAIN") && nx.contains("flags: qr aa rd"), "{nx}");
    assert!(nx.contains("cluster.local.\t\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local."), "{nx}");
    let refused = dig_full(&lab, &["example.com"]);
    assert!(refused.contains("status: REFUSED"), "{refused}");
    // Over TCP too.
    assert_eq!(dig(&lab, &["+tcp", "kubia.default.svc.cluster.local"]), [ip.as_str()]);
    lab.app.shutdown().await;
}

/// A headless service whose pods turn ready one by one.
const HEADLESS_READINESS: &str = r#"
apiVersion: v1
kind: ReplicationController
metadata:
  name: kubia
spec:
  replicas: 3
  selector:
    app: kubia
  template:
    metadata:
      labels:
        app: kubia
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
  name: kubia-headless
spec:
  clusterIP: None
  selector:
    app: kubia
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: kubia
spec:
  selector:
    app: kubia
  ports:
  - port: 80
    targetPort: 8080
"#;

async fn dns_lookup(lab: &Lab, request: Value) -> Value {
    let (code, lookup) =
        lab.send(reqwest::Method::POST, "/lab/v1/dns-lookups", "application/json", request.to_string()).await;
    assert_eq!(code, 200, "{lookup}");
    lookup
}

async fn exec(lab: &Lab, pod: &str, command: &[&str]) -> Value {
    lab.exec(pod, command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_resolve_through_the_search_path() {
    let lab = Lab::start().await;
    lab.apply(HEADLESS_READINESS).await;
    let run = serde_json::json!({"name": "dnsutils", "image": "tutum/dnsutils", "command": true, "args": ["sleep", "infinity"]});
    let (code, made) = lab.send(reqwest::Method::POST, "/lab/v1/run", "application/json", run.to_string()).await;
    assert_eq!(code, 200, "{made}");
    let pods: Vec<String> = eventually(PATIENCE, "the pods running", || async {
        let running = lab.running_pods().await;
        (running.len() == 4).then_some(running.into_iter().filter(|p| p != "dnsutils").collect())
    })
    .await;
    // No pod is ready: the headless name does not exist.
    let out = exec(&lab, "dnsutils", &["nslookup", "kubia-headless"]).await;
    assert_eq!(out["exitCode"], 1, "{out}");
    assert!(out["stdout"].as_str().unwrap().contains("** server can't find kubia-headless: NXDOMAIN"), "{out}");
    // Two pods made ready appear within a probe period, and only they.
    let mut ready_ips = Vec::new();
    for pod in &pods[..2] {
        exec(&lab, pod, &["touch", "/var/ready"]).await;
        let (_, p) = lab.get(&format!("/api/v1/namespaces/default/pods/{pod}")).await;
        ready_ips.push(p["status"]["podIP"].as_str().unwrap().to_string());
    }
    let listed = eventually(Duration::from_secs(5), "both ready pods in the answer", || async {
        let out = exec(&lab, "dnsutils", &["nslookup", "kubia-headless"]).await;
        let text = out["stdout"].as_str()?.to_string();
        ready_ips.iter().all(|ip| text.contains(&format!("Address: {ip}\n"))).then_some(text)
    })
    .await;
    assert!(listed.starts_with("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n"), "{listed}");
    assert_eq!(listed.matches("Name:\tkubia-headless.default.svc.cluster.local\nAddress: ").count(), 2, "{listed}");
    // The dashboard's DNS panel, through the pod's resolver: each search-path name tried is
    // reported, and the first one answers with only the ready pods.
    let lookup = dns_lookup(
        &lab,
        serde_json::json!({"name": "kubia-headless", "fromPod": {"namespace": "default", "name": "dnsutils"}}),
    )
    .await;
    assert_eq!(lookup["queries"][0]["name"], "kubia-headless.default.svc.cluster.local.", "{lookup}");
    assert_eq!(lookup["queries"][0]["server"], "10.96.0.10:53");
    assert_eq!(lookup["queries"].as_array().unwrap().len(), 1, "{lookup}");
    let mut answered: Vec<String> =
        lookup["answers"].as_array().unwrap().iter().map(|a| a["data"].as_str().unwrap().to_string()).collect();
    answered.sort();
    let mut expected = ready_ips.clone();
    expected.sort();
    assert_eq!(answered, expected, "{lookup}");
    assert!(lookup["via"].as_str().unwrap().contains("ndots:5"), "{lookup}");
    // A name that exists nowhere: every candidate of the search path, then the name itself.
    let lookup = dns_lookup(
        &lab,
        serde_json::json!({"name": "nowhere", "fromPod": {"namespace": "default", "name": "dnsutils"}}),
    )
    .await;
    let tried: Vec<&str> = lookup["queries"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(
        tried,
        ["nowhere.default.svc.cluster.local.", "nowhere.svc.cluster.local.", "nowhere.cluster.local.", "nowhere."],
        "{lookup}"
    );
    assert_eq!(lookup["queries"][0]["rcode"], "NXDOMAIN");
    assert!(lookup["error"].is_string(), "{lookup}");
    // Straight at the server: an ExternalName answers with its CNAME.
    lab.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: external-service\nspec:\n  type: ExternalName\n  externalName: someapi.somecompany.com\n").await;
    let lookup = dns_lookup(&lab, serde_json::json!({"name": "external-service.default.svc.cluster.local"})).await;
    assert_eq!(lookup["answers"][0]["type"], "CNAME", "{lookup}");
    assert_eq!(lookup["answers"][0]["data"], "someapi.somecompany.com.");
    assert_eq!(lookup["queries"].as_array().unwrap().len(), 1);
    let (code, refused) = lab
        .send(
            reqwest::Method::POST,
            "/lab/v1/dns-lookups",
            "application/json",
            r#"{"name":"kubia","type":"BOGUS"}"#.into(),
        )
        .await;
    assert_eq!((code, refused["message"].as_str()), (400, Some("type: Unsupported value: \"BOGUS\"")));
    // The regular service answers its cluster IP.
    let ip = cluster_ip(&lab, "kubia").await;
    let out = exec(&lab, "dnsutils", &["nslookup", "kubia"]).await;
    assert!(
        out["stdout"].as_str().unwrap().contains(&format!("Name:\tkubia.default.svc.cluster.local\nAddress: {ip}\n")),
        "{out}"
    );
    // curl by short name, name.namespace and FQDN all reach the service.
    lab.serving("kubia", 2).await;
    for host in ["kubia", "kubia.default", "kubia.default.svc.cluster.local"] {
        let out = exec(&lab, "dnsutils", &["curl", "-s", &format!("http://{host}")]).await;
        assert!(out["stdout"].as_str().unwrap().starts_with("You've hit kubia-"), "{host}: {out}");
    }
    let out = exec(&lab, "dnsutils", &["curl", "-sS", "http://nowhere"]).await;
    assert_eq!(
        (out["exitCode"].as_i64(), out["stderr"].as_str()),
        (Some(6), Some("curl: (6) Could not resolve host: nowhere\n"))
    );
    // dig in the pod: no search list by default, the full answer.
    let out = exec(&lab, "dnsutils", &["dig", "kubia.default.svc.cluster.local"]).await;
    let text = out["stdout"].as_str().unwrap();
    assert!(text.contains(";; ANSWER SECTION:\nkubia.default.svc.cluster.local. 5\tIN\tA\t"), "{text}");
    assert!(text.contains(";; SERVER: 10.96.0.10#53(10.96.0.10) (UDP)"), "{text}");
    let out = exec(&lab, "dnsutils", &["dig", "+short", "+search", "kubia"]).await;
    assert_eq!(out["stdout"], format!("{ip}\n"));
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_is_truncated_over_udp_and_whole_over_tcp() {
    let lab = Lab::start().await;
    // A headless service with 500 ready endpoints.
    let addresses: Vec<Value> =
        (0..500).map(|i| serde_json::json!({"ip": format!("10.244.{}.{}", 1 + i / 200, 2 + i % 200)})).collect();
    let manifest = serde_json::json!([
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "big"},
         "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "big"},
         "subsets": [{"addresses": addresses, "ports": [{"port": 80}]}]}
    ]);
    for doc in manifest.as_array().unwrap() {
        let (code, applied) = lab.apply(&doc.to_string()).await;
        assert_eq!(code, 200, "{applied}");
    }
    let name = "big.default.svc.cluster.local";
    let whole = eventually(PATIENCE, "500 addresses over TCP", || async {
        let a = dig(&lab, &["+tcp", name]);
        (a.len() == 500).then_some(a)
    })
    .await;
    assert_eq!(whole.len(), 500);
    let udp = dig_full(&lab, &["+notcp", "+ignore", name]);
    assert!(udp.contains("flags: qr aa tc rd;"), "{udp}");
    // dig itself retries over TCP when it sees TC, and gets them all.
    assert_eq!(dig(&lab, &[name]).len(), 500);
    // So does a pod's resolver.
    let run = serde_json::json!({"name": "dnsutils", "image": "tutum/dnsutils", "command": true, "args": ["sleep", "infinity"]});
    lab.send(reqwest::Method::POST, "/lab/v1/run", "application/json", run.to_string()).await;
    eventually(PATIENCE, "dnsutils running", || async { (lab.running_pods().await.len() == 1).then_some(()) }).await;
    let out = lab.exec("dnsutils", &["dig", "+short", name]).await;
    assert_eq!(out["stdout"].as_str().unwrap().lines().count(), 500, "{out}");
    lab.app.shutdown().await;
}

/// An upstream server on a free port: answers `fast.example.` with 192.0.2.7 and never answers
/// `slow.example.` (it notifies when that question arrives).
async fn upstream() -> (std::net::SocketAddr, std::sync::Arc<tokio::sync::Notify>) {
    use hickory_proto::op::{Message, MessageType};
    use hickory_proto::rr::{RData, Record, rdata::A};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let asked_slow = std::sync::Arc::new(tokio::sync::Notify::new());
    let notify = asked_slow.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
            let name = query.queries[0].name().clone();
            if name.to_ascii() != "fast.example." {
                notify.notify_one();
                continue;
            }
            let mut reply = Message::new(query.metadata.id, MessageType::Response, query.metadata.op_code);
            reply.metadata.recursion_available = true;
            reply.add_query(query.queries[0].clone());
            reply.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 7))));
            let _ = socket.send_to(&reply.to_vec().unwrap(), from).await;
        }
    });
    (addr, asked_slow)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_cluster_go_upstream_without_holding_up_the_cluster() {
    let mut config = svclab::app::Config::ephemeral();
    let (upstream, asked_slow) = upstream().await;
    config.dns.upstream = Some(upstream);
    let lab = Lab::start_with(config).await;
    // A question the upstream never answers is outstanding on the server …
    let slow = std::thread::spawn({
        let dns = lab.app.dns_addr;
        move || {
            let out = Command::new("dig")
                .arg(format!("@{}", dns.ip()))
                .args(["-p", &dns.port().to_string(), "+tries=1", "+time=4", "slow.example"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    });
    tokio::time::timeout(PATIENCE, asked_slow.notified()).await.expect("the slow question reaches the upstream");
    let started = std::time::Instant::now();
    // … while cluster names and other upstream names are answered at once.
    assert_eq!(dig(&lab, &["kube-dns.kube-system.svc.cluster.local"]), ["10.96.0.10"]);
    let fast = dig_full(&lab, &["fast.example"]);
    assert!(fast.contains("status: NOERROR") && fast.contains("192.0.2.7") && fast.contains(" ra"), "{fast}");
    assert!(started.elapsed() < Duration::from_secs(2), "answers waited for the slow upstream");
    // The server gives up on the upstream after 2 s and says so.
    let slow = slow.join().unwrap();
    assert!(slow.contains("status: SERVFAIL"), "{slow}");
    lab.app.shutdown().await;
}

/// The UDP side sends a question's answer again while the zone is the same: with each query's
/// own ID and case (dig checks both and would reject a mismatch), and never once the zone moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_question_gets_its_own_answer_until_the_zone_changes() {
    let lab = Lab::start().await;
    lab.apply(KUBIA.split("---").next().unwrap()).await;
    let ip = cluster_ip(&lab, "kubia").await;
    eventually(PATIENCE, "the service in DNS", || async {
        (dig(&lab, &["kubia.default.svc.cluster.local"]) == [ip.as_str()]).then_some(())
    })
    .await;
    for name in
        ["kubia.default.svc.cluster.local", "KuBiA.DEFAULT.svc.cluster.local", "kubia.default.svc.cluster.local"]
    {
        let full = dig_full(&lab, &[name, "+qr"]);
        assert!(full.contains("status: NOERROR"), "{full}");
        // The question in the answer is the one asked, case included.
        let answered = full.split(";; ANSWER SECTION:").nth(1).unwrap_or_default();
        assert!(answered.contains(&ip), "{full}");
        assert!(full.matches(&format!(";{name}.")).count() >= 2, "the question echoed as asked: {full}");
    }
    // EDNS and no EDNS are answered each their own way.
    assert!(dig_full(&lab, &["kubia.default.svc.cluster.local", "+edns=0"]).contains("OPT PSEUDOSECTION"));
    assert!(!dig_full(&lab, &["kubia.default.svc.cluster.local", "+noedns"]).contains("OPT PSEUDOSECTION"));
    // The zone changes: the kept answer is not sent again.
    let (code, _) = lab
        .send(reqwest::Method::DELETE, "/api/v1/namespaces/default/services/kubia", "application/json", String::new())
        .await;
    assert_eq!(code, 200);
    eventually(PATIENCE, "the name gone", || async {
        dig_full(&lab, &["kubia.default.svc.cluster.local"]).contains("status: NXDOMAIN").then_some(())
    })
    .await;
    assert!(dig_full(&lab, &["KUBIA.default.svc.cluster.local"]).contains("status: NXDOMAIN"));
}
