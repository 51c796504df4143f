//! The ingress controller's data path: HTTP and HTTPS listeners (TLS terminated with rustls, the
//! certificate chosen by SNI) on their workers, and the routing of each request by host and path
//! from the current route table straight to a ready pod over pooled keep-alive connections,
//! round-robin or by affinity cookie, with `X-Forwarded-*` and `X-Real-IP` set. Connections are
//! read by [`downstream`]; the requests it leaves to hyper's server (bodies, upgrades such as
//! websockets, `Expect`) are served here, bodiless ones through [`upstream`] and the rest through
//! hyper's client, streaming. No route: the 404 default backend; no ready endpoint: 503.

use super::affinity;
use super::certs::{Certificates, SniResolver};
use super::routes::RouteTable;
use super::{downstream, upstream};
use crate::network::dialer::Keep;
use crate::network::workers::Worker;
use crate::network::{Dial, Network, To};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::sign::CertifiedKey;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use svclab_shared::lab::Hop;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// A connection to a pod, opened through the virtual network with the controller's address as
/// its source; the source is forgotten when the connection closes.
pub struct PodStream {
    stream: TcpStream,
    _keep: Keep,
}

impl upstream::Stream for PodStream {
    fn closed_while_idle(&self) -> io::Result<bool> {
        self.stream.closed_while_idle()
    }
}

impl AsyncRead for PodStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PodStream {
    write_through!(stream);
}

/// Keep-alive connections to pods, per endpoint, for one worker. A request takes a connection
/// that is ready (its previous response fully read) or opens one; the connection goes back
/// after the response head arrives and serves again once its body has been read, so a long
/// response never holds up other requests. Upgraded connections leave the pool.
struct Pool {
    network: Network,
    /// The address pods see connections come from (the node the controller runs on).
    source: Ipv4Addr,
    idle: Mutex<HashMap<SocketAddrV4, Vec<SendRequest<Incoming>>>>,
}

/// At most this many connections are kept per endpoint.
const POOL_PER_ENDPOINT: usize = 256;

impl Pool {
    fn take(&self, to: SocketAddrV4) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let senders = idle.get_mut(&to)?;
        senders.retain(|s| !s.is_closed());
        let ready = senders.iter().position(|s| s.is_ready())?;
        Some(senders.swap_remove(ready))
    }

    fn give_back(&self, to: SocketAddrV4, sender: SendRequest<Incoming>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let senders = idle.entry(to).or_default();
        if senders.len() < POOL_PER_ENDPOINT {
            senders.push(sender);
        }
    }

    /// A new connection to the pod at `to`, from the controller's address.
    async fn open(&self, to: SocketAddrV4) -> Result<PodStream, String> {
        let dialed = self.network.dial(To::Cluster(to), Dial::from(self.source)).await.map_err(|e| e.to_string())?;
        let (stream, keep) = dialed.into_parts();
        Ok(PodStream { stream, _keep: keep })
    }

    async fn connect(&self, to: SocketAddrV4) -> Result<SendRequest<Incoming>, String> {
        let io = TokioIo::new(self.open(to).await?);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "ingress: connection to a pod ended");
            }
        });
        Ok(sender)
    }

    async fn send(
        &self,
        to: SocketAddrV4,
        req: Request<Incoming>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, String> {
        let mut sender = match self.take(to) {
            Some(s) => s,
            None => self.connect(to).await?,
        };
        let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
        if !upgrade && !sender.is_closed() {
            self.give_back(to, sender);
        }
        Ok(response)
    }
}

/// How the ingress routed the requests that carried an `X-Request-ID` (the dashboard's test
/// requests send one), for the last [`Traces::KEEP`] of them.
#[derive(Default)]
pub struct Traces {
    recent: Mutex<(HashMap<String, Hop>, VecDeque<String>)>,
}

impl Traces {
    const KEEP: usize = 1024;

    fn record(&self, id: &str, hop: Hop) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.0.insert(id.to_string(), hop).is_none() {
            recent.1.push_back(id.to_string());
        }
        while recent.1.len() > Self::KEEP {
            if let Some(old) = recent.1.pop_front() {
                recent.0.remove(&old);
            }
        }
    }

    /// The hop of the request with this `X-Request-ID`, once.
    pub fn take(&self, id: &str) -> Option<Hop> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).0.remove(id)
    }
}

/// Everything a request needs: the current routes and the pool of connections to pods.
#[derive(Clone)]
pub struct Frontend {
    routes: watch::Receiver<Arc<RouteTable>>,
    pool: Arc<Pool>,
    /// Connections for bodiless requests, read and written in the client connection's task.
    direct: Arc<upstream::Pool<PodStream>>,
    traces: Arc<Traces>,
    source: Ipv4Addr,
}

impl Frontend {
    pub fn new(
        routes: watch::Receiver<Arc<RouteTable>>,
        network: Network,
        source: Ipv4Addr,
        traces: Arc<Traces>,
    ) -> Self {
        let pool = Arc::new(Pool { network, source, idle: Mutex::default() });
        Frontend { routes, pool, direct: Arc::default(), traces, source }
    }

    /// The route table: the current one, and each that replaces it.
    pub fn routes(&self) -> watch::Receiver<Arc<RouteTable>> {
        self.routes.clone()
    }

    /// Where a request for `host` and `path` goes by `table`; `cookie` gives the value of a
    /// cookie the request sent (asked only when the backend has cookie affinity). A request
    /// with an `X-Request-ID` (the dashboard's test requests send one) leaves a trace of why.
    pub fn choose<'c>(
        &self,
        table: &RouteTable,
        host: &str,
        path: &str,
        cookie: impl FnOnce(&str) -> Option<&'c str>,
        request_id: Option<&str>,
    ) -> Choice {
        let trace = |hop: Hop| {
            if let Some(id) = request_id {
                self.traces.record(id, hop);
            }
        };
        let Some(found) = table.route(host, path) else {
            if request_id.is_some() {
                let reason =
                    format!("no rule matches host {host:?} and path {path:?}: the default backend answers 404");
                trace(Hop { reason, ..Hop::default() });
            }
            return Choice::NotFound;
        };
        let backend = found.backend;
        if backend.endpoints.is_empty() {
            if request_id.is_some() {
                let reason = backend.problem.clone().unwrap_or_else(|| "no ready endpoints".into());
                trace(Hop {
                    service: backend.service.clone(),
                    virtual_address: found.rule.to_string(),
                    reason,
                    ..Hop::default()
                });
            }
            return Choice::Unavailable;
        }
        let (endpoint, set_cookie, new_cookie) = match &backend.affinity {
            Some(a) => match affinity::pick(a, backend, cookie(&a.name), found.path) {
                (e, None) => (e, None, Some(false)),
                (e, cookie) => (e, cookie, Some(true)),
            },
            None => (backend.next(), None, None),
        };
        // Why this endpoint, for the trace: only requests that asked for one pay for the words.
        if request_id.is_some() {
            let n = backend.endpoints.len();
            let name = backend.affinity.as_ref().map(|a| a.name.as_str()).unwrap_or_default();
            let reason = match new_cookie {
                Some(false) => format!("affinity cookie {name} names this endpoint"),
                Some(true) => format!("round-robin over {n} ready endpoints; new affinity cookie {name}"),
                None => format!("round-robin over {n} ready endpoints"),
            };
            trace(Hop {
                service: backend.service.clone(),
                virtual_address: found.rule.to_string(),
                endpoint: endpoint.addr.to_string(),
                pod: endpoint.pod.clone(),
                node: endpoint.node.clone(),
                reason,
                source: self.source.to_string(),
            });
        }
        Choice::Pod { to: endpoint.addr, set_cookie, read_timeout: backend.read_timeout }
    }

    /// Serves one request that arrived on the client connection `peer`, through hyper's server
    /// (the requests [`super::downstream`] does not take).
    pub async fn handle(&self, mut req: Request<Incoming>, peer: &Peer) -> Response<Body> {
        let host_value = req
            .headers()
            .get(header::HOST)
            .filter(|h| h.to_str().is_ok())
            .cloned()
            .or_else(|| req.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()));
        let host = host_value.as_ref().and_then(|h| h.to_str().ok()).unwrap_or_default();
        let request_id = req.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok());
        let table = self.routes.borrow().clone();
        let cookies = req.headers().get_all(header::COOKIE);
        let cookie = |name: &str| affinity::find_cookie(cookies.iter().map(HeaderValue::as_bytes), name);
        let (addr, set_cookie, read_timeout) = match self.choose(&table, host, req.uri().path(), cookie, request_id) {
            Choice::Pod { to, set_cookie, read_timeout } => (to, set_cookie, read_timeout),
            Choice::NotFound => return text(StatusCode::NOT_FOUND, NOT_FOUND),
            Choice::Unavailable => return html_error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        };
        let upgrade = wants_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        // Origin form (`/path?query`) on the connection to the pod.
        if req.uri().authority().is_some() || req.uri().scheme().is_some() {
            let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
            *req.uri_mut() = match path_and_query.parse() {
                Ok(u) => u,
                Err(_) => return text(StatusCode::BAD_REQUEST, "400 Bad Request\n"),
            };
        }
        *req.version_mut() = hyper::Version::HTTP_11;
        let headers = req.headers_mut();
        strip_hop_by_hop(headers, upgrade);
        for (name, value) in FORWARDED.iter().zip(peer.forwarded(host.as_bytes())) {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.insert(name.clone(), value);
            }
        }
        if host.is_empty()
            && let Ok(v) = HeaderValue::from_str(&addr.to_string())
        {
            headers.insert(header::HOST, v);
        }
        let answered = if upstream::suits(&req, upgrade) {
            let mut head = Vec::with_capacity(512);
            upstream::encode_head(&req, &mut head);
            let ask = upstream::Ask { head: &head, method: req.method(), read_timeout };
            self.exchange(addr, ask, upstream::to_response)
                .await
                .map(|(r, body)| r.map(|()| body.map_err(BoxError::from).boxed()))
        } else {
            // Boxed: hyper's client handshake makes a large future, and the common path should
            // not carry its size around.
            let sent = tokio::time::timeout(read_timeout, Box::pin(self.pool.send(addr, req, upgrade))).await;
            let sent = sent.map_or_else(|_| Err(io::ErrorKind::TimedOut.into()), |r| r.map_err(io::Error::other));
            sent.map(|mut response| {
                if let (Some(client_side), StatusCode::SWITCHING_PROTOCOLS) = (client_upgrade, response.status()) {
                    let pod_side = hyper::upgrade::on(&mut response);
                    tokio::spawn(async move {
                        if let (Ok(a), Ok(b)) = (client_side.await, pod_side.await) {
                            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b)).await;
                        }
                    });
                }
                // The body too: each frame within the read timeout of the one before.
                response.map(|b| tower_http::timeout::TimeoutBody::new(read_timeout, b).boxed())
            })
        };
        let mut response = match answered {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                tracing::debug!(endpoint = %addr, "ingress: upstream timed out");
                return html_error(StatusCode::GATEWAY_TIMEOUT, GATEWAY_TIMEOUT);
            }
            Err(e) => {
                tracing::debug!(error = %e, endpoint = %addr, "ingress: upstream failed");
                return html_error(StatusCode::BAD_GATEWAY, BAD_GATEWAY);
            }
        };
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            strip_hop_by_hop(response.headers_mut(), false);
        }
        if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// A bodiless request on a pooled connection to `to`, tried once more on a new connection
    /// when an idempotent request found the pooled one closed, or on a new one; `on_head` sees
    /// the response head, which must come within the ask's read timeout (an error of kind
    /// `TimedOut` otherwise).
    pub async fn exchange<T>(
        &self,
        to: SocketAddrV4,
        ask: upstream::Ask<'_>,
        mut on_head: impl FnMut(&upstream::Head) -> io::Result<T>,
    ) -> Result<(T, upstream::PodBody<PodStream>), io::Error> {
        use hyper::Method;
        let idempotent = matches!(
            *ask.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
        );
        if let Some(conn) = self.direct.take(to) {
            match upstream::exchange(conn, true, ask, to, self.direct.clone(), &mut on_head).await {
                Ok(r) => return Ok(r),
                Err(f) if f.retry && idempotent => {}
                Err(f) => return Err(f.error),
            }
        }
        let conn = upstream::Conn::new(self.pool.open(to).await.map_err(io::Error::other)?);
        upstream::exchange(conn, false, ask, to, self.direct.clone(), on_head).await.map_err(|f| f.error)
    }
}

/// Where [`Frontend::choose`] sends a request.
pub enum Choice {
    /// To the pod at `to`, answering with this `Set-Cookie` (a new affinity cookie); the pod
    /// has `read_timeout` to answer.
    Pod { to: SocketAddrV4, set_cookie: Option<String>, read_timeout: Duration },
    /// No rule matches: the default backend's 404.
    NotFound,
    /// The backend has no ready endpoint: 503.
    Unavailable,
}

/// The bodies of the answers the ingress gives itself, as ingress-nginx words them.
pub const NOT_FOUND: &str = "default backend - 404\n";
pub const UNAVAILABLE: &str = "503 Service Temporarily Unavailable";
pub const BAD_GATEWAY: &str = "502 Bad Gateway";
pub const GATEWAY_TIMEOUT: &str = "504 Gateway Time-out";

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_SCHEME: HeaderName = HeaderName::from_static("x-forwarded-scheme");
const X_SCHEME: HeaderName = HeaderName::from_static("x-scheme");

/// The headers the ingress sets on each request to a pod (a client's own are replaced); their
/// values come from [`Peer::forwarded`].
pub static FORWARDED: [HeaderName; 7] =
    [X_FORWARDED_FOR, X_REAL_IP, X_FORWARDED_HOST, X_FORWARDED_PORT, X_FORWARDED_PROTO, X_FORWARDED_SCHEME, X_SCHEME];

/// The headers that concern one hop only (RFC 9110 §7.6.1), besides those `Connection` names.
pub static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::UPGRADE,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// A client connection, with the values its requests' `X-Forwarded-*` headers take.
pub struct Peer {
    client_ip: HeaderValue,
    port: HeaderValue,
    scheme: HeaderValue,
}

impl Peer {
    /// A client at `addr` that connected over `scheme` (`http` or `https`) to port `port`.
    pub fn new(addr: SocketAddr, scheme: &'static str, port: u16) -> Self {
        let client_ip = HeaderValue::from_str(&addr.ip().to_string()).expect("an address is a header value");
        Peer { client_ip, port: HeaderValue::from(port), scheme: HeaderValue::from_static(scheme) }
    }

    /// The values of the [`FORWARDED`] headers, in their order, for a request to `host`.
    pub fn forwarded<'a>(&'a self, host: &'a [u8]) -> [&'a [u8]; 7] {
        let (ip, port, scheme) = (self.client_ip.as_bytes(), self.port.as_bytes(), self.scheme.as_bytes());
        [ip, ip, host, port, scheme, scheme, scheme]
    }
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    let connection = headers.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok());
    headers.contains_key(header::UPGRADE)
        && connection.flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the headers that concern one hop only (RFC 9110 §7.6.1), keeping `Connection: upgrade`
/// and `Upgrade` for an upgrade.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages have none: one pass over their few names instead of a lookup per name.
    if !headers.keys().any(|n| HOP_BY_HOP.contains(n)) {
        if upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && *n == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP[2..] {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// nginx's own error page, as ingress-nginx answers 502 and 503.
pub fn error_page(title: &str) -> String {
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

fn html_error(status: StatusCode, title: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(error_page(title))).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// The next connection, or `None` once `cancel` fires.
async fn accept(listener: &TcpListener, cancel: &CancellationToken) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    crate::network::sockets::accepted_nodelay(&socket2::SockRef::from(&stream));
                    return Some((stream, peer));
                }
                Err(e) => tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = crate::network::sockets::after_accept_error(&e, "ingress") => {}
                },
            },
        }
    }
}

/// What a worker needs to build its own [`Frontend`].
#[derive(Clone)]
pub struct Shared {
    pub routes: watch::Receiver<Arc<RouteTable>>,
    pub network: Network,
    pub source: Ipv4Addr,
    pub traces: Arc<Traces>,
}

/// The TLS acceptor choosing each handshake's certificate by SNI.
pub fn tls_acceptor(certificates: watch::Receiver<Arc<Certificates>>, default: Arc<CertifiedKey>) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { certificates, default }));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// Serves one listener of the shared port on its worker (nginx's and pingora's shape): its own
/// connection pool to pods, and every request handled start to finish on that thread, never
/// handed across threads. Stops accepting once `cancel` fires; open connections then finish
/// their request, as tasks of the worker.
pub async fn serve(
    listener: std::net::TcpListener,
    worker: Worker,
    shared: Shared,
    tls: Option<TlsAcceptor>,
    cancel: CancellationToken,
) {
    // Registered with the worker's own runtime, so it is made on the worker.
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return tracing::error!(error = %e, "ingress: cannot listen"),
    };
    let (scheme, default_port) = if tls.is_some() { ("https", 443) } else { ("http", 80) };
    let port = listener.local_addr().map_or(default_port, |a| a.port());
    let frontend = Frontend::new(shared.routes, shared.network, shared.source, shared.traces);
    // The worker's own, so that its connections do not share one across threads.
    let cancel = cancel.child_token();
    while let Some((stream, peer)) = accept(&listener, &cancel).await {
        let (frontend, cancel, peer) = (frontend.clone(), cancel.clone(), Peer::new(peer, scheme, port));
        match tls.clone() {
            None => worker.spawn(downstream::serve(stream, peer, frontend, cancel)),
            Some(acceptor) => worker.spawn(async move {
                let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) => downstream::serve(tls, peer, frontend, cancel).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "ingress: TLS handshake failed"),
                    Err(_) => tracing::debug!("ingress: TLS handshake timed out"),
                }
            }),
        };
    }
}

/// Serves the rest of a client connection with hyper's server: the requests the fast path
/// ([`downstream`]) leaves to it (bodies, upgrades, `Expect`), and all that follow them.
pub async fn serve_with_hyper<S>(stream: S, peer: Peer, frontend: Frontend, cancel: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let this = Arc::new((frontend, peer));
    let service = hyper::service::service_fn(move |req| {
        let this = this.clone();
        async move { Ok::<_, std::convert::Infallible>(this.0.handle(req, &this.1).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(downstream::HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "ingress: connection ended");
            }
        }
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(downstream::DRAIN, conn).await;
        }
    }
}
