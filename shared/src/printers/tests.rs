//! The printers against the rows kube-apiserver prints for the same objects.

use super::*;
use serde_json::json;

fn now() -> Timestamp {
    "2026-01-01T12:00:00Z".parse().unwrap()
}

fn object(value: Value) -> Object {
    Object::from_value(value).unwrap()
}

fn cells(value: Value) -> Vec<Value> {
    row(&object(value), now()).cells
}

#[test]
fn ages_read_like_human_duration() {
    let cases = [
        (-5, "<invalid>"),
        (-1, "0s"),
        (42, "42s"),
        (119, "119s"),
        (120, "2m"),
        (303, "5m3s"),
        (1020, "17m"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (4 * 3600, "4h"),
        (30 * 3600, "30h"),
        (2 * 86400 + 4 * 3600, "2d4h"),
        (3 * 86400, "3d"),
        (45 * 86400, "45d"),
        (800 * 86400, "2y70d"),
        (3650 * 86400, "10y"),
    ];
    for (seconds, want) in cases {
        assert_eq!(human_duration(seconds), want, "{seconds}s");
    }
    assert_eq!(age(None, now()), "<unknown>");
}

#[test]
fn every_row_has_a_cell_per_column() {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}),
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {}}),
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "r"}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {"selector": {}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"selector": {}, "template": {}}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "e"},
               "addressType": "IPv4", "endpoints": []}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "i"}}),
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "c"},
               "spec": {"request": "", "signerName": ""}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-1"},
               "spec": {"holderIdentity": "node-1"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"}}),
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"}}),
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
               "spec": {"selector": {}, "template": {}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
               "spec": {"selector": {}, "template": {}}}),
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"}, "revision": 1}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {}}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
               "spec": {"schedule": "* * * * *", "jobTemplate": {}}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"}}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
               "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "r"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "r"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "s"},
               "provisioner": "p"}),
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "p"}, "value": 10}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "g"},
               "spec": {"controllerName": "svclab.io/gateway-controller"}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
               "spec": {"gatewayClassName": "svclab", "listeners": []}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
               "spec": {"hostnames": ["a.example.com"]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant", "metadata": {"name": "r"},
               "spec": {"from": [], "to": []}}),
    ];
    assert_eq!(objects.len(), Kind::ALL.len(), "one object of every kind");
    for value in objects {
        let object = object(value);
        let row = row(&object, now());
        assert_eq!(row.cells.len(), columns(object.kind()).len(), "{:?}", object.kind());
        let names = columns(object.kind()).iter().filter(|c| c.format == "name").count();
        assert_eq!(names, 1, "{:?} has one name column", object.kind());
    }
}

fn pod(status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "kubia-7nog1", "creationTimestamp": "2026-01-01T11:55:00Z"},
           "spec": {"nodeName": "node-1", "containers": [{"name": "kubia"}]},
           "status": status})
}

#[test]
fn pods_read_like_kubectl_get_pods() {
    let running = pod(json!({"phase": "Running", "podIPs": [{"ip": "10.244.1.2"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "kubia", "image": "", "imageID": "", "ready": true, "restartCount": 0,
                               "state": {"running": {}}}]}));
    assert_eq!(
        cells(running),
        json!(["kubia-7nog1", "1/1", "Running", "0", "5m", "10.244.1.2", "node-1", "<none>", "<none>"])
            .as_array()
            .unwrap()
            .clone()
    );
    let crashing = pod(json!({"phase": "Running",
        "containerStatuses": [{"name": "kubia", "image": "", "imageID": "", "ready": false, "restartCount": 4,
                               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                               "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T11:57:00Z"}}}]}));
    let c = cells(crashing);
    assert_eq!((&c[1], &c[2], &c[3]), (&json!("0/1"), &json!("CrashLoopBackOff"), &json!("4 (3m ago)")));
    let init = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
            {"name": "b", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}]}});
    assert_eq!(cells(init)[2], "Init:1/2");
    let init_error = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "a"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "image": "", "imageID": "", "ready": false, "restartCount": 2,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
    assert_eq!(cells(init_error)[2], "Init:CrashLoopBackOff");
    let mut terminating = pod(json!({"phase": "Running"}));
    terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T12:00:30Z");
    assert_eq!(cells(terminating)[2], "Terminating");
    let succeeded = pod(json!({"phase": "Succeeded",
        "containerStatuses": [{"name": "kubia", "image": "", "imageID": "", "ready": false, "restartCount": 0,
                               "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}));
    let row = row(&object(succeeded), now());
    assert_eq!(row.cells[2], "Completed");
    assert_eq!(row.conditions[0].reason, "Succeeded");
    let no_status = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}});
    assert_eq!(cells(no_status)[5], "<none>");
}

fn service(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubia", "creationTimestamp": "2026-01-01T11:54:00Z"},
           "spec": spec, "status": status})
}

#[test]
fn services_read_like_kubectl_get_svc() {
    let cluster_ip = service(
        json!({"type": "ClusterIP", "clusterIPs": ["10.111.249.153"], "selector": {"app": "kubia", "a": "b"},
               "ports": [{"port": 80, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(
        cells(cluster_ip),
        json!(["kubia", "ClusterIP", "10.111.249.153", "<none>", "80/TCP", "6m", "a=b,app=kubia"])
            .as_array()
            .unwrap()
            .clone()
    );
    let node_port = service(
        json!({"type": "NodePort", "clusterIPs": ["10.96.0.9"], "ports": [{"port": 80, "nodePort": 30123, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(cells(node_port)[4], "80:30123/TCP");
    let pending = service(json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.9"]}), json!({}));
    assert_eq!(cells(pending)[3], "<pending>");
    let lb = service(
        json!({"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]}),
        json!({"loadBalancer": {"ingress": [{"ip": "127.0.2.2"}, {"hostname": "lb.example"}, {"ip": "127.0.2.1"}]}}),
    );
    let c = cells(lb);
    assert_eq!(
        (&c[2], &c[3], &c[4]),
        (&json!("<none>"), &json!("127.0.2.1,127.0.2.2,lb.example,1.2.3.4"), &json!("<none>"))
    );
    let external = service(json!({"type": "ExternalName", "externalName": "api.somecompany.com"}), json!({}));
    assert_eq!(cells(external)[3], "api.somecompany.com");
    let headless = service(json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}), json!({}));
    assert_eq!(cells(headless)[2], "None");
}

#[test]
fn endpoints_show_three_then_more() {
    let eps = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubia"},
        "subsets": [{"addresses": [{"ip": "10.244.1.2"}, {"ip": "10.244.2.2"}, {"ip": "10.244.3.2"}, {"ip": "10.244.1.3"}],
                     "notReadyAddresses": [{"ip": "10.244.3.9"}],
                     "ports": [{"port": 8080, "protocol": "TCP"}]}]});
    assert_eq!(cells(eps)[1], "10.244.1.2:8080,10.244.2.2:8080,10.244.3.2:8080 + 1 more...");
    let headless = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "h"},
        "subsets": [{"addresses": [{"ip": "10.244.1.2"}]}]});
    assert_eq!(cells(headless)[1], "10.244.1.2");
    let none = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "n"}});
    assert_eq!(cells(none)[1], "<none>");
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "kubia-abc"},
        "addressType": "IPv4", "ports": [{"name": "", "port": 8080}, {"name": "https"}],
        "endpoints": [{"addresses": ["10.244.1.2"]}]});
    assert_eq!(cells(slice)[1..4], [json!("IPv4"), json!("8080,https"), json!("10.244.1.2")]);
}

#[test]
fn nodes_ingresses_and_workloads_read_like_kubectl() {
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}],
                   "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "", "kernelVersion": "", "containerRuntimeVersion": "",
                                "architecture": "", "bootID": "", "machineID": "", "operatingSystem": "", "systemUUID": "",
                                "kubeProxyVersion": ""}}});
    let c = cells(node);
    assert_eq!(
        (&c[1], &c[2], &c[4], &c[5], &c[6], &c[7]),
        (
            &json!("NotReady,SchedulingDisabled"),
            &json!("control-plane"),
            &json!("v1.35.0"),
            &json!("127.0.1.1"),
            &json!("<none>"),
            &json!("<unknown>")
        )
    );

    let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "kubia"},
        "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["kubia.example.com"]}],
                 "rules": [{"host": "kubia.example.com"}, {"http": {"paths": []}}, {"host": "b.com"}, {"host": "c.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}});
    assert_eq!(
        cells(ingress)[1..5],
        [json!("nginx"), json!("kubia.example.com,b.com + 1 more..."), json!("127.0.0.1"), json!("80, 443")]
    );

    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kubia"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "kubia"},
                                             "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
                 "template": {"spec": {"containers": [{"name": "nodejs", "image": "luksa/kubia:v1"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells(deploy)[1..],
        [
            json!("2/3"),
            json!(3),
            json!(2),
            json!("<unknown>"),
            json!("nodejs"),
            json!("luksa/kubia:v1"),
            json!("app=kubia,env in (dev,prod)")
        ]
    );
    let rs =
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {"selector": {}}});
    assert_eq!(cells(rs)[7], "<none>");

    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "kubia.1"},
        "involvedObject": {"kind": "Service", "name": "kubia", "fieldPath": ""},
        "type": "Normal", "reason": "EnsuringLoadBalancer", "message": "Ensuring load balancer ",
        "source": {"component": "service-controller"},
        "firstTimestamp": "2026-01-01T11:55:00Z", "lastTimestamp": "2026-01-01T11:59:00Z", "count": 3});
    assert_eq!(
        cells(event),
        [
            json!("60s"),
            json!("Normal"),
            json!("EnsuringLoadBalancer"),
            json!("service/kubia"),
            json!(""),
            json!("service-controller"),
            json!("Ensuring load balancer"),
            json!("5m"),
            json!(3),
            json!("kubia.1")
        ]
    );

    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "c"},
        "spec": {"request": "", "signerName": "kubernetes.io/kube-apiserver-client", "username": "admin", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "YQ=="}});
    assert_eq!(
        cells(csr)[2..],
        [json!("kubernetes.io/kube-apiserver-client"), json!("admin"), json!("24h"), json!("Approved,Issued")]
    );
}

#[test]
fn workloads_print_as_kubectl_shows_them() {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "creationTimestamp": "2026-01-01T11:59:00Z"},
        "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}},
        "status": {"succeeded": 3, "startTime": "2026-01-01T11:59:00Z", "completionTime": "2026-01-01T11:59:17Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}});
    assert_eq!(
        cells(job),
        [
            json!("pi"),
            json!("Complete"),
            json!("3/3"),
            json!("17s"),
            json!("60s"),
            json!("pi"),
            json!("perl"),
            json!("batch.kubernetes.io/controller-uid=u"),
        ]
    );
    let running = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "w"},
        "spec": {"parallelism": 3, "template": {}}, "status": {"startTime": "2026-01-01T11:59:50Z"}});
    assert_eq!(cells(running)[1..4], [json!("Running"), json!("0/1 of 3"), json!("10s")]);
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
        "spec": {"schedule": "*/1 * * * *", "suspend": false, "jobTemplate": {}},
        "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2026-01-01T11:59:00Z"}});
    assert_eq!(
        cells(cron)[..6],
        [json!("hello"), json!("*/1 * * * *"), json!("<none>"), json!("False"), json!(1), json!("60s")]
    );
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"replicas": 2, "readyReplicas": 2}});
    assert_eq!(cells(sts)[..2], [json!("web"), json!("2/3")]);
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"spec": {"containers": [], "nodeSelector": {"kubernetes.io/os": "linux"}}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3,
                   "numberAvailable": 2, "numberMisscheduled": 0}});
    assert_eq!(
        cells(ds)[..7],
        [json!("agent"), json!(3), json!(3), json!(2), json!(3), json!(2), json!("kubernetes.io/os=linux")]
    );
    let revision = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-5d4f",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": true}]},
        "revision": 2});
    assert_eq!(cells(revision)[..3], [json!("web-5d4f"), json!("statefulset.apps/web"), json!(2)]);
}

#[test]
fn storage_and_policies_print_as_kubectl_shows_them() {
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "www-web-0"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "volumeName": "pvc-1", "volumeMode": "Filesystem",
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce", "ReadWriteMany"], "capacity": {"storage": "1Gi"}}});
    assert_eq!(
        cells(pvc),
        [
            json!("www-web-0"),
            json!("Bound"),
            json!("pvc-1"),
            json!("1Gi"),
            json!("RWO,RWX"),
            json!("standard"),
            json!("<unset>"),
            json!("<unknown>"),
            json!("Filesystem"),
        ]
    );
    let pending = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
        "spec": {"resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Pending"}});
    assert_eq!(cells(pending)[1..5], [json!("Pending"), json!(""), json!(""), json!("")]);
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 10, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}]}});
    assert_eq!(
        cells(hpa)[1..4],
        [json!("Deployment/web"), json!("cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more..."), json!("2")]
    );
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}, {"kind": "User", "name": "jane"}]});
    assert_eq!(
        cells(binding),
        [json!("b"), json!("ClusterRole/view"), json!("<unknown>"), json!("jane"), json!(""), json!("shop/app")]
    );
    let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "svclab.io/local-path"});
    assert_eq!(
        cells(class)[..5],
        [json!("standard (default)"), json!("svclab.io/local-path"), json!("Delete"), json!("Immediate"), json!(false)]
    );
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
        "spec": {"hard": {"pods": "10", "limits.memory": "2Gi"}}, "status": {"hard": {"pods": "10", "limits.memory": "2Gi"}, "used": {"pods": "3"}}});
    assert_eq!(cells(quota)[2..], [json!("pods: 3/10"), json!("limits.memory: 0/2Gi")]);
}

#[test]
fn gateway_api_columns_read_like_their_crds() {
    let route = object(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r"}, "spec": {"hostnames": ["a.example.com", "b.example.com"]}}));
    assert_eq!(row(&route, now()).cells[1], json!(r#"["a.example.com","b.example.com"]"#));
    let gateway = object(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "g"}, "spec": {"gatewayClassName": "svclab", "listeners": []},
        "status": {"addresses": [{"type": "IPAddress", "value": "127.0.2.1"}],
                   "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed", "message": "",
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}));
    let cells = row(&gateway, now()).cells;
    assert_eq!(cells[1..4], [json!("svclab"), json!("127.0.2.1"), json!("True")]);
}
