//! Lab endpoints that act inside the cluster: test requests sent from a pod to a service, each
//! with the hop the proxy chose.

use super::ApiState;
use crate::error::ApiError;
use crate::network::http::{self, Request};
use axum::Json;
use axum::extract::State;
use k8s_openapi::api::core::v1::{Pod, Service};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;
use svclab_shared::Kind;
use svclab_shared::lab::{TestReport, TestRequest, TestResult};

/// `POST /lab/v1/test-requests`: HTTP GETs from a pod to a service's cluster IP, one connection
/// each, reporting which endpoint the proxy chose for every one.
pub async fn test_requests(
    State(state): State<ApiState>,
    Json(request): Json<TestRequest>,
) -> Result<Json<TestReport>, ApiError> {
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
    Ok(Json(TestReport { source: format!("{ns}/{}", source.name), url: format!("http://{to}{path}"), results }))
}
