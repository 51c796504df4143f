//! Gateway API from the host, as its specification and conformance suite check it: the
//! chapter's Ingress converted to a Gateway and an HTTPRoute, matching and precedence tables
//! (paths, methods, headers, query parameters, hostnames across routes and listeners), weights
//! over 1,000 requests, each filter's effect seen by an echo server, and every status condition
//! a real implementation sets.

mod common;

use common::{KUBIA, Lab, eventually};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);
const NODE_PORT: &str = include_str!("../../examples/kubia-nodeport.yaml");
const GATEWAY: &str = include_str!("../../examples/kubia-gateway.yaml");

/// Echo servers named like the conformance suite's: pod and Service `infra-backend-v1`… on 8080.
fn backends(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {n}\n  labels:\n    app: {n}\nspec:\n  containers:\n  - name: echo\n    image: registry.k8s.io/echoserver:1.10\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {n}\nspec:\n  ports:\n  - port: 8080\n  selector:\n    app: {n}\n---\n"
            )
        })
        .collect()
}

/// A Gateway `same-namespace` of svclab's class with one HTTP listener on port 80.
fn gateway(name: &str, listeners: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\nspec:\n  gatewayClassName: svclab\n  listeners:\n{listeners}---\n"
    )
}

const HTTP_LISTENER: &str = "  - name: http\n    port: 80\n    protocol: HTTP\n";

async fn object(lab: &Lab, path: &str) -> Value {
    lab.get(path).await.1
}

fn gateway_path(name: &str) -> String {
    format!("/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/{name}")
}

fn route_path(ns: &str, name: &str) -> String {
    format!("/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/{name}")
}

/// The condition `type_` in `conditions`: (status, reason).
fn condition(conditions: &Value, type_: &str) -> Option<(String, String)> {
    let c = conditions.as_array()?.iter().find(|c| c["type"] == type_)?;
    Some((c["status"].as_str()?.to_string(), c["reason"].as_str()?.to_string()))
}

/// Waits for the Gateway's address, once it is Programmed.
async fn address(lab: &Lab, name: &str) -> String {
    eventually(PATIENCE, "the Gateway to be programmed", || async {
        let g = object(lab, &gateway_path(name)).await;
        let programmed = condition(&g["status"]["conditions"], "Programmed")?;
        (programmed.0 == "True").then(|| g["status"]["addresses"][0]["value"].as_str().map(String::from))?
    })
    .await
}

/// Waits until the route's first parent shows `type_` as (status, reason).
async fn parent_condition(lab: &Lab, ns: &str, route: &str, type_: &str, want: (&str, &str)) -> Value {
    let what = format!("{route}'s {type_} to be {want:?}");
    eventually(PATIENCE, &what, || async {
        let r = object(lab, &route_path(ns, route)).await;
        let got = condition(&r["status"]["parents"][0]["conditions"], type_)?;
        (got.0 == want.0 && got.1 == want.1).then_some(r)
    })
    .await
}

/// A client that does not follow redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    /// The echo server's pod name (`Hostname: …`).
    fn backend(&self) -> &str {
        self.body.lines().find_map(|l| l.strip_prefix("Hostname: ")).unwrap_or_default()
    }

    /// A request header as the echo server saw it.
    fn seen(&self, name: &str) -> Option<&str> {
        let prefix = format!("\t{name}=");
        self.body.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    fn echoed(&self, field: &str) -> Option<&str> {
        let prefix = format!("\t{field}=");
        self.body.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
    }
}

async fn ask(
    client: &reqwest::Client,
    addr: &str,
    method: Method,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client.request(method, format!("http://{addr}{target}")).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.timeout(Duration::from_secs(5)).send().await.expect("the Gateway answers");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    Answer { status, headers, body: r.text().await.unwrap_or_default() }
}

/// Waits until `host` + `target` reaches `backend` (routes take a moment to be programmed).
async fn reaches(lab: &Lab, addr: &str, host: &str, target: &str, backend: &str) {
    let client = client();
    let what = format!("{host}{target} to reach {backend}");
    eventually(PATIENCE, &what, || async {
        let a = ask(&client, addr, Method::GET, host, target, &[]).await;
        (a.backend() == backend).then_some(())
    })
    .await;
    let _ = lab;
}

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
    reaches(&lab, &addr, "any.example.com", "/", "infra-backend-v1").await;
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

const REFERENCES: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: missing
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [missing.example.com]
  rules:
  - backendRefs: [{name: no-such-service, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: wrong-kind
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [kind.example.com]
  rules:
  - backendRefs: [{group: example.com, kind: Bucket, name: b, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: across
  namespace: default
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [across.example.com]
  rules:
  - backendRefs: [{name: infra-backend-v1, namespace: other, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: from-other
  namespace: other
spec:
  parentRefs: [{name: same-namespace, namespace: default}]
  rules:
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_resolve_or_say_why_not() {
    let lab = Lab::start().await;
    let yaml = format!(
        "{REFERENCES}---\n{}",
        backends(&["infra-backend-v1"])
            .replace("metadata:\n  name: infra-backend-v1", "metadata:\n  name: infra-backend-v1\n  namespace: other")
    );
    assert_eq!(lab.apply(&(gateway("same-namespace", HTTP_LISTENER) + &yaml)).await.0, 200);
    let addr = address(&lab, "same-namespace").await;
    parent_condition(&lab, "default", "missing", "ResolvedRefs", ("False", "BackendNotFound")).await;
    parent_condition(&lab, "default", "wrong-kind", "ResolvedRefs", ("False", "InvalidKind")).await;
    parent_condition(&lab, "default", "across", "ResolvedRefs", ("False", "RefNotPermitted")).await;
    parent_condition(&lab, "other", "from-other", "Accepted", ("False", "NotAllowedByListeners")).await;
    let route = parent_condition(&lab, "default", "missing", "Accepted", ("True", "Accepted")).await;
    assert_eq!(route["status"]["parents"][0]["conditions"][0]["observedGeneration"], 1);
    let client = client();
    for host in ["missing.example.com", "kind.example.com", "across.example.com"] {
        let a = ask(&client, &addr, Method::GET, host, "/", &[]).await;
        assert_eq!(a.status, 500, "an invalid backendRef is answered 500 ({host})");
    }
    // The route doctor says why, with the fix.
    let (_, d) = lab.get("/lab/v1/namespaces/default/httproutes/across/diagnosis").await;
    let titles: Vec<&str> = d["findings"].as_array().unwrap().iter().filter_map(|f| f["title"].as_str()).collect();
    assert_eq!(
        titles,
        [
            "Attached to Gateway default/same-namespace",
            "Service other/infra-backend-v1 is in another namespace, and no ReferenceGrant allows it"
        ]
    );
    let (_, d) = lab.get("/lab/v1/namespaces/other/httproutes/from-other/diagnosis").await;
    assert_eq!(d["findings"][0]["title"], "Not attached to Gateway default/same-namespace: NotAllowedByListeners");
    let (_, d) = lab.get("/lab/v1/namespaces/default/httproutes/missing/diagnosis").await;
    assert_eq!(d["findings"][1]["title"], "Service default/no-such-service does not exist");
    // A ReferenceGrant in the Service's namespace opens the way.
    let grant = "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata:\n  name: from-default\n  namespace: other\nspec:\n  from:\n  - group: gateway.networking.k8s.io\n    kind: HTTPRoute\n    namespace: default\n  to:\n  - group: \"\"\n    kind: Service\n";
    assert_eq!(lab.apply(grant).await.0, 200);
    parent_condition(&lab, "default", "across", "ResolvedRefs", ("True", "ResolvedRefs")).await;
    reaches(&lab, &addr, "across.example.com", "/", "infra-backend-v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_report_conflicts_and_bad_certificates() {
    let lab = Lab::start().await;
    let listeners = "  - name: a\n    port: 80\n    protocol: HTTP\n    hostname: a.example.com\n  - name: b\n    port: 80\n    protocol: HTTP\n    hostname: a.example.com\n  - name: tcp\n    port: 8080\n    protocol: TCP\n  - name: https\n    port: 443\n    protocol: HTTPS\n    tls:\n      certificateRefs: [{name: no-such-secret}]\n";
    assert_eq!(lab.apply(&gateway("conflicts", listeners)).await.0, 200);
    let what = "the listeners' conditions";
    let g = eventually(PATIENCE, what, || async {
        let g = object(&lab, &gateway_path("conflicts")).await;
        (g["status"]["listeners"].as_array()?.len() == 4).then_some(g)
    })
    .await;
    let listener =
        |name: &str| g["status"]["listeners"].as_array().unwrap().iter().find(|l| l["name"] == name).unwrap().clone();
    assert_eq!(condition(&listener("a")["conditions"], "Conflicted"), Some(("True".into(), "HostnameConflict".into())));
    assert_eq!(condition(&listener("b")["conditions"], "Programmed"), Some(("False".into(), "Invalid".into())));
    assert_eq!(
        condition(&listener("tcp")["conditions"], "Accepted"),
        Some(("False".into(), "UnsupportedProtocol".into()))
    );
    assert_eq!(
        condition(&listener("https")["conditions"], "ResolvedRefs"),
        Some(("False".into(), "InvalidCertificateRef".into()))
    );
    assert_eq!(condition(&g["status"]["conditions"], "Programmed"), Some(("False".into(), "Invalid".into())));
}

fn run(dir: &std::path::Path, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program).args(args).current_dir(dir).output().expect("it runs");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl create secret tls NAME --cert tls.crt --key tls.key` with the pair in `dir`.
async fn tls_secret(lab: &Lab, dir: &std::path::Path, name: &str) {
    let part = |file: &str| {
        reqwest::multipart::Part::bytes(std::fs::read(dir.join(file)).unwrap()).file_name(file.to_string())
    };
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .part("cert", part("tls.crt"))
        .part("key", part("tls.key"));
    let r = lab.http.post(lab.url("/lab/v1/namespaces/default/secrets/tls")).multipart(form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

/// Waits until curl, trusting the certificate in `dir`, gets kubia at https://kubia.example.com/
/// on `addr`.
async fn https_kubia(dir: &std::path::Path, addr: &str) {
    let resolve = format!("kubia.example.com:443:{addr}");
    eventually(PATIENCE, "kubia over HTTPS through the Gateway", || {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-m", "5", "--cacert", "tls.crt", "--resolve", &resolve, "https://kubia.example.com/"])
            .current_dir(dir)
            .output()
            .expect("curl runs");
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        async move { body.starts_with("You've hit kubia-").then_some(()) }
    })
    .await;
}

/// The chapter's TLS Ingress (kubia-ingress-tls.yaml) as `Convert to Gateway API` makes it.
fn converted_tls_ingress() -> String {
    let ingress: Value = serde_yaml::from_str(include_str!("../../examples/kubia-ingress-tls.yaml")).unwrap();
    let ingress = svclab_shared::Object::from_value(ingress).unwrap();
    let Some(ingress) = ingress.downcast::<k8s_openapi::api::networking::v1::Ingress>() else { panic!("an Ingress") };
    let objects = svclab_shared::convert::ingress_to_gateway(ingress, &|_, _| None).unwrap();
    objects.iter().map(|o| serde_json::to_string(o).unwrap()).collect::<Vec<_>>().join("\n---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listeners_terminate_with_their_certificate() {
    let lab = Lab::start().await;
    let dir = std::env::temp_dir().join(format!("svclab-gateway-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    run(&dir, "openssl", &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tls.key"]);
    let subject = ["-subj", "/CN=kubia.example.com", "-addext", "subjectAltName=DNS:kubia.example.com"];
    let args =
        [&["req", "-new", "-x509", "-key", "tls.key", "-out", "tls.crt", "-days", "30"][..], &subject[..]].concat();
    run(&dir, "openssl", &args);
    tls_secret(&lab, &dir, "kubia-tls").await;
    let listeners = "  - name: https\n    port: 443\n    protocol: HTTPS\n    hostname: kubia.example.com\n    tls:\n      certificateRefs: [{name: kubia-tls}]\n";
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: kubia\nspec:\n  parentRefs: [{name: tls}]\n  rules:\n  - backendRefs: [{name: kubia-nodeport, port: 80}]\n";
    for yaml in [KUBIA, NODE_PORT, &(gateway("tls", listeners) + route)] {
        assert_eq!(lab.apply(yaml).await.0, 200);
    }
    let addr = address(&lab, "tls").await;
    lab.serving("kubia-nodeport", 3).await;
    https_kubia(&dir, &addr).await;
    let g = object(&lab, &gateway_path("tls")).await;
    let listener = &g["status"]["listeners"][0];
    assert_eq!(condition(&listener["conditions"], "ResolvedRefs"), Some(("True".into(), "ResolvedRefs".into())));

    // The chapter's TLS Ingress, converted: HTTP and HTTPS listeners, the Secret it names.
    tls_secret(&lab, &dir, "tls-secret").await;
    let (code, out) = lab.apply(&converted_tls_ingress()).await;
    assert_eq!(code, 200, "{out}");
    let converted = address(&lab, "kubia").await;
    https_kubia(&dir, &converted).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_refused_where_they_are_wrong() {
    let lab = Lab::start().await;
    let routes = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes";
    let bad = serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "bad"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"matches": [{"path": {"type": "Prefix", "value": "/x"}}]}]}});
    let (code, status) = lab.send(Method::POST, routes, "application/json", bad.to_string()).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        "HTTPRoute.gateway.networking.k8s.io \"bad\" is invalid: spec.rules[0].matches[0].path.type: Unsupported value: \"Prefix\": supported values: \"Exact\", \"PathPrefix\", \"RegularExpression\""
    );
    let no_port = serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "bad"},
        "spec": {"rules": [{"backendRefs": [{"name": "kubia"}]}]}});
    let (code, status) = lab.send(Method::POST, routes, "application/json", no_port.to_string()).await;
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .ends_with("spec.rules[0].backendRefs[0]: Invalid value: \"object\": Must have port for Service reference"),
        "{status}"
    );
    assert_eq!(lab.get(&route_path("default", "bad")).await.0, 404, "nothing is stored");
    // The lab's apply reads the YAML itself, and says where.
    let (code, out) = lab.apply("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  gatewayClassName: svclab\n").await;
    assert_eq!(code, 400, "{out}");
    assert_eq!(out["results"][0]["error"]["message"], "spec: missing field `listeners` at line 6, column 3");

    // A regular expression that does not compile leaves its match out, and the route says so.
    let yaml = backends(&["infra-backend-v1"])
        + &gateway("gw", HTTP_LISTENER)
        + "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: regex\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - matches: [{path: {type: RegularExpression, value: '/(unclosed'}}, {path: {type: PathPrefix, value: /ok}}]\n    backendRefs: [{name: infra-backend-v1, port: 8080}]\n";
    assert_eq!(lab.apply(&yaml).await.0, 200);
    let route = parent_condition(&lab, "default", "regex", "PartiallyInvalid", ("True", "UnsupportedValue")).await;
    let conditions = &route["status"]["parents"][0]["conditions"];
    let partial = conditions.as_array().unwrap().iter().find(|c| c["type"] == "PartiallyInvalid").unwrap();
    assert!(partial["message"].as_str().unwrap().contains("invalid regular expression \"/(unclosed\""), "{partial}");
    let addr = address(&lab, "gw").await;
    lab.serving("infra-backend-v1", 1).await;
    reaches(&lab, &addr, "any.example.com", "/ok", "infra-backend-v1").await;
}
