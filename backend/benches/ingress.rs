//! Ingress benchmark, run by `cargo xtask bench ingress`: wrk through the svclab ingress (on its
//! fast path, and with every request through hyper), through a svclab Gateway and HTTPRoute to
//! the same service (the same data path, its own listener), through nginx configured as a reverse proxy
//! (keep-alive to the upstream, as ingress-nginx configures it) and through HAProxy in HTTP mode,
//! all in front of the same backend, over HTTP and HTTPS with keep-alive, in one run. Writes a
//! Markdown section to `target/bench/ingress.md`.
//!
//! The backend is a small HTTP server in this process answering as the kubia pod does; svclab
//! reaches it as the endpoint of a selectorless service (a pod IP is virtual, so nginx could not
//! dial a pod's address, while both can dial this one).

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const HOST: &str = "bench.example.com";
const SECONDS: u32 = 5;
const CONNECTIONS: u32 = 32;
const ROUNDS: usize = 3;

/// The backend: "You've hit bench" to every request, keep-alive.
async fn backend() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"You've hit bench\n",
                    ))))
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(addr)
}

/// A self-signed certificate for the benchmark host, as PEM files in `dir`.
fn certificate(dir: &Path) -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec![HOST.to_string()])?.self_signed(&key)?;
    let (cert, key) = (cert.pem(), key.serialize_pem());
    std::fs::write(dir.join("tls.crt"), &cert)?;
    std::fs::write(dir.join("tls.key"), &key)?;
    Ok((cert, key))
}

/// A svclab under test: its ingress's addresses and its Gateway's (HTTP, HTTPS).
struct Svclab {
    _child: Child,
    http: SocketAddr,
    https: SocketAddr,
    gateway: (SocketAddr, SocketAddr),
}

/// The Gateway and HTTPRoute routing `HOST` to the same service as the Ingress.
fn gateway_manifest() -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: bench\nspec:\n  gatewayClassName: svclab\n  listeners:\n  - name: http\n    port: 80\n    protocol: HTTP\n    hostname: {HOST}\n  - name: https\n    port: 443\n    protocol: HTTPS\n    hostname: {HOST}\n    tls:\n      certificateRefs: [{{name: bench-tls}}]\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: bench\nspec:\n  parentRefs: [{{name: bench}}]\n  rules:\n  - backendRefs: [{{name: bench, port: 80}}]\n"
    )
}

/// Waits until a request to `http` with `HOST` reaches the backend.
async fn routed(client: &reqwest::Client, http: SocketAddr, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = client.get(format!("http://{http}/")).header("host", HOST).send().await;
        if let Ok(r) = answer
            && r.text().await.unwrap_or_default().starts_with("You've hit")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} never routed {HOST}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Gateway's address, once it has one.
async fn gateway_address(client: &reqwest::Client, api: &str) -> Result<std::net::IpAddr> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = format!("http://{api}/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/bench");
        let g: serde_json::Value = client.get(url).send().await?.json().await?;
        if let Some(ip) = g["status"]["addresses"][0]["value"].as_str() {
            return Ok(ip.parse()?);
        }
        if Instant::now() > deadline {
            bail!("the Gateway got no address");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts svclab with one node and routes `HOST` to the backend over HTTP and HTTPS, through
/// its ingress and through a Gateway; with `fast_path` off, every request goes through hyper's
/// server and client.
async fn svclab(
    binary: &str,
    backend: SocketAddr,
    cert: &str,
    key: &str,
    node_network: &str,
    fast_path: bool,
) -> Result<Svclab> {
    let mut child = Command::new(binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--node-network",
            node_network,
            "--nodes",
            "1",
            "--dns",
            "127.0.0.1:0",
            "--ephemeral",
        ])
        .args(["--ingress-http", "127.0.0.1:0", "--ingress-https", "127.0.0.1:0"])
        .args(if fast_path { &[][..] } else { &["--ingress-without-fast-path"][..] })
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let (mut api, mut ingress) = (None, None);
    while ingress.is_none() {
        let line = lines.next_line().await?.context("svclab exited before it was up")?;
        if line.starts_with("svclab is running") {
            api = line.split("http://").nth(1).map(|r| r.split(',').next().unwrap_or_default().trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("ingress controller: http://") {
            let (http, https) = rest.split_once(" and https://").context("both ingress addresses")?;
            ingress = Some((http.parse::<SocketAddr>()?, https.trim().parse::<SocketAddr>()?));
        }
    }
    let (api, (http, https)) = (api.context("the API address")?, ingress.expect("read above"));
    // Keep reading what it prints, so a warning under load finds the pipe open.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client = reqwest::Client::new();
    let secret = serde_json::json!({"name": "bench-tls", "cert": cert, "key": key});
    let made = client.post(format!("http://{api}/lab/v1/namespaces/default/secrets/tls")).json(&secret).send().await?;
    if !made.status().is_success() {
        bail!("creating the TLS secret failed: {}", made.text().await?);
    }
    let manifest = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: bench\nspec:\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: bench\nsubsets:\n- addresses:\n  - ip: {}\n  ports:\n  - port: {}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: bench\nspec:\n  tls:\n  - hosts: [{HOST}]\n    secretName: bench-tls\n  rules:\n  - host: {HOST}\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: bench\n            port:\n              number: 80\n",
        backend.ip(),
        backend.port()
    );
    let applied = client
        .post(format!("http://{api}/lab/v1/apply"))
        .header("content-type", "application/yaml")
        .body(manifest + "---\n" + &gateway_manifest())
        .send()
        .await?;
    if !applied.status().is_success() {
        bail!("applying the benchmark ingress and gateway failed: {}", applied.text().await?);
    }
    routed(&client, http, "the ingress").await?;
    let ip = gateway_address(&client, &api).await?;
    let gateway = (SocketAddr::new(ip, 80), SocketAddr::new(ip, 443));
    routed(&client, gateway.0, "the Gateway").await?;
    Ok(Svclab { _child: child, http, https, gateway })
}

/// nginx as a reverse proxy to the backend, with upstream keep-alive, as ingress-nginx sets it up.
async fn nginx(backend: SocketAddr, dir: &Path) -> Result<(Child, SocketAddr, SocketAddr, String)> {
    let version = std::process::Command::new("nginx").arg("-v").output().context("nginx is not installed")?;
    let version = String::from_utf8_lossy(&version.stderr).trim().replace("nginx version: ", "");
    let free = || async { Ok::<_, anyhow::Error>(TcpListener::bind("127.0.0.1:0").await?.local_addr()?) };
    let (http, https) = (free().await?, free().await?);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = dir.display();
    let config = format!(
        "worker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  keepalive_requests 100000;\n  upstream bench {{ server {backend}; keepalive 320; keepalive_requests 100000; }}\n  server {{\n    listen {http};\n    listen {https} ssl;\n    server_name {HOST};\n    ssl_certificate {d}/tls.crt;\n    ssl_certificate_key {d}/tls.key;\n    location / {{\n      proxy_pass http://bench;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n      proxy_set_header X-Real-IP $remote_addr;\n      proxy_set_header X-Forwarded-For $remote_addr;\n      proxy_set_header X-Forwarded-Host $host;\n      proxy_set_header X-Forwarded-Port $server_port;\n      proxy_set_header X-Forwarded-Proto $scheme;\n      proxy_set_header X-Forwarded-Scheme $scheme;\n      proxy_set_header X-Scheme $scheme;\n    }}\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), config)?;
    let child = Command::new("nginx")
        .args(["-p"])
        .arg(dir)
        .args(["-c"])
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(https).await.is_err() {
        if Instant::now() > deadline {
            bail!("nginx did not start; see {d}/error.log");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((child, http, https, version))
}

/// HAProxy in HTTP mode as a reverse proxy to the backend, setting the same request headers,
/// with connection reuse to the backend and one thread per core.
async fn haproxy(
    backend: SocketAddr,
    dir: &Path,
    cert: &str,
    key: &str,
) -> Result<(Child, SocketAddr, SocketAddr, String)> {
    let version = std::process::Command::new("haproxy").arg("-v").output().context("HAProxy is not installed")?;
    let version = String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or_default().to_string();
    let free = || async { Ok::<_, anyhow::Error>(TcpListener::bind("127.0.0.1:0").await?.local_addr()?) };
    let (http, https) = (free().await?, free().await?);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = dir.display();
    std::fs::write(dir.join("bench.pem"), format!("{}\n{}", cert.trim_end(), key))?;
    let scheme = |name: &str| {
        format!(
            "  http-request set-header {name} https if {{ ssl_fc }}\n  http-request set-header {name} http if !{{ ssl_fc }}\n"
        )
    };
    let config = format!(
        "global\n  nbthread {threads}\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  http-reuse always\nfrontend fe\n  bind {http}\n  bind {https} ssl crt {d}/bench.pem alpn http/1.1\n  option forwardfor\n  http-request set-header X-Real-IP %[src]\n  http-request set-header X-Forwarded-Host %[req.hdr(host)]\n  http-request set-header X-Forwarded-Port %[dst_port]\n{}{}{}  default_backend be\nbackend be\n  server s1 {backend}\n",
        scheme("X-Forwarded-Proto"),
        scheme("X-Forwarded-Scheme"),
        scheme("X-Scheme")
    );
    std::fs::write(dir.join("haproxy.cfg"), config)?;
    let log = std::fs::File::create(dir.join("haproxy.log"))?;
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(dir.join("haproxy.cfg"))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(https).await.is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
            bail!("HAProxy did not start:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((child, http, https, version))
}

/// One wrk run: requests per second and the p99 latency in milliseconds.
async fn wrk(url: &str) -> Result<(f64, f64)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).to_string();
    let out = Command::new("wrk")
        .args(["-t", &threads, "-c", &CONNECTIONS.to_string(), "-d", &format!("{SECONDS}s"), "--latency"])
        .args(["-H", &format!("Host: {HOST}"), url])
        .output()
        .await
        .context("wrk is not installed")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("wrk saw errors against {url}:\n{text}");
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("no 99% latency in wrk's output:\n{text}"))?;
    Ok((rps, millis(&p99)?))
}

/// `1.23ms`, `456.00us`, `1.02s` → milliseconds.
fn millis(v: &str) -> Result<f64> {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("unreadable latency {v:?}")
    };
    Ok(number.parse::<f64>()? * factor)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("svclab-bench-ingress-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let backend = backend().await?;
    let (cert, key) = certificate(&dir)?;
    let binary = std::env::var("SVCLAB_BIN").context("SVCLAB_BIN names the svclab binary to measure")?;
    // Node networks two apart: each svclab's load-balancer pool is the network after its own.
    let ours = svclab(&binary, backend, &cert, &key, "127.78.1.0", true).await?;
    let (s_http, s_https, (g_http, g_https)) = (ours.http, ours.https, ours.gateway);
    let hyper = svclab(&binary, backend, &cert, &key, "127.78.3.0", false).await?;
    let (h_http, h_https) = (hyper.http, hyper.https);
    let (mut nginx_child, n_http, n_https, nginx_version) = nginx(backend, &dir).await?;
    let (_haproxy, x_http, x_https, haproxy_version) = haproxy(backend, &dir, &cert, &key).await?;
    // Per protocol: svclab, svclab through hyper, nginx, HAProxy.
    let mut targets = vec![
        ("svclab ingress, HTTP", format!("http://{s_http}/")),
        ("svclab ingress without the fast path, HTTP", format!("http://{h_http}/")),
        ("nginx, HTTP", format!("http://{n_http}/")),
        ("HAProxy, HTTP", format!("http://{x_http}/")),
        ("svclab ingress, HTTPS", format!("https://{s_https}/")),
        ("svclab ingress without the fast path, HTTPS", format!("https://{h_https}/")),
        ("nginx, HTTPS", format!("https://{n_https}/")),
        ("HAProxy, HTTPS", format!("https://{x_https}/")),
        ("svclab Gateway (HTTPRoute), HTTP", format!("http://{g_http}/")),
        ("svclab Gateway (HTTPRoute), HTTPS", format!("https://{g_https}/")),
    ];
    // The build before a change, measured in the same rounds, when `SVCLAB_BIN_BEFORE` names it.
    let before = match std::env::var("SVCLAB_BIN_BEFORE") {
        Ok(binary) => Some(svclab(&binary, backend, &cert, &key, "127.78.5.0", true).await?),
        Err(_) => None,
    };
    if let Some(b) = &before {
        targets.push(("svclab ingress, the build before the change, HTTP", format!("http://{}/", b.http)));
        targets.push(("svclab ingress, the build before the change, HTTPS", format!("https://{}/", b.https)));
    }
    if std::env::var_os("SVCLAB_BENCH_HOLD").is_some() {
        // Keep everything up for a profiler or wrk by hand.
        for (name, url) in &targets {
            eprintln!("{name}: {url} (Host: {HOST}), svclab pid {:?}", ours._child.id());
        }
        std::future::pending::<()>().await;
    }
    let mut rps = vec![Vec::new(); targets.len()];
    let mut p99 = vec![Vec::new(); targets.len()];
    for _ in 0..ROUNDS {
        for (i, (name, url)) in targets.iter().enumerate() {
            let (r, p) = wrk(url).await?;
            eprintln!("{name}: {r:.0} requests/s, p99 {p:.2} ms");
            rps[i].push(r);
            p99[i].push(p);
        }
    }
    let rows: Vec<(&str, f64, f64)> = targets
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (*name, median(rps[i].clone()), median(p99[i].clone())))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = String::from("## Ingress and Gateway against nginx and HAProxy\n\n");
    out.push_str(&format!(
        "wrk ({CONNECTIONS} keep-alive connections, {SECONDS} s per run, one thread per core) through the svclab ingress (on its fast path, and with `--ingress-without-fast-path`, every request through hyper's server and client), through a svclab Gateway (`gatewayClassName: svclab`, HTTP and HTTPS listeners for the host on its load-balancer address, ports 80 and 443) and an HTTPRoute to the same service in the same svclab, through {nginx_version} as a reverse proxy with upstream keep-alive and through {haproxy_version} in HTTP mode with connection reuse, each setting the request headers ingress-nginx sets (Host, X-Real-IP and X-Forwarded-For, -Host, -Port, -Proto, -Scheme and X-Scheme, as the svclab ingress does, so the backend parses the same requests from all), all in front of the same backend (a small HTTP server answering as kubia does), over HTTP and HTTPS (TLS 1.3, ECDSA P-256 certificate from a Secret for svclab, the same files for the others; nginx with {cores} worker processes, HAProxy with {cores} threads). Targets are measured in turn, {ROUNDS} rounds; medians.\n\n"
    ));
    out.push_str("| path | requests/s | p99 latency |\n| --- | ---: | ---: |\n");
    for (name, r, p) in &rows {
        out.push_str(&format!("| {name} | {r:.0} | {p:.2} ms |\n"));
    }
    for (proto, at) in [("HTTP", 0), ("HTTPS", 4)] {
        let (ours, hyper, nginx, haproxy) = (&rows[at], &rows[at + 1], &rows[at + 2], &rows[at + 3]);
        let peer = if nginx.1 >= haproxy.1 { nginx } else { haproxy };
        let met = ours.1 >= peer.1 && ours.2 <= peer.2;
        out.push_str(&format!(
            "\n{proto}: svclab / nginx {:.2}×, svclab / HAProxy {:.2}× requests/s; against the faster ({}) p99 {:.2} ms vs {:.2} ms (target ≥ 1.0× with p99 no worse: {}). The fast path / hyper alone: {:.2}×.\n",
            ours.1 / nginx.1,
            ours.1 / haproxy.1,
            peer.0.split(',').next().unwrap_or_default(),
            ours.2,
            peer.2,
            if met { "met" } else { "not met" },
            ours.1 / hyper.1
        ));
    }
    for (proto, ingress, gateway) in [("HTTP", 0, 8), ("HTTPS", 4, 9)] {
        let ratio = rows[gateway].1 / rows[ingress].1;
        out.push_str(&format!(
            "\n{proto}: the Gateway / the Ingress {ratio:.2}× requests/s, p99 {:.2} ms vs {:.2} ms (target: within 5%: {}).\n",
            rows[gateway].2,
            rows[ingress].2,
            if ratio >= 0.95 { "met" } else { "not met" }
        ));
    }
    if before.is_some() {
        out.push_str(&format!(
            "\nThis build / the build before the change (`SVCLAB_BIN_BEFORE`, measured in the same rounds): HTTP {:.2}× requests/s (p99 {:.2} vs {:.2} ms), HTTPS {:.2}× (p99 {:.2} vs {:.2} ms).\n",
            rows[0].1 / rows[10].1,
            rows[0].2,
            rows[10].2,
            rows[4].1 / rows[11].1,
            rows[4].2,
            rows[11].2
        ));
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&target)?;
    std::fs::write(target.join("ingress.md"), &out)?;
    println!("{out}");
    // The master stops its workers (killing only the master would leave them running).
    let _ = std::process::Command::new("nginx")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-s", "quit"])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(5), nginx_child.wait()).await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
