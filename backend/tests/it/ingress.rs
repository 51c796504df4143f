//! The ingress controller from the host, with real `curl` and `openssl`: the chapter's listings
//! (one host, paths on one host, several hosts, TLS), default backends, cookie affinity, headers
//! pods see, 503 without endpoints, 504 from a pod that does not answer, classes, the add-on
//! switch and websockets passing through.

use crate::common;

use common::{KUBIA, Lab, eventually, ingress_to_host};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);
const NODE_PORT: &str = include_str!("../../../examples/kubia-nodeport.yaml");
const INGRESS: &str = include_str!("../../../examples/kubia-ingress.yaml");
const INGRESS_TLS: &str = include_str!("../../../examples/kubia-ingress-tls.yaml");

/// Two more apps for the multi-service listings: pods named `kuba-…`, `foo-…`, `bar-…`.
fn app(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n  selector:\n    app: {name}\n---\napiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: {name}\n        image: luksa/kubia\n        ports:\n        - containerPort: 8080\n"
    )
}

async fn http_addr(lab: &Lab) -> String {
    lab.app.ingress.addresses().await.expect("the ingress add-on is enabled").http.to_string()
}

/// `curl -s` with extra arguments; the body, or the failure.
fn curl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("curl").args(["-sS", "-m", "5"]).args(args).output().expect("curl runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The pod that answered a kubia request.
fn pod(body: &str) -> String {
    body.trim().strip_prefix("You've hit ").unwrap_or(body).to_string()
}

async fn routed(lab: &Lab, host: &str, path: &str, prefix: &str) -> String {
    let url = format!("http://{}{path}", http_addr(lab).await);
    let host = format!("Host: {host}");
    eventually(PATIENCE, &format!("{host}{path} → {prefix}"), || {
        let answer = curl(&["-H", &host, &url]).ok().map(|b| pod(&b));
        async move { answer.filter(|p| p.starts_with(prefix)) }
    })
    .await
}

async fn address(lab: &Lab, name: &str) -> Value {
    let (_, ing) = lab.get(&format!("/apis/networking.k8s.io/v1/namespaces/default/ingresses/{name}")).await;
    ing["status"]["loadBalancer"]["ingress"].clone()
}

/// A lab whose ingress serves bodiless requests on its fast path, or every request through
/// hyper: each test below runs both ways, so each behaviour is checked on both paths.
async fn start(fast_path: bool) -> Lab {
    let mut config = svclab::app::Config::ephemeral();
    config.ingress.fast_path = fast_path;
    Lab::start_with(config).await
}

/// Runs each test on the fast path and through hyper.
macro_rules! both_paths {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fast_path() {
                super::$name(true).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn through_hyper() {
                super::$name(false).await
            }
        }
    )*};
}

both_paths!(
    the_chapters_ingress_routes_kubia_example_com_to_every_pod,
    paths_and_hosts_pick_the_service_as_the_listings_say,
    a_default_backend_of_ten_pods_gets_all_of_a_hundred_requests_spread,
    pods_see_forwarded_headers_and_a_backend_without_endpoints_answers_503,
    a_pod_that_does_not_answer_in_the_read_timeout_gets_504_and_a_stalled_body_is_cut_off,
    cookie_affinity_keeps_a_client_on_one_pod,
    tls_terminates_with_the_secrets_certificate_chosen_by_sni,
    the_add_on_switches_off_and_on_and_unknown_classes_are_ignored,
    route_changes_apply_on_a_live_connection_and_websockets_pass_through,
);

async fn the_chapters_ingress_routes_kubia_example_com_to_every_pod(fast_path: bool) {
    let lab = start(fast_path).await;
    lab.apply(KUBIA).await;
    lab.apply(NODE_PORT).await;
    let (code, applied) = lab.apply(INGRESS).await;
    assert_eq!(code, 200, "the chapter's extensions/v1beta1 form applies: {applied}");
    assert_eq!(applied["results"][0]["message"], "ingress.networking.k8s.io/kubia created");

    // Stored as v1, with the default class filled in; also readable at the old path.
    let (_, stored) = lab.get("/apis/networking.k8s.io/v1/namespaces/default/ingresses/kubia").await;
    assert_eq!(stored["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(stored["spec"]["ingressClassName"], "nginx");
    let path = &stored["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["pathType"], "ImplementationSpecific");
    assert_eq!(path["backend"]["service"], json!({"name": "kubia-nodeport", "port": {"number": 80}}));
    let (code, _) = lab.get("/apis/extensions/v1beta1/namespaces/default/ingresses/kubia").await;
    assert_eq!(code, 200);

    // The ADDRESS column.
    let addr = eventually(PATIENCE, "the ingress's address", || async {
        Some(address(&lab, "kubia").await).filter(|a| a.is_array())
    })
    .await;
    assert_eq!(addr, json!([{"ip": "127.0.0.1"}]));

    lab.serving("kubia-nodeport", 3).await;
    routed(&lab, "kubia.example.com", "/", "kubia-").await;
    let url = format!("http://{}/", http_addr(&lab).await);
    let pods: BTreeSet<String> =
        (0..6).map(|_| pod(&curl(&["-H", "Host: kubia.example.com", &url]).unwrap())).collect();
    assert_eq!(pods.len(), 3, "requests are balanced over the pods: {pods:?}");

    // A request for a host no rule names gets the default backend's 404.
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
    assert_eq!(curl(&["-H", "Host: other.example.com", &url]).unwrap(), "default backend - 404\n");
}

async fn paths_and_hosts_pick_the_service_as_the_listings_say(fast_path: bool) {
    let lab = start(fast_path).await;
    for name in ["kuba", "bar", "foo"] {
        let (code, out) = lab.apply(&app(name, 1)).await;
        assert_eq!(code, 200, "{out}");
    }
    let listings = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: paths\nspec:\n  rules:\n  - host: kuba.example.com\n    http:\n      paths:\n        - path: /kuba\n          backend:\n            serviceName: kuba\n            servicePort: 80\n        - path: /bar\n          backend:\n            serviceName: bar\n            servicePort: 80\n---\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: hosts\nspec:\n  rules:\n    - host: foo.example.com\n      http:\n        paths:\n          - path: /\n            backend:\n              serviceName: foo\n              servicePort: 80\n    - host: bar.example.com\n      http:\n        paths:\n          - path: /\n            backend:\n              serviceName: bar\n              servicePort: 80\n";
    let (code, out) = lab.apply(listings).await;
    assert_eq!(code, 200, "{out}");
    routed(&lab, "kuba.example.com", "/kuba", "kuba-").await;
    routed(&lab, "kuba.example.com", "/bar/baz", "bar-").await;
    routed(&lab, "foo.example.com", "/", "foo-").await;
    routed(&lab, "bar.example.com", "/anything", "bar-").await;
    let url = format!("http://{}/other", http_addr(&lab).await);
    assert_eq!(curl(&["-H", "Host: kuba.example.com", &url]).unwrap(), "default backend - 404\n");
}

async fn a_default_backend_of_ten_pods_gets_all_of_a_hundred_requests_spread(fast_path: bool) {
    let lab = start(fast_path).await;
    lab.apply(&app("fallback", 10)).await;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: catch-all\nspec:\n  defaultBackend:\n    service:\n      name: fallback\n      port:\n        number: 80\n";
    let (code, out) = lab.apply(ingress).await;
    assert_eq!(code, 200, "{out}");
    lab.serving("fallback", 10).await;
    routed(&lab, "whatever.example.com", "/", "fallback-").await;
    let url = format!("http://{}/", http_addr(&lab).await);
    // One curl, 100 requests over one keep-alive connection: the ingress balances per request.
    let urls: Vec<&str> = std::iter::repeat_n(url.as_str(), 100).collect();
    let body = curl(&urls).unwrap();
    let pods: BTreeSet<&str> = body.lines().map(|l| l.trim_start_matches("You've hit ")).collect();
    assert_eq!(body.lines().count(), 100);
    assert_eq!(pods.len(), 10, "all ten pods answered: {pods:?}");
}

async fn pods_see_forwarded_headers_and_a_backend_without_endpoints_answers_503(fast_path: bool) {
    let lab = start(fast_path).await;
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: echo\n  labels:\n    app: echo\nspec:\n  containers:\n  - name: echo\n    image: registry.k8s.io/echoserver:1.10\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: echo\nspec:\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n  selector:\n    app: echo\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: nobody\nspec:\n  ports:\n  - port: 80\n  selector:\n    app: nobody\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: echo\nspec:\n  rules:\n  - host: echo.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: echo\n            port:\n              name: http\n      - path: /empty\n        pathType: Exact\n        backend:\n          service:\n            name: nobody\n            port:\n              number: 80\n";
    let (code, out) = lab.apply(manifest).await;
    assert_eq!(code, 200, "{out}");
    lab.serving("echo", 1).await;
    let url = format!("http://{}/hello?x=1", http_addr(&lab).await);
    let page = eventually(PATIENCE, "echoserver through the ingress", || {
        let page = curl(&["-H", "Host: echo.example.com", &url]).ok();
        async move { page.filter(|p| p.contains("Hostname: echo")) }
    })
    .await;
    for header in [
        "x-forwarded-for=127.0.0.1",
        "x-real-ip=127.0.0.1",
        "x-forwarded-host=echo.example.com",
        "x-forwarded-proto=http",
        "host=echo.example.com",
    ] {
        assert!(page.contains(header), "{header} in\n{page}");
    }
    assert!(page.contains("real path=/hello"), "{page}");
    let port = url.split(':').nth(2).and_then(|p| p.split('/').next()).unwrap();
    assert!(page.contains(&format!("x-forwarded-port={port}")), "{page}");
    // Headers for one hop only, and those the client's Connection names, stop at the ingress.
    let page = curl(&[
        "-H",
        "Host: echo.example.com",
        "-H",
        "Connection: keep-alive, X-Secret",
        "-H",
        "X-Secret: leak",
        "-H",
        "Proxy-Connection: keep-alive",
        "-H",
        "X-Kept: yes",
        &url,
    ])
    .unwrap();
    assert!(page.contains("x-kept=yes"), "{page}");
    for gone in ["x-secret", "proxy-connection", "connection=keep-alive"] {
        assert!(!page.contains(gone), "{gone} in\n{page}");
    }
    // The pod sees the connection come from the controller's own pod address, as from
    // ingress-nginx's controller pod.
    assert!(page.contains("client_address=10.244.1.254\n"), "{page}");

    let empty = format!("http://{}/empty", http_addr(&lab).await);
    let out = curl(&["-H", "Host: echo.example.com", "-w", "%{http_code}", &empty]).unwrap();
    assert!(out.ends_with("503"), "{out}");
    assert!(out.contains("503 Service Temporarily Unavailable"), "{out}");
}

async fn a_pod_that_does_not_answer_in_the_read_timeout_gets_504_and_a_stalled_body_is_cut_off(fast_path: bool) {
    let lab = start(fast_path).await;
    // A server on the host that takes connections and never answers, as the endpoint of a
    // selectorless service.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let annotations = "    nginx.ingress.kubernetes.io/proxy-read-timeout: \"1\"\n";
    let manifest = ingress_to_host("silent", "silent.example.com", at, annotations);
    let (code, out) = lab.apply(&manifest).await;
    assert_eq!(code, 200, "{out}");
    let url = format!("http://{}/", http_addr(&lab).await);
    // A GET (the HTTP/1.1 fast path) and a POST with a body (through hyper) alike.
    for extra in [&[][..], &["-d", "x=1"][..]] {
        let started = std::time::Instant::now();
        let out = eventually(PATIENCE, "504 from the ingress", || {
            let mut args = vec!["-H", "Host: silent.example.com", "-w", "%{http_code}"];
            args.extend_from_slice(extra);
            args.push(&url);
            let out = curl(&args).ok();
            async move { out.filter(|o| o.ends_with("504")) }
        })
        .await;
        assert!(out.contains("<title>504 Gateway Time-out</title>"), "{out}");
        assert!(started.elapsed() >= Duration::from_secs(1), "answered after the annotation's second");
    }

    // One that answers with 3 bytes of a 10-byte body and stops: the client gets those 3 and
    // then the end of the connection, a second later.
    let stalling = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = stalling.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = stalling.accept().await {
            let mut buf = [0u8; 4096];
            if stream.read(&mut buf).await.is_ok_and(|n| n > 0) {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").await;
            }
            held.push(stream);
        }
    });
    let (code, out) = lab.apply(&ingress_to_host("stalling", "stalling.example.com", at, annotations)).await;
    assert_eq!(code, 200, "{out}");
    for extra in [&[][..], &["-d", "x=1"][..]] {
        let started = std::time::Instant::now();
        let error = eventually(PATIENCE, "a body cut off by the ingress", || {
            let mut args = vec!["-H", "Host: stalling.example.com"];
            args.extend_from_slice(extra);
            args.push(&url);
            let out = curl(&args).err();
            async move { out.filter(|e| e.contains("transfer closed with 7 bytes remaining")) }
        })
        .await;
        assert!(started.elapsed() >= Duration::from_secs(1), "cut off after the annotation's second: {error}");
    }
}

async fn cookie_affinity_keeps_a_client_on_one_pod(fast_path: bool) {
    let lab = start(fast_path).await;
    lab.apply(KUBIA).await;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: sticky\n  annotations:\n    nginx.ingress.kubernetes.io/affinity: cookie\n    nginx.ingress.kubernetes.io/session-cookie-name: route\n    nginx.ingress.kubernetes.io/session-cookie-max-age: \"3600\"\nspec:\n  rules:\n  - host: sticky.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: kubia\n            port:\n              number: 80\n";
    let (code, out) = lab.apply(ingress).await;
    assert_eq!(code, 200, "{out}");
    lab.serving("kubia", 3).await;
    routed(&lab, "sticky.example.com", "/", "kubia-").await;
    let url = format!("http://{}/", http_addr(&lab).await);
    let headers = curl(&["-i", "-H", "Host: sticky.example.com", &url]).unwrap();
    let cookie_line = headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("a cookie");
    assert!(cookie_line.contains("; Path=/; Max-Age=3600; HttpOnly"), "{cookie_line}");
    let cookie = cookie_line.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("route="), "{cookie}");
    let first = pod(headers.lines().last().unwrap());
    for _ in 0..10 {
        let body = curl(&["-H", "Host: sticky.example.com", "-b", &cookie, &url]).unwrap();
        assert_eq!(pod(&body), first, "the cookie keeps the client on {first}");
    }
    let without: BTreeSet<String> =
        (0..6).map(|_| pod(&curl(&["-H", "Host: sticky.example.com", &url]).unwrap())).collect();
    assert_eq!(without.len(), 3, "without the cookie requests spread: {without:?}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `kubectl create secret tls NAME --cert --key` through the lab endpoint (a multipart upload).
async fn create_tls_secret(lab: &Lab, name: &str, cert: &Path, key: &Path) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .part("cert", reqwest::multipart::Part::bytes(std::fs::read(cert).unwrap()).file_name("tls.cert"))
        .part("key", reqwest::multipart::Part::bytes(std::fs::read(key).unwrap()).file_name("tls.key"));
    let r = lab.http.post(lab.url("/lab/v1/namespaces/default/secrets/tls")).multipart(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

async fn tls_terminates_with_the_secrets_certificate_chosen_by_sni(fast_path: bool) {
    let lab = start(fast_path).await;
    let dir = std::env::temp_dir().join(format!("svclab-tls-{}-{fast_path}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // As the chapter makes them: an RSA key and a self-signed certificate for kubia.example.com,
    // and an ECDSA pair for a second host.
    openssl(&dir, &["genrsa", "-out", "tls.key", "2048"]);
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "tls.key",
            "-out",
            "tls.cert",
            "-days",
            "360",
            "-subj",
            "/CN=kubia.example.com",
        ],
    );
    openssl(&dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key"]);
    openssl(
        &dir,
        &["req", "-new", "-x509", "-key", "ec.key", "-out", "ec.cert", "-days", "30", "-subj", "/CN=*.example.org"],
    );

    // A key that is not the certificate's is refused, and nothing is stored.
    let (code, err) = create_tls_secret(&lab, "tls-secret", &dir.join("tls.cert"), &dir.join("ec.key")).await;
    assert_eq!(code, 400, "{err}");
    assert_eq!(err["message"], "error: tls: private key does not match public key");
    let (code, _) = lab.get("/api/v1/namespaces/default/secrets/tls-secret").await;
    assert_eq!(code, 404);
    // The same through the REST API, as a kubernetes.io/tls Secret.
    let (crt, bad_key) = (std::fs::read(dir.join("tls.cert")).unwrap(), std::fs::read(dir.join("ec.key")).unwrap());
    let b64 = |b: &[u8]| {
        use std::io::Write;
        let mut child = Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(&crt), "tls.key": b64(&bad_key)}});
    let (code, err) =
        lab.send(Method::POST, "/api/v1/namespaces/default/secrets", "application/json", body.to_string()).await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(
        err["message"],
        "Secret \"bad\" is invalid: data[tls.key]: Invalid value: \"<secret contents redacted>\": tls: private key does not match public key"
    );

    let (code, made) = create_tls_secret(&lab, "tls-secret", &dir.join("tls.cert"), &dir.join("tls.key")).await;
    assert_eq!(code, 201, "{made}");
    assert_eq!(made["message"], "secret/tls-secret created");
    assert_eq!(made["object"]["type"], "kubernetes.io/tls");
    let (code, made) = create_tls_secret(&lab, "org-secret", &dir.join("ec.cert"), &dir.join("ec.key")).await;
    assert_eq!(code, 201, "{made}");

    lab.apply(KUBIA).await;
    lab.apply(NODE_PORT).await;
    let (code, out) = lab.apply(INGRESS_TLS).await;
    assert_eq!(code, 200, "{out}");
    let wildcard = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: org\nspec:\n  tls:\n  - hosts:\n    - '*.example.org'\n    secretName: org-secret\n  rules:\n  - host: '*.example.org'\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: kubia\n            port:\n              number: 80\n";
    let (code, out) = lab.apply(wildcard).await;
    assert_eq!(code, 200, "{out}");
    lab.serving("kubia-nodeport", 3).await;
    let https = lab.app.ingress.addresses().await.unwrap().https.port();
    let resolve = format!("kubia.example.com:{https}:127.0.0.1");
    let url = format!("https://kubia.example.com:{https}/");
    let verbose = eventually(PATIENCE, "HTTPS through the ingress", || {
        let out = Command::new("curl").args(["-skv", "-m", "5", "--resolve", &resolve, &url]).output().unwrap();
        let text =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        async move { text.0.starts_with("You've hit kubia-").then_some(text.1) }
    })
    .await;
    assert!(verbose.contains("subject: CN=kubia.example.com"), "{verbose}");

    let subject = |host: &str| {
        let resolve = format!("{host}:{https}:127.0.0.1");
        let out = Command::new("curl")
            .args(["-skv", "-m", "5", "--resolve", &resolve, &format!("https://{host}:{https}/")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.lines().find(|l| l.contains("subject:")).map(|l| l.trim().to_string()).unwrap_or(err)
    };
    assert!(subject("shop.example.org").ends_with("subject: CN=*.example.org"));
    assert!(subject("unknown.example.net").contains("CN=Kubernetes Ingress Controller Fake Certificate"));

    // The dashboard's test requests through the ingress, with the route each one took.
    let ask = json!({"namespace": "default", "service": "", "count": 3, "path": "/",
        "ingress": {"host": "kubia.example.com", "https": true}});
    let (code, report) = lab.send(Method::POST, "/lab/v1/test-requests", "application/json", ask.to_string()).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["url"], "https://kubia.example.com/");
    let mut pods = BTreeSet::new();
    for result in report["results"].as_array().unwrap() {
        assert_eq!(result["status"], 200, "{result}");
        assert_eq!(result["certificate"], "CN=kubia.example.com");
        let hop = &result["hop"];
        assert_eq!(hop["service"], "default/kubia-nodeport");
        assert_eq!(hop["virtualAddress"], "kubia.example.com/ (ImplementationSpecific)");
        assert_eq!(hop["reason"], "round-robin over 3 ready endpoints");
        assert_eq!(result["body"], format!("You've hit {}\n", hop["pod"].as_str().unwrap()));
        pods.insert(hop["pod"].to_string());
    }
    assert_eq!(pods.len(), 3);
    let ask = json!({"namespace": "default", "service": "", "count": 1, "path": "/x",
        "ingress": {"host": "nothing.example.com"}});
    let (_, report) = lab.send(Method::POST, "/lab/v1/test-requests", "application/json", ask.to_string()).await;
    let result = &report["results"][0];
    assert_eq!(result["status"], 404);
    assert_eq!(
        result["hop"]["reason"],
        "no rule matches host \"nothing.example.com\" and path \"/x\": the default backend answers 404"
    );
    std::fs::remove_dir_all(&dir).ok();
}

async fn the_add_on_switches_off_and_on_and_unknown_classes_are_ignored(fast_path: bool) {
    let lab = start(fast_path).await;
    lab.apply(KUBIA).await;
    lab.apply(NODE_PORT).await;
    lab.apply(INGRESS).await;
    let other = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: other\nspec:\n  ingressClassName: gce\n  rules:\n  - host: other.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: kubia\n            port:\n              number: 80\n";
    lab.apply(other).await;
    lab.serving("kubia-nodeport", 3).await;
    routed(&lab, "kubia.example.com", "/", "kubia-").await;
    let http = http_addr(&lab).await;
    let url = format!("http://{http}/");
    assert_eq!(curl(&["-H", "Host: other.example.com", &url]).unwrap(), "default backend - 404\n");
    assert_eq!(address(&lab, "other").await, Value::Null, "an unknown class gets no address");

    let (code, addon) = lab
        .send(Method::PUT, "/lab/v1/addons/ingress", "application/json", json!({"enabled": false}).to_string())
        .await;
    assert_eq!(code, 200);
    assert_eq!(addon["enabled"], false);
    assert_eq!(address(&lab, "kubia").await, Value::Null, "disabled, the ADDRESS is cleared");
    assert!(curl(&["-H", "Host: kubia.example.com", &url]).is_err(), "nothing listens");

    let (_, addon) =
        lab.send(Method::PUT, "/lab/v1/addons/ingress", "application/json", json!({"enabled": true}).to_string()).await;
    assert_eq!(addon["endpoints"][0], format!("http://{http}"), "enabled again on the same address");
    routed(&lab, "kubia.example.com", "/", "kubia-").await;
    eventually(PATIENCE, "the address comes back", || async { address(&lab, "kubia").await.is_array().then_some(()) })
        .await;
}

async fn route_changes_apply_on_a_live_connection_and_websockets_pass_through(fast_path: bool) {
    // svclab's own API is the websocket's backend, reached by the ingress's host name.
    let mut config = svclab::app::Config::ephemeral();
    config.access.allowed_hosts = vec!["live.example.com".into()];
    config.ingress.fast_path = fast_path;
    let lab = Lab::start_with(config).await;
    for name in ["foo", "bar"] {
        lab.apply(&app(name, 1)).await;
    }
    // The svclab API itself as a backend (a selectorless service whose endpoint is on the host),
    // to carry a websocket through the ingress.
    let api = lab.app.api_addr;
    let selectorless = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: api\nsubsets:\n- addresses:\n  - ip: {}\n  ports:\n  - port: {}\n",
        api.ip(),
        api.port()
    );
    lab.apply(&selectorless).await;
    let ingress = |svc: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: live\nspec:\n  rules:\n  - host: live.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: {svc}\n            port:\n              number: 80\n      - path: /lab\n        pathType: Prefix\n        backend:\n          service:\n            name: api\n            port:\n              number: 80\n"
        )
    };
    lab.apply(&ingress("foo")).await;
    lab.serving("foo", 1).await;
    lab.serving("bar", 1).await;
    routed(&lab, "live.example.com", "/", "foo-").await;

    let http = http_addr(&lab).await;
    let stream = tokio::net::TcpStream::connect(&http).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut ask = async || {
        sender.ready().await.expect("the connection stays open");
        let request = hyper::Request::get("/")
            .header("host", "live.example.com")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        pod(&String::from_utf8_lossy(&body))
    };
    assert!(ask().await.starts_with("foo-"));
    lab.apply(&ingress("bar")).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !ask().await.starts_with("bar-") {
        assert!(tokio::time::Instant::now() < deadline, "the same connection never reached bar");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A websocket (the lab's watch stream) through the ingress.
    let request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{http}/lab/v1/watch"
    ))
    .map(|mut r| {
        r.headers_mut().insert("host", "live.example.com".parse().unwrap());
        r
    })
    .unwrap();
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("the websocket opens");
    assert_eq!(response.status(), 101);
    use futures::StreamExt;
    let first = tokio::time::timeout(PATIENCE, socket.next()).await.expect("a message").expect("open").unwrap();
    assert!(first.to_text().unwrap().starts_with(r#"{"type":"SYNC""#), "{first}");
}

/// A NetworkPolicy written for a real cluster's ingress-nginx lets the ingress in: the
/// controller connects from its own pod address, which policies see as ingress-nginx's
/// controller pod (namespace `ingress-nginx`); other traffic, a node port's, stays out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_policies_see_the_controller_as_ingress_nginxs_pod() {
    const FROM_INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: from-ingress}\nspec:\n  podSelector: {matchLabels: {app: kubia}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}\n      podSelector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}\n";
    let lab = start(true).await;
    lab.apply(KUBIA).await;
    lab.apply(NODE_PORT).await;
    lab.apply(INGRESS).await;
    lab.serving("kubia-nodeport", 3).await;
    routed(&lab, "kubia.example.com", "/", "kubia-").await;
    let (_, node) = lab.get("/api/v1/nodes/node-1").await;
    let node_port = format!("http://{}:30123/", node["status"]["addresses"][0]["address"].as_str().unwrap());
    assert!(curl(&[&node_port]).unwrap().starts_with("You've hit kubia-"));
    let (code, applied) = lab.apply(FROM_INGRESS).await;
    assert_eq!(code, 200, "{applied}");
    eventually(PATIENCE, "the node port closed by the policy", || async {
        let out = Command::new("curl").args(["-s", "-m", "1", &node_port]).output().unwrap();
        (out.status.code() == Some(28)).then_some(())
    })
    .await;
    let url = format!("http://{}/", http_addr(&lab).await);
    for _ in 0..3 {
        assert!(pod(&curl(&["-H", "Host: kubia.example.com", &url]).unwrap()).starts_with("kubia-"));
    }
}
