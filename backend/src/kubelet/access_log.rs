//! What the built-in programs write to their logs: a start-up line, then a line per request in
//! the real program's format, naming the client address the pod saw (the client pod, or a node
//! after SNAT), so `kubectl logs` shows where traffic came from as it does on a cluster.

use super::container::ContainerRuntime;
use super::logs::Stream;
use crate::network::Network;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// A program's log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `luksa/kubia`, the chapter's Node.js app.
    Kubia,
    /// nginx's combined log format (`nginx`, and the nginx-based echoserver).
    Nginx,
    /// agnhost's Go log lines.
    Agnhost,
    /// svclab's default program.
    Default,
}

impl Format {
    /// What the program prints as it starts.
    pub fn start_lines(self, ports: &[u16]) -> Vec<String> {
        match self {
            Format::Kubia => vec!["Kubia server starting...".into()],
            Format::Nginx => vec![
                "/docker-entrypoint.sh: Configuration complete; ready for start up".into(),
                format!("{} [notice] 1#1: nginx/1.27.3", go_time()),
                format!("{} [notice] 1#1: start worker processes", go_time()),
            ],
            Format::Agnhost => ports.iter().map(|p| format!("{} Started HTTP server on port {p}", go_time())).collect(),
            Format::Default => ports
                .iter()
                .map(|p| format!("svclab default server listening on port {p}: HTTP/1.1, h2c and gRPC health (grpc.health.v1.Health)"))
                .collect(),
        }
    }

    /// The line for one request, answered with `status` and `size` bytes.
    fn line(self, client: Ipv4Addr, request: &RequestLine, status: u16, size: Option<u64>) -> String {
        match self {
            // Node.js reports an IPv4 client of its dual-stack socket as a mapped IPv6 address.
            Format::Kubia => format!("Received request from ::ffff:{client}"),
            Format::Nginx => {
                let time = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).strftime("%d/%b/%Y:%H:%M:%S %z");
                format!(
                    "{client} - - [{time}] \"{} {} {}\" {status} {} \"{}\" \"{}\" \"-\"",
                    request.method,
                    request.target,
                    request.version,
                    size.unwrap_or(0),
                    request.referer,
                    request.user_agent
                )
            }
            Format::Agnhost => format!("{} {} {}", go_time(), request.method, request.target),
            Format::Default => format!("{} {} from {client}: {status}", request.method, request.target),
        }
    }
}

/// Go's `log` timestamp: `2026/12/03 09:26:44`.
fn go_time() -> String {
    jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).strftime("%Y/%m/%d %H:%M:%S").to_string()
}

struct RequestLine {
    method: String,
    target: String,
    version: &'static str,
    referer: String,
    user_agent: String,
}

/// The connection's two ends, by which svclab knows the source a pod sees.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub remote: SocketAddr,
    pub local: SocketAddr,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        let remote = *stream.remote_addr();
        Peer { remote, local: stream.io().local_addr().unwrap_or(remote) }
    }
}

/// Logs each request to the container's current log, as `format` writes it.
pub async fn middleware(
    format: Format,
    container: Arc<ContainerRuntime>,
    network: Network,
    request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0);
    let client = peer.map_or(Ipv4Addr::LOCALHOST, |p| network.source_of(p.remote, p.local));
    let line = request_line(&request);
    let log = container.log();
    if format == Format::Kubia {
        // The app logs as the request arrives, before it answers.
        log.write(Stream::Stdout, &format!("{}\n", format.line(client, &line, 200, None)));
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let size = axum::body::HttpBody::size_hint(response.body()).exact();
    log.write(Stream::Stdout, &format!("{}\n", format.line(client, &line, response.status().as_u16(), size)));
    response
}

fn request_line(request: &Request) -> RequestLine {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    RequestLine {
        method: request.method().to_string(),
        target: request.uri().path_and_query().map_or("/".into(), |p| p.to_string()),
        version: match request.version() {
            axum::http::Version::HTTP_10 => "HTTP/1.0",
            axum::http::Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        },
        referer: header("referer"),
        user_agent: header("user-agent"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestLine {
        RequestLine {
            method: "GET".into(),
            target: "/kubia?x=1".into(),
            version: "HTTP/1.1",
            referer: "-".into(),
            user_agent: "curl/8.5.0".into(),
        }
    }

    #[test]
    fn lines_read_like_the_real_programs() {
        let client = Ipv4Addr::new(10, 244, 2, 5);
        assert_eq!(Format::Kubia.line(client, &request(), 200, None), "Received request from ::ffff:10.244.2.5");
        let nginx = Format::Nginx.line(client, &request(), 200, Some(615));
        assert!(nginx.starts_with("10.244.2.5 - - ["), "{nginx}");
        assert!(nginx.ends_with("+0000] \"GET /kubia?x=1 HTTP/1.1\" 200 615 \"-\" \"curl/8.5.0\" \"-\""), "{nginx}");
        assert_eq!(Format::Kubia.start_lines(&[8080]), ["Kubia server starting..."]);
    }
}
