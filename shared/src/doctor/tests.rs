//! The checklist's findings for each kind of broken service.
use super::*;
use serde_json::json;

fn service(spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": "kubia", "namespace": "default"}, "spec": spec})).unwrap()
}

fn pod(name: &str, labels: serde_json::Value, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "kubia", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": "10.244.1.2",
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

fn endpoints(ready: &[&str], unready: &[&str]) -> Endpoints {
    let addrs = |ips: &[&str]| ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>();
    serde_json::from_value(json!({
        "metadata": {"name": "kubia", "namespace": "default"},
        "subsets": [{"addresses": addrs(ready), "notReadyAddresses": addrs(unready), "ports": [{"port": 8080}]}]
    }))
    .unwrap()
}

fn listening(pods: &[&str], port: i32) -> BTreeMap<String, Vec<(i32, String)>> {
    pods.iter().map(|p| (format!("default/{p}"), vec![(port, "TCP".to_string())])).collect()
}

fn by_check<'a>(d: &'a Diagnosis, check: &str) -> Vec<&'a Finding> {
    d.findings.iter().filter(|f| f.check == check).collect()
}

#[test]
fn a_healthy_service_passes_every_check() {
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"},
                                "ports": [{"port": 80, "targetPort": 8080}]})),
        endpoints: Some(endpoints(&["10.244.1.2"], &[])),
        pods: vec![pod("kubia-a", json!({"app": "kubia"}), true)],
        listening: listening(&["kubia-a"], 8080),
        ..Default::default()
    };
    let d = diagnose(&evidence);
    assert_eq!(d.worst(), Severity::Ok, "{d:#?}");
    assert!(by_check(&d, "clients")[0].title.contains("never answers ping"));
    assert!(by_check(&d, "listening")[0].title.contains("every serving pod listens on targetPort 8080"));
}

#[test]
fn a_broken_selector_shows_the_near_misses() {
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"}, "ports": [{"port": 80}]})),
        endpoints: Some(endpoints(&[], &[])),
        pods: vec![
            pod("kubia-a", json!({"app": "kubia-v2"}), true),
            pod("kubia-b", json!({"app": "kubai"}), true),
            pod("other", json!({"tier": "db"}), true),
            pod("unlike", json!({"app": "nginx"}), true),
        ],
        ..Default::default()
    };
    let d = diagnose(&evidence);
    let selector = by_check(&d, "selector");
    assert_eq!(selector[0].severity, Severity::Error);
    assert!(selector[0].detail.contains("kubia-a has app=kubia-v2 (the selector wants app=kubia)"), "{d:#?}");
    assert!(selector[0].detail.contains("kubia-b has app=kubai"), "{d:#?}");
    assert!(!selector[0].detail.contains("other") && !selector[0].detail.contains("unlike"), "{d:#?}");
    assert_eq!(selector[0].objects, vec![link("Pod", "default", "kubia-a"), link("Pod", "default", "kubia-b")]);
}

#[test]
fn slips_are_told_from_other_labels() {
    assert!(close("dco", "doc") && close("kubai", "kubia") && close("kubia-v2", "kubia"));
    assert!(!close("kubia", "dco") && !close("tr", "dco") && !close("nginx", "kubia") && !close("db", "tr"));
    assert_eq!(typos("kitten", "sitting"), 3);
}

#[test]
fn pods_in_another_namespace_are_named() {
    let mut elsewhere = pod("kubia-b", json!({"app": "kubia"}), true);
    elsewhere.metadata.namespace = Some("team".into());
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"}, "ports": [{"port": 80}]})),
        pods: vec![elsewhere],
        ..Default::default()
    };
    let d = diagnose(&evidence);
    assert!(by_check(&d, "selector")[0].detail.contains("other namespaces (team/kubia-b)"), "{d:#?}");
}

#[test]
fn unready_pods_carry_the_probe_failure() {
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"},
                                "ports": [{"port": 80, "targetPort": 8080}]})),
        endpoints: Some(endpoints(&[], &["10.244.1.2"])),
        pods: vec![pod("kubia-a", json!({"app": "kubia"}), false)],
        listening: listening(&["kubia-a"], 8080),
        probe_failures: [(
            "default/kubia-a".to_string(),
            "Readiness probe failed: ls: cannot access '/var/ready'".to_string(),
        )]
        .into(),
        ..Default::default()
    };
    let d = diagnose(&evidence);
    let readiness = by_check(&d, "readiness");
    assert!(readiness[0].detail.starts_with("Readiness probe failed: ls: cannot access '/var/ready'"));
    assert_eq!(readiness[1].severity, Severity::Error);
    assert!(readiness[1].title.contains("connections are refused"));
}

#[test]
fn port_and_target_port_confusion_is_explained() {
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"}, "ports": [{"port": 80}]})),
        endpoints: Some(endpoints(&["10.244.1.2"], &[])),
        pods: vec![pod("kubia-a", json!({"app": "kubia"}), true)],
        listening: listening(&["kubia-a"], 8080),
        ..Default::default()
    };
    let d = diagnose(&evidence);
    let listening = by_check(&d, "listening");
    assert_eq!(listening[0].severity, Severity::Error);
    assert!(listening[0].detail.contains("defaults to the service's port (80)"), "{d:#?}");
    assert!(listening[0].detail.contains("set targetPort: 8080"));
}

#[test]
fn a_missing_named_port_is_reported() {
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"},
                                "ports": [{"port": 80, "targetPort": "web"}]})),
        endpoints: Some(endpoints(&[], &[])),
        pods: vec![pod("kubia-a", json!({"app": "kubia"}), true)],
        listening: listening(&["kubia-a"], 8080),
        ..Default::default()
    };
    let d = diagnose(&evidence);
    assert!(by_check(&d, "target-port")[0].title.contains("defines no container port named web"));
    assert_eq!(by_check(&d, "endpoints")[0].severity, Severity::Error);
}

#[test]
fn external_name_and_headless_explain_themselves() {
    let external = Evidence {
        service: service(json!({"type": "ExternalName", "externalName": "api.somecompany.com"})),
        ..Default::default()
    };
    let d = diagnose(&external);
    assert_eq!(d.findings.len(), 1);
    assert!(d.findings[0].detail.contains("CNAME to api.somecompany.com"));

    let headless = Evidence {
        service: service(json!({"clusterIP": "None", "selector": {"app": "kubia"},
                                "ports": [{"port": 80, "targetPort": 8080}]})),
        endpoints: Some(endpoints(&["10.244.1.2"], &[])),
        pods: vec![pod("kubia-a", json!({"app": "kubia"}), true)],
        listening: listening(&["kubia-a"], 8080),
        ..Default::default()
    };
    let d = diagnose(&headless);
    assert!(by_check(&d, "type")[0].detail.contains("not the service's port (80 → 8080)"));
    assert!(by_check(&d, "clients").is_empty());
}

#[test]
fn selectorless_services_need_their_endpoints() {
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "ports": [{"port": 80}]})),
        ..Default::default()
    };
    let d = diagnose(&evidence);
    assert_eq!(by_check(&d, "selector")[0].severity, Severity::Error);
    assert!(by_check(&d, "selector")[0].detail.contains("no Endpoints object named kubia"));
    // Its user wrote an EndpointSlice instead: the slices are what it is served from.
    let sliced = Evidence { endpoints: Some(endpoints(&["10.244.1.2"], &[])), sliced: true, ..evidence };
    let d = diagnose(&sliced);
    let selector = by_check(&d, "selector")[0];
    assert_eq!(selector.severity, Severity::Ok);
    assert_eq!(
        selector.detail,
        "Without a selector the EndpointSlices labelled kubernetes.io/service-name=kubia are kept by hand; \
         they list 1 ready address, and the proxy forwards to them as given."
    );
}

#[test]
fn an_app_bound_to_localhost_is_found() {
    let evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"},
                                "ports": [{"port": 80, "targetPort": 8080}]})),
        endpoints: Some(endpoints(&["10.244.1.2"], &[])),
        pods: vec![pod("kubia-a", json!({"app": "kubia"}), true)],
        loopback: listening(&["kubia-a"], 8080),
        ..Default::default()
    };
    let d = diagnose(&evidence);
    let listening = by_check(&d, "listening");
    assert_eq!(listening[0].title, "kubia-a listens on 127.0.0.1:8080 only", "{d:#?}");
    assert!(listening[0].detail.contains("listen on 0.0.0.0"));
}

#[test]
fn probes_that_pass_only_because_svclab_stands_in_are_told() {
    let probed = |name: &str, image: &str| -> Pod {
        let mut p = pod(name, json!({"app": "kubia"}), true);
        let c = &mut p.spec.as_mut().unwrap().containers[0];
        c.image = Some(image.into());
        c.readiness_probe = Some(serde_json::from_value(json!({"grpc": {"port": 8080}})).unwrap());
        p
    };
    let evidence = |pods: Vec<Pod>| Evidence {
        service: service(
            json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"}, "ports": [{"port": 80, "targetPort": 8080}]}),
        ),
        endpoints: Some(endpoints(&["10.244.1.2"], &[])),
        listening: listening(&["kubia-a"], 8080),
        pods,
        ..Default::default()
    };
    let d = diagnose(&evidence(vec![probed("kubia-a", "example.com/shop/cart:1.0")]));
    let stand_in = by_check(&d, "stand-in");
    assert_eq!(stand_in.len(), 1, "{d:#?}");
    assert_eq!(stand_in[0].severity, Severity::Info);
    assert!(stand_in[0].title.contains("example.com/shop/cart:1.0"), "{}", stand_in[0].title);
    let built_in = diagnose(&evidence(vec![probed("kubia-a", "luksa/kubia")]));
    assert!(by_check(&built_in, "stand-in").is_empty(), "kubia is built in: its probe tests the real program");
}

#[test]
fn network_policies_that_select_the_pods_are_named_with_what_they_let_in() {
    let policy = |name: &str, spec: serde_json::Value| -> k8s_openapi::api::networking::v1::NetworkPolicy {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap()
    };
    let mut evidence = Evidence {
        service: service(json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"},
                                "ports": [{"port": 80, "targetPort": 8080}]})),
        endpoints: Some(endpoints(&["10.244.1.2"], &[])),
        pods: vec![pod("kubia-a", json!({"app": "kubia"}), true)],
        listening: listening(&["kubia-a"], 8080),
        policies: vec![
            policy("deny-all", json!({"podSelector": {}})),
            policy(
                "from-clients",
                json!({"podSelector": {"matchLabels": {"app": "kubia"}}, "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"role": "client"}}}, {"ipBlock": {"cidr": "127.0.0.0/8"}}],
                 "ports": [{"port": 8080}]}]}),
            ),
            policy("elsewhere", json!({"podSelector": {"matchLabels": {"app": "db"}}})),
        ],
        ..Default::default()
    };
    let d = diagnose(&evidence);
    let found = by_check(&d, "network-policy");
    assert_eq!(found[0].title, "2 NetworkPolicies select these pods: only what they allow reaches them");
    assert!(found[0].detail.starts_with("deny-all lets nothing in. from-clients lets in pods role=client of its namespace or addresses in 127.0.0.0/8, on TCP 8080."), "{}", found[0].detail);
    assert_eq!(found[0].objects.len(), 2);
    evidence.policies.truncate(0);
    assert!(by_check(&diagnose(&evidence), "network-policy").is_empty());
}

#[test]
fn topology_routing_that_does_nothing_says_why() {
    let healthy = |spec: serde_json::Value, annotations: serde_json::Value, t: TopologyEvidence| {
        let mut svc = service(spec);
        svc.metadata.annotations = serde_json::from_value(annotations).unwrap();
        let evidence = Evidence {
            service: svc,
            endpoints: Some(endpoints(&["10.244.1.2", "10.244.2.2"], &[])),
            pods: vec![pod("kubia-a", json!({"app": "kubia"}), true)],
            listening: listening(&["kubia-a"], 8080),
            topology: t,
            ..Default::default()
        };
        diagnose(&evidence).findings.into_iter().find(|f| f.check == "topology")
    };
    let spec = |distribution: serde_json::Value| {
        json!({"clusterIP": "10.96.0.20", "selector": {"app": "kubia"}, "trafficDistribution": distribution,
               "ports": [{"port": 80, "targetPort": 8080}]})
    };
    let t = |ready, zoned, hinted, disabled: Option<&str>| TopologyEvidence {
        ready,
        zoned,
        hinted,
        disabled: disabled.map(String::from),
    };
    assert!(healthy(spec(json!(null)), json!(null), t(2, 0, 0, None)).is_none(), "nothing asked, nothing said");
    let unzoned = healthy(spec(json!("PreferClose")), json!(null), t(2, 1, 1, None)).unwrap();
    assert_eq!(unzoned.severity, Severity::Warning);
    assert_eq!(unzoned.title, "trafficDistribution does nothing: 1 of 2 ready endpoints run on nodes without a zone");
    assert!(unzoned.detail.contains("kubectl label node <node> topology.kubernetes.io/zone=<zone>"));
    let auto = json!({"service.kubernetes.io/topology-mode": "Auto"});
    let overloaded = "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold (2 endpoints, 2 zones), addressType: IPv4";
    let off = healthy(spec(json!(null)), auto.clone(), t(2, 2, 0, Some(overloaded))).unwrap();
    assert_eq!(off.title, "Topology Aware Routing does nothing: its endpoints carry no hints");
    assert!(off.detail.contains(overloaded), "{}", off.detail);
    let on = healthy(spec(json!(null)), auto, t(2, 2, 2, None)).unwrap();
    assert_eq!(
        (on.severity, on.title.as_str()),
        (Severity::Ok, "Topology Aware Routing keeps traffic in the client's zone")
    );
}
