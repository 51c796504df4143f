//! gRPC health checking (`grpc.health.v1.Health`), on tonic: the service every port of the
//! default program carries beside HTTP (answering `SERVING`, or `NOT_SERVING` while the
//! container's unhealthy marker file exists), and the client that the kubelet's `grpc` probes
//! and the built-in `grpc_health_probe` and `grpcurl` call it with (and test requests to a
//! `grpc://` URL), over a connection made through the virtual network.

use super::container::ContainerRuntime;
use futures::Stream;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use svclab_shared::pod::UNHEALTHY_FILE;
use tokio::net::TcpStream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// The health service of one container: every service name is served (svclab stands in for the
/// application, whatever services it would register) unless the container is marked unhealthy.
struct ContainerHealth {
    container: Arc<ContainerRuntime>,
}

impl ContainerHealth {
    fn status(&self) -> ServingStatus {
        let unhealthy = self.container.read_fs(|fs| fs.stat(UNHEALTHY_FILE).is_some());
        if unhealthy { ServingStatus::NotServing } else { ServingStatus::Serving }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

/// How often a `Watch` looks at the container's health again.
const WATCH_PERIOD: Duration = Duration::from_secs(1);

#[tonic::async_trait]
impl Health for ContainerHealth {
    async fn check(&self, _request: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse { status: self.status() as i32 }))
    }

    type WatchStream = WatchStream;

    /// The current status at once, then each change.
    async fn watch(&self, _request: Request<HealthCheckRequest>) -> Result<Response<WatchStream>, Status> {
        let this = ContainerHealth { container: self.container.clone() };
        let stream = futures::stream::unfold((this, None), |(this, last)| async move {
            loop {
                let now = this.status();
                if Some(now) != last {
                    return Some((Ok(HealthCheckResponse { status: now as i32 }), (this, Some(now))));
                }
                tokio::time::sleep(WATCH_PERIOD).await;
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The routes of the health service, to merge into a container's HTTP server (served over
/// HTTP/2, which the server speaks beside HTTP/1.1 on the same port).
pub fn health_routes(container: Arc<ContainerRuntime>) -> axum::Router {
    use tonic::server::NamedService;
    let path = format!("/{}/{{*method}}", HealthServer::<ContainerHealth>::NAME);
    axum::Router::new().route_service(&path, HealthServer::new(ContainerHealth { container }))
}

/// Whether a request is gRPC (its content type), which the HTTP-only behaviours leave alone.
pub fn is_grpc(headers: &axum::http::HeaderMap) -> bool {
    headers.get(axum::http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Why a health check did not answer.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Connect(String),
    #[error("health rpc did not complete")]
    Timeout,
    #[error("{0}")]
    Rpc(Status),
}

/// A health client over `stream` (already connected to `authority`): HTTP/2 without TLS, every
/// call on that one connection, as a gRPC client keeps its channel.
pub async fn connect(
    stream: TcpStream,
    authority: &str,
) -> Result<HealthClient<tonic::transport::Channel>, CheckError> {
    let slot = Arc::new(Mutex::new(Some(stream)));
    let connector = tower::service_fn(move |_: axum::http::Uri| {
        let stream = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        async move { stream.map(TokioIo::new).ok_or_else(|| std::io::Error::other("the connection was used")) }
    });
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|e| CheckError::Connect(e.to_string()))?
        .user_agent("grpc_health_probe")
        .map_err(|e| CheckError::Connect(e.to_string()))?;
    let channel = endpoint.connect_with_connector(connector).await.map_err(|e| CheckError::Connect(e.to_string()))?;
    Ok(HealthClient::new(channel))
}

/// One `Check` of `service` on the client's connection, within `timeout`.
pub async fn call(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
    timeout: Duration,
) -> Result<ServingStatus, CheckError> {
    let request = HealthCheckRequest { service: service.to_string() };
    match tokio::time::timeout(timeout, client.check(request)).await {
        Ok(Ok(response)) => Ok(ServingStatus::try_from(response.into_inner().status).unwrap_or(ServingStatus::Unknown)),
        Ok(Err(status)) => Err(CheckError::Rpc(status)),
        Err(_) => Err(CheckError::Timeout),
    }
}

/// Asks the health service behind `stream` (already connected to `authority`) for `service`'s
/// status, within `timeout`.
pub async fn check(
    stream: TcpStream,
    authority: &str,
    service: &str,
    timeout: Duration,
) -> Result<ServingStatus, CheckError> {
    let started = tokio::time::Instant::now();
    let connected = tokio::time::timeout(timeout, connect(stream, authority)).await;
    let mut client = connected.unwrap_or(Err(CheckError::Timeout))?;
    call(&mut client, service, timeout.saturating_sub(started.elapsed())).await
}

/// A status as gRPC names it: `SERVING`, `NOT_SERVING`.
pub fn status_name(status: ServingStatus) -> &'static str {
    status.as_str_name()
}
