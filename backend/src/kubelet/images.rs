//! Built-in container images: the program a container runs, chosen by its image name.
//!
//! - `luksa/kubia`: an HTTP server on port 8080 answering `You've hit <hostname>` on every path.
//! - `registry.k8s.io/echoserver` (also under `k8s.gcr.io`): HTTP on 8080 describing the request
//!   as it arrived, with `client_address` the source the pod sees (the client, or a node after SNAT).
//! - `busybox`, `tutum/dnsutils` and any image svclab does not know: no server; the container
//!   idles and is there for `exec`.

use super::PodSandbox;
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
    _container: &Container,
    tracker: &TaskTracker,
) -> io::Result<Vec<(u16, SocketAddr)>> {
    match program_for(image) {
        Program::Kubia => {
            let hostname = sandbox.hostname.clone();
            let app = Router::new().fallback(move || {
                let hostname = hostname.clone();
                async move { format!("You've hit {hostname}\n") }
            });
            let real = serve_http(app, sandbox, tracker).await?;
            Ok(vec![(8080, real)])
        }
        Program::EchoServer => {
            let (hostname, network) = (sandbox.hostname.clone(), sandbox.network.clone());
            let app = Router::new().fallback(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request| {
                let (hostname, source) = (hostname.clone(), network.source_of(peer));
                async move { echo(&hostname, source, request).await }
            });
            let real = serve_http(app, sandbox, tracker).await?;
            Ok(vec![(8080, real)])
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
    }
}
