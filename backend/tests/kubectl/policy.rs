//! A namespace's and a cluster's policies through kubectl: an add-on whose RBAC names are
//! `system:…` and whose pods run at a priority class's priority, ResourceQuotas refusing what
//! would exceed them, LimitRanges defaulting and bounding containers' resources, and pods
//! waiting for a node with room for their requests, or preempting pods of lower priority.

use crate::support::{Cluster, binaries, row, table};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

/// An add-on's manifests as metrics-server ships them: RBAC objects named `system:…`, a
/// Deployment in `kube-system` at `system-cluster-critical` priority; and priority classes of
/// one's own, as kube-apiserver's Priority plugin resolves and refuses them.
const ADDON: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-server, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:aggregated-metrics-reader
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- apiGroups: [metrics.k8s.io]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "metrics-server:system:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: metrics-server, namespace: kube-system}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-server, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: metrics-server}}
  template:
    metadata: {labels: {k8s-app: metrics-server}}
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: metrics-server
      containers: [{name: metrics-server, image: registry.k8s.io/metrics-server/metrics-server:v0.7.2}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_addon_with_system_names_and_priorities_comes_up() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("addon.yaml", ADDON);
        let applied = cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        assert!(
            applied
                .contains("clusterrolebinding.rbac.authorization.k8s.io/metrics-server:system:auth-delegator created"),
            "{applied}"
        );
        cluster
            .kubectl(&["-n", "kube-system", "rollout", "status", "deploy/metrics-server", "--timeout=30s"])
            .await
            .ok();
        let priority = cluster
            .kubectl(&[
                "-n",
                "kube-system",
                "get",
                "pods",
                "-l",
                "k8s-app=metrics-server",
                "-o",
                "jsonpath={.items[0].spec.priority}",
            ])
            .await
            .ok();
        assert_eq!(priority, "2000000000");
        let classes = table(&cluster.kubectl(&["get", "pc"]).await.ok());
        assert_eq!(classes[0], ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]);
        assert_eq!(row(&classes, "system-node-critical")[1..3], ["2000001000", "false"]);
        cluster.kubectl(&["create", "priorityclass", "batch", "--value=10", "--global-default"]).await.ok();
        let second =
            cluster.kubectl(&["create", "priorityclass", "other", "--value=20", "--global-default"]).await.fails(1);
        assert!(
            second.contains("PriorityClass batch is already marked as default. Only one default can exist"),
            "{second}"
        );
        let reserved = cluster.kubectl(&["create", "priorityclass", "system-mine", "--value=5"]).await.fails(1);
        assert!(
            reserved.contains("priority class names with 'system-' prefix are reserved for system use only"),
            "{reserved}"
        );
        cluster.kubectl(&["run", "job", "--image=busybox", "--", "sleep", "3600"]).await.ok();
        let described = cluster.kubectl(&["describe", "pod", "job"]).await.ok();
        assert!(
            described.contains("Priority:             10\n") && described.contains("Priority Class Name:  batch\n"),
            "{described}"
        );
        let missing = cluster
            .kubectl(&["run", "x", "--image=busybox", "--overrides", r#"{"spec":{"priorityClassName":"nope"}}"#])
            .await
            .fails(1);
        assert!(missing.contains("pods \"x\" is forbidden: no PriorityClass with name nope was found"), "{missing}");
        cluster.stop().await;
    }
}

/// A namespace's ResourceQuota refuses what would exceed it, as kube-apiserver's quota plugin
/// does: `kubectl run` is told why, a Deployment's ReplicaSet records `FailedCreate` and stops
/// at the quota; a quota of memory wants every container to state its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_what_would_exceed_them() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["create", "quota", "pods", "--hard=pods=2"]).await.ok();
        cluster.kubectl(&["create", "deployment", "web", "--image=nginx", "--replicas=3"]).await.ok();
        cluster
            .until(&["get", "rs", "-l", "app=web"], WITHIN, "two pods made", |out| {
                table(out).get(1).is_some_and(|r| r[2] == "2")
            })
            .await;
        let events = cluster
            .until(&["get", "events", "--field-selector=reason=FailedCreate"], WITHIN, "the refusal", |out| {
                out.contains("exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2")
            })
            .await;
        assert!(events.contains("Error creating: pods \"web-"), "{events}");
        let refused = cluster.kubectl(&["run", "extra", "--image=busybox"]).await.fails(1);
        assert!(
            refused.contains(
                "pods \"extra\" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2"
            ),
            "{refused}"
        );
        let described = cluster.kubectl(&["describe", "quota", "pods"]).await.ok();
        assert!(
            described.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["pods", "2", "2"]),
            "{described}"
        );
        cluster.kubectl(&["create", "quota", "memory", "--hard=limits.memory=1Gi"]).await.ok();
        cluster.kubectl(&["delete", "deployment", "web"]).await.ok();
        let bare = cluster.kubectl(&["run", "bare", "--image=busybox"]).await.fails(1);
        assert!(
            bare.contains("pods \"bare\" is forbidden: failed quota: memory: must specify limits.memory for: bare"),
            "{bare}"
        );
        let limited =
            r#"{"spec":{"containers":[{"name":"sized","image":"busybox","resources":{"limits":{"memory":"64Mi"}}}]}}"#;
        cluster
            .until(&["run", "sized", "--image=busybox", "--overrides", limited], WITHIN, "the old pods gone", |out| {
                out.contains("pod/sized created")
            })
            .await;
        // An update that would exceed a quota is refused too: a service turned load balancer.
        cluster.kubectl(&["create", "quota", "balancers", "--hard=services.loadbalancers=0"]).await.ok();
        cluster.kubectl(&["create", "service", "clusterip", "edge", "--tcp=80"]).await.ok();
        let turned =
            cluster.kubectl(&["patch", "svc", "edge", "-p", r#"{"spec":{"type":"LoadBalancer"}}"#]).await.fails(1);
        assert!(turned.contains("services \"edge\" is forbidden: exceeded quota: balancers"), "{turned}");
        cluster.stop().await;
    }
}

/// The Kubernetes docs' default memory requests and limits for a namespace: a LimitRange's
/// defaults fill in a pod's resources (and its QoS class follows), satisfy a quota of memory, and
/// its maximum refuses a bigger container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_default_and_bound_containers() {
    const RANGE: &str = r#"
apiVersion: v1
kind: LimitRange
metadata: {name: mem-limit-range}
spec:
  limits:
  - type: Container
    default: {memory: 512Mi}
    defaultRequest: {memory: 256Mi}
    max: {memory: 1Gi}
"#;
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("range.yaml", RANGE);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        cluster.kubectl(&["create", "quota", "memory", "--hard=limits.memory=2Gi"]).await.ok();
        cluster.kubectl(&["run", "default-mem-demo", "--image=nginx"]).await.ok();
        let resources = cluster
            .kubectl(&["get", "pod", "default-mem-demo", "-o", "jsonpath={.spec.containers[0].resources}"])
            .await
            .ok();
        assert_eq!(resources, r#"{"limits":{"memory":"512Mi"},"requests":{"memory":"256Mi"}}"#);
        let described = cluster.kubectl(&["describe", "pod", "default-mem-demo"]).await.ok();
        assert!(described.contains("QoS Class:                   Burstable"), "{described}");
        assert!(
            described.contains("LimitRanger plugin set: memory request for container default-mem-demo; memory limit for container default-mem-demo"),
            "{described}"
        );
        let big =
            r#"{"spec":{"containers":[{"name":"big","image":"nginx","resources":{"limits":{"memory":"1.5Gi"}}}]}}"#;
        let refused = cluster.kubectl(&["run", "big", "--image=nginx", "--overrides", big]).await.fails(1);
        assert!(
            refused
                .contains("pods \"big\" is forbidden: maximum memory usage per Container is 1Gi, but limit is 1536Mi"),
            "{refused}"
        );
        cluster.stop().await;
    }
}

/// A pod whose requests fit no node waits, as kube-scheduler's resource fit says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_wait_for_a_node_with_room_for_their_requests() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let greedy =
            r#"{"spec":{"containers":[{"name":"greedy","image":"nginx","resources":{"requests":{"cpu":"3"}}}]}}"#;
        cluster.kubectl(&["run", "greedy", "--image=nginx", "--overrides", greedy]).await.ok();
        let events = cluster
            .until(&["get", "events", "--field-selector=involvedObject.name=greedy"], WITHIN, "the refusal", |out| {
                out.contains("FailedScheduling")
            })
            .await;
        assert!(events.contains("0/3 nodes are available: 3 Insufficient cpu."), "{events}");
        let pods = table(&cluster.kubectl(&["get", "pod", "greedy"]).await.ok());
        assert_eq!(row(&pods, "greedy")[2], "Pending");
        let modest =
            r#"{"spec":{"containers":[{"name":"modest","image":"nginx","resources":{"requests":{"cpu":"1500m"}}}]}}"#;
        cluster.kubectl(&["run", "modest", "--image=nginx", "--overrides", modest]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/modest", "--timeout=30s"]).await.ok();
        cluster.stop().await;
    }
}

/// A pod of a higher priority class that fits nowhere preempts a pod of lower priority, as
/// kube-scheduler does: the victim is deleted with a `Preempted` event, and the pod runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_priority_pod_preempts_a_lower_one() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["create", "priorityclass", "important", "--value=1000"]).await.ok();
        let filler =
            r#"{"spec":{"containers":[{"name":"filler","image":"nginx","resources":{"requests":{"cpu":"1500m"}}}]}}"#;
        for name in ["filler-1", "filler-2", "filler-3"] {
            cluster.kubectl(&["run", name, "--image=nginx", "--overrides", filler]).await.ok();
        }
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod", "--all", "--timeout=30s"]).await.ok();
        let vip = r#"{"spec":{"priorityClassName":"important","containers":[{"name":"vip","image":"nginx","resources":{"requests":{"cpu":"1"}}}]}}"#;
        cluster.kubectl(&["run", "vip", "--image=nginx", "--overrides", vip]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/vip", "--timeout=30s"]).await.ok();
        let events = cluster.kubectl(&["get", "events", "--field-selector=reason=Preempted"]).await.ok();
        assert!(events.contains("Preempted by pod "), "{events}");
        cluster
            .until(&["get", "pods", "-o", "name"], WITHIN, "one filler gone", |out| {
                out.lines().filter(|l| l.starts_with("pod/filler-")).count() == 2
            })
            .await;
        cluster.stop().await;
    }
}

/// An autoscaler's `behavior`, filled in and checked as kube-apiserver does it.
const AUTOSCALER: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
  behavior:
    scaleDown: {stabilizationWindowSeconds: 60}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autoscalers_behavior_is_defaulted_and_checked() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("hpa.yaml", AUTOSCALER);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        let behavior = "{.spec.behavior.scaleUp.policies[0].type}/{.spec.behavior.scaleDown.selectPolicy}/{.spec.metrics[0].resource.target.averageUtilization}";
        let got = cluster.kubectl(&["get", "hpa", "web", "-o", &format!("jsonpath={behavior}")]).await.ok();
        assert_eq!(got, "Pods/Max/80");
        let bad = AUTOSCALER.replace(
            "{stabilizationWindowSeconds: 60}",
            "{policies: [{type: Percent, value: 50, periodSeconds: 3600}]}",
        );
        let file = cluster.file("bad.yaml", &bad);
        let refused = cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.fails(1);
        assert!(
            refused.contains("spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 3600: must be less than or equal to 1800"),
            "{refused}"
        );
    }
}

/// A database of four replicas, one per node by required anti-affinity, on three nodes.
const ONE_PER_NODE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  replicas: 4
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: db}}
            topologyKey: kubernetes.io/hostname
      containers: [{name: db, image: nginx}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_anti_affinity_puts_one_replica_per_node() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("db.yaml", ONE_PER_NODE);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        let nodes = "{range .items[*]}{.spec.nodeName}{\" \"}{.status.phase}{\"\\n\"}{end}";
        let placed = cluster
            .until(
                &["get", "pods", "-l", "app=db", "-o", &format!("jsonpath={nodes}")],
                WITHIN,
                "three running",
                |out| out.matches(" Running").count() == 3 && out.matches(" Pending").count() == 1,
            )
            .await;
        let mut used: Vec<&str> =
            placed.lines().filter(|l| l.ends_with(" Running")).map(|l| l.split(' ').next().unwrap()).collect();
        used.sort();
        assert_eq!(used, ["node-1", "node-2", "node-3"], "one per node: {placed}");
        let events = cluster
            .until(&["get", "events", "--field-selector=reason=FailedScheduling"], WITHIN, "the refusal", |out| {
                out.contains("anti-affinity")
            })
            .await;
        assert!(
            events.contains("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."),
            "{events}"
        );
        cluster.stop().await;
    }
}
