//! Attacks on a running svclab, made as a hostile web page or client would make them: other
//! sites' forms, fetches and WebSockets, DNS rebinding, missing tokens off loopback, parser
//! bombs, oversized and half-sent heads, invalid UTF-8, path traversal and watchers that never
//! read. Each is refused with a kube-apiserver Status, and the API keeps answering meanwhile.

use crate::common;

use common::bombs::{alias_bomb, json_bomb, nesting_bomb};
use common::{KUBIA, Lab};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use svclab::app::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const EVIL: &str = "http://evil.example.com";

/// Sends raw bytes (with `Connection: close` in them) and reads the whole answer.
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

/// Sends a head, then a body while the answer is read (the server may answer before the body
/// is all sent, and close).
async fn upload(addr: SocketAddr, head: String, body: Vec<u8>) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let sending = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        let _ = write.write_all(&body).await;
        write
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(20);
    // Read until the answer's head and its Status are in.
    while !String::from_utf8_lossy(&answer).contains("\"Status\"") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(20), read.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    sending.abort();
    let text = String::from_utf8_lossy(&answer).to_string();
    (text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0), text)
}

fn status_body(text: &str) -> Value {
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    // A chunked body: the JSON sits between the chunk-size lines.
    let json = body.find('{').and_then(|start| body.rfind('}').map(|end| &body[start..=end])).unwrap_or("{}");
    serde_json::from_str(json).unwrap_or_default()
}

fn assert_status(body: &Value, code: u64, reason: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
}

async fn service_names(lab: &Lab) -> Vec<String> {
    let (_, list) = lab.get("/api/v1/namespaces/default/services").await;
    list["items"].as_array().unwrap().iter().map(|s| s["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_sites_cannot_change_anything_or_watch() {
    let lab = Lab::start().await;
    let own = format!("http://{}", lab.app.api_addr);
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: planted\nspec:\n  ports:\n  - port: 80\n";

    // A form another site posts (multipart, no preflight in a browser).
    let form = reqwest::multipart::Form::new().text("manifest", service);
    let r = lab.http.post(lab.url("/lab/v1/apply")).header("origin", EVIL).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_status(&body, 403, "Forbidden");
    assert!(body["message"].as_str().unwrap().contains("another site"), "{body}");

    // A text/plain fetch, and a DELETE.
    let r = lab
        .http
        .post(lab.url("/lab/v1/apply"))
        .header("origin", EVIL)
        .header("content-type", "text/plain")
        .body(service)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = lab
        .http
        .delete(lab.url("/api/v1/namespaces/default/services/kubernetes"))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!service_names(&lab).await.contains(&"planted".to_string()));
    assert!(service_names(&lab).await.contains(&"kubernetes".to_string()));

    // The dashboard's own origin, and kubectl or curl (no Origin), still change things.
    let r = lab
        .http
        .post(lab.url("/lab/v1/apply"))
        .header("origin", &own)
        .header("content-type", "application/yaml")
        .body(service)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (code, _) = lab
        .send(reqwest::Method::DELETE, "/api/v1/namespaces/default/services/planted", "application/json", String::new())
        .await;
    assert_eq!(code, 200);

    // A WebSocket from another site (it would stream every Secret) is refused; the dashboard's is not.
    let url = format!("ws://{}/lab/v1/watch", lab.app.api_addr);
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("origin", EVIL.parse().unwrap());
    request.headers_mut().insert("sec-websocket-protocol", "svclab.feed".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_status(&body, 403, "Forbidden");
        }
        other => panic!("a foreign origin's websocket was not refused: {:?}", other.map(|(_, r)| r.status())),
    }
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("origin", own.parse().unwrap());
    request.headers_mut().insert("sec-websocket-protocol", "svclab.feed".parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(request).await.expect("the dashboard's own feed");
    assert_eq!(response.headers()["sec-websocket-protocol"], "svclab.feed");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_names_svclab_answers_to_are_served() {
    let mut config = Config::ephemeral();
    config.access.allowed_hosts = vec!["lab.internal".into()];
    let lab = Lab::start_with(config).await;
    let addr = lab.app.api_addr;
    let get = |host: &str| format!("GET /api/v1/namespaces HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");

    // DNS rebinding: a page's own name, now resolving to 127.0.0.1.
    let (code, text) = raw(addr, get(&format!("evil.example.com:{}", addr.port())).as_bytes()).await;
    assert_eq!(code, 403, "{text}");
    let body = status_body(&text);
    assert_status(&body, 403, "Forbidden");
    assert!(body["message"].as_str().unwrap().contains("evil.example.com"), "{body}");
    // The dashboard's files are refused too: a rebound page must not read them either.
    let (code, _) = raw(addr, b"GET / HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n").await;
    assert_eq!(code, 403);

    for host in [format!("127.0.0.1:{}", addr.port()), format!("localhost:{}", addr.port()), "lab.internal".into()] {
        let (code, text) = raw(addr, get(&host).as_bytes()).await;
        assert_eq!(code, 200, "{host}: {text}");
    }
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_every_request_needs_the_token() {
    let mut config = Config::ephemeral();
    config.access.token = Some("7f3a9c1e5b".into());
    let lab = Lab::start_with(config).await;

    let r = lab.http.get(lab.url("/api/v1/namespaces")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_status(&r.json().await.unwrap(), 401, "Unauthorized");
    let r = lab.http.get(lab.url("/api/v1/namespaces")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = lab
        .http
        .post(lab.url("/lab/v1/apply"))
        .header("content-type", "application/yaml")
        .body(KUBIA)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = lab.http.get(lab.url("/api/v1/namespaces")).bearer_auth("7f3a9c1e5b").send().await.unwrap();
    assert_eq!(r.status(), 200);
    // What anyone may read without one, as from kube-apiserver.
    assert_eq!(lab.http.get(lab.url("/version")).send().await.unwrap().status(), 200);
    assert_eq!(lab.http.get(lab.url("/healthz")).send().await.unwrap().status(), 200);

    // The dashboard's feed carries the token as a subprotocol (a browser cannot set headers).
    let url = format!("ws://{}/lab/v1/watch", lab.app.api_addr);
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "svclab.feed".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err(), "no token, no feed");
    use base64::Engine;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("7f3a9c1e5b");
    let mut request = url.as_str().into_client_request().unwrap();
    let protocols = format!("svclab.feed, base64url.bearer.authorization.k8s.io.{token}");
    request.headers_mut().insert("sec-websocket-protocol", protocols.parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(request).await.expect("the feed with the token");
    assert_eq!(response.headers()["sec-websocket-protocol"], "svclab.feed", "the token is never echoed");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parser_bombs_and_oversized_bodies_are_refused_with_a_status() {
    let lab = Lab::start().await;
    let services = "/api/v1/namespaces/default/services";
    let before = service_names(&lab).await;

    let (code, body) = lab.send(reqwest::Method::POST, services, "application/yaml", nesting_bomb(100_000)).await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    assert!(body["message"].as_str().unwrap().contains("line 5"), "located: {body}");
    let (code, body) = lab.send(reqwest::Method::POST, services, "application/yaml", alias_bomb()).await;
    assert_eq!(code, 400, "{body}");
    assert_status(&body, 400, "BadRequest");
    let (code, body) = lab.send(reqwest::Method::POST, services, "application/json", json_bomb(100_000)).await;
    assert_eq!(code, 400, "{body}");
    assert_status(&body, 400, "BadRequest");
    // The lab's own apply refuses it the same way, located.
    let (code, body) = lab.apply(&nesting_bomb(100_000)).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["results"][0]["error"]["line"], 5, "{body}");

    // Bodies beyond 3 MiB: 413, whether they say their length or not. svclab answers without
    // reading the rest, so the client's writes run on while the answer is read.
    let big = format!(
        "{{\"metadata\": {{\"name\": \"big\", \"annotations\": {{\"a\": \"{}\"}}}}}}",
        "x".repeat(3 * 1024 * 1024)
    );
    let addr = lab.app.api_addr;
    let declared = format!(
        "POST {services} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    let (code, text) = upload(addr, declared, big.clone().into_bytes()).await;
    assert_eq!(code, 413, "{text}");
    assert_status(&status_body(&text), 413, "RequestEntityTooLarge");
    let chunked = format!(
        "POST {services} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut body = Vec::new();
    for chunk in big.as_bytes().chunks(64 * 1024) {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let (code, text) = upload(addr, chunked, body).await;
    assert_eq!(code, 413, "{text}");
    assert_status(&status_body(&text), 413, "RequestEntityTooLarge");

    // A large, valid manifest still applies (decoded off the runtime).
    let labels: String = (0..4000).map(|i| format!("    label-{i}: value-{i}\n")).collect();
    let large = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: large\n  labels:\n{labels}spec:\n  ports:\n  - port: 80\n"
    );
    assert!(large.len() > 100 * 1024);
    let (code, body) = lab.send(reqwest::Method::POST, services, "application/yaml", large).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["metadata"]["labels"]["label-3999"], "value-3999");

    let mut after = service_names(&lab).await;
    after.retain(|n| n != "large");
    assert_eq!(after, before, "nothing else was stored");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_fast_while_clients_send_bombs() {
    let lab = Lab::start().await;
    let url = lab.url("/api/v1/namespaces/default/services");
    let time_get = || {
        let (http, url) = (lab.http.clone(), url.clone());
        async move {
            let start = Instant::now();
            assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
            start.elapsed()
        }
    };
    let mut at_rest = Duration::ZERO;
    for _ in 0..20 {
        at_rest = at_rest.max(time_get().await);
    }
    // Four clients send 200 KB nesting bombs in a loop.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let (http, url, stop) = (lab.http.clone(), url.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut sent = 0;
            while !stop.is_cancelled() {
                let r = http
                    .post(&url)
                    .header("content-type", "application/yaml")
                    .body(nesting_bomb(100_000))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 400);
                sent += 1;
            }
            sent
        }));
    }
    let mut under_attack = Duration::ZERO;
    for _ in 0..20 {
        under_attack = under_attack.max(time_get().await);
    }
    stop.cancel();
    let mut bombs = 0;
    for a in attackers {
        bombs += a.await.unwrap();
    }
    assert!(bombs >= 4, "the attackers were answered too ({bombs} bombs)");
    // A generous bound: before, one bomb held a worker for 19 s.
    let bound = Duration::from_secs(1).max(at_rest * 20);
    assert!(under_attack < bound, "a GET took {under_attack:?} under attack ({at_rest:?} at rest)");
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_paths_and_bytes_that_are_wrong_get_answers_not_crashes() {
    let dashboard = std::env::temp_dir().join(format!("svclab-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dashboard).unwrap();
    std::fs::write(dashboard.join("index.html"), "<html>svclab dashboard</html>").unwrap();
    let mut config = Config::ephemeral();
    config.dashboard = Some(dashboard.clone());
    let lab = Lab::start_with(config).await;
    let addr = lab.app.api_addr;
    let host = format!("127.0.0.1:{}", addr.port());

    // Path traversal in the dashboard's files never leaves its directory.
    for path in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/static/..%5c..%5c/etc/passwd",
    ] {
        let (code, text) =
            raw(addr, format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await;
        assert!(!text.contains("root:"), "{path} read a file outside the dashboard: {text}");
        assert!(code == 200 || code == 400 || code == 404, "{path}: {code}");
    }

    // An oversized head: 431, not a buffer without bound.
    let huge = format!(
        "GET /version HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let (code, _) = raw(addr, huge.as_bytes()).await;
    assert!(code == 431 || code == 0, "an oversized head was answered {code}");

    // Invalid UTF-8 in the path, the query, a header and the body: Status answers.
    let mut request = b"GET /api/v1/namespaces/default/services/".to_vec();
    request.extend_from_slice(b"\xff\xfe HTTP/1.1\r\nConnection: close\r\nHost: ");
    request.extend_from_slice(host.as_bytes());
    request.extend_from_slice(b"\r\n\r\n");
    let (code, _) = raw(addr, &request).await;
    assert!((400..500).contains(&code), "{code}");
    let mut request = format!(
        "GET /api/v1/services?labelSelector=app%3D%FF%FE HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let (code, text) = raw(addr, &request).await;
    assert_eq!(code, 400, "{text}");
    assert_status(&status_body(&text), 400, "BadRequest");
    request =
        format!("GET /api/v1/services HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: ").into_bytes();
    request.extend_from_slice(b"kubectl\xff\r\nAccept: application/json\xfe\r\n\r\n");
    let (code, _) = raw(addr, &request).await;
    assert_eq!(code, 200);
    for content_type in ["application/yaml", "application/json", "application/vnd.kubernetes.protobuf"] {
        let body = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: \xff\xfe\n";
        let mut request = format!("POST /api/v1/namespaces/default/services HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
        request.extend_from_slice(body);
        let (code, text) = raw(addr, &request).await;
        assert_eq!(code, 400, "{content_type}: {text}");
        assert_status(&status_body(&text), 400, "BadRequest");
    }
    let body = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: \xff\n";
    let mut request = format!("POST /lab/v1/apply HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(body);
    let (code, text) = raw(addr, &request).await;
    assert_eq!(code, 400, "{text}");

    // Half-sent heads and idle connections, many at once, hold nothing up.
    let mut held = Vec::new();
    for i in 0..2000 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        if i % 2 == 0 {
            stream.write_all(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
        }
        held.push(stream);
    }
    let start = Instant::now();
    let (code, _) = lab.get("/api/v1/namespaces").await;
    assert_eq!(code, 200);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?} with 2,000 idle connections", start.elapsed());
    drop(held);
    let _ = std::fs::remove_dir_all(dashboard);
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_that_never_read_hold_nothing_up() {
    let lab = Lab::start().await;
    let addr = lab.app.api_addr;
    // Hundreds of watches whose clients never read a byte.
    let mut silent = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /api/v1/services?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        silent.push(stream);
    }
    // Many changes, each big enough to fill their buffers.
    let note = "x".repeat(16 * 1024);
    for i in 0..150 {
        let service = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s{i}\n  annotations:\n    note: {note}\nspec:\n  ports:\n  - port: 80\n"
        );
        let (code, body) =
            lab.send(reqwest::Method::POST, "/api/v1/namespaces/default/services", "application/yaml", service).await;
        assert_eq!(code, 201, "{body}");
    }
    // A watcher that reads still hears every change, promptly.
    let mut watch =
        lab.http.get(lab.url("/api/v1/namespaces/default/services?watch=true&resourceVersion=0")).send().await.unwrap();
    let (code, _) = lab.apply(KUBIA).await;
    assert_eq!(code, 200);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("\"name\":\"kubia\"") {
        assert!(Instant::now() < deadline, "the reading watcher did not see kubia: {seen}");
        if let Ok(Ok(Some(c))) = tokio::time::timeout(Duration::from_millis(200), watch.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&c));
        }
    }
    drop(silent);
    lab.app.shutdown().await;
}
