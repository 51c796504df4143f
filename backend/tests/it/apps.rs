//! The manifests real applications carry, against a whole svclab on free ports: svclab's own
//! twelve-service shop (gRPC health probes, ServiceAccounts, ConfigMaps, a LoadBalancer), the
//! kinds such manifests hold, and configuration reaching containers.

use crate::common;

use common::{Lab, eventually};
use serde_json::Value;
use std::time::Duration;

const SHOP: &str = include_str!("../../../examples/shop.yaml");
const PATIENCE: Duration = Duration::from_secs(20);

/// The names of the shop's services (every Service in the file).
fn shop_services() -> Vec<String> {
    let mut names = Vec::new();
    for doc in SHOP.split("\n---\n") {
        if doc.contains("\nkind: Service\n") {
            let name = doc.split("\n  name: ").nth(1).and_then(|r| r.lines().next()).unwrap();
            names.push(name.to_string());
        }
    }
    names
}

async fn pod_of(lab: &Lab, app: &str) -> String {
    let (_, pods) = lab.get(&format!("/api/v1/namespaces/default/pods?labelSelector=app%3D{app}")).await;
    pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_comes_up_every_service_ready_and_its_load_balancer_answers() {
    let lab = Lab::start().await;
    let (code, applied) = lab.apply(SHOP).await;
    assert_eq!(code, 200, "{applied}");
    let results = applied["results"].as_array().unwrap();
    assert_eq!(results.len(), 40, "{applied}");
    assert!(results.iter().all(|r| r["error"].is_null()), "every document applies: {applied}");
    let services = shop_services();
    assert_eq!(services.len(), 13);
    for service in &services {
        eventually(PATIENCE, &format!("{service} to have a ready endpoint"), || async {
            (!lab.ready_endpoints(service).await.is_empty()).then_some(())
        })
        .await;
    }
    // gRPC health, for real, from inside the cluster.
    let frontend = pod_of(&lab, "frontend").await;
    let probe = lab.exec(&frontend, &["/bin/grpc_health_probe", "-addr=cart:7070"]).await;
    assert_eq!((probe["exitCode"].as_i64(), probe["stderr"].as_str()), (Some(0), Some("status: SERVING\n")), "{probe}");
    let curl = lab
        .exec(
            &frontend,
            &["grpcurl", "-plaintext", "-d", "{\"service\":\"\"}", "currency:7000", "grpc.health.v1.Health/Check"],
        )
        .await;
    assert_eq!(curl["stdout"], "{\n  \"status\": \"SERVING\"\n}\n", "{curl}");
    let nothing = lab.exec(&frontend, &["grpc_health_probe", "-addr=localhost:9999"]).await;
    assert_eq!(nothing["exitCode"], 2, "{nothing}");
    assert_eq!(nothing["stderr"], "timeout: failed to connect service \"localhost:9999\" within 1s\n");
    // Marked unhealthy, the gRPC health service says NOT_SERVING and the probe exits 4.
    let cart = pod_of(&lab, "cart").await;
    lab.exec(&cart, &["touch", "/tmp/svclab-unhealthy"]).await;
    let sick = lab.exec(&frontend, &["grpc_health_probe", "-addr=cart:7070"]).await;
    assert_eq!(
        (sick["exitCode"].as_i64(), sick["stderr"].as_str()),
        (Some(4), Some("service unhealthy (responded with \"NOT_SERVING\")\n")),
        "{sick}"
    );
    lab.exec(&cart, &["rm", "/tmp/svclab-unhealthy"]).await;
    // Test requests speak gRPC too: on one HTTP/2 connection every call goes to the same pod,
    // one connection each spreads them over the service's pods.
    lab.send(
        reqwest::Method::PATCH,
        "/apis/apps/v1/namespaces/default/deployments/cart/scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":3}}"#.into(),
    )
    .await;
    eventually(PATIENCE, "3 cart endpoints", || async { (lab.ready_endpoints("cart").await.len() == 3).then_some(()) })
        .await;
    lab.serving("cart", 3).await;
    let grpc = |keep_alive: bool, count: u32| {
        let body = serde_json::json!({"url": "grpc://cart:7070", "source": {"pod": {"namespace": "default", "name": frontend}},
            "count": count, "keepAlive": keep_alive});
        let lab = &lab;
        async move { lab.send(reqwest::Method::POST, "/lab/v1/test-requests", "application/json", body.to_string()).await.1 }
    };
    let pods = |report: &Value| -> std::collections::BTreeSet<String> {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["hop"]["pod"].as_str().map(str::to_string))
            .collect()
    };
    let one = grpc(true, 10).await;
    let results = one["results"].as_array().unwrap();
    assert_eq!(results.len(), 10, "{one}");
    assert!(results.iter().all(|r| r["body"] == "{\n  \"status\": \"SERVING\"\n}\n"), "{one}");
    assert_eq!(pods(&one).len(), 1, "one connection, one pod: {one}");
    assert_eq!(one["url"], "grpc://cart:7070 grpc.health.v1.Health/Check");
    let many = grpc(false, 30).await;
    assert!(pods(&many).len() > 1, "a connection each spreads over the pods: {many}");
    // Configuration reached the containers.
    let env = lab.exec(&frontend, &["printenv", "CART_SERVICE_ADDR", "DEFAULT_CURRENCY", "POD_NAME"]).await;
    assert_eq!(env["stdout"], format!("cart:7070\nEUR\n{frontend}\n"));
    // The LoadBalancer answers from outside.
    let lb = eventually(PATIENCE, "a load-balancer address", || async {
        let (_, svc) = lab.get("/api/v1/namespaces/default/services/frontend-external").await;
        svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str().map(str::to_string)
    })
    .await;
    let page = eventually(PATIENCE, "the frontend through its load balancer", || async {
        reqwest::get(format!("http://{lb}/")).await.ok()?.text().await.ok()
    })
    .await;
    assert!(page.starts_with("svclab default server for image registry.svclab.example/shop/frontend:1.4.2"), "{page}");
    // The doctor says the probes pass because svclab stands in for the images.
    let (_, diagnosis) = lab.get("/lab/v1/namespaces/default/services/cart/diagnosis").await;
    let findings = diagnosis["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["check"] == "stand-in" && f["severity"] == "info"), "{diagnosis}");
    assert!(findings.iter().all(|f| f["severity"] != "error"), "{diagnosis}");
    // The load generator's init container waited for the frontend with a shell loop over wget -S and awk.
    let generator = pod_of(&lab, "loadgenerator").await;
    let started = eventually(PATIENCE, "the load generator to run", || async {
        let (_, pod) = lab.get(&format!("/api/v1/namespaces/default/pods/{generator}")).await;
        (pod["status"]["phase"] == "Running").then_some(pod)
    })
    .await;
    assert_eq!(started["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 0, "{started}");
    let (_, waited) =
        lab.get_text(&format!("/api/v1/namespaces/default/pods/{generator}/log?container=wait-for-frontend")).await;
    assert!(
        waited.trim_end().ends_with("the frontend answers (attempt 1)") || waited.contains("the frontend answers"),
        "{waited}"
    );
    // kubectl logs says what the default program serves.
    let (_, log) = lab.get_text(&format!("/api/v1/namespaces/default/pods/{cart}/log")).await;
    assert!(log.starts_with("svclab default server listening on port 7070: HTTP/1.1, h2c and gRPC health"), "{log}");
    lab.app.shutdown().await;
}

const KINDS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {GREETING: hello, app.yaml: "level: debug\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: kubernetes.io/basic-auth
stringData: {username: admin, password: s3cret}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
roleRef: {kind: Role, name: reader, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-reader}
rules: [{apiGroups: [""], resources: [nodes], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: node-reader}
subjects: [{kind: Group, name: ops, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: node-reader, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec: {limits: [{type: Container, default: {cpu: 500m}}]}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: quota}
spec: {hard: {pods: "10"}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kinds_real_manifests_carry_are_stored_and_served() {
    let lab = Lab::start().await;
    let (code, applied) = lab.apply(KINDS).await;
    assert_eq!(code, 200, "{applied}");
    assert!(applied["results"].as_array().unwrap().iter().all(|r| r["error"].is_null()), "{applied}");
    for path in [
        "/api/v1/namespaces/default/configmaps/app-config",
        "/api/v1/namespaces/default/secrets/creds",
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web",
        "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/reader",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/reader",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/node-reader",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/node-reader",
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/deny-all",
        "/api/v1/namespaces/default/limitranges/limits",
        "/api/v1/namespaces/default/resourcequotas/quota",
        "/apis/storage.k8s.io/v1/storageclasses/standard",
    ] {
        let (code, object) = lab.get(path).await;
        assert_eq!(code, 200, "{path}: {object}");
    }
    // The autoscaler has no metrics: it says so, and keeps its target within its bounds.
    let hpa = eventually(PATIENCE, "the autoscaler to miss its target", || async {
        let (_, hpa) = lab.get("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web").await;
        (hpa["status"]["conditions"][0]["reason"] == "FailedGetScale").then_some(hpa)
    })
    .await;
    assert_eq!(
        hpa["status"]["conditions"][0]["message"],
        "the HPA controller was unable to get the target's current scale: deployments/scale.apps \"web\" not found"
    );
    lab.apply("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 7\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: busybox, command: [sleep, '3600']}]}\n").await;
    let hpa = eventually(PATIENCE, "the deployment scaled down to maxReplicas", || async {
        let (_, d) = lab.get("/apis/apps/v1/namespaces/default/deployments/web").await;
        let (_, hpa) = lab.get("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web").await;
        (d["spec"]["replicas"] == 5 && hpa["status"]["conditions"][1]["type"] == "ScalingActive").then_some(hpa)
    })
    .await;
    assert_eq!(hpa["status"]["conditions"][1]["reason"], "FailedGetResourceMetric", "{hpa}");
    assert_eq!(hpa["status"]["desiredReplicas"], 5);
    lab.send(
        reqwest::Method::DELETE,
        "/apis/apps/v1/namespaces/default/deployments/web",
        "application/json",
        String::new(),
    )
    .await;
    eventually(PATIENCE, "the deployment's pods to go", || async {
        let (_, pods) = lab.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb").await;
        pods["items"].as_array()?.is_empty().then_some(())
    })
    .await;
    // The disruption budget counts the pods it covers.
    for name in ["web-a", "web-b"] {
        lab.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: web}}}}\nspec: {{containers: [{{name: c, image: busybox, command: [sleep, '3600']}}]}}\n")).await;
    }
    let budget = eventually(PATIENCE, "the budget to count 2 healthy pods", || async {
        let (_, pdb) = lab.get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web").await;
        (pdb["status"]["currentHealthy"] == 2).then_some(pdb)
    })
    .await;
    assert_eq!(
        (budget["status"]["expectedPods"].as_i64(), budget["status"]["desiredHealthy"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(budget["status"]["disruptionsAllowed"], 1, "{budget}");
    // The quota reports what the namespace uses (the two pods at least).
    let quota = eventually(PATIENCE, "the quota's usage", || async {
        let (_, quota) = lab.get("/api/v1/namespaces/default/resourcequotas/quota").await;
        (quota["status"]["used"]["pods"] == "2").then_some(quota)
    })
    .await;
    assert_eq!(quota["status"]["hard"]["pods"], "10", "{quota}");
    // Every namespace has its default ServiceAccount and the cluster CA, a new one too.
    lab.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n").await;
    for ns in ["default", "kube-system", "shop"] {
        eventually(PATIENCE, "the default service account", || async {
            let (code, _) = lab.get(&format!("/api/v1/namespaces/{ns}/serviceaccounts/default")).await;
            (code == 200).then_some(())
        })
        .await;
        eventually(PATIENCE, "kube-root-ca.crt", || async {
            let (_, cm) = lab.get(&format!("/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt")).await;
            cm["data"]["ca.crt"].as_str()?.starts_with("-----BEGIN CERTIFICATE-----").then_some(())
        })
        .await;
    }
    // The claim is bound at once to a volume of the default class, with what it asked for.
    let claim = eventually(PATIENCE, "the claim to be bound", || async {
        let (_, pvc) = lab.get("/api/v1/namespaces/default/persistentvolumeclaims/data").await;
        (pvc["status"]["phase"] == "Bound").then_some(pvc)
    })
    .await;
    assert_eq!(claim["spec"]["storageClassName"], "standard");
    assert_eq!(claim["status"]["capacity"]["storage"], "2Gi");
    let volume = claim["spec"]["volumeName"].as_str().unwrap();
    let (_, pv) = lab.get(&format!("/api/v1/persistentvolumes/{volume}")).await;
    assert_eq!(
        (pv["status"]["phase"].as_str(), pv["spec"]["claimRef"]["name"].as_str()),
        (Some("Bound"), Some("data"))
    );
    // Deleting the claim deletes its volume (reclaim policy Delete).
    lab.send(
        reqwest::Method::DELETE,
        "/api/v1/namespaces/default/persistentvolumeclaims/data",
        "application/json",
        String::new(),
    )
    .await;
    eventually(PATIENCE, "the volume to go", || async {
        let (code, _) = lab.get(&format!("/api/v1/persistentvolumes/{volume}")).await;
        (code == 404).then_some(())
    })
    .await;
    // What svclab does not serve is refused as kube-apiserver refuses it.
    let (_, unknown) = lab.apply("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n").await;
    let error = unknown["results"][0]["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("no matches for kind \"Widget\" in version \"example.com/v1\""), "{unknown}");
    // A pod naming a ServiceAccount that does not exist is refused.
    let (code, refused) = lab
        .send(reqwest::Method::POST, "/api/v1/namespaces/default/pods", "application/yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {serviceAccountName: ghost, containers: [{name: c, image: busybox}]}\n".into())
        .await;
    assert_eq!(code, 403, "{refused}");
    assert_eq!(
        refused["message"],
        "pods \"p\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found"
    );
    lab.app.shutdown().await;
}

const CONFIGURED: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  initContainers:
  - name: wait-for-db
    image: busybox
    command: [sh, -c, "until nslookup db.default.svc.cluster.local; do sleep 0.2; done"]
  containers:
  - name: web
    image: nginx
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: GREETING}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: URL, value: "http://$(MY_IP):80/"}
    volumeMounts:
    - {name: settings, mountPath: /etc/settings}
    - {name: site, mountPath: /usr/share/nginx/html}
  volumes:
  - {name: settings, configMap: {name: settings}}
  - {name: site, persistentVolumeClaim: {claimName: site}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: site}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
"#;

async fn pod_status(lab: &Lab, name: &str) -> Value {
    lab.get(&format!("/api/v1/namespaces/default/pods/{name}")).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_reaches_containers_and_init_containers_run_first() {
    let lab = Lab::start().await;
    lab.apply(CONFIGURED).await;
    // The ConfigMap is missing: the volume cannot be set up, and nothing starts.
    eventually(PATIENCE, "the FailedMount event", || async {
        let (_, events) = lab.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb").await;
        let messages: Vec<String> =
            events["items"].as_array()?.iter().filter_map(|e| e["message"].as_str().map(str::to_string)).collect();
        messages
            .iter()
            .any(|m| m == "MountVolume.SetUp failed for volume \"settings\" : configmap \"settings\" not found")
            .then_some(())
    })
    .await;
    lab.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {GREETING: hello}\n").await;
    // Then the init container runs, waiting for the db service; the app container waits for it.
    eventually(PATIENCE, "the init container to run", || async {
        let pod = pod_status(&lab, "web").await;
        (pod["status"]["initContainerStatuses"][0]["state"]["running"].is_object()).then_some(())
    })
    .await;
    let pod = pod_status(&lab, "web").await;
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing");
    lab.apply("apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {ports: [{port: 5432}]}\n").await;
    eventually(PATIENCE, "the pod to run", || async {
        (pod_status(&lab, "web").await["status"]["phase"] == "Running").then_some(())
    })
    .await;
    let pod = pod_status(&lab, "web").await;
    assert_eq!(pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    let ip = pod["status"]["podIP"].as_str().unwrap();
    let env = lab.exec("web", &["printenv", "GREETING", "PASSWORD", "URL"]).await;
    assert_eq!(env["stdout"], format!("hello\ns3cret\nhttp://{ip}:80/\n"));
    // The ConfigMap's volume follows the object; it is read-only.
    assert_eq!(lab.exec("web", &["cat", "/etc/settings/GREETING"]).await["stdout"], "hello");
    lab.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {GREETING: hi}\n").await;
    eventually(PATIENCE, "the file to change", || async {
        (lab.exec("web", &["cat", "/etc/settings/GREETING"]).await["stdout"] == "hi").then_some(())
    })
    .await;
    let write = lab.exec("web", &["sh", "-c", "echo x > /etc/settings/GREETING"]).await;
    assert!(write["stderr"].as_str().unwrap().contains("Read-only file system"), "{write}");
    // The claim's data outlives the pod.
    lab.exec("web", &["sh", "-c", "echo '<h1>kept</h1>' > /usr/share/nginx/html/index.html"]).await;
    lab.send(
        reqwest::Method::DELETE,
        "/api/v1/namespaces/default/pods/web?gracePeriodSeconds=0",
        "application/json",
        String::new(),
    )
    .await;
    eventually(PATIENCE, "the pod to go", || async {
        (lab.get("/api/v1/namespaces/default/pods/web").await.0 == 404).then_some(())
    })
    .await;
    lab.apply(CONFIGURED).await;
    eventually(PATIENCE, "the new pod to serve the kept page", || async {
        let out = lab.try_exec("web", &["curl", "-s", "http://localhost/"]).await?;
        (out["stdout"] == "<h1>kept</h1>\n").then_some(())
    })
    .await;
    // A missing key keeps a container in CreateContainerConfigError with kubelet's message.
    lab.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: broken}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '3600']\n    env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: nope}}}]\n").await;
    let waiting = eventually(PATIENCE, "CreateContainerConfigError", || async {
        let pod = pod_status(&lab, "broken").await;
        let waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"].clone();
        (waiting["reason"] == "CreateContainerConfigError").then_some(waiting)
    })
    .await;
    assert_eq!(waiting["message"], "couldn't find key nope in ConfigMap default/settings");
    lab.app.shutdown().await;
}
