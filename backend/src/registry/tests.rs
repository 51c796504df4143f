use super::*;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;
use std::net::Ipv4Addr;

fn registry() -> Registry {
    let store = Store::new();
    let allocators = ServiceAllocators {
        cluster_ips: ClusterIpAllocator::new(Ipv4Addr::new(10, 96, 0, 0), 12),
        node_ports: PortAllocator::new(30000, 32767),
    };
    let registry = Registry::new(store, allocators);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
    registry.create(Object::from_value(ns).unwrap()).unwrap();
    registry
}

fn obj(value: serde_json::Value) -> Object {
    Object::from_value(value).unwrap()
}

fn service(name: &str, cluster_ip: Option<&str>) -> Object {
    obj(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
               "spec": {"clusterIP": cluster_ip, "ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "kubia"}}}))
}

#[test]
fn services_get_a_cluster_ip_and_defaults() {
    let r = registry();
    let created = r.create(service("kubia", None)).unwrap();
    let svc = created.downcast::<Service>().unwrap();
    let spec = svc.spec.as_ref().unwrap();
    let ip: Ipv4Addr = spec.cluster_ip.as_deref().unwrap().parse().unwrap();
    assert_eq!(ip.octets()[0..1], [10]);
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    assert_eq!(spec.ports.as_ref().unwrap()[0].protocol.as_deref(), Some("TCP"));
    assert!(svc.metadata.uid.is_some() && svc.metadata.creation_timestamp.is_some());
}

#[test]
fn a_taken_cluster_ip_is_rejected_and_nothing_is_stored() {
    let r = registry();
    r.create(service("a", Some("10.96.0.50"))).unwrap();
    let err = r.create(service("b", Some("10.96.0.50"))).unwrap_err();
    assert_eq!(err.code(), 422);
    assert_eq!(
        err.to_string(),
        "Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.50\"}: failed to allocate IP 10.96.0.50: provided IP is already allocated"
    );
    assert!(r.store().get(&ObjectKey::new(Kind::Service, "default", "b")).is_none());
    // Deleting the owner of the address frees it.
    r.delete(&ObjectKey::new(Kind::Service, "default", "a"), None).unwrap();
    r.create(service("b", Some("10.96.0.50"))).unwrap();
}

#[test]
fn invalid_objects_and_missing_namespaces_are_refused() {
    let r = registry();
    let bad = obj(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "default"}, "spec": {}}),
    );
    assert_eq!(r.create(bad).unwrap_err().to_string(), "Service \"x\" is invalid: spec.ports: Required value");
    let mut elsewhere = service("x", None);
    elsewhere.metadata_mut().namespace = Some("nowhere".into());
    assert_eq!(r.create(elsewhere).unwrap_err().to_string(), "namespaces \"nowhere\" not found");
    assert_eq!(r.store().list(Kind::Service, None).1.len(), 0);
}

#[test]
fn generate_name_appends_five_characters() {
    let r = registry();
    let pod =
        obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "kubia-", "namespace": "default"},
                         "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}));
    let created = r.create(pod).unwrap();
    let suffix = created.name().strip_prefix("kubia-").unwrap();
    assert_eq!(suffix.len(), 5);
    assert!(suffix.bytes().all(|b| NAME_ALPHABET.contains(&b)));
}

#[test]
fn put_keeps_status_and_allocated_ip() {
    let r = registry();
    let created = r.create(service("kubia", None)).unwrap();
    let mut svc = created.downcast::<Service>().unwrap().clone();
    let ip = svc.spec.as_ref().unwrap().cluster_ip.clone();
    svc.spec.as_mut().unwrap().cluster_ip = None;
    svc.spec.as_mut().unwrap().cluster_ips = None;
    svc.status = Some(Default::default());
    svc.metadata.labels = Some([("tier".to_string(), "web".to_string())].into());
    let updated = r.update(Object::Service(svc)).unwrap();
    let svc = updated.downcast::<Service>().unwrap();
    assert_eq!(svc.spec.as_ref().unwrap().cluster_ip, ip);
    assert!(svc.metadata.labels.is_some());
}

#[test]
fn deleting_an_owner_deletes_its_pods() {
    let r = registry();
    let rc = r.create(obj(json!({"apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "kubia", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"app": "kubia"},
                 "template": {"metadata": {"labels": {"app": "kubia"}}, "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}}}))).unwrap();
    let uid = rc.metadata().uid.clone().unwrap();
    let pod = obj(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kubia-abcde", "namespace": "default",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicationController", "name": "kubia", "uid": uid, "controller": true}]},
        "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia"}]}}),
    );
    r.create(pod).unwrap();
    r.delete(&ObjectKey::of(&rc), None).unwrap();
    assert!(r.store().list(Kind::Pod, None).1.is_empty());
}

#[test]
fn secret_string_data_is_folded_into_data() {
    let r = registry();
    let secret = obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
                            "data": {"a": "YQ=="}, "stringData": {"b": "plain"}}));
    let created = r.create(secret).unwrap();
    let value = created.to_value();
    assert_eq!(value["data"], json!({"a": "YQ==", "b": "cGxhaW4="}));
    assert!(value.get("stringData").is_none());
    assert_eq!(value["type"], "Opaque");
}

#[test]
fn a_patch_holds_to_a_resource_version_only_when_it_names_one() {
    let r = registry();
    let created = r.create(service("kubia", None)).unwrap();
    let key = ObjectKey::of(&created);
    let merge = |v: serde_json::Value| Patch::Merge(v);
    let json_patch = |v: serde_json::Value| Patch::Json(serde_json::from_value(v).unwrap());
    assert!(!merge(json!({"metadata": {"labels": {"tier": "web"}}})).sets_resource_version());
    assert!(merge(json!({"metadata": {"resourceVersion": "1"}})).sets_resource_version());
    let replace = json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}]);
    assert!(json_patch(replace).sets_resource_version());
    assert!(!json_patch(json!([{"op": "add", "path": "/metadata/labels", "value": {}}])).sets_resource_version());
    // A stale one is a precondition that fails, not a conflict to retry.
    r.patch(&key, merge(json!({"metadata": {"labels": {"tier": "web"}}})), &Write::INTERNAL).unwrap();
    let stale = created.metadata().resource_version.clone().unwrap();
    let err = r
        .patch(&key, merge(json!({"metadata": {"resourceVersion": stale, "labels": {"tier": "db"}}})), &Write::INTERNAL)
        .unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
}

#[test]
fn events_last_seen_over_the_ttl_ago_are_dropped() {
    let r = registry();
    let event = |name: &str, last: &str| {
        obj(json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
                   "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                   "reason": "Started", "firstTimestamp": last, "lastTimestamp": last}))
    };
    let hour_ago = |extra: i64| (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600 + extra)).to_string();
    r.create(event("old", &hour_ago(60))).unwrap();
    r.create(event("recent", &hour_ago(-60))).unwrap();
    assert_eq!(r.expire_events(events::EVENT_TTL), 1);
    let names: Vec<String> = r.store().list(Kind::Event, None).1.iter().map(|e| e.name().to_string()).collect();
    assert_eq!(names, ["recent"]);
}

#[test]
fn a_registry_over_stored_services_never_hands_out_their_addresses() {
    let first = registry();
    let held = first.create(service("held", None)).unwrap();
    let mut nodeport = service("np", None);
    if let Object::Service(s) = &mut nodeport {
        s.spec.as_mut().unwrap().type_ = Some("NodePort".into());
    }
    let np = first.create(nodeport).unwrap();
    // A registry started over the same store (as after a restart) rebuilds its allocators.
    let allocators = ServiceAllocators {
        cluster_ips: ClusterIpAllocator::new(Ipv4Addr::new(10, 96, 0, 0), 12),
        node_ports: PortAllocator::new(30000, 32767),
    };
    let again = Registry::new(first.store().clone(), allocators);
    use svclab_shared::Typed;
    let ip = |o: &Object| Service::from_object(o).unwrap().spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    let port =
        |o: &Object| Service::from_object(o).unwrap().spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port;
    let taken = again.create(service("same-ip", Some(&ip(&held)))).unwrap_err();
    assert!(taken.to_string().contains("provided IP is already allocated"), "{taken}");
    let mut same_port = service("same-port", None);
    if let Object::Service(s) = &mut same_port {
        let spec = s.spec.as_mut().unwrap();
        spec.type_ = Some("NodePort".into());
        spec.ports.as_mut().unwrap()[0].node_port = port(&np);
    }
    let taken = again.create(same_port).unwrap_err();
    assert!(taken.to_string().contains("provided port is already allocated"), "{taken}");
}

#[test]
fn binding_subjects_default_users_and_groups_to_rbac() {
    let r = registry();
    let binding = obj(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "b", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "jane"}, {"kind": "Group", "name": "devs"},
                     {"kind": "ServiceAccount", "name": "default", "namespace": "default"}]}));
    let created = r.create(binding).unwrap();
    let binding = created.downcast::<k8s_openapi::api::rbac::v1::RoleBinding>().unwrap();
    let groups: Vec<_> = binding.subjects.iter().flatten().map(|s| s.api_group.as_deref()).collect();
    assert_eq!(groups, [Some("rbac.authorization.k8s.io"), Some("rbac.authorization.k8s.io"), None]);
}

#[test]
fn pods_take_their_priority_from_their_class() {
    let r = registry();
    let class = |name: &str, value: i32, default: bool| {
        obj(json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                   "value": value, "globalDefault": default}))
    };
    let pod = |name: &str, spec: serde_json::Value| {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "image": "busybox"}]);
        obj(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}),
        )
    };
    let priority = |o: &Object| {
        let spec = o.downcast::<k8s_openapi::api::core::v1::Pod>().unwrap().spec.clone().unwrap();
        (spec.priority_class_name, spec.priority, spec.preemption_policy)
    };
    let plain = r.create(pod("plain", json!({}))).unwrap();
    assert_eq!(priority(&plain), (None, Some(0), Some("PreemptLowerPriority".into())));
    r.create(class("high", 1000, false)).unwrap();
    let high = r.create(pod("high", json!({"priorityClassName": "high"}))).unwrap();
    assert_eq!(priority(&high), (Some("high".into()), Some(1000), Some("PreemptLowerPriority".into())));
    let err = r.create(pod("nope", json!({"priorityClassName": "nope"}))).unwrap_err().to_string();
    assert_eq!(err, "pods \"nope\" is forbidden: no PriorityClass with name nope was found");
    let err = r.create(pod("forged", json!({"priorityClassName": "high", "priority": 5}))).unwrap_err().to_string();
    assert!(err.contains("the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000"), "{err}");
    // One global default, which pods naming no class get.
    r.create(class("everyday", 10, true)).unwrap();
    let err = r.create(class("another", 20, true)).unwrap_err().to_string();
    assert_eq!(
        err,
        "priorityclasses.scheduling.k8s.io \"another\" is forbidden: PriorityClass everyday is already marked as default. Only one default can exist"
    );
    let defaulted = r.create(pod("defaulted", json!({}))).unwrap();
    assert_eq!(priority(&defaulted), (Some("everyday".into()), Some(10), Some("PreemptLowerPriority".into())));
    // A replace that leaves the priority out keeps it.
    let mut replaced = (*defaulted).clone();
    if let Object::Pod(p) = &mut replaced {
        let spec = p.spec.as_mut().unwrap();
        (spec.priority, spec.preemption_policy) = (None, None);
    }
    assert_eq!(priority(&r.update(replaced).unwrap()).1, Some(10));
}

#[test]
fn quotas_refuse_what_would_exceed_them() {
    let r = registry();
    let quota =
        obj(json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
        "spec": {"hard": {"pods": "2", "services.loadbalancers": "0", "configmaps": "1"}}}));
    r.create(quota).unwrap();
    let pod = |name: &str| {
        obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    };
    r.create(pod("a")).unwrap();
    r.create(pod("b")).unwrap();
    let err = r.create(pod("c")).unwrap_err().to_string();
    assert_eq!(err, "pods \"c\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2");
    assert!(r.store().get(&ObjectKey::new(Kind::Pod, "default", "c")).is_none(), "nothing stored");
    // A ClusterIP service is allowed; a load balancer is not.
    r.create(service("inside", None)).unwrap();
    let mut lb = service("outside", None);
    if let Object::Service(s) = &mut lb {
        s.spec.as_mut().unwrap().type_ = Some("LoadBalancer".into());
    }
    let err = r.create(lb).unwrap_err().to_string();
    assert!(err.ends_with("exceeded quota: q, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0"), "{err}");
    let cm = |name: &str| {
        obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}))
    };
    r.create(cm("one")).unwrap();
    assert!(r.create(cm("two")).is_err());
    // Under a quota of compute, each container states it.
    let compute = obj(
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute", "namespace": "default"},
        "spec": {"hard": {"limits.memory": "1Gi"}}}),
    );
    r.create(compute).unwrap();
    r.delete_now(&ObjectKey::new(Kind::Pod, "default", "a"), None).unwrap();
    let err = r.create(pod("d")).unwrap_err().to_string();
    assert_eq!(err, "pods \"d\" is forbidden: failed quota: compute: must specify limits.memory for: c");
}

#[test]
fn limit_ranges_default_and_bound_pods_and_claims() {
    let r = registry();
    let range = obj(
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits", "namespace": "default"},
        "spec": {"limits": [
            {"type": "Container", "default": {"memory": "256Mi"}, "max": {"cpu": "1", "memory": "1Gi"}, "min": {"cpu": "100m"}},
            {"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}}]}}),
    );
    let stored = r.create(range).unwrap();
    let item = &stored.downcast::<k8s_openapi::api::core::v1::LimitRange>().unwrap().spec.as_ref().unwrap().limits[0];
    let text = |m: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| { m.iter().flatten().map(|(k, v)| format!("{k}={}", v.0)).collect::<Vec<_>>().join(",") };
    assert_eq!(text(&item.default), "cpu=1,memory=256Mi", "the maxima stand in for missing defaults");
    assert_eq!(text(&item.default_request), "cpu=1,memory=256Mi");
    let pod = |name: &str, resources: serde_json::Value| {
        obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"containers": [{"name": "c", "image": "busybox", "resources": resources}]}}))
    };
    let created = r.create(pod("plain", json!({}))).unwrap();
    let plain = created.downcast::<k8s_openapi::api::core::v1::Pod>().unwrap();
    let c = &plain.spec.as_ref().unwrap().containers[0];
    assert_eq!(text(&c.resources.as_ref().unwrap().limits), "cpu=1,memory=256Mi");
    assert_eq!(
        plain.metadata.annotations.as_ref().unwrap()["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    );
    assert_eq!(plain.status.as_ref().unwrap().qos_class.as_deref(), Some("Guaranteed"));
    let err = r.create(pod("big", json!({"limits": {"cpu": "2"}}))).unwrap_err().to_string();
    assert_eq!(err, "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2");
    let err = r.create(pod("huge", json!({"limits": {"cpu": "2", "memory": "2Gi"}}))).unwrap_err().to_string();
    assert_eq!(
        err,
        "pods \"huge\" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per Container is 1Gi, but limit is 2Gi]"
    );
    let err = r.create(pod("small", json!({"requests": {"cpu": "50m"}}))).unwrap_err().to_string();
    assert_eq!(err, "pods \"small\" is forbidden: minimum cpu usage per Container is 100m, but request is 50m");
    let claim = obj(
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}),
    );
    let err = r.create(claim).unwrap_err().to_string();
    assert_eq!(
        err,
        "persistentvolumeclaims \"data\" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"
    );
}

#[test]
fn scoped_quotas_count_only_their_pods() {
    let r = registry();
    let quota = obj(
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "best-effort", "namespace": "default"},
        "spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort"]}}),
    );
    r.create(quota).unwrap();
    let pod = |name: &str, resources: serde_json::Value| {
        obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"containers": [{"name": "c", "image": "busybox", "resources": resources}]}}))
    };
    r.create(pod("first", json!({}))).unwrap();
    let err = r.create(pod("second", json!({}))).unwrap_err().to_string();
    assert!(err.contains("exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1"), "{err}");
    r.create(pod("sized", json!({"requests": {"cpu": "100m"}}))).unwrap();
}

#[test]
fn quotas_refuse_a_service_turned_load_balancer() {
    let r = registry();
    let quota =
        obj(json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "lb", "namespace": "default"},
        "spec": {"hard": {"services.loadbalancers": "0"}}}));
    r.create(quota).unwrap();
    let created = r.create(service("web", None)).unwrap();
    let mut turned = (*created).clone();
    if let Object::Service(s) = &mut turned {
        s.spec.as_mut().unwrap().type_ = Some("LoadBalancer".into());
    }
    let err = r.update(turned).unwrap_err().to_string();
    assert_eq!(
        err,
        "services \"web\" is forbidden: exceeded quota: lb, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0"
    );
    // Other changes to it go through.
    let mut labelled = (*created).clone();
    labelled.metadata_mut().labels = Some([("tier".to_string(), "web".to_string())].into());
    r.update(labelled).unwrap();
}

#[test]
fn a_pod_range_weighs_init_containers_as_the_scheduler_does() {
    let r = registry();
    let range =
        obj(json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "pods", "namespace": "default"},
        "spec": {"limits": [{"type": "Pod", "max": {"cpu": "1"}}]}}));
    r.create(range).unwrap();
    let pod = |name: &str, init: serde_json::Value| {
        let app = json!({"name": "app", "image": "busybox", "resources": {"limits": {"cpu": "500m"}}});
        obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"containers": [app], "initContainers": init}}))
    };
    let init = |cpu: &str, sidecar: bool| {
        let mut c = json!({"name": format!("init-{cpu}"), "image": "busybox", "resources": {"limits": {"cpu": cpu}}});
        if sidecar {
            c["restartPolicy"] = json!("Always");
        }
        c
    };
    // An init container runs before the app: the larger of the two counts, not their sum.
    r.create(pod("setup", json!([init("800m", false)]))).unwrap();
    let err = r.create(pod("heavy", json!([init("1500m", false)]))).unwrap_err().to_string();
    assert_eq!(err, "pods \"heavy\" is forbidden: maximum cpu usage per Pod is 1, but limit is 1500m");
    // A sidecar keeps running beside the app: it adds.
    let err = r.create(pod("sidecar", json!([init("600m", true)]))).unwrap_err().to_string();
    assert_eq!(err, "pods \"sidecar\" is forbidden: maximum cpu usage per Pod is 1, but limit is 1100m");
}
