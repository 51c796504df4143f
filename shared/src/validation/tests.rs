use super::*;
use serde_json::json;

fn errors(value: serde_json::Value) -> Vec<String> {
    let object = Object::from_value(value).unwrap();
    validate(&object).iter().map(ToString::to_string).collect()
}

mod autoscaling;
mod network_policies;
mod pods;
mod rbac;
mod scheduling;
mod storage;

#[test]
fn a_valid_service_passes() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubia", "namespace": "default"},
                     "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "kubia"}}});
    assert_eq!(errors(svc), Vec::<String>::new());
}

#[test]
fn service_errors_read_like_kube_apiserver() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "Kubia", "namespace": "default"},
                     "spec": {"type": "Foo", "ports": [{"port": 0}, {"name": "https", "port": 443, "protocol": "XTP"}]}});
    let errs = errors(svc);
    assert!(errs[0].starts_with("metadata.name: Invalid value: \"Kubia\": a DNS-1035 label must consist"), "{errs:?}");
    assert!(errs.contains(&"spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_string()));
    assert!(errs.contains(&"spec.ports[0].name: Required value".to_string()));
    assert!(errs.contains(&"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive".to_string()));
    assert!(errs.contains(
        &"spec.ports[1].protocol: Unsupported value: \"XTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".to_string()
    ));
}

#[test]
fn rc_selector_must_match_template_labels() {
    let rc = json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "kubia", "namespace": "default"},
                    "spec": {"replicas": -1, "selector": {"app": "kubia"},
                             "template": {"metadata": {"labels": {"app": "other"}},
                                          "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}}});
    let errs = errors(rc);
    assert_eq!(
        errs,
        [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
        ]
    );
}

#[test]
fn labels_are_checked() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab", "labels": {"bad key": "ok", "k": "-bad"}}});
    let errs = errors(ns);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist"));
}

#[test]
fn names_follow_dns_rules() {
    assert!(is_dns1123_label("kubia-1"));
    assert!(!is_dns1123_label("-kubia"));
    assert!(is_dns1123_subdomain("kubia.example.com"));
    assert!(!is_dns1123_subdomain("kubia..com"));
    assert!(is_dns1035_label("kubia"));
    assert!(!is_dns1035_label("1kubia"));
    assert!(is_valid_port_name("http"));
    assert!(!is_valid_port_name("8080"));
    assert!(!is_valid_port_name("a--b"));
}

#[test]
fn node_ports_must_be_port_numbers() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np", "namespace": "default"},
                     "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": -5}]}});
    assert_eq!(errors(svc), ["spec.ports[0].nodePort: Invalid value: -5: must be between 1 and 65535, inclusive"]);
}

#[test]
fn traffic_policies_are_checked_as_kube_apiserver_does() {
    let svc = |spec: serde_json::Value| {
        let mut spec = spec;
        spec["ports"] = json!([{"port": 80}]);
        errors(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"}, "spec": spec}),
        )
    };
    assert_eq!(
        svc(json!({"externalTrafficPolicy": "Local"})),
        ["spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"]
    );
    assert_eq!(
        svc(json!({"type": "NodePort", "externalTrafficPolicy": "Bogus"})),
        ["spec.externalTrafficPolicy: Unsupported value: \"Bogus\": supported values: \"Cluster\", \"Local\""]
    );
    assert_eq!(
        svc(json!({"internalTrafficPolicy": "Bogus"})),
        ["spec.internalTrafficPolicy: Unsupported value: \"Bogus\": supported values: \"Cluster\", \"Local\""]
    );
    assert_eq!(
        svc(json!({"trafficDistribution": "PreferFar"})),
        [
            "spec.trafficDistribution: Unsupported value: \"PreferFar\": supported values: \"PreferClose\", \"PreferSameZone\", \"PreferSameNode\""
        ]
    );
    assert_eq!(
        svc(json!({"type": "NodePort", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000})),
        [
            "spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
        ]
    );
    // What is allowed: a policy on a service reachable from outside (external IPs included), and
    // the health-check port of a Local load balancer.
    assert!(svc(json!({"externalIPs": ["192.0.2.1"], "externalTrafficPolicy": "Local"})).is_empty());
    assert!(
        svc(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000})).is_empty()
    );
    assert!(
        svc(json!({"type": "NodePort", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Local"}))
            .is_empty()
    );
}

#[test]
fn addresses_families_ranges_and_app_protocols_are_checked() {
    let svc = |spec: serde_json::Value| {
        let mut spec = spec;
        spec["ports"] = spec.get("ports").cloned().unwrap_or(json!([{"port": 80}]));
        let object = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"}, "spec": spec});
        errors(object)
    };
    let ip = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
    assert_eq!(
        svc(json!({"externalIPs": ["192.0.2.1", "not-an-ip"]})),
        [format!("spec.externalIPs[1]: Invalid value: \"not-an-ip\": {ip}")]
    );
    assert_eq!(
        svc(
            json!({"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8", " 192.0.2.0/24 ", "10.0.0.0/40", "x"]})
        ),
        [
            "spec.LoadBalancerSourceRanges[2]: Invalid value: \"10.0.0.0/40\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            "spec.LoadBalancerSourceRanges[3]: Invalid value: \"x\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ]
    );
    assert_eq!(
        svc(json!({"loadBalancerSourceRanges": ["10.0.0.0/8"]})),
        ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"]
    );
    assert_eq!(svc(json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/internal-vip"})), [] as [&str; 0]);
    assert_eq!(
        svc(json!({"loadBalancerClass": "example.com/internal-vip"})),
        ["spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"]
    );
    assert_eq!(
        svc(json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/internal vip"})),
        [format!(
            "spec.loadBalancerClass: Invalid value: \"example.com/internal vip\": {}",
            super::names::QUALIFIED_NAME_MSG
        )]
    );
    let lb = |class: serde_json::Value| -> Object {
        Object::from_value(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": class, "ports": [{"port": 80}]}}),
        )
        .unwrap()
    };
    let changed: Vec<String> =
        validate_update(&lb(json!("example.com/a")), &lb(json!(null))).iter().map(ToString::to_string).collect();
    assert_eq!(changed, ["spec.loadBalancerClass: Invalid value: \"null\": may not change once set"]);
    assert_eq!(
        svc(json!({"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 100}}})),
        ["spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"]
    );
    assert_eq!(
        svc(json!({"ipFamilies": ["IPv6", "IPv5"], "ipFamilyPolicy": "Bogus"})),
        [
            "spec.ipFamilyPolicy: Unsupported value: \"Bogus\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\"",
            "spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster",
            "spec.ipFamilies[1]: Unsupported value: \"IPv5\": supported values: \"IPv4\", \"IPv6\"",
        ]
    );
    assert_eq!(
        svc(json!({"ipFamilyPolicy": "RequireDualStack"})),
        [
            "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
        ]
    );
    let errs = svc(json!({"ports": [{"port": 80, "appProtocol": "bad proto!"}]}));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("spec.ports[0].appProtocol: Invalid value: \"bad proto!\": name part must consist of"),
        "{errs:?}"
    );
    let fine = json!({"type": "LoadBalancer", "externalIPs": ["192.0.2.1"], "loadBalancerSourceRanges": ["0.0.0.0/0"],
                      "ipFamilies": ["IPv4"], "ipFamilyPolicy": "PreferDualStack", "sessionAffinity": "ClientIP",
                      "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                      "ports": [{"port": 80, "appProtocol": "kubernetes.io/h2c"}]});
    assert!(svc(fine).is_empty());
}

#[test]
fn ingress_errors_read_like_kube_apiserver() {
    let backend = json!({"service": {"name": "kubia", "port": {"number": 80}}});
    let ing = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "kubia", "namespace": "default"},
        "spec": {"tls": [{"hosts": ["*.*.example.com"]}], "rules": [
            {"host": "10.0.0.1", "http": {"paths": [{"path": "/", "backend": backend}]}},
            {"host": "Kubia.example.com", "http": {"paths": [
                {"path": "foo", "pathType": "Prefix", "backend": backend},
                {"path": "/a//b", "pathType": "Exact", "backend": {"service": {"name": "kubia", "port": {}}}},
                {"path": "/", "pathType": "Regex", "backend": {}}]}}]}});
    let errs = errors(ing);
    for expected in [
        "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
        "spec.rules[1].http.paths[0].path: Invalid value: \"foo\": must be an absolute path",
        "spec.rules[1].http.paths[1].path: Invalid value: \"/a//b\": must not contain '//'",
        "spec.rules[1].http.paths[1].backend: Required value: port name or number is required",
        "spec.rules[1].http.paths[2].pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
        "spec.rules[1].http.paths[2].backend: Invalid value: \"\": resource or service backend is required",
    ] {
        assert!(errs.contains(&expected.to_string()), "{expected}\nnot in {errs:#?}");
    }
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.tls[0].hosts[0]: Invalid value: \"*.*.example.com\": a wildcard DNS-1123"))
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.rules[1].host: Invalid value: \"Kubia.example.com\": a lowercase RFC 1123"))
    );
    let empty = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "x", "namespace": "default"}, "spec": {}});
    assert_eq!(errors(empty), ["spec: Invalid value: []: either `defaultBackend` or `rules` must be specified"]);
}

#[test]
fn tls_secrets_need_both_keys_and_csrs_need_a_request_signer_and_usages() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t", "namespace": "default"},
        "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}});
    assert_eq!(errors(secret), ["data[tls.key]: Required value"]);
    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "c"}, "spec": {"request": "YQ==", "signerName": "", "usages": ["client auth", "flying"]}});
    let errs = errors(csr);
    assert!(
        errs.contains(
            &"spec.request: Invalid value: []byte{…}: PEM block type must be CERTIFICATE REQUEST".to_string()
        )
    );
    assert!(errs.contains(&"spec.signerName: Required value".to_string()), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("spec.usages[1]: Unsupported value: \"flying\"")), "{errs:?}");
}

#[test]
fn secrets_hold_what_their_type_requires_and_config_maps_valid_keys() {
    let secret = |type_: &str, data: serde_json::Value| {
        errors(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
            "type": type_, "data": data}))
    };
    assert_eq!(secret("Opaque", json!({"a": "YQ=="})), Vec::<String>::new());
    assert_eq!(
        secret("kubernetes.io/basic-auth", json!({"x": "YQ=="})),
        ["data[username]: Required value", "data[password]: Required value"]
    );
    assert_eq!(
        secret("kubernetes.io/basic-auth", json!({"password": ""})),
        Vec::<String>::new(),
        "one of them, even empty"
    );
    assert_eq!(secret("kubernetes.io/ssh-auth", json!({})), ["data[ssh-privatekey]: Required value"]);
    assert_eq!(secret("kubernetes.io/dockerconfigjson", json!({})), ["data[.dockerconfigjson]: Required value"]);
    let bad_json = secret("kubernetes.io/dockerconfigjson", json!({".dockerconfigjson": "e30x"}));
    assert!(
        bad_json[0].starts_with("data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "),
        "{bad_json:?}"
    );
    assert_eq!(
        secret("kubernetes.io/service-account-token", json!({})),
        ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    );
    let cm = errors(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
        "data": {"bad key": "x", "dup": "a"}, "binaryData": {"dup": "YQ=="}}));
    assert!(
        cm.iter().any(|e| e.starts_with("data[bad key]: Invalid value: \"bad key\": a valid config key")),
        "{cm:?}"
    );
    assert!(
        cm.contains(&"data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData".to_string()),
        "{cm:?}"
    );
}

#[test]
fn immutable_config_and_secret_types_cannot_change() {
    let object = |v: serde_json::Value| Object::from_value(v).unwrap();
    let old =
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
        "immutable": true, "data": {"a": "1"}}));
    let new =
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
        "immutable": true, "data": {"a": "2"}}));
    let errs: Vec<String> = validate_update(&old, &new).iter().map(ToString::to_string).collect();
    assert_eq!(errs, ["data: Forbidden: field is immutable when `immutable` is set"]);
    let opaque = object(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "type": "Opaque"}),
    );
    let basic = object(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
        "type": "kubernetes.io/basic-auth", "data": {"username": "YQ=="}}));
    let errs: Vec<String> = validate_update(&opaque, &basic).iter().map(ToString::to_string).collect();
    assert_eq!(errs, ["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"]);
}

#[test]
fn endpoint_slices_are_checked_as_kube_apiserver_does() {
    let slice = |address_type: &str, endpoints: serde_json::Value, ports: serde_json::Value| {
        errors(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": "s", "namespace": "default"},
                      "addressType": address_type, "endpoints": endpoints, "ports": ports}))
    };
    let fine = slice(
        "IPv4",
        json!([{"addresses": ["10.244.1.5"], "nodeName": "node-1", "hostname": "web-0"}, {"addresses": ["127.0.0.1"]}]),
        json!([{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP", "appProtocol": "dns"}]),
    );
    assert!(fine.is_empty(), "{fine:?}");
    assert_eq!(
        slice("Foo", json!([]), json!([])),
        ["addressType: Unsupported value: \"Foo\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""]
    );
    assert_eq!(
        slice("IPv4", json!([{"addresses": ["x.y", "::1"]}, {"addresses": []}]), json!([])),
        [
            "endpoints[0].addresses[0]: Invalid value: \"x.y\": must be a valid IPv4 address",
            "endpoints[0].addresses[1]: Invalid value: \"::1\": must be a valid IPv4 address",
            "endpoints[1].addresses: Required value: must contain at least 1 address",
        ]
    );
    assert_eq!(
        slice("FQDN", json!([{"addresses": ["example.com", "localhost"]}]), json!([])),
        [
            "endpoints[0].addresses[1]: Invalid value: \"localhost\": should be a domain with at least two segments separated by dots"
        ]
    );
    assert_eq!(
        slice("IPv4", json!([]), json!([{"name": "http", "protocol": "XTP"}, {"name": "http"}])),
        [
            "ports[0].protocol: Unsupported value: \"XTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "ports[1].name: Duplicate value: \"http\"",
        ]
    );
    let many: Vec<_> = (0..1001).map(|i| json!({"addresses": [format!("10.0.{}.{}", i / 256, i % 256)]})).collect();
    assert_eq!(slice("IPv4", json!(many), json!([])), ["endpoints: Too many: 1001: must have at most 1000 items"]);
    let old = Object::from_value(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "s", "namespace": "default"}, "addressType": "IPv4", "endpoints": []}))
    .unwrap();
    let new = Object::from_value(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "s", "namespace": "default"}, "addressType": "IPv6", "endpoints": []}))
    .unwrap();
    let errs: Vec<String> = validate_update(&old, &new).iter().map(ToString::to_string).collect();
    assert_eq!(errs, ["addressType: Invalid value: \"IPv6\": field is immutable"]);
}

#[test]
fn a_statefulset_mounts_its_claims_and_workload_selectors_cannot_change() {
    let object = |v: serde_json::Value| Object::from_value(v).unwrap();
    let sts = |selector: serde_json::Value, service: &str| {
        object(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"serviceName": service, "selector": selector,
                     "template": {"metadata": {"labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "db", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}),
        )
    };
    let old = sts(json!({"matchLabels": {"app": "db"}}), "db");
    assert_eq!(validate(&old), vec![]);
    let renamed = sts(json!({"matchLabels": {"app": "db"}}), "other");
    let errs: Vec<String> = validate_update(&old, &renamed).iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        ]
    );

    let deployment = |labels: serde_json::Value, expressions: serde_json::Value| {
        object(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kubia", "namespace": "default"},
            "spec": {"selector": {"matchLabels": labels, "matchExpressions": expressions},
                     "template": {"metadata": {"labels": {"app": "kubia", "tier": "web"}},
                                  "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}}}),
        )
    };
    let old = deployment(json!({"app": "kubia"}), json!(null));
    let new = deployment(
        json!({"app": "kubia", "tier": "web"}),
        json!([{"key": "tier", "operator": "In", "values": ["web"]}]),
    );
    let errs: Vec<String> = validate_update(&old, &new).iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"kubia\", \"tier\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"tier\", Operator:\"In\", Values:[]string{\"web\"}}}}: field is immutable"
        ]
    );
    assert_eq!(validate_update(&old, &old), vec![]);
}

#[test]
fn annotations_have_label_keys_and_fit_in_256_kib() {
    let config = |annotations: serde_json::Value| {
        errors(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "annotations": annotations}}))
    };
    assert_eq!(
        config(json!({"Example.com/Owner": "me", "kubectl.kubernetes.io/last-applied-configuration": "{}"})),
        Vec::<String>::new()
    );
    let errs = config(json!({"bad key": "x"}));
    assert!(
        errs[0].starts_with("metadata.annotations: Invalid value: \"bad key\": name part must consist of"),
        "{errs:?}"
    );
    let big = "x".repeat(256 * 1024);
    assert_eq!(config(json!({"a": big})), ["metadata.annotations: Too long: may not be more than 262144 bytes"]);
}

#[test]
fn what_a_stored_object_already_broke_does_not_stop_its_updates() {
    let pod = |labels: serde_json::Value, mount: &str| {
        Object::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": mount, "mountPath": "/d"}]}]}}))
        .unwrap()
    };
    // Stored before mounts were checked: relabelling it still works, a new mistake does not.
    let stored = pod(json!({"a": "1"}), "gone");
    assert_eq!(validate_update(&stored, &pod(json!({"a": "2"}), "gone")), vec![]);
    let errs: Vec<String> =
        validate_update(&stored, &pod(json!({"a": "-bad-"}), "gone")).iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("metadata.labels: Invalid value: \"-bad-\""), "{errs:?}");
}

#[test]
fn a_jobs_template_selector_and_completions_do_not_change() {
    let job = |image: &str, completions: i32, parallelism: i32, mode: &str| {
        Object::from_value(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {"completions": completions, "parallelism": parallelism, "completionMode": mode,
                     "selector": {"matchLabels": {"job-name": "pi"}},
                     "template": {"metadata": {"labels": {"job-name": "pi"}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": image}]}}}}))
        .unwrap()
    };
    let strings =
        |old: &Object, new: &Object| validate_update(old, new).iter().map(ToString::to_string).collect::<Vec<_>>();
    let old = job("perl", 2, 1, "NonIndexed");
    assert_eq!(strings(&old, &job("perl", 2, 2, "NonIndexed")), Vec::<String>::new(), "parallelism may change");
    assert_eq!(
        strings(&old, &job("perl:5", 3, 1, "NonIndexed")),
        [
            "spec.template: Invalid value: core.PodTemplateSpec{…}: field is immutable",
            "spec.completions: Invalid value: 3: field is immutable",
        ]
    );
    let indexed = job("perl", 2, 2, "Indexed");
    assert!(strings(&indexed, &job("perl", 4, 4, "Indexed")).is_empty(), "an Indexed Job scales");
}
