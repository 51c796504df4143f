//! `POST /lab/v1/test-requests`: HTTP(S) requests sent from a pod, a node or outside the cluster
//! to a service (by name, FQDN or cluster IP), a node port, a load balancer or an ingress host,
//! a connection each or all on one keep-alive connection, each reported with its trace: the DNS
//! queries that resolved the host, the address dialled, every hop a proxy chose and why, the
//! source the pod saw, and the time taken.

use super::ApiState;
use super::lookup;
use crate::error::ApiError;
use crate::kubelet::PodSandbox;
use crate::kubelet::exec::Ctx;
use crate::network::http::{self, Client, Request};
use crate::network::{Dial, DialError, To, trace::Trace};
use axum::Json;
use axum::extract::State;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};
use svclab_shared::Kind;
use svclab_shared::lab::{DnsQueryTrace, Hop, IngressTarget, TestReport, TestRequest, TestResult, TestSource};
use tokio::net::TcpStream;

/// How long one request may take before it is reported as timed out, as `curl -m 3` would.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the requests are sent from.
enum From {
    Pod(Arc<PodSandbox>),
    Node { name: String, ip: Ipv4Addr },
    Outside,
}

impl From {
    fn describe(&self) -> String {
        match self {
            From::Pod(p) => format!("pod {}/{}", p.namespace, p.name),
            From::Node { name, ip } => format!("node {name} ({ip})"),
            From::Outside => "outside the cluster".into(),
        }
    }
}

/// The parts of the URL requested.
struct Target {
    https: bool,
    /// `grpc://`: gRPC health checks (`grpc.health.v1.Health/Check`) over HTTP/2 without TLS.
    grpc: bool,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, ApiError> {
        let bad = |why: &str| ApiError::BadRequest(format!("url: Invalid value: \"{url}\": {why}"));
        let (https, grpc, rest) = match url.split_once("://") {
            Some(("http", rest)) => (false, false, rest),
            Some(("https", rest)) => (true, false, rest),
            Some(("grpc", rest)) => (false, true, rest),
            Some((scheme, _)) => return Err(bad(&format!("unsupported scheme {scheme} (http, https or grpc)"))),
            None => (false, false, url),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad("the port is not a number"))?),
            None => (authority, if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Target { https, grpc, host: host.to_ascii_lowercase(), port, path })
    }

    fn url(&self) -> String {
        if self.grpc {
            return format!("grpc://{}:{} grpc.health.v1.Health/Check", self.host, self.port);
        }
        format!("{}://{}{}", if self.https { "https" } else { "http" }, self.host_header(), self.path)
    }

    /// The `Host` header curl sends: the port only when it is not the scheme's own.
    fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default { self.host.clone() } else { format!("{}:{}", self.host, self.port) }
    }
}

pub async fn test_requests(
    State(state): State<ApiState>,
    Json(request): Json<TestRequest>,
) -> Result<Json<TestReport>, ApiError> {
    if let Some(target) = request.ingress.clone() {
        return ingress_requests(&state, &request, &target, &request.path).await.map(Json);
    }
    let from = source(&state, &request)?;
    let target = match &request.url {
        Some(url) => Target::parse(url.trim())?,
        None => service_target(&state, &request)?,
    };
    // From outside, a name resolves only when it is an ingress host (as if /etc/hosts pointed it
    // at the ingress controller, as the chapter does).
    if matches!(from, From::Outside)
        && target.host.parse::<Ipv4Addr>().is_err()
        && is_ingress_host(&state, &target.host)
    {
        let ingress = IngressTarget { host: target.host.clone(), https: target.https, gateway: None };
        return ingress_requests(&state, &request, &ingress, &target.path).await.map(Json);
    }
    let count = request.count.clamp(1, 1000);
    let (connections, per_connection) = if request.keep_alive { (1, count) } else { (count, 1) };
    let mut results = Vec::with_capacity(count as usize);
    for connection in 0..connections {
        results.extend(one_connection(&state, &from, &target, connection, per_connection).await);
    }
    Ok(Json(TestReport { source: from.describe(), url: target.url(), results }))
}

/// `per_connection` requests on one connection (resolving the host and dialling first).
async fn one_connection(
    state: &ApiState,
    from: &From,
    target: &Target,
    connection: u32,
    per_connection: u32,
) -> Vec<TestResult> {
    let started = Instant::now();
    let failed = |error: String, dns: Vec<DnsQueryTrace>, address: String, hops: Vec<Hop>| {
        let hop = hops.last().cloned();
        let one = TestResult {
            error: Some(error),
            dns,
            address,
            hop,
            hops,
            connection,
            micros: started.elapsed().as_micros() as u64,
            ..TestResult::default()
        };
        vec![one; per_connection as usize]
    };
    let (ip, dns) = match resolve(from, &target.host).await {
        Ok(found) => found,
        Err((error, dns)) => return failed(error, dns, String::new(), vec![]),
    };
    let addr = SocketAddrV4::new(ip, target.port);
    let (stream, direct, trace) = match dial(state, from, addr).await {
        Ok(dialled) => dialled,
        Err(e) => {
            let mut error = format!("Failed to connect to {ip} port {}: {e}", target.port);
            if matches!(from, From::Outside) && !ip.is_loopback() {
                error.push_str(&format!(" ({ip} is an address inside the cluster: only pods and nodes reach it)"));
            }
            return failed(error, dns, addr.to_string(), vec![]);
        }
    };
    let hops =
        |trace: &Option<Trace>| direct.iter().cloned().chain(trace.iter().flat_map(Trace::hops)).collect::<Vec<_>>();
    if target.grpc {
        let base =
            TestResult { address: addr.to_string(), connection, dns, hops: hops(&trace), ..TestResult::default() };
        return grpc_checks(stream, &addr.to_string(), base, started, per_connection).await;
    }
    let mut certificate = None;
    let handshake = async {
        if target.https {
            let (tls, subject) = http::tls_connect(stream, &target.host).await?;
            certificate = Some(subject);
            Client::handshake(tls).await
        } else {
            Client::handshake(stream).await
        }
    };
    let mut client = match tokio::time::timeout(REQUEST_TIMEOUT, handshake).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return failed(e.to_string(), dns, addr.to_string(), hops(&trace)),
        Err(_) => return failed(timed_out(), dns, addr.to_string(), hops(&trace)),
    };
    let request = Request::get(&target.host_header(), &target.path);
    let mut results = Vec::with_capacity(per_connection as usize);
    for i in 0..per_connection {
        let sent = if i == 0 { started } else { Instant::now() };
        let mut result = TestResult {
            address: addr.to_string(),
            connection,
            certificate: certificate.clone(),
            dns: if i == 0 { dns.clone() } else { vec![] },
            ..TestResult::default()
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, client.send(&request)).await {
            Ok(Ok(r)) => {
                result.status = Some(r.status);
                result.body = String::from_utf8_lossy(&r.body).into_owned();
            }
            Ok(Err(e)) => result.error = Some(e.to_string()),
            Err(_) => result.error = Some(timed_out()),
        }
        result.hops = hops(&trace);
        result.hop = result.hops.last().cloned();
        result.micros = sent.elapsed().as_micros() as u64;
        let failed = result.error.is_some();
        results.push(result);
        if failed {
            break;
        }
    }
    results
}

/// `per_connection` gRPC health checks on one HTTP/2 connection: every call goes to the pod the
/// connection reached, which is why gRPC needs more than a service's connection balancing.
async fn grpc_checks(
    stream: TcpStream,
    authority: &str,
    base: TestResult,
    started: Instant,
    per_connection: u32,
) -> Vec<TestResult> {
    use crate::kubelet::grpc;
    let hop = base.hops.last().cloned();
    let base = TestResult { hop, ..base };
    let mut client = match tokio::time::timeout(REQUEST_TIMEOUT, grpc::connect(stream, authority)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            return vec![TestResult {
                error: Some(e.to_string()),
                micros: started.elapsed().as_micros() as u64,
                ..base
            }];
        }
        Err(_) => return vec![TestResult { error: Some(timed_out()), ..base }],
    };
    let mut results = Vec::with_capacity(per_connection as usize);
    for i in 0..per_connection {
        let sent = if i == 0 { started } else { Instant::now() };
        let mut result = TestResult { dns: if i == 0 { base.dns.clone() } else { vec![] }, ..base.clone() };
        match grpc::call(&mut client, "", REQUEST_TIMEOUT).await {
            Ok(status) => {
                result.status = Some(200);
                result.body = format!("{{\n  \"status\": \"{}\"\n}}\n", grpc::status_name(status));
            }
            Err(grpc::CheckError::Rpc(s)) => {
                result.error = Some(format!("rpc error: code = {:?} desc = {}", s.code(), s.message()));
            }
            Err(e) => result.error = Some(e.to_string()),
        }
        result.micros = sent.elapsed().as_micros() as u64;
        let failed = result.error.is_some();
        results.push(result);
        if failed {
            break;
        }
    }
    results
}

fn timed_out() -> String {
    format!("Operation timed out after {} milliseconds with 0 bytes received", REQUEST_TIMEOUT.as_millis())
}

/// The pod, node or outside the requests come from.
fn source(state: &ApiState, request: &TestRequest) -> Result<From, ApiError> {
    let pod = |ns: &str, name: &str| {
        state
            .sandboxes
            .get(ns, name)
            .map(From::Pod)
            .ok_or_else(|| ApiError::BadRequest(format!("pod {ns}/{name} is not running")))
    };
    match &request.source {
        Some(TestSource::Outside) => Ok(From::Outside),
        Some(TestSource::Pod { namespace, name }) => pod(namespace, name),
        Some(TestSource::Node { name }) => {
            let node: Node = state.store().get_typed("", name).ok_or_else(|| ApiError::not_found(Kind::Node, name))?;
            let ip = svclab_shared::display::internal_ip(&node)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| ApiError::BadRequest(format!("node {name} has no InternalIP")))?;
            Ok(From::Node { name: name.clone(), ip })
        }
        None => {
            let ns = &request.namespace;
            if let Some(name) = &request.from_pod {
                return pod(ns, name);
            }
            let pods = state.store().list_views::<Pod>(Some(ns));
            let running =
                pods.iter().find_map(|p| state.sandboxes.get(ns, p.metadata.name.as_deref().unwrap_or_default()));
            running
                .map(From::Pod)
                .ok_or_else(|| ApiError::BadRequest(format!("no running pod in namespace {ns} to send requests from")))
        }
    }
}

/// The service's cluster IP and port (its first, or `port`), as the request names it.
fn service_target(state: &ApiState, request: &TestRequest) -> Result<Target, ApiError> {
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
    let path = if request.path.starts_with('/') { request.path.clone() } else { format!("/{}", request.path) };
    Ok(Target { https: false, grpc: false, host: ip.to_string(), port: port as u16, path })
}

/// Whether an Ingress has a rule for `host` (exactly, or by a one-label wildcard).
fn is_ingress_host(state: &ApiState, host: &str) -> bool {
    state.store().list_views::<Ingress>(None).iter().any(|ingress| {
        let rules = ingress.spec.as_ref().and_then(|s| s.rules.as_ref());
        rules.into_iter().flatten().filter_map(|r| r.host.as_deref()).any(|h| {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix("*.") {
                Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
                None => h == host,
            }
        })
    })
}

/// The host's address: a literal, or through the pod's resolver (with the queries it sent).
async fn resolve(from: &From, host: &str) -> Result<(Ipv4Addr, Vec<DnsQueryTrace>), (String, Vec<DnsQueryTrace>)> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok((ip, vec![]));
    }
    match from {
        From::Pod(sandbox) => {
            let container = sandbox.spec.containers.first().map(|c| c.name.clone()).unwrap_or_default();
            let ctx = Ctx::new(sandbox.clone(), &container);
            let pod = format!("{}/{}", sandbox.namespace, sandbox.name);
            let found = lookup::through_resolver(&ctx, &pod, host, hickory_proto::rr::RecordType::A).await;
            let ip = found.answers.iter().filter(|a| a.type_ == "A").find_map(|a| a.data.parse().ok());
            match ip {
                Some(ip) => Ok((ip, found.queries)),
                None => Err((format!("Could not resolve host: {host}"), found.queries)),
            }
        }
        From::Node { .. } => {
            Err((format!("Could not resolve host: {host} (a node's resolver does not use the cluster DNS)"), vec![]))
        }
        From::Outside => Err((
            format!(
                "Could not resolve host: {host} (outside the cluster only ingress hosts resolve, as if \
                     /etc/hosts pointed them at the ingress controller)"
            ),
            vec![],
        )),
    }
}

/// Connects to `addr` from the source, traced: through the virtual network from a pod or a node,
/// over the host's loopback from outside (where cluster and pod addresses do not exist).
async fn dial(
    state: &ApiState,
    from: &From,
    addr: SocketAddrV4,
) -> Result<(TcpStream, Option<Hop>, Option<Trace>), DialError> {
    let how = match from {
        From::Pod(sandbox) => Dial::from(sandbox.pod_ip),
        From::Node { ip, .. } => Dial::from(*ip),
        // A cluster IP or pod IP means nothing on the host's network.
        From::Outside if !addr.ip().is_loopback() => return Err(DialError::Dropped),
        From::Outside => Dial::from_host(),
    };
    let dialed = state.network.dial(To::Cluster(addr), how.traced()).await?;
    Ok((dialed.stream, dialed.hop, dialed.trace))
}

/// Where a Gateway (`namespace/name`) listens: its address, on its first HTTP or HTTPS listener's port.
fn gateway_address(state: &ApiState, gateway: &str, https: bool) -> Result<std::net::SocketAddr, ApiError> {
    let (namespace, name) = gateway.split_once('/').unwrap_or(("default", gateway));
    let found: Option<svclab_shared::gateway::Gateway> = state.store().get_typed(namespace, name);
    let g = found.ok_or_else(|| ApiError::not_found(svclab_shared::Kind::Gateway, name))?;
    let address =
        g.status.as_ref().and_then(|s| s.addresses.as_ref()?.first()).and_then(|a| a.value.parse::<Ipv4Addr>().ok());
    let address =
        address.ok_or_else(|| ApiError::BadRequest(format!("gateway {namespace}/{name} has no address yet")))?;
    let protocol = if https { "HTTPS" } else { "HTTP" };
    let listener = g.spec.listeners.iter().find(|l| l.protocol == protocol);
    let port = listener
        .ok_or_else(|| ApiError::BadRequest(format!("gateway {namespace}/{name} has no {protocol} listener")))?
        .port;
    Ok(std::net::SocketAddr::from((address, port as u16)))
}

/// HTTP(S) GETs from the host through the ingress controller, one connection each, with the
/// route, endpoint and reason the controller reported for each (by `X-Request-ID`).
async fn ingress_requests(
    state: &ApiState,
    request: &TestRequest,
    target: &IngressTarget,
    path: &str,
) -> Result<TestReport, ApiError> {
    let scheme = if target.https { "https" } else { "http" };
    let addr = match &target.gateway {
        Some(gateway) => gateway_address(state, gateway, target.https)?,
        None => {
            let addresses = state.ingress.addresses().await.ok_or_else(|| {
                ApiError::BadRequest("the ingress add-on is disabled: enable it with PUT /lab/v1/addons/ingress".into())
            })?;
            if target.https { addresses.https } else { addresses.http }
        }
    };
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    let mut results = Vec::new();
    for _ in 0..request.count.clamp(1, 1000) {
        let started = Instant::now();
        let mut result = TestResult { address: addr.to_string(), ..TestResult::default() };
        let id = uuid::Uuid::new_v4().to_string();
        let mut get = Request::get(&target.host, &path);
        get.headers.push(("X-Request-ID".into(), id.clone()));
        let sent = async {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("Failed to connect to {} port {}: {e}", addr.ip(), addr.port()))?;
            if target.https {
                let (tls, subject) = http::tls_connect(stream, &target.host).await.map_err(|e| e.to_string())?;
                result.certificate = Some(subject);
                http::send(tls, &get).await.map_err(|e| e.to_string())
            } else {
                http::send(stream, &get).await.map_err(|e| e.to_string())
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
        result.hops = result.hop.iter().cloned().collect();
        result.micros = started.elapsed().as_micros() as u64;
        results.push(result);
    }
    let url = format!("{scheme}://{}{path}", target.host);
    Ok(TestReport { source: "outside the cluster".into(), url, results })
}
