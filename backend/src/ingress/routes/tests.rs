use super::*;
use crate::informer::{ServiceState, Services};
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::{Value, json};
use svclab_shared::Kind;

fn class(name: &str, controller: &str, default: bool) -> IngressClass {
    let annotations = if default { json!({DEFAULT_CLASS_ANNOTATION: "true"}) } else { json!({}) };
    serde_json::from_value(
        json!({"metadata": {"name": name, "annotations": annotations}, "spec": {"controller": controller}}),
    )
    .unwrap()
}

fn ingress(name: &str, age: u32, spec: Value) -> Ingress {
    let created = format!("2026-01-01T00:00:{age:02}Z");
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
        "spec": spec}))
    .unwrap()
}

fn paths(list: &[(&str, &str, &str)]) -> Value {
    let paths: Vec<Value> = list
        .iter()
        .map(|(path, kind, svc)| {
            json!({"path": path, "pathType": kind,
            "backend": {"service": {"name": svc, "port": {"number": 80}}}})
        })
        .collect();
    json!(paths)
}

/// A service with one port 80 and one ready pod named after the service.
fn world(names: &[&str]) -> Services {
    let mut services = Services::new();
    for (i, name) in names.iter().enumerate() {
        let key = ObjectKey::new(Kind::Service, "default", name);
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))
        .unwrap();
        let eps: Endpoints = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
            "subsets": [{"addresses": [{"ip": format!("10.244.1.{}", i + 1), "targetRef": {"kind": "Pod", "name": name}}],
                "ports": [{"name": "http", "port": 8080}]}]}))
        .unwrap();
        services.insert(key, Arc::new(ServiceState::new(svc, Some(eps))));
    }
    services
}

fn table(ingresses: &[Ingress]) -> RouteTable {
    let services = world(&["a", "b", "c", "foo", "bar", "default-http", "kubia"]);
    let classes = [class(CLASS, CONTROLLER, true)];
    RouteTable::build(&Inputs { ingresses, classes: &classes, services: &services })
}

fn target(t: &RouteTable, host: &str, path: &str) -> Option<String> {
    t.route(host, path).map(|m| m.backend.service.trim_start_matches("default/").to_string())
}

/// The examples table of the Kubernetes Ingress documentation, row by row: the paths of one
/// Ingress, a request path, and the service it reaches (`None`: no match, the default backend).
#[test]
fn the_path_type_examples_hold_row_by_row() {
    type Row<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>);
    let rows: &[Row] = &[
        (&[("Prefix", "/")], "/anything/at/all", Some("a")),
        (&[("Exact", "/foo")], "/foo", Some("a")),
        (&[("Exact", "/foo")], "/bar", None),
        (&[("Exact", "/foo")], "/foo/", None),
        (&[("Exact", "/foo/")], "/foo", None),
        (&[("Prefix", "/foo")], "/foo", Some("a")),
        (&[("Prefix", "/foo")], "/foo/", Some("a")),
        (&[("Prefix", "/foo/")], "/foo", Some("a")),
        (&[("Prefix", "/foo/")], "/foo/", Some("a")),
        (&[("Prefix", "/aaa/bb")], "/aaa/bbb", None),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbb", Some("a")),
        (&[("Prefix", "/aaa/bbb/")], "/aaa/bbb", Some("a")),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbb/", Some("a")),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", Some("a")),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbbxyz", None),
        (&[("Prefix", "/"), ("Prefix", "/aaa")], "/aaa/ccc", Some("b")),
        (&[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/aaa/bbb", Some("c")),
        (&[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/ccc", Some("a")),
        (&[("Prefix", "/aaa")], "/ccc", None),
        (&[("Prefix", "/foo"), ("Exact", "/foo")], "/foo", Some("b")),
        (&[("ImplementationSpecific", "/foo")], "/foo/bar", Some("a")),
    ];
    for (i, (list, request, expected)) in rows.iter().enumerate() {
        let services = ["a", "b", "c"];
        let list: Vec<(&str, &str, &str)> =
            list.iter().enumerate().map(|(j, (kind, path))| (*path, *kind, services[j])).collect();
        let t = table(&[ingress("x", 0, json!({"rules": [{"http": {"paths": paths(&list)}}]}))]);
        assert_eq!(target(&t, "any.host", request).as_deref(), *expected, "row {i}: {list:?} for {request}");
    }
}

#[test]
fn the_chapters_listings_route_by_host_and_path() {
    let t = table(&[
        ingress(
            "kubia",
            0,
            json!({"rules": [{"host": "kubia.example.com", "http": {"paths": paths(&[("/", "Prefix", "kubia")])}}]}),
        ),
        ingress(
            "paths",
            1,
            json!({"rules": [{"host": "kuba.example.com", "http": {"paths":
            paths(&[("/kuba", "ImplementationSpecific", "a"), ("/bar", "ImplementationSpecific", "bar")])}}]}),
        ),
        ingress(
            "hosts",
            2,
            json!({"rules": [
            {"host": "foo.example.com", "http": {"paths": paths(&[("/", "Prefix", "foo")])}},
            {"host": "bar.example.com", "http": {"paths": paths(&[("/", "Prefix", "bar")])}}]}),
        ),
    ]);
    assert_eq!(target(&t, "kubia.example.com", "/").as_deref(), Some("kubia"));
    assert_eq!(target(&t, "KUBIA.example.com:8080", "/x?y=1").as_deref(), Some("kubia"));
    assert_eq!(target(&t, "kuba.example.com", "/kuba/x").as_deref(), Some("a"));
    assert_eq!(target(&t, "kuba.example.com", "/bar").as_deref(), Some("bar"));
    assert_eq!(target(&t, "kuba.example.com", "/other"), None);
    assert_eq!(target(&t, "foo.example.com", "/").as_deref(), Some("foo"));
    assert_eq!(target(&t, "bar.example.com", "/z").as_deref(), Some("bar"));
    assert_eq!(target(&t, "127.0.0.1:8080", "/"), None, "no rule for a bare address");
    let m = t.route("kubia.example.com", "/").unwrap();
    assert_eq!(m.backend.endpoints[0].addr, "10.244.1.7:8080".parse().unwrap());
    assert_eq!(m.backend.endpoints[0].pod.as_deref(), Some("kubia"));
}

#[test]
fn wildcards_cover_one_label_and_exact_hosts_come_first() {
    let t = table(&[ingress(
        "w",
        0,
        json!({"rules": [
        {"host": "*.example.com", "http": {"paths": paths(&[("/", "Prefix", "a")])}},
        {"host": "b.example.com", "http": {"paths": paths(&[("/", "Prefix", "b")])}},
        {"http": {"paths": paths(&[("/", "Prefix", "c")])}}]}),
    )]);
    assert_eq!(target(&t, "x.example.com", "/").as_deref(), Some("a"));
    assert_eq!(target(&t, "b.example.com", "/").as_deref(), Some("b"));
    assert_eq!(target(&t, "x.y.example.com", "/").as_deref(), Some("c"), "two labels fall to the host-less rule");
    assert_eq!(target(&t, "example.com", "/").as_deref(), Some("c"));
}

#[test]
fn default_backends_catch_what_no_rule_matches() {
    let t = table(&[
        ingress("old", 0, json!({"defaultBackend": {"service": {"name": "default-http", "port": {"number": 80}}}})),
        ingress(
            "new",
            1,
            json!({"defaultBackend": {"service": {"name": "c", "port": {"name": "http"}}},
            "rules": [{"host": "foo.example.com", "http": {"paths": paths(&[("/api", "Prefix", "foo")])}}]}),
        ),
    ]);
    assert_eq!(target(&t, "nothing.example.com", "/").as_deref(), Some("default-http"));
    assert_eq!(target(&t, "foo.example.com", "/api/v1").as_deref(), Some("foo"));
    assert_eq!(target(&t, "foo.example.com", "/other").as_deref(), Some("c"), "the Ingress's own default backend");
    assert_eq!(t.route("foo.example.com", "/other").unwrap().rule, "default backend");
}

#[test]
fn the_oldest_ingress_keeps_a_contested_path() {
    let t = table(&[
        ingress("young", 5, json!({"rules": [{"host": "h.com", "http": {"paths": paths(&[("/", "Prefix", "b")])}}]})),
        ingress("old", 1, json!({"rules": [{"host": "h.com", "http": {"paths": paths(&[("/", "Prefix", "a")])}}]})),
    ]);
    assert_eq!(target(&t, "h.com", "/").as_deref(), Some("a"));
}

#[test]
fn classes_decide_which_ingresses_are_served() {
    let services = world(&["a"]);
    let rule = |class: Option<&str>| {
        let mut spec = json!({"rules": [{"host": "h.com", "http": {"paths": paths(&[("/", "Prefix", "a")])}}]});
        if let Some(c) = class {
            spec["ingressClassName"] = c.into();
        }
        ingress("i", 0, spec)
    };
    let served = |ing: Ingress, classes: &[IngressClass]| {
        let t = RouteTable::build(&Inputs { ingresses: &[ing], classes, services: &services });
        !t.is_empty()
    };
    let default = [class("nginx", CONTROLLER, true)];
    let not_default = [class("nginx", CONTROLLER, false)];
    let foreign = [class("gce", "k8s.io/gce", true)];
    assert!(served(rule(None), &default));
    assert!(served(rule(Some("nginx")), &not_default));
    assert!(!served(rule(None), &not_default), "no class and no default class");
    assert!(!served(rule(Some("unknown")), &default), "an unknown class");
    assert!(!served(rule(Some("gce")), &foreign), "another controller's class");
}

#[test]
fn backends_without_endpoints_say_why() {
    let t = table(&[ingress(
        "i",
        0,
        json!({"rules": [{"host": "h.com", "http": {"paths": [
        {"path": "/missing", "pathType": "Prefix", "backend": {"service": {"name": "nope", "port": {"number": 80}}}},
        {"path": "/port", "pathType": "Prefix", "backend": {"service": {"name": "a", "port": {"number": 81}}}},
        {"path": "/named", "pathType": "Prefix", "backend": {"service": {"name": "a", "port": {"name": "http"}}}}]}}]}),
    )]);
    assert_eq!(
        t.route("h.com", "/missing").unwrap().backend.problem.as_deref(),
        Some("service \"default/nope\" not found")
    );
    assert_eq!(
        t.route("h.com", "/port").unwrap().backend.problem.as_deref(),
        Some("service \"default/a\" does not have a port 81")
    );
    assert_eq!(t.route("h.com", "/named").unwrap().backend.endpoints.len(), 1);
}

#[test]
fn cookie_affinity_reads_the_annotations() {
    let mut ing =
        ingress("i", 0, json!({"rules": [{"host": "h.com", "http": {"paths": paths(&[("/", "Prefix", "a")])}}]}));
    ing.metadata.annotations = Some(
        [
            ("nginx.ingress.kubernetes.io/affinity", "cookie"),
            ("nginx.ingress.kubernetes.io/session-cookie-name", "route"),
            ("nginx.ingress.kubernetes.io/session-cookie-max-age", "172800"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let t = table(&[ing]);
    let affinity = t.route("h.com", "/").unwrap().backend.affinity.clone().unwrap();
    assert_eq!(affinity.name, "route");
    assert_eq!(affinity.max_age, Some(172800));
}

#[test]
fn the_read_timeout_annotation_is_in_seconds_and_falls_back_to_60() {
    let with = |value: &str| {
        read_timeout(&BTreeMap::from([("nginx.ingress.kubernetes.io/proxy-read-timeout".to_string(), value.into())]))
    };
    assert_eq!(with("5"), Duration::from_secs(5));
    assert_eq!(with(" 120 "), Duration::from_secs(120));
    for bad in ["", "0", "-1", "5s", "abc"] {
        assert_eq!(with(bad), READ_TIMEOUT, "{bad:?}");
    }
    assert_eq!(read_timeout(&BTreeMap::new()), Duration::from_secs(60));
}
