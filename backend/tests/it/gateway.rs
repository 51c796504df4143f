//! Gateway API routing from the host, as its specification and conformance suite check it: the
//! chapter's Ingress converted to a Gateway and an HTTPRoute, matching and precedence tables
//! (paths, methods, headers, query parameters, hostnames across routes and listeners), weights
//! over 1,000 requests, and each filter's effect seen by an echo server.

use crate::common;

use common::gateway::*;
use common::{KUBIA, Lab, eventually};
use reqwest::Method;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chapters_ingress_as_a_gateway_routes_the_same() {
    let lab = Lab::start().await;
    for yaml in [KUBIA, NODE_PORT, GATEWAY] {
        assert_eq!(lab.apply(yaml).await.0, 200);
    }
    let (_, class) = lab.get("/apis/gateway.networking.k8s.io/v1/gatewayclasses/svclab").await;
    assert_eq!(condition(&class["status"]["conditions"], "Accepted"), Some(("True".into(), "Accepted".into())));
    let addr = address(&lab, "kubia").await;
    lab.serving("kubia-nodeport", 3).await;
    let client = client();
    let pods = std::sync::Mutex::new(std::collections::BTreeSet::new());
    eventually(PATIENCE, "three kubia pods through the Gateway", || async {
        let a = ask(&client, &addr, Method::GET, "kubia.example.com", "/", &[]).await;
        let mut pods = pods.lock().unwrap();
        if let Some(pod) = a.body.trim().strip_prefix("You've hit ") {
            pods.insert(pod.to_string());
        }
        (pods.len() == 3).then_some(())
    })
    .await;
    let other = ask(&client, &addr, Method::GET, "other.example.com", "/", &[]).await;
    assert_eq!(other.status, 404, "no listener or route serves another host");
    assert_eq!(other.body, "", "a Gateway has no default backend to answer with words");

    let g = object(&lab, &gateway_path("kubia")).await;
    let listener = &g["status"]["listeners"][0];
    assert_eq!(listener["attachedRoutes"], 1);
    for (type_, want) in
        [("Accepted", "True"), ("Programmed", "True"), ("ResolvedRefs", "True"), ("Conflicted", "False")]
    {
        assert_eq!(condition(&listener["conditions"], type_).map(|c| c.0).as_deref(), Some(want), "{type_}");
    }
    assert_eq!(g["status"]["conditions"][0]["observedGeneration"], 1);
    let route = parent_condition(&lab, "default", "kubia-kubia-example-com", "Accepted", ("True", "Accepted")).await;
    let parent = &route["status"]["parents"][0];
    assert_eq!(parent["controllerName"], "svclab.io/gateway-controller");
    assert_eq!(condition(&parent["conditions"], "ResolvedRefs"), Some(("True".into(), "ResolvedRefs".into())));

    // Deleted, the Gateway stops listening and the route loses its parent's status.
    let (code, _) = lab.send(Method::DELETE, &gateway_path("kubia"), "application/json", String::new()).await;
    assert_eq!(code, 200);
    eventually(PATIENCE, "the Gateway's address to refuse connections", || async {
        tokio::net::TcpStream::connect(format!("{addr}:80")).await.is_err().then_some(())
    })
    .await;
    eventually(PATIENCE, "the route's parents to be cleared", || async {
        let r = object(&lab, &route_path("default", "kubia-kubia-example-com")).await;
        r["status"]["parents"].as_array()?.is_empty().then_some(())
    })
    .await;
}

const MATCHING: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: matching
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /v2}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: Exact, value: /v2/exact}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /v2}, headers: [{name: version, value: three}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{method: POST}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /q}, queryParams: [{name: animal, value: whale}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: RegularExpression, value: '/re/[0-9]+'}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /h}, headers: [{name: env, type: RegularExpression, value: 'canary-.*'}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_follow_the_specs_precedence() {
    let lab = Lab::start().await;
    let yaml = backends(&["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"])
        + &gateway("same-namespace", HTTP_LISTENER)
        + MATCHING;
    assert_eq!(lab.apply(&yaml).await.0, 200);
    let addr = address(&lab, "same-namespace").await;
    for b in ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"] {
        lab.serving(b, 1).await;
    }
    // Each backend's endpoints reach the Gateway's table on their own, after the Service is
    // ready: wait until every one answers before reading the precedence table.
    reaches(&lab, &addr, "any.example.com", "/", "infra-backend-v1").await;
    reaches(&lab, &addr, "any.example.com", "/v2", "infra-backend-v2").await;
    reaches(&lab, &addr, "any.example.com", "/v2/exact", "infra-backend-v3").await;
    let client = client();
    // (method, path, headers, expected backend)
    type Case<'a> = (Method, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let table: &[Case] = &[
        (Method::GET, "/", &[], "infra-backend-v1"),
        (Method::GET, "/v2", &[], "infra-backend-v2"),
        (Method::GET, "/v2/", &[], "infra-backend-v2"),
        (Method::GET, "/v2/anything", &[], "infra-backend-v2"),
        (Method::GET, "/v2example", &[], "infra-backend-v1"),
        (Method::GET, "/v2/exact", &[], "infra-backend-v3"),
        (Method::GET, "/v2/exact/more", &[], "infra-backend-v2"),
        (Method::GET, "/v2/x", &[("version", "three")], "infra-backend-v3"),
        (Method::GET, "/v2/x", &[("version", "four")], "infra-backend-v2"),
        (Method::POST, "/anything", &[], "infra-backend-v3"),
        (Method::POST, "/v2", &[], "infra-backend-v2"),
        (Method::GET, "/q?animal=whale", &[], "infra-backend-v2"),
        (Method::GET, "/q?animal=dolphin", &[], "infra-backend-v1"),
        (Method::GET, "/q?color=blue&animal=whale", &[], "infra-backend-v2"),
        (Method::GET, "/re/42", &[], "infra-backend-v3"),
        (Method::GET, "/re/x", &[], "infra-backend-v1"),
        (Method::GET, "/h", &[("env", "canary-eu")], "infra-backend-v2"),
        (Method::GET, "/h", &[("env", "prod")], "infra-backend-v1"),
    ];
    for (method, target, headers, want) in table {
        let a = ask(&client, &addr, method.clone(), "any.example.com", target, headers).await;
        assert_eq!(a.backend(), *want, "{method} {target} {headers:?}");
    }
}

const ACROSS_ROUTES: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: wildcard
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: ['*.example.com']
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: exact
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [foo.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /y}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: elsewhere
spec:
  parentRefs: [{name: same-namespace, sectionName: org}]
  hostnames: [a.example.org, b.example.net]
  rules:
  - backendRefs: [{name: infra-backend-v3, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: no-match
spec:
  parentRefs: [{name: same-namespace, sectionName: org}]
  hostnames: [c.example.net]
  rules:
  - backendRefs: [{name: infra-backend-v3, port: 8080}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostnames_intersect_and_the_most_specific_wins() {
    let lab = Lab::start().await;
    let listeners = "  - name: any\n    port: 80\n    protocol: HTTP\n  - name: org\n    port: 80\n    protocol: HTTP\n    hostname: '*.example.org'\n";
    let yaml = backends(&["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"])
        + &gateway("same-namespace", listeners)
        + ACROSS_ROUTES;
    assert_eq!(lab.apply(&yaml).await.0, 200);
    let addr = address(&lab, "same-namespace").await;
    for b in ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"] {
        lab.serving(b, 1).await;
    }
    reaches(&lab, &addr, "foo.example.com", "/y", "infra-backend-v2").await;
    let client = client();
    let table = [
        ("foo.example.com", "/y", Some("infra-backend-v2")),
        // The exact host's route has no rule for `/`: the wildcard route's does.
        ("foo.example.com", "/", Some("infra-backend-v1")),
        ("bar.example.com", "/y", Some("infra-backend-v1")),
        ("a.b.example.com", "/", Some("infra-backend-v1")),
        ("FOO.example.com:80", "/y", Some("infra-backend-v2")),
        ("example.com", "/", None),
        // The `org` listener takes its hosts; of the route's hostnames only a.example.org is its.
        ("a.example.org", "/", Some("infra-backend-v3")),
        ("b.example.net", "/", None),
        ("z.example.org", "/", None),
    ];
    for (host, target, want) in table {
        let a = ask(&client, &addr, Method::GET, host, target, &[]).await;
        match want {
            Some(b) => assert_eq!(a.backend(), b, "{host}{target}"),
            None => assert_eq!(a.status, 404, "{host}{target}: {}", a.body),
        }
    }
    parent_condition(&lab, "default", "no-match", "Accepted", ("False", "NoMatchingListenerHostname")).await;
    let g = object(&lab, &gateway_path("same-namespace")).await;
    let attached: BTreeMap<&str, i64> = g["status"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["attachedRoutes"].as_i64().unwrap()))
        .collect();
    assert_eq!(attached, BTreeMap::from([("any", 2), ("org", 1)]));
}

const WEIGHTED: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: canary
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [canary.example.com]
  rules:
  - backendRefs:
    - {name: infra-backend-v1, port: 8080, weight: 90}
    - {name: infra-backend-v2, port: 8080, weight: 10}
    - {name: infra-backend-v3, port: 8080, weight: 0}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_traffic() {
    let lab = Lab::start().await;
    let yaml = backends(&["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"])
        + &gateway("same-namespace", HTTP_LISTENER)
        + WEIGHTED;
    assert_eq!(lab.apply(&yaml).await.0, 200);
    let addr = address(&lab, "same-namespace").await;
    for b in ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"] {
        lab.serving(b, 1).await;
    }
    reaches(&lab, &addr, "canary.example.com", "/", "infra-backend-v1").await;
    let client = client();
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..1000 {
        let a = ask(&client, &addr, Method::GET, "canary.example.com", "/", &[]).await;
        *counts.entry(a.backend().to_string()).or_default() += 1;
    }
    let v1 = counts.get("infra-backend-v1").copied().unwrap_or(0);
    let v2 = counts.get("infra-backend-v2").copied().unwrap_or(0);
    // Binomial(1000, 0.1) has a standard deviation under 10: within five of them either way.
    assert!((850..=950).contains(&v1) && (50..=150).contains(&v2), "{counts:?}");
    assert_eq!(v1 + v2, 1000, "weight 0 gets nothing: {counts:?}");
    // The service doctor knows which routes send to the service, and with what share.
    let (_, d) = lab.get("/lab/v1/namespaces/default/services/infra-backend-v2/diagnosis").await;
    let routes: Vec<&str> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "routes")
        .filter_map(|f| f["title"].as_str())
        .collect();
    assert_eq!(routes, ["HTTPRoute default/canary sends here (weight 10 of 100)"]);
}

const FILTERS: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: filters
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [filters.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /headers}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Header-Set, value: set-overwrites-values}]
        add: [{name: X-Header-Add, value: add-appends-values}]
        remove: [X-Header-Remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: X-Response-Set, value: from-the-gateway}]
        remove: [Server]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /redirect}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: example.org, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /prefix/one}}]
    filters:
    - type: URLRewrite
      urlRewrite:
        hostname: rewritten.example.com
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /one}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /full}}]
    filters:
    - type: URLRewrite
      urlRewrite:
        path: {type: ReplaceFullPath, replaceFullPath: /one}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /mirror}}]
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {name: infra-backend-v2, port: 8080}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_change_what_the_backend_and_client_see() {
    let lab = Lab::start().await;
    let yaml =
        backends(&["infra-backend-v1", "infra-backend-v2"]) + &gateway("same-namespace", HTTP_LISTENER) + FILTERS;
    assert_eq!(lab.apply(&yaml).await.0, 200);
    let addr = address(&lab, "same-namespace").await;
    lab.serving("infra-backend-v1", 1).await;
    lab.serving("infra-backend-v2", 1).await;
    let host = "filters.example.com";
    reaches(&lab, &addr, host, "/headers", "infra-backend-v1").await;
    let client = client();

    let sent = [("X-Header-Set", "original"), ("X-Header-Add", "original"), ("X-Header-Remove", "gone")];
    let a = ask(&client, &addr, Method::GET, host, "/headers", &sent).await;
    assert_eq!(a.seen("x-header-set"), Some("set-overwrites-values"));
    // The echo server lists headers sorted.
    let added: Vec<&str> = a.body.lines().filter_map(|l| l.strip_prefix("\tx-header-add=")).collect();
    assert_eq!(added, ["add-appends-values", "original"]);
    assert_eq!(a.seen("x-header-remove"), None);
    assert_eq!(a.headers["x-response-set"], "from-the-gateway");
    assert!(!a.headers.contains_key("server"), "{:?}", a.headers);

    let a = ask(&client, &addr, Method::GET, host, "/redirect/page?x=1", &[]).await;
    assert_eq!((a.status, a.headers["location"].to_str().unwrap()), (301, "https://example.org/redirect/page?x=1"));

    let a = ask(&client, &addr, Method::GET, host, "/prefix/one/two?q=1", &[]).await;
    assert_eq!(a.echoed("real path"), Some("/one/two"));
    assert_eq!(a.echoed("query"), Some("q=1"));
    assert_eq!(a.seen("host"), Some("rewritten.example.com"));
    let a = ask(&client, &addr, Method::GET, host, "/full/anything", &[]).await;
    assert_eq!(a.echoed("real path"), Some("/one"));

    let a = ask(&client, &addr, Method::GET, host, "/mirror/copy-me", &[]).await;
    assert_eq!(a.backend(), "infra-backend-v1");
    eventually(PATIENCE, "the mirror to see the copy", || async {
        let (_, log) = lab.get_text("/api/v1/namespaces/default/pods/infra-backend-v2/log").await;
        log.contains("/mirror/copy-me").then_some(())
    })
    .await;
}
