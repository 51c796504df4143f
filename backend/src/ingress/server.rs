//! The ingress controller's request handling: each request routed by host and path from the
//! current route table straight to a ready pod, round-robin or by affinity cookie, with
//! `X-Forwarded-*` and `X-Real-IP` set; bodiless requests through [`upstream`], the rest through
//! hyper's client ([`pool`]), streaming. No route: the 404 default backend; no ready endpoint:
//! 503. Connections are read by [`downstream`]; the requests it leaves to hyper's server (bodies,
//! upgrades such as websockets, `Expect`) are served by [`serve_with_hyper`].
//!
//! [`upstream`]: super::upstream
//! [`pool`]: super::pool
//! [`downstream`]: super::downstream

use super::affinity;
use super::http::{
    self, BAD_GATEWAY, Body, BoxError, FORWARDED, GATEWAY_TIMEOUT, INTERNAL_ERROR, Peer, UNAVAILABLE, X_REQUEST_ID,
    html_error, strip_hop_by_hop, text, wants_upgrade,
};
use super::pool::{PodStream, Pool};
use super::router::{Filters, Match, Request as RouteRequest, Router};
use super::traces::Traces;
use super::upstream;
use crate::network::Network;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::lab::Hop;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Everything a request needs: the current routes and the pool of connections to pods.
#[derive(Clone)]
pub struct Frontend {
    routes: watch::Receiver<Arc<dyn Router>>,
    pool: Arc<Pool>,
    /// Connections for bodiless requests, read and written in the client connection's task.
    direct: Arc<upstream::Pool<PodStream>>,
    traces: Arc<Traces>,
    /// Bodiless requests through [`upstream`] rather than hyper's client.
    fast_path: bool,
}

impl Frontend {
    pub fn new(
        routes: watch::Receiver<Arc<dyn Router>>,
        network: Network,
        source: Ipv4Addr,
        traces: Arc<Traces>,
    ) -> Self {
        let pool = Arc::new(Pool::new(network, source));
        Frontend { routes, pool, direct: Arc::default(), traces, fast_path: true }
    }

    /// Whether bodiless requests go to pods through [`upstream`] (the default) or hyper's client.
    pub fn fast_path(self, on: bool) -> Self {
        Frontend { fast_path: on, ..self }
    }

    /// The route table: the current one, and each that replaces it.
    pub fn routes(&self) -> watch::Receiver<Arc<dyn Router>> {
        self.routes.clone()
    }

    /// Which endpoint serves a request `found` routed (`None`: no rule matched); `cookie` gives
    /// the value of a cookie the request sent (asked only when the backend has cookie
    /// affinity). A request with an `X-Request-ID` (the dashboard's test requests send one)
    /// leaves a trace of why.
    pub fn choose<'c>(
        &self,
        found: Option<Match<'_>>,
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
        let Some(found) = found else {
            if request_id.is_some() {
                let default_backend = self.routes.borrow().default_backend();
                let answer = if default_backend { "the default backend answers 404" } else { "404 Not Found" };
                let reason = format!("no rule matches host {host:?} and path {path:?}: {answer}");
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
            return if backend.invalid { Choice::Invalid } else { Choice::Unavailable };
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
            let mut reason = match new_cookie {
                Some(false) => format!("affinity cookie {name} names this endpoint"),
                Some(true) => format!("round-robin over {n} ready endpoints; new affinity cookie {name}"),
                None => format!("round-robin over {n} ready endpoints"),
            };
            if let Some((weight, total)) = found.weight {
                reason = format!("weight {weight} of {total} chose {}; {reason}", backend.service);
            }
            trace(Hop {
                service: backend.service.clone(),
                virtual_address: found.rule.to_string(),
                endpoint: endpoint.addr.to_string(),
                pod: endpoint.pod.clone(),
                node: endpoint.node.clone(),
                reason,
                source: self.pool.source_for(endpoint.addr).to_string(),
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
        let found = {
            let (uri, headers) = (req.uri(), req.headers());
            let view =
                RouteRequest { host, path: uri.path(), query: uri.query(), method: req.method().as_str(), headers };
            table.route(&view)
        };
        let filters = found.and_then(|m| m.filters);
        if let Some(redirect) = filters.and_then(|f| f.redirect.as_ref()) {
            let location = redirect.location(peer.scheme(), host, peer.port(), req.uri().path(), req.uri().query());
            return http::redirect(redirect.status, &location);
        }
        let cookies = req.headers().get_all(header::COOKIE);
        let cookie = |name: &str| affinity::find_cookie(cookies.iter().map(HeaderValue::as_bytes), name);
        let (addr, set_cookie, read_timeout) = match self.choose(found, host, req.uri().path(), cookie, request_id) {
            Choice::Pod { to, set_cookie, read_timeout } => (to, set_cookie, read_timeout),
            Choice::NotFound => return text(StatusCode::NOT_FOUND, table.not_found()),
            Choice::Unavailable => return html_error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            Choice::Invalid => return html_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
        };
        let host = host.to_string();
        if let Some(filters) = filters {
            self.filter_request(filters, &mut req);
        }
        let answered = self.forward(req, addr, &host, peer, read_timeout);
        let mut response = match filters.and_then(|f| f.request_timeout) {
            Some(limit) => match tokio::time::timeout(limit, answered).await {
                Ok(r) => r,
                Err(_) => return html_error(StatusCode::GATEWAY_TIMEOUT, GATEWAY_TIMEOUT),
            },
            None => answered.await,
        };
        if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        if let Some(filters) = filters {
            filters.response_headers.apply(response.headers_mut());
        }
        response
    }

    /// A route's changes to a request on its way: headers, a new host or path, and copies to
    /// mirrors (sent apart, their answers dropped; bodies are not copied).
    fn filter_request(&self, filters: &Filters, req: &mut Request<Incoming>) {
        filters.request_headers.apply(req.headers_mut());
        if let Some(rewrite) = &filters.rewrite {
            if let Some(host) = rewrite.hostname.as_ref().and_then(|h| HeaderValue::from_str(h).ok()) {
                req.headers_mut().insert(header::HOST, host);
            }
            if let Some(change) = &rewrite.path {
                let path = change.apply(req.uri().path());
                let target = match req.uri().query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path,
                };
                if let Ok(uri) = target.parse() {
                    *req.uri_mut() = uri;
                }
            }
        }
        for mirror in &filters.mirrors {
            if mirror.backend.endpoints.is_empty() || !sampled(mirror.numerator, mirror.denominator) {
                continue;
            }
            let mut head = Vec::with_capacity(512);
            upstream::encode_head(req, &mut head);
            // One request on its own connection, which the pod closes after answering.
            head.truncate(head.len().saturating_sub(2));
            head.extend_from_slice(b"connection: close\r\n\r\n");
            let (pool, to) = (self.pool.clone(), mirror.backend.next().addr);
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let copy = async {
                    let mut stream = pool.open(to).await.map_err(io::Error::other)?;
                    stream.write_all(&head).await?;
                    let mut sink = [0u8; 4096];
                    while stream.read(&mut sink).await? > 0 {}
                    io::Result::Ok(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), copy).await;
            });
        }
    }

    /// Sends a routed request to the pod at `addr` and returns its answer (or the ingress's
    /// own 502 or 504).
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        addr: SocketAddrV4,
        host: &str,
        peer: &Peer,
        read_timeout: Duration,
    ) -> Response<Body> {
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
        let answered = if self.fast_path && upstream::suits(&req, upgrade) {
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
    /// The rule's backend is a reference that cannot be used (Gateway API): 500.
    Invalid,
}

/// Whether this request is one of `numerator` in `denominator` (a mirror's fraction).
fn sampled(numerator: u32, denominator: u32) -> bool {
    numerator >= denominator || rand::random_range(0..denominator.max(1)) < numerator
}

/// Serves the rest of a client connection with hyper's server: the requests the fast path
/// ([`super::downstream`]) leaves to it (bodies, upgrades, `Expect`), and all that follow them.
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
        .header_read_timeout(http::HEADER_TIMEOUT)
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
            let _ = tokio::time::timeout(http::DRAIN, conn).await;
        }
    }
}
