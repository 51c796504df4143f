//! Pods and their containers, probes, volumes and updates, checked as kube-apiserver checks them.

use super::*;

#[test]
fn pods_need_named_containers_with_images() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "x-", "namespace": "default"},
                     "spec": {"containers": [{"name": "a"}, {"name": "a", "image": "busybox"}]}});
    assert_eq!(
        errors(pod),
        ["spec.containers[0].image: Required value", "spec.containers[1].name: Duplicate value: \"a\""]
    );
    let nameless =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default"}, "spec": {"containers": []}});
    assert_eq!(
        errors(nameless),
        ["metadata.name: Required value: name or generateName is required", "spec.containers: Required value"]
    );
}

#[test]
fn probes_need_one_handler_and_liveness_a_success_threshold_of_one() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                     "spec": {"containers": [{"name": "a", "image": "busybox",
                        "readinessProbe": {"periodSeconds": -1},
                        "livenessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 0}, "successThreshold": 2}}]}});
    assert_eq!(
        errors(pod),
        [
            "spec.containers[0].livenessProbe: Forbidden: may not specify more than 1 handler type",
            "spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe: Required value: must specify a handler type",
            "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
        ]
    );
}

#[test]
fn containers_mount_declared_volumes_with_sane_ports_env_and_resources() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}],
                 "initContainers": [{"name": "web", "image": "busybox", "imagePullPolicy": "Sometimes"}],
                 "containers": [{"name": "web", "image": "luksa/kubia",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "HTTP"},
                              {"name": "http", "containerPort": 0, "hostPort": 70000}],
                    "env": [{"name": "A=B", "value": "x"}, {"name": "C", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "D", "valueFrom": {}}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cache", "mountPath": "/data"}],
                    "resources": {"requests": {"cpu": "2", "cpus": "1", "memory": "-1Mi", "example.com/gpu": "1"},
                                  "limits": {"cpu": "1", "example.com/gpu": "2"}}}]}});
    assert_eq!(
        errors(pod),
        [
            "spec.volumes[1].name: Duplicate value: \"data\"",
            "spec.initContainers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
            "spec.containers[0].name: Duplicate value: \"web\"",
            "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
            "spec.containers[0].ports[1].containerPort: Required value",
            "spec.containers[0].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.containers[0].env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            "spec.containers[0].volumeMounts[1].name: Not found: \"cache\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be unique",
            "spec.containers[0].resources.requests[cpus]: Invalid value: \"cpus\": must be a standard resource for containers",
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-1Mi\": must be greater than or equal to 0",
            "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to example.com/gpu limit of 2",
        ]
    );
}

#[test]
fn a_host_network_pods_ports_are_its_nodes() {
    let pod = |ports: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"hostNetwork": true, "containers": [{"name": "web", "image": "luksa/kubia", "ports": ports}]}})
    };
    assert!(errors(pod(json!([{"containerPort": 8080, "hostPort": 8080}]))).is_empty());
    assert_eq!(
        errors(pod(json!([{"containerPort": 8080, "hostPort": 9000}]))),
        [
            "spec.containers[0].ports[0].hostPort: Invalid value: 9000: must match `containerPort` when `hostNetwork` is true"
        ]
    );
    // A template may leave it unset: its pods' defaults fill it in.
    let template = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}},
            "spec": {"hostNetwork": true, "containers": [{"name": "web", "image": "luksa/kubia",
                "ports": [{"containerPort": 8080}, {"containerPort": 8081, "hostPort": 9001}]}]}}}});
    assert_eq!(
        errors(template),
        [
            "spec.template.spec.containers[0].ports[1].hostPort: Invalid value: 9001: must match `containerPort` when `hostNetwork` is true"
        ]
    );
}

#[test]
fn ephemeral_containers_are_added_never_changed_and_never_created_with_a_pod() {
    let pod = |ephemeral: serde_json::Value| -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "containers": [{"name": "web", "image": "luksa/kubia"}], "ephemeralContainers": ephemeral}}))
        .unwrap()
    };
    let strings = |errs: Vec<FieldError>| errs.iter().map(ToString::to_string).collect::<Vec<_>>();
    let none = pod(json!([]));
    let debug = pod(json!([{"name": "dbg", "image": "busybox", "targetContainerName": "web"}]));
    assert!(validate_ephemeral_containers_update(&none, &debug).is_empty());
    let bad = pod(json!([{"name": "web", "image": "busybox", "ports": [{"containerPort": 80}],
        "readinessProbe": {"exec": {"command": ["true"]}}, "targetContainerName": "nope"}]));
    assert_eq!(
        strings(validate_ephemeral_containers_update(&none, &bad)),
        [
            "spec.ephemeralContainers[0].name: Duplicate value: \"web\"",
            "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
            "spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container",
            "spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\"",
        ]
    );
    let changed = pod(json!([{"name": "dbg", "image": "alpine", "targetContainerName": "web"}]));
    assert_eq!(
        strings(validate_ephemeral_containers_update(&debug, &changed)),
        ["spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers \"dbg\" may not be changed\n"]
    );
    assert_eq!(
        strings(validate_ephemeral_containers_update(&debug, &none)),
        ["spec: Forbidden: existing ephemeral containers \"dbg\" may not be removed\n"]
    );
    let created: Vec<String> = validate_create(&Object::Pod(debug)).iter().map(ToString::to_string).collect();
    assert_eq!(created, ["spec.ephemeralContainers: Forbidden: cannot be set on create"]);
}

#[test]
fn a_running_pod_takes_new_images_and_added_tolerations_only() {
    let pod = |init_image: &str, tolerations: serde_json::Value, grace: i64| {
        Object::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"initContainers": [{"name": "i", "image": init_image}], "containers": [{"name": "c", "image": "x"}],
                     "tolerations": tolerations, "terminationGracePeriodSeconds": grace}}))
        .unwrap()
    };
    let one = json!([{"key": "a", "operator": "Exists"}]);
    let two = json!([{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]);
    let old = pod("busybox", one.clone(), -1);
    assert_eq!(
        validate_update(&old, &pod("busybox:1.36", two.clone(), 1)),
        vec![],
        "image, added toleration, grace to 1"
    );
    let forbidden = |new: &Object| validate_update(&old, new).iter().map(|e| e.field.clone()).collect::<Vec<_>>();
    assert_eq!(forbidden(&pod("busybox", json!([]), -1)), ["spec"], "a toleration removed");
    assert_eq!(forbidden(&pod("busybox", one, 5)), ["spec"], "a grace period other than 1");
}
