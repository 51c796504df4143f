//! The HTTP API, on one axum router:
//! - `/version` and discovery of the served resources ([`discovery`]);
//! - Kubernetes REST paths under `/api` and `/apis` ([`resources`]): lists in pages ([`list`])
//!   rendered as objects or Tables ([`table`], [`media`]), selectors ([`selectors`]), watches
//!   ([`watch`]);
//! - `POST /lab/v1/apply` and `/lab/v1/delete` ([`apply`]), `GET /lab/v1/watch` (websocket, [`feed`]),
//!   `POST /lab/v1/test-requests` ([`requests`]), `POST /lab/v1/run` and `/lab/v1/expose`
//!   ([`adhoc`]), `GET /lab/v1/namespaces/{ns}/services/{name}/diagnosis` (the service doctor,
//!   [`doctor`]), `POST /lab/v1/dns-lookups` (the DNS panel, [`lookup`]), a node's kubelet
//!   ([`nodes`]), add-ons ([`addons`]), `kubectl create secret tls` ([`secrets`]) and `kubectl
//!   certificate approve|deny` ([`certificates`]);
//! - pod exec, as JSON or over a websocket with Kubernetes' channel protocol ([`exec`]), and
//!   container logs ([`logs`]); the pods and services `proxy` subresources ([`proxy`]);
//! - the dashboard's files at `/`; a path under the API's prefixes that nothing serves answers a
//!   404 `Status`, never the dashboard.

pub mod addons;
pub mod adhoc;
pub mod apply;
mod attach;
mod authentication;
mod authorization;
pub mod certificates;
pub mod dashboard;
mod decode;
pub mod discovery;
pub mod doctor;
pub mod exec;
pub mod feed;
pub mod guard;
mod health;
mod list;
pub mod logs;
pub mod lookup;
pub mod media;
pub mod nodes;
mod path;
mod portforward;
mod protobuf;
mod proxy;
pub mod requests;
pub mod resources;
mod scale;
pub mod secrets;
mod selectors;
pub mod serve;
mod subresources;
mod table;
mod tokenrequest;
pub mod watch;
pub mod yaml;

use crate::error::ApiError;
use crate::kubelet::Sandboxes;
use crate::network::Network;
use crate::registry::Registry;
use crate::store::Store;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Registry,
    pub network: Network,
    pub sandboxes: Sandboxes,
    pub ingress: crate::ingress::IngressAddon,
    /// The issuer of service account tokens (TokenRequest), which also checks them.
    pub tokens: std::sync::Arc<crate::tokens::Issuer>,
    /// The cluster CA that signs approved CertificateSigningRequests.
    pub ca: std::sync::Arc<crate::ca::ClusterCa>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Where the cluster DNS server listens on the host.
    pub dns_addr: std::net::SocketAddr,
    /// The snapshots that paged lists are reading.
    pub pages: std::sync::Arc<list::Pages>,
    /// Each service's endpoint timeline.
    pub timelines: crate::timeline::Timelines,
    pub cancel: CancellationToken,
}

impl ApiState {
    pub fn store(&self) -> &Store {
        self.registry.store()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = serde_json::to_value(self.to_status()).unwrap_or_default();
        if let Some(map) = body.as_object_mut() {
            map.insert("kind".into(), "Status".into());
            map.insert("apiVersion".into(), "v1".into());
        }
        (code, Json(body)).into_response()
    }
}

/// The whole router, behind the [`guard`]. `dashboard` is a directory of the built frontend to
/// serve instead of the one built into the binary.
pub fn router(state: ApiState, dashboard: Option<PathBuf>, policy: guard::Policy) -> Router {
    let api = Router::new()
        .route("/version", get(|| async { Json(discovery::version()) }))
        .route("/api", get(|headers: HeaderMap| async move { discovery::core(&headers, &host(&headers)) }))
        .route("/apis", get(|headers: HeaderMap| async move { discovery::groups(&headers, &host(&headers)) }))
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(|| async { Json(crate::openapi::documents::v3_index()) }))
        .route("/openapi/v3/{*path}", get(openapi_v3))
        .route("/api/v1/namespaces/{namespace}/pods/{name}/exec", get(exec::socket).post(exec::post))
        .route("/api/v1/namespaces/{namespace}/pods/{name}/log", get(logs::get))
        .route("/api/v1/namespaces/{namespace}/pods/{name}/portforward", get(portforward::socket))
        .route("/api/v1/namespaces/{namespace}/pods/{name}/attach", get(attach::socket).post(attach::spdy))
        .route("/api/v1/namespaces/{namespace}/pods/{name}/proxy", any(proxy::pod))
        .route("/api/v1/namespaces/{namespace}/pods/{name}/proxy/", any(proxy::pod))
        .route("/api/v1/namespaces/{namespace}/pods/{name}/proxy/{*path}", any(proxy::pod))
        .route("/api/v1/namespaces/{namespace}/services/{name}/proxy", any(proxy::service))
        .route("/api/v1/namespaces/{namespace}/services/{name}/proxy/", any(proxy::service))
        .route("/api/v1/namespaces/{namespace}/services/{name}/proxy/{*path}", any(proxy::service))
        .route("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", post(authorization::access_review))
        .route("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", post(authorization::rules_review))
        .route("/apis/authentication.k8s.io/v1/selfsubjectreviews", post(authentication::self_review))
        .route("/api/{*path}", any(resources::handle))
        .route("/apis/{*path}", any(resources::handle))
        .route("/lab/v1/apply", post(apply::handle))
        .route("/lab/v1/delete", post(apply::delete))
        .route("/lab/v1/state", get(feed::state))
        .route("/lab/v1/watch", get(feed::lab_socket))
        .route("/lab/v1/test-requests", post(requests::test_requests))
        .route("/lab/v1/run", post(adhoc::run))
        .route("/lab/v1/dns-lookups", post(lookup::lookup))
        .route("/lab/v1/namespaces/{namespace}/services/{name}/diagnosis", get(doctor::diagnosis))
        .route("/lab/v1/namespaces/{namespace}/services/{name}/timeline", get(doctor::timeline))
        .route("/lab/v1/namespaces/{namespace}/httproutes/{name}/diagnosis", get(doctor::route_diagnosis))
        .route("/lab/v1/nodes/{name}/ready", axum::routing::put(nodes::node_ready))
        .route("/lab/v1/expose", post(adhoc::expose))
        .route("/lab/v1/addons", get(addons::list))
        .route("/lab/v1/certificatesigningrequests/{name}/{verb}", post(certificates::decide))
        .route("/lab/v1/ca.crt", get(certificates::ca))
        .route("/lab/v1/addons/{name}", axum::routing::put(addons::change))
        .route("/lab/v1/namespaces/{namespace}/secrets/tls", post(secrets::create_tls))
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/readyz/{check}", get(health::readyz_check))
        .route(
            "/metrics",
            get(|axum::extract::State(state): axum::extract::State<ApiState>| async move {
                ([("content-type", "text/plain; version=0.0.4")], state.metrics.render())
            }),
        )
        .with_state(state.clone());
    let dashboard = dashboard::Dashboard::from(dashboard);
    let gate = std::sync::Arc::new(guard::Gate { policy, tokens: state.tokens.clone(), store: state.store().clone() });
    api.fallback(move |request: Request| fallback(dashboard.clone(), request))
        .layer(axum::extract::DefaultBodyLimit::max(guard::MAX_BODY))
        .layer(axum::middleware::from_fn(move |request: Request, next: axum::middleware::Next| {
            guard::guard(gate.clone(), request, next)
        }))
}

/// `GET /openapi/v2`, in JSON (kube-apiserver also speaks protobuf here; svclab does not).
async fn openapi_v2(headers: HeaderMap) -> Response {
    // kubectl validates a `kind: List` file against the protobuf document
    // (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).
    const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2";
    let accept = headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if accept.split(',').any(|range| range.trim().starts_with(PROTOBUF)) {
        let body = crate::openapi::documents::v2_protobuf();
        // kube-openapi's handler answers it as octet-stream (Go's mime parser refuses the `@`).
        return ([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    }
    match media::rendering(&headers) {
        Some(media::Rendering::Object) => Json(crate::openapi::documents::v2()).into_response(),
        _ => ApiError::NotAcceptable.into_response(),
    }
}

/// `GET /openapi/v3/<group version>`: its document.
async fn openapi_v3(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match crate::openapi::documents::v3_document(&path) {
        Some(document) => {
            ([(axum::http::header::CACHE_CONTROL, "public, immutable")], Json(&document.body)).into_response()
        }
        None => ApiError::PathNotFound.into_response(),
    }
}

/// A stream of what a task produces, through a small channel (the task ends when the stream is
/// dropped and its next send fails, or on cancellation).
pub(crate) fn produced_stream<T, F, Fut>(producer: F) -> impl futures::Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(producer(tx));
    let mut rx = rx;
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The path prefixes the API owns: nothing under them is the dashboard's.
const API_PREFIXES: &[&str] =
    &["/api", "/apis", "/version", "/openapi", "/lab", "/healthz", "/livez", "/readyz", "/metrics"];

fn is_api_path(path: &str) -> bool {
    API_PREFIXES.iter().any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// The `Host` the client reached svclab by.
fn host(headers: &HeaderMap) -> String {
    headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string()
}

/// Anything no route took: a 404 `Status` under the API's prefixes, else the dashboard's files
/// (its own routes load `index.html`).
async fn fallback(dashboard: dashboard::Dashboard, request: Request) -> Response {
    if is_api_path(request.uri().path()) {
        return ApiError::PathNotFound.into_response();
    }
    dashboard.serve(request).await
}
