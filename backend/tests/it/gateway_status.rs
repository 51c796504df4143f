//! Gateway API statuses and references from the host: every condition a real implementation
//! sets (BackendNotFound, InvalidKind, RefNotPermitted, NotAllowedByListeners, listener conflicts
//! and certificates), ReferenceGrants, the route doctor, HTTPS listeners (the chapter's TLS
//! Ingress converted), and bad manifests refused where they are wrong.

use crate::common;

use common::gateway::*;
use common::{KUBIA, Lab, eventually};
use reqwest::Method;
use serde_json::Value;

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
    let ingress: Value = serde_yaml::from_str(include_str!("../../../examples/kubia-ingress-tls.yaml")).unwrap();
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

    // A header's expression that does not compile leaves out its whole match, not only that
    // header's condition (which would route more than the route asks for).
    let yaml = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: regex-header\nspec:\n  parentRefs: [{name: gw}]\n  hostnames: [header.example.com]\n  rules:\n  - matches:\n    - path: {type: PathPrefix, value: /hdr}\n      headers: [{type: RegularExpression, name: x-env, value: '(['}]\n    - path: {type: PathPrefix, value: /fine}\n    backendRefs: [{name: infra-backend-v1, port: 8080}]\n";
    assert_eq!(lab.apply(yaml).await.0, 200);
    let route =
        parent_condition(&lab, "default", "regex-header", "PartiallyInvalid", ("True", "UnsupportedValue")).await;
    let conditions = &route["status"]["parents"][0]["conditions"];
    let partial = conditions.as_array().unwrap().iter().find(|c| c["type"] == "PartiallyInvalid").unwrap();
    let message = partial["message"].as_str().unwrap();
    assert!(message.contains("spec.rules[0].matches[0]: invalid regular expression \"([\""), "{partial}");
    reaches(&lab, &addr, "header.example.com", "/fine", "infra-backend-v1").await;
    // Programmed with /fine (one route, one table), so its absence is final.
    let left_out = ask(&client(), &addr, Method::GET, "header.example.com", "/hdr", &[("x-env", "(")]).await;
    assert_eq!(left_out.status, 404, "{}", left_out.body);
}
