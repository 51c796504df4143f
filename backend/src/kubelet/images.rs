//! Built-in container images: the program a container runs, chosen by its image name.
//!
//! - `luksa/kubia`: an HTTP server on port 8080 answering `You've hit <hostname>` on every path.
//! - `registry.k8s.io/echoserver` (also under `k8s.gcr.io`): HTTP on 8080 describing the request
//!   as it arrived, with `client_address` the source the pod sees (the client, or a node after SNAT).
//! - `registry.k8s.io/e2e-test-images/agnhost` with `netexec` (Kubernetes' own test server):
//!   HTTP on `--http-port` (8080) with `/hostname`, `/clientip`, `/echo?msg=`, `/healthz`, and a
//!   UDP server on `--udp-port` (8081) answering `hostname`, `clientip` and `echo <text>`.
//! - `busybox`, `tutum/dnsutils` and any image svclab does not know: no server; the container
//!   idles and is there for `exec`.

use super::PodSandbox;
use crate::proxy::Protocol;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use k8s_openapi::api::core::v1::Container;
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// The program an image runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Kubia,
    EchoServer,
    NetExec,
    Idle,
}

/// The image name without registry, tag or digest: `docker.io/luksa/kubia:v1` → `luksa/kubia`.
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    let image = match image[last_slash..].find(':') {
        Some(i) => &image[..last_slash + i],
        None => image,
    };
    let image = image.strip_prefix("docker.io/").unwrap_or(image);
    image.strip_prefix("library/").unwrap_or(image)
}

pub fn program_for(image: &str) -> Program {
    match repository(image) {
        "luksa/kubia" => Program::Kubia,
        "registry.k8s.io/e2e-test-images/agnhost" | "k8s.gcr.io/e2e-test-images/agnhost" => Program::NetExec,
        "registry.k8s.io/echoserver" | "k8s.gcr.io/echoserver" | "gcr.io/google_containers/echoserver" => {
            Program::EchoServer
        }
        _ => Program::Idle,
    }
}

/// Starts a container's program; returns the ports it listens on (inside the pod) and the real
/// sockets behind them.
pub async fn start(
    image: &str,
    sandbox: &PodSandbox,
    container: &Container,
    tracker: &TaskTracker,
) -> io::Result<Vec<(u16, Protocol, SocketAddr)>> {
    match program_for(image) {
        Program::Kubia => {
            let hostname = sandbox.hostname.clone();
            let app = Router::new().fallback(move || {
                let hostname = hostname.clone();
                async move { format!("You've hit {hostname}\n") }
            });
            let real = serve_http(app, sandbox, tracker).await?;
            Ok(vec![(8080, Protocol::Tcp, real)])
        }
        Program::EchoServer => {
            let (hostname, network) = (sandbox.hostname.clone(), sandbox.network.clone());
            let app = Router::new().fallback(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request| {
                let (hostname, source) = (hostname.clone(), network.source_of(peer));
                async move { echo(&hostname, source, request).await }
            });
            let real = serve_http(app, sandbox, tracker).await?;
            Ok(vec![(8080, Protocol::Tcp, real)])
        }
        Program::NetExec => {
            let args: Vec<String> =
                container.command.iter().flatten().chain(container.args.iter().flatten()).cloned().collect();
            let Some((http_port, udp_port)) = netexec_ports(&args) else { return Ok(vec![]) };
            let real_http = serve_http(netexec_http(sandbox), sandbox, tracker).await?;
            let real_udp = serve_udp_echo(sandbox, tracker).await?;
            Ok(vec![(http_port, Protocol::Tcp, real_http), (udp_port, Protocol::Udp, real_udp)])
        }
        Program::Idle => Ok(vec![]),
    }
}

async fn serve_http(app: Router, sandbox: &PodSandbox, tracker: &TaskTracker) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let real = listener.local_addr()?;
    let stop = sandbox.cancelled();
    tracker.spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::debug!(error = %e, "container server stopped");
        }
    });
    Ok(real)
}

/// `agnhost netexec --http-port=N --udp-port=M`: the ports, or `None` for another subcommand.
pub fn netexec_ports(args: &[String]) -> Option<(u16, u16)> {
    let args: Vec<&str> =
        args.iter().map(String::as_str).skip_while(|a| a.starts_with('/') || *a == "agnhost").collect();
    if args.first().is_some_and(|a| *a != "netexec") {
        return None;
    }
    let (mut http, mut udp) = (8080, 8081);
    let mut it = args.iter().skip(1).peekable();
    while let Some(arg) = it.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (*arg, None),
        };
        let mut value =
            || value.clone().or_else(|| it.next().map(|v| v.to_string())).and_then(|v| v.parse::<u16>().ok());
        match flag {
            "--http-port" => http = value().unwrap_or(http),
            "--udp-port" => udp = value().unwrap_or(udp),
            _ => {}
        }
    }
    Some((http, udp))
}

fn netexec_http(sandbox: &PodSandbox) -> Router {
    use axum::extract::Query;
    use axum::routing::get;
    use std::collections::HashMap;
    let hostname = sandbox.hostname.clone();
    let network = sandbox.network.clone();
    Router::new()
        .route("/", get(|| async { format!("NOW: {}", jiff::Timestamp::now()) }))
        .route("/hostname", get(move || async move { hostname }))
        .route(
            "/clientip",
            get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                format!("{}:{}", network.source_of(peer), peer.port())
            }),
        )
        .route(
            "/echo",
            get(|Query(q): Query<HashMap<String, String>>| async move { q.get("msg").cloned().unwrap_or_default() }),
        )
        .route("/healthz", get(|| async { "" }))
}

/// netexec's UDP server: `hostname`, `clientip` and `echo <text>`.
async fn serve_udp_echo(sandbox: &PodSandbox, tracker: &TaskTracker) -> io::Result<SocketAddr> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let real = socket.local_addr()?;
    let (stop, hostname, network) = (sandbox.cancelled(), sandbox.hostname.clone(), sandbox.network.clone());
    tracker.spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, peer) = tokio::select! {
                _ = stop.cancelled() => return,
                got = socket.recv_from(&mut buf) => match got { Ok(g) => g, Err(_) => continue },
            };
            let request = String::from_utf8_lossy(&buf[..n]).trim().to_string();
            let reply = match request.split_once(' ') {
                Some(("echo", text)) => text.to_string(),
                _ if request == "hostname" => hostname.clone(),
                _ if request == "clientip" => format!("{}:{}", network.source_of(peer), peer.port()),
                _ => continue,
            };
            let _ = socket.send_to(reply.as_bytes(), peer).await;
        }
    });
    Ok(real)
}

/// The page echoserver answers with.
async fn echo(hostname: &str, client: std::net::Ipv4Addr, request: Request) -> String {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    let mut headers: Vec<String> =
        parts.headers.iter().map(|(k, v)| format!("\t{}={}", k.as_str(), v.to_str().unwrap_or_default())).collect();
    headers.sort();
    let body = if body.is_empty() {
        "\t-no body in request-".to_string()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    format!(
        "\n\nHostname: {hostname}\n\nPod Information:\n\t-no pod information available-\n\nServer values:\n\tserver_version=nginx: 1.13.3 - lua: 10008\n\nRequest Information:\n\tclient_address={client}\n\tmethod={}\n\treal path={}\n\tquery={}\n\trequest_version=1.1\n\trequest_scheme=http\n\trequest_uri=http://{host}{}\n\nRequest Headers:\n{}\n\nRequest Body:\n{body}\n\n",
        parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or_default(),
        parts.uri,
        headers.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_normalised() {
        assert_eq!(repository("luksa/kubia"), "luksa/kubia");
        assert_eq!(repository("docker.io/luksa/kubia:latest"), "luksa/kubia");
        assert_eq!(repository("busybox@sha256:abc"), "busybox");
        assert_eq!(repository("localhost:5000/busybox:1.36"), "localhost:5000/busybox");
        assert_eq!(program_for("luksa/kubia:v2"), Program::Kubia);
        assert_eq!(program_for("busybox"), Program::Idle);
        assert_eq!(program_for("registry.k8s.io/echoserver:1.10"), Program::EchoServer);
        assert_eq!(program_for("registry.k8s.io/e2e-test-images/agnhost:2.53"), Program::NetExec);
    }

    #[test]
    fn netexec_reads_its_ports_from_the_arguments() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(netexec_ports(&args("netexec")), Some((8080, 8081)));
        assert_eq!(netexec_ports(&args("netexec --http-port=9090 --udp-port 9091")), Some((9090, 9091)));
        assert_eq!(netexec_ports(&[]), Some((8080, 8081)));
        assert_eq!(netexec_ports(&args("pause")), None);
    }
}
