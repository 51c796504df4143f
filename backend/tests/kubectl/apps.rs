//! A real application's manifests through kubectl: svclab's twelve-service shop applied as one
//! file (ServiceAccounts, ConfigMaps, gRPC probes, a LoadBalancer), `kubectl wait` for it, gRPC
//! health from a pod; a StatefulSet, a DaemonSet and batch workloads as kubectl shows them.

use crate::support::{Cluster, binaries, row, table};
use std::time::Duration;

const SHOP: &str = include_str!("../../../examples/shop.yaml");
const WITHIN: Duration = Duration::from_secs(30);

const WORKLOADS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec: {clusterIP: None, selector: {app: nginx}, ports: [{port: 80, name: web}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers: [{name: nginx, image: nginx, ports: [{containerPort: 80, name: web}]}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: example.com/node-agent:1}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: hello, image: busybox, command: [echo, hello]}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twelve_service_application_applies_and_comes_up() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let shop = cluster.file("shop.yaml", SHOP);
        let applied = cluster.kubectl(&["apply", "-f", shop.to_str().unwrap()]).await.ok();
        assert_eq!(applied.lines().count(), 40, "{applied}");
        assert!(applied.contains("serviceaccount/cart created\n"), "{applied}");
        assert!(applied.contains("configmap/shop-addresses created\n"), "{applied}");
        assert!(applied.contains("deployment.apps/loadgenerator created\n"), "{applied}");
        let waited =
            cluster.kubectl(&["wait", "--for=condition=Available", "deployment", "--all", "--timeout=30s"]).await.ok();
        assert_eq!(waited.lines().count(), 13, "{waited}");
        let endpoints = cluster
            .until(&["get", "endpoints"], WITHIN, "every service with an endpoint", |out| {
                table(out).iter().skip(1).all(|r| r[1] != "<none>")
            })
            .await;
        assert_eq!(table(&endpoints).len(), 15, "13 services, kubernetes and the header: {endpoints}");
        let accounts = table(&cluster.kubectl(&["get", "sa"]).await.ok());
        assert_eq!(row(&accounts, "default")[1], "0");
        assert!(accounts.iter().any(|r| r[0] == "redis-cart"), "{accounts:?}");
        let pod = cluster
            .kubectl(&["get", "po", "-l", "app=frontend", "-o", "jsonpath={.items[0].metadata.name}"])
            .await
            .ok();
        let probe = cluster.kubectl(&["exec", &pod, "--", "grpc_health_probe", "-addr=checkout:5050"]).await;
        assert_eq!((probe.code, probe.stderr.as_str()), (0, "status: SERVING\n"), "{probe:?}");
        let lb = cluster
            .until(&["get", "svc", "frontend-external"], WITHIN, "an external IP", |out| {
                !row(&table(out), "frontend-external")[3].contains("pending")
            })
            .await;
        let ip = row(&table(&lb), "frontend-external")[3].clone();
        let page = reqwest::get(format!("http://{ip}/")).await.unwrap().text().await.unwrap();
        assert!(page.starts_with("svclab default server for image registry.svclab.example/shop/frontend"), "{page}");
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_sets_daemon_sets_and_cron_jobs_as_kubectl_shows_them() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("workloads.yaml", WORKLOADS);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        let rolled = cluster.kubectl(&["rollout", "status", "statefulset/web", "--timeout=30s"]).await.ok();
        assert!(rolled.contains("partitioned roll out complete: 2 new pods have been updated"), "{rolled}");
        let sets = table(&cluster.kubectl(&["get", "sts"]).await.ok());
        assert_eq!(row(&sets, "web")[1], "2/2");
        let claims = table(&cluster.kubectl(&["get", "pvc"]).await.ok());
        assert_eq!(row(&claims, "www-web-0")[1], "Bound");
        assert_eq!(row(&claims, "www-web-1")[5], "standard");
        let daemons = cluster
            .until(&["get", "ds"], WITHIN, "a daemon pod on each node", |out| row(&table(out), "agent")[3] == "3")
            .await;
        assert_eq!(&row(&table(&daemons), "agent")[1..6], ["3", "3", "3", "3", "3"]);
        let crons = table(&cluster.kubectl(&["get", "cronjobs"]).await.ok());
        assert_eq!(&row(&crons, "hello")[1..5], ["0 3 * * *", "<none>", "False", "0"]);
        let made = cluster.kubectl(&["create", "job", "now", "--from=cronjob/hello"]).await.ok();
        assert_eq!(made, "job.batch/now created\n");
        let jobs = cluster
            .until(&["get", "jobs"], WITHIN, "the job to complete", |out| row(&table(out), "now")[1] == "Complete")
            .await;
        assert_eq!(row(&table(&jobs), "now")[2], "1/1");
        assert_eq!(cluster.kubectl(&["logs", "job/now"]).await.ok(), "hello\n");
        // A Job's pod template is fixed once it exists.
        let refused = cluster.kubectl(&["set", "image", "job/now", "hello=busybox:1.36"]).await.fails(1);
        assert!(
            refused.contains("spec.template: Invalid value: core.PodTemplateSpec{…}: field is immutable"),
            "{refused}"
        );
        let history = cluster.kubectl(&["rollout", "history", "statefulset/web"]).await.ok();
        assert!(history.contains("REVISION"), "{history}");
        cluster.stop().await;
    }
}

/// A Deployment rolled forward and back as kubectl does it: `set image`, `rollout history` and
/// `rollout undo` (a JSON patch of the template and of the annotations the controller keeps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_roll_forward_and_back() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["create", "deployment", "web", "--image=luksa/kubia", "--replicas=2"]).await.ok();
        cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        cluster.kubectl(&["set", "image", "deployment/web", "kubia=luksa/kubia:v2"]).await.ok();
        let rolled = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        assert!(rolled.contains("successfully rolled out"), "{rolled}");
        let revision = [
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ];
        assert_eq!(cluster.kubectl(&revision).await.ok(), "2");
        // `REVISION  CHANGE-CAUSE` and a line per revision under it.
        let revisions = |out: String| -> Vec<String> {
            let lines = out.lines().skip_while(|l| !l.starts_with("REVISION")).skip(1);
            lines.filter_map(|l| l.split_whitespace().next()).map(String::from).collect()
        };
        assert_eq!(revisions(cluster.kubectl(&["rollout", "history", "deployment/web"]).await.ok()), ["1", "2"]);

        let undone = cluster.kubectl(&["rollout", "undo", "deployment/web"]).await.ok();
        assert_eq!(undone, "deployment.apps/web rolled back\n");
        cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        let image = ["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"];
        assert_eq!(cluster.kubectl(&image).await.ok(), "luksa/kubia");
        cluster.until(&revision, WITHIN, "revision 3", |out| out == "3").await;
        assert_eq!(revisions(cluster.kubectl(&["rollout", "history", "deployment/web"]).await.ok()), ["2", "3"]);
        // `kubectl debug` reads the pods' (defaulted, empty) securityContext and adds an
        // ephemeral container. Pods count their spec's changes (Kubernetes 1.35), that one
        // included; the kubelet reports what it acted on (it started the debug container).
        let pod =
            cluster.kubectl(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"]).await.ok();
        let generations = ["get", "pod", &pod, "-o", "jsonpath={.metadata.generation} {.status.observedGeneration}"];
        assert_eq!(cluster.kubectl(&generations).await.ok(), "1 1");
        cluster.kubectl(&["debug", &pod, "--image=busybox", "--", "true"]).await.ok();
        cluster.until(&generations, WITHIN, "the debug container started", |out| out == "2 2").await;

        // A new image in the pod itself: the kubelet kills the container ("definition changed")
        // and starts the new image's, which counts a restart and answers as v2 does.
        cluster.kubectl(&["set", "image", &format!("pod/{pod}"), "kubia=luksa/kubia:v2"]).await.ok();
        cluster.until(&generations, WITHIN, "generation 3 acted on", |out| out == "3 3").await;
        let status = [
            "get",
            "pod",
            &pod,
            "-o",
            "jsonpath={.status.containerStatuses[?(@.name==\"kubia\")].image} {.status.containerStatuses[?(@.name==\"kubia\")].restartCount}",
        ];
        cluster.until(&status, WITHIN, "the new image running", |out| out == "luksa/kubia:v2 1").await;
        let url = "http://localhost:8080/";
        let answer = cluster
            .until(&["exec", &pod, "-c", "kubia", "--", "curl", "-s", url], WITHIN, "v2 answering", |out| {
                out.starts_with("This is v2")
            })
            .await;
        assert_eq!(answer, format!("This is v2 running in pod {pod}\n"));
        // From inside the pod, localhost is the pod itself, and the app sees 127.0.0.1.
        let log = cluster.kubectl(&["logs", &pod, "-c", "kubia"]).await.ok();
        assert!(log.contains("Received request from ::ffff:127.0.0.1\n"), "{log}");
        let events =
            cluster.kubectl(&["get", "events", "--field-selector", &format!("involvedObject.name={pod}")]).await.ok();
        assert!(events.contains("Container kubia definition changed, will be restarted"), "{events}");
        let previous = cluster.kubectl(&["logs", &pod, "-c", "kubia", "--previous"]).await.ok();
        assert!(previous.contains("Kubia server starting..."), "{previous}");
        cluster.stop().await;
    }
}

/// A rollout whose new pods never become ready stops at its `progressDeadlineSeconds`:
/// `kubectl rollout status` says so, the old pods keep serving, and `rollout undo` finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_stops_progressing_exceeds_its_deadline() {
    const BAD: &str = r#"{"spec": {"progressDeadlineSeconds": 3, "template": {"spec": {"containers": [{"name": "kubia", "image": "luksa/kubia", "readinessProbe": {"periodSeconds": 1, "exec": {"command": ["ls", "/var/ready"]}}}]}}}}"#;
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["create", "deployment", "web", "--image=luksa/kubia", "--replicas=2"]).await.ok();
        cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        cluster.kubectl(&["patch", "deployment", "web", "--type=merge", "-p", BAD]).await.ok();
        let stuck = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]).await.fails(1);
        assert!(stuck.contains("error: deployment \"web\" exceeded its progress deadline"), "{stuck}");
        let progressing = "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}";
        let reason = cluster.kubectl(&["get", "deployment", "web", "-o", progressing]).await.ok();
        assert_eq!(reason, "ProgressDeadlineExceeded");
        let available = ["get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}"];
        assert_eq!(cluster.kubectl(&available).await.ok(), "2", "the old pods still serve");
        cluster.kubectl(&["rollout", "undo", "deployment/web"]).await.ok();
        cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        let reason = cluster.kubectl(&["get", "deployment", "web", "-o", progressing]).await.ok();
        assert_eq!(reason, "NewReplicaSetAvailable");
        cluster.stop().await;
    }
}

/// What deletion does to dependents, as the garbage collector does it: `--cascade=orphan`
/// leaves a Deployment's ReplicaSet and pods running (and a new Deployment adopts them),
/// `--cascade=foreground` removes the Deployment only after its ReplicaSet and pods, a CronJob
/// takes its Jobs along, a Job deleted with no policy keeps its pods (with kube-apiserver's
/// warning), a finalizer holds an object until it is removed, and a namespace is Terminating
/// until everything in it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_orphans_cascades_and_waits_for_finalizers() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let pods = async || {
            let names = cluster.kubectl(&["get", "pods", "-l", "app=web", "-o", "name"]).await.ok();
            let mut names: Vec<String> = names.lines().map(String::from).collect();
            names.sort();
            names
        };
        cluster.kubectl(&["create", "deployment", "web", "--image=luksa/kubia", "--replicas=2"]).await.ok();
        cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        let before = pods().await;
        assert_eq!(before.len(), 2);

        cluster.kubectl(&["delete", "deployment", "web", "--cascade=orphan"]).await.ok();
        let owners = ["get", "rs", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.ownerReferences}"];
        assert_eq!(cluster.kubectl(&owners).await.ok(), "");
        assert_eq!(pods().await, before);
        cluster.kubectl(&["create", "deployment", "web", "--image=luksa/kubia", "--replicas=2"]).await.ok();
        cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
        cluster.until(&owners, WITHIN, "the ReplicaSet adopted", |out| out.contains("\"kind\":\"Deployment\"")).await;
        assert_eq!(pods().await, before, "the adopted ReplicaSet keeps its pods");

        cluster.kubectl(&["delete", "deployment", "web", "--cascade=foreground"]).await.ok();
        let left = cluster.kubectl(&["get", "rs,pods", "-l", "app=web", "-o", "name"]).await.ok();
        assert_eq!(left, "", "kubectl waited for the Deployment, which went last");

        cluster
            .kubectl(&["create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", "--", "true"])
            .await
            .ok();
        cluster.kubectl(&["create", "job", "now", "--from=cronjob/nightly"]).await.ok();
        cluster.kubectl(&["delete", "cronjob", "nightly"]).await.ok();
        cluster.kubectl(&["get", "job", "now"]).await.fails(1);

        cluster.kubectl(&["create", "job", "once", "--image=busybox", "--", "true"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Complete", "job/once", "--timeout=30s"]).await.ok();
        let raw = cluster.kubectl(&["delete", "--raw", "/apis/batch/v1/namespaces/default/jobs/once"]).await;
        assert!(raw.stderr.contains("Warning: child pods are preserved by default when jobs are deleted"), "{raw:?}");
        cluster.until(&["get", "job", "once", "--ignore-not-found"], WITHIN, "the Job gone", str::is_empty).await;
        let kept = [
            "get",
            "pods",
            "-l",
            "job-name=once",
            "-o",
            "jsonpath={.items[*].status.phase} {.items[*].metadata.ownerReferences}",
        ];
        assert_eq!(cluster.kubectl(&kept).await.ok(), "Succeeded ", "the pod is kept, no longer owned");

        cluster.kubectl(&["create", "configmap", "held", "--from-literal=a=b"]).await.ok();
        let hold = r#"{"metadata":{"finalizers":["example.com/hold"]}}"#;
        cluster.kubectl(&["patch", "configmap", "held", "--type=merge", "-p", hold]).await.ok();
        cluster.kubectl(&["delete", "configmap", "held", "--wait=false"]).await.ok();
        let marked =
            cluster.kubectl(&["get", "configmap", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"]).await;
        assert!(!marked.ok().is_empty());
        let more = r#"{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}"#;
        let refused = cluster.kubectl(&["patch", "configmap", "held", "--type=merge", "-p", more]).await.fails(1);
        assert!(
            refused.contains("metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/more\"}"),
            "{refused}"
        );
        let release = r#"[{"op":"remove","path":"/metadata/finalizers"}]"#;
        cluster.kubectl(&["patch", "configmap", "held", "--type=json", "-p", release]).await.ok();
        cluster.kubectl(&["get", "configmap", "held"]).await.fails(1);

        // A namespace is Terminating while something in it is held, and takes nothing new.
        cluster.kubectl(&["create", "namespace", "shop"]).await.ok();
        cluster.kubectl(&["-n", "shop", "create", "deployment", "web", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["-n", "shop", "create", "configmap", "held"]).await.ok();
        cluster.kubectl(&["-n", "shop", "patch", "configmap", "held", "--type=merge", "-p", hold]).await.ok();
        cluster.kubectl(&["delete", "namespace", "shop", "--wait=false"]).await.ok();
        let phase = cluster.kubectl(&["get", "namespace", "shop", "-o", "jsonpath={.status.phase}"]).await.ok();
        assert_eq!(phase, "Terminating");
        let refused = cluster.kubectl(&["-n", "shop", "create", "configmap", "more"]).await.fails(1);
        assert!(
            refused.contains("configmaps \"more\" is forbidden: unable to create new content in namespace shop because it is being terminated"),
            "{refused}"
        );
        let left = cluster.kubectl(&["-n", "shop", "get", "deployments,configmaps", "-o", "name"]).await.ok();
        assert_eq!(left, "configmap/held\n", "everything else went");
        cluster.kubectl(&["-n", "shop", "patch", "configmap", "held", "--type=json", "-p", release]).await.ok();
        cluster.kubectl(&["wait", "--for=delete", "namespace/shop", "--timeout=30s"]).await.ok();
        cluster.stop().await;
    }
}
