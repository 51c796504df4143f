//! Lab endpoints that act inside the cluster: test requests sent from a pod to a service, or from
//! outside through the ingress, each with the hop the proxy or the ingress chose; and stopping or
//! starting a node's kubelet.

use super::ApiState;
use crate::error::ApiError;
use crate::network::http::{self, Request};
use axum::Json;
use axum::extract::State;
use k8s_openapi::api::core::v1::{Pod, Service};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;
use svclab_shared::Kind;
use svclab_shared::lab::{IngressTarget, TestReport, TestRequest, TestResult};

/// `POST /lab/v1/test-requests`: HTTP GETs from a pod to a service's cluster IP, one connection
/// each, reporting which endpoint the proxy chose for every one.
pub async fn test_requests(
    State(state): State<ApiState>,
    Json(request): Json<TestRequest>,
) -> Result<Json<TestReport>, ApiError> {
    if let Some(target) = request.ingress.clone() {
        return ingress_requests(&state, &request, &target).await.map(Json);
    }
    let ns = &request.namespace;
    let svc: Service = state
        .store()
        .get_typed(ns, &request.service)
        .ok_or_else(|| ApiError::not_found(Kind::Service, &request.service))?;
    let spec = svc.spec.clone().unwrap_or_default();
    let ip: Ipv4Addr = spec.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()).ok_or_else(|| {
        ApiError::BadRequest(format!("service {ns}/{} has no cluster IP to send requests to", request.service))
    })?;
    let ports = spec.ports.unwrap_or_default();
    let port = match request.port {
        Some(p) => ports.iter().find(|sp| sp.port == p).map(|sp| sp.port),
        None => ports.first().map(|sp| sp.port),
    };
    let port =
        port.ok_or_else(|| ApiError::BadRequest(format!("service {ns}/{} has no such port", request.service)))?;
    let source = match &request.from_pod {
        Some(name) => state
            .sandboxes
            .get(ns, name)
            .ok_or_else(|| ApiError::BadRequest(format!("pod {ns}/{name} is not running")))?,
        None => {
            let pods = state.store().list_views::<Pod>(Some(ns));
            let running =
                pods.iter().find_map(|p| state.sandboxes.get(ns, p.metadata.name.as_deref().unwrap_or_default()));
            running.ok_or_else(|| {
                ApiError::BadRequest(format!("no running pod in namespace {ns} to send requests from"))
            })?
        }
    };
    let path = if request.path.starts_with('/') { request.path.clone() } else { format!("/{}", request.path) };
    let to = SocketAddrV4::new(ip, port as u16);
    let count = request.count.clamp(1, 1000);
    let mut results = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let started = Instant::now();
        let mut result = TestResult::default();
        match source.network.connect(source.ip, to).await {
            Err(e) => result.error = Some(format!("Failed to connect to {ip} port {port}: {e}")),
            Ok(conn) => {
                result.hop = conn.hop;
                match http::send(conn.stream, &Request::get(&ip.to_string(), &path)).await {
                    Ok(r) => {
                        result.status = Some(r.status);
                        result.body = String::from_utf8_lossy(&r.body).into_owned();
                    }
                    Err(e) => result.error = Some(e),
                }
            }
        }
        result.micros = started.elapsed().as_micros() as u64;
        results.push(result);
    }
    Ok(Json(TestReport { source: format!("pod {ns}/{}", source.name), url: format!("http://{to}{path}"), results }))
}

/// HTTP(S) GETs from the host through the ingress controller, one connection each, with the
/// route, endpoint and reason the controller reported for each (by `X-Request-ID`).
async fn ingress_requests(
    state: &ApiState,
    request: &TestRequest,
    target: &IngressTarget,
) -> Result<TestReport, ApiError> {
    let addresses = state.ingress.addresses().await.ok_or_else(|| {
        ApiError::BadRequest("the ingress add-on is disabled: enable it with PUT /lab/v1/addons/ingress".into())
    })?;
    let (scheme, addr) = if target.https { ("https", addresses.https) } else { ("http", addresses.http) };
    let path = if request.path.starts_with('/') { request.path.clone() } else { format!("/{}", request.path) };
    let mut results = Vec::new();
    for _ in 0..request.count.clamp(1, 1000) {
        let started = Instant::now();
        let mut result = TestResult::default();
        let id = uuid::Uuid::new_v4().to_string();
        let mut get = Request::get(&target.host, &path);
        get.headers.push(("X-Request-ID".into(), id.clone()));
        let sent = async {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("Failed to connect to {} port {}: {e}", addr.ip(), addr.port()))?;
            if target.https {
                let (tls, subject) = http::tls_connect(stream, &target.host).await?;
                result.certificate = Some(subject);
                http::send(tls, &get).await
            } else {
                http::send(stream, &get).await
            }
        };
        match sent.await {
            Ok(r) => {
                result.status = Some(r.status);
                result.body = String::from_utf8_lossy(&r.body).into_owned();
            }
            Err(e) => result.error = Some(e),
        }
        result.hop = state.ingress.trace(&id);
        result.micros = started.elapsed().as_micros() as u64;
        results.push(result);
    }
    let url = format!("{scheme}://{}{path}", target.host);
    Ok(TestReport { source: "outside the cluster".into(), url, results })
}

/// `PUT /lab/v1/nodes/{name}/ready` with `{"ready": false}` stops the node's kubelet: it stops
/// reporting, the node's Ready condition turns Unknown ("Kubelet stopped posting node status."),
/// and the node lifecycle controller takes over. `{"ready": true}` starts it again.
pub async fn node_ready(
    State(state): State<ApiState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<std::sync::Arc<svclab_shared::Object>>, ApiError> {
    use k8s_openapi::api::core::v1::Node;
    let ready =
        body["ready"].as_bool().ok_or_else(|| ApiError::BadRequest("expected {\"ready\": true|false}".into()))?;
    let node: Node = state.store().get_typed("", &name).ok_or_else(|| ApiError::not_found(Kind::Node, &name))?;
    let flag = state.sandboxes.kubelet_flag(&name);
    if ready {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .and_then(|a| a.address.parse().ok())
            .ok_or_else(|| ApiError::BadRequest(format!("node {name} has no InternalIP")))?;
        crate::kubelet::post_node_ready(&state.registry, &name, ip)?;
        for sandbox in state.sandboxes.on_node(&name) {
            sandbox.status_changed();
        }
    } else {
        flag.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut updated = node.clone();
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
        let status = updated.status.get_or_insert_with(Default::default);
        for c in status.conditions.iter_mut().flatten().filter(|c| c.type_ == "Ready") {
            c.status = "Unknown".into();
            c.reason = Some("NodeStatusUnknown".into());
            c.message = Some("Kubelet stopped posting node status.".into());
            c.last_transition_time = Some(now.clone());
        }
        state.registry.update_status(&svclab_shared::Object::Node(updated))?;
    }
    let current = state.store().get(&crate::store::ObjectKey::new(Kind::Node, "", &name));
    Ok(Json(current.ok_or_else(|| ApiError::not_found(Kind::Node, &name))?))
}
