//! The client side of an ingress connection, for the common HTTP/1.1 request, one without a
//! body: its head parsed in place (httparse) in the connection's buffer, routed, and rewritten
//! straight into the head sent to the pod (hop-by-hop headers dropped, `X-Forwarded-*` and
//! `X-Real-IP` set); the pod's answer goes back as it is read, its head rewritten the same way.
//! No request or response object is built, and nothing is handed to another task (nginx and
//! pingora proxy from the parsed bytes likewise). Anything else (a body, an upgrade, `Expect`,
//! an absolute or `*` target) hands the connection, with the bytes read so far, to hyper's
//! server ([`server::serve_with_hyper`]) for the rest of its life.

use super::affinity;
use super::http::{self, FORWARDED, HOP_BY_HOP, Peer};
use super::pool::PodStream;
use super::server::{self, Choice, Frontend};
use super::upstream::{self, Framing, PodBody, Step};
use bytes::{Buf, BytesMut};
use hyper::{Method, StatusCode};
use std::cell::RefCell;
use std::io::{self, Write as _};
use std::net::SocketAddrV4;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The largest request head read (nginx's `large_client_header_buffers` is 4 × 8k).
const MAX_HEAD: usize = 64 * 1024;
/// As many headers as hyper accepts by default.
const MAX_HEADERS: usize = 100;
/// Body bytes gathered before they are written to the client.
const BATCH: usize = 64 * 1024;

/// Whether the header `name` is one of `list` (in any case).
fn is_one_of<N: AsRef<str>>(name: &[u8], list: &[N]) -> bool {
    list.iter().map(AsRef::as_ref).any(|n: &str| n.len() == name.len() && name.eq_ignore_ascii_case(n.as_bytes()))
}

/// A client connection: the bytes read from it and not yet used, and the heads being written.
struct Client<S> {
    stream: S,
    buf: BytesMut,
    /// What goes to the client next.
    out: Vec<u8>,
    /// The head of the request being sent to the pod.
    up: Vec<u8>,
}

/// What to do after looking at the buffer.
enum Next {
    /// More bytes are needed for a whole head.
    Read,
    /// Leave the connection to hyper's server.
    Hyper,
    /// Send the request (its head already written for the pod).
    Forward(Forward),
    /// Answer the request itself (no route, no endpoint); the head was `len` bytes; a 404 says
    /// `not_found`.
    Answer { len: usize, status: StatusCode, keep_alive: bool, head: bool, not_found: &'static str },
    /// A head that cannot be served: answer `status` and close.
    Reject(StatusCode),
}

/// A request on its way to a pod.
struct Forward {
    /// The length of its head in the buffer.
    len: usize,
    to: SocketAddrV4,
    method: Method,
    http10: bool,
    keep_alive: bool,
    set_cookie: Option<String>,
    read_timeout: Duration,
}

/// How a response body goes to the client.
#[derive(Clone, Copy, PartialEq)]
enum Delimit {
    /// By the pod's `Content-Length` (or no body at all).
    Length,
    /// Chunked (the pod chunked it, or ends it with its close).
    Chunked,
    /// By closing the connection (an HTTP/1.0 client of an unframed body).
    Close,
}

/// Serves a client connection until it closes, times out or `cancel` fires (requests in flight
/// then get [`http::DRAIN`] to finish).
pub async fn serve<S>(stream: S, peer: Peer, frontend: Frontend, cancel: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut client = Client {
        stream,
        buf: BytesMut::with_capacity(4096),
        out: Vec::with_capacity(4096),
        up: Vec::with_capacity(1024),
    };
    // The table as of the last request, checked for changes without a lock.
    let mut routes = frontend.routes();
    let mut table = routes.borrow_and_update().clone();
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    // One timer for the connection, moved on for each head (cheap while it runs).
    let deadline = tokio::time::sleep(http::HEADER_TIMEOUT);
    tokio::pin!(deadline);
    let mut waiting = false;
    loop {
        if routes.has_changed().unwrap_or(false) {
            table = routes.borrow_and_update().clone();
        }
        let next = if client.buf.is_empty() { Next::Read } else { client.next(&frontend, &*table, &peer) };
        match next {
            Next::Read => {
                if !waiting {
                    deadline.as_mut().reset(Instant::now() + http::HEADER_TIMEOUT);
                    waiting = true;
                }
                client.buf.reserve(4096);
                let read = tokio::select! {
                    biased;
                    read = client.stream.read_buf(&mut client.buf) => read,
                    _ = &mut cancelled => return,
                    _ = &mut deadline => return tracing::debug!("ingress: no request head in time"),
                };
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
            Next::Hyper => {
                let stream = Prefixed { prefix: client.buf, stream: client.stream };
                // Boxed: hyper's connection is a large future the fast path should not carry.
                return Box::pin(server::serve_with_hyper(stream, peer, frontend, cancel.clone())).await;
            }
            Next::Reject(status) => {
                answer(&mut client.out, status, false, false, http::NOT_FOUND);
                let _ = client.write_out().await;
                let _ = client.stream.shutdown().await;
                return;
            }
            Next::Answer { len, status, keep_alive, head, not_found } => {
                client.buf.advance(len);
                waiting = false;
                answer(&mut client.out, status, keep_alive, head, not_found);
                if client.write_out().await.is_err() || !keep_alive {
                    let _ = client.stream.shutdown().await;
                    return;
                }
            }
            Next::Forward(forward) => {
                client.buf.advance(forward.len);
                waiting = false;
                let (kept, stopping) = {
                    let sent = client.forward(&frontend, &forward);
                    tokio::pin!(sent);
                    tokio::select! {
                        biased;
                        kept = &mut sent => (kept, false),
                        _ = &mut cancelled => match tokio::time::timeout(http::DRAIN, sent).await {
                            Ok(kept) => (kept, true),
                            Err(_) => return,
                        },
                    }
                };
                match kept {
                    Ok(true) if !stopping => {}
                    Ok(_) => {
                        let _ = client.stream.shutdown().await;
                        return;
                    }
                    Err(e) => return tracing::debug!(error = %e, "ingress: connection ended mid-response"),
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Looks at the head at the start of the buffer and decides what to do with it; a request
    /// for a pod has its pod-side head written to `up`.
    fn next(&mut self, frontend: &Frontend, table: &dyn super::router::Router, peer: &Peer) -> Next {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD => return Next::Read,
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Next::Reject(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
            }
            Err(_) => return Next::Reject(StatusCode::BAD_REQUEST),
        };
        let (Some(method), Some(target)) = (req.method, req.path) else { return Next::Reject(StatusCode::BAD_REQUEST) };
        if method == "CONNECT" || !target.starts_with('/') {
            return Next::Hyper;
        }
        let (http10, head) = (req.version == Some(0), method == "HEAD");
        // One pass over the headers for what routing and framing need.
        let (mut host, mut request_id, mut close, mut keep_alive) = (None, None, false, false);
        let mut named: [&[u8]; 4] = [&[]; 4];
        let mut n_named = 0;
        for h in req.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"host") {
                if !h.value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
                    return Next::Hyper;
                }
                host.get_or_insert(h.value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                if h.value.trim_ascii() != b"0" {
                    return Next::Hyper;
                }
            } else if is_one_of(name, &["transfer-encoding", "upgrade", "expect"]) {
                return Next::Hyper;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in upstream::tokens(h.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    } else if n_named < named.len() {
                        named[n_named] = token;
                        n_named += 1;
                    } else {
                        return Next::Hyper;
                    }
                }
            } else if name.eq_ignore_ascii_case(b"x-request-id") {
                request_id = std::str::from_utf8(h.value).ok();
            }
        }
        let host = host.and_then(|h| std::str::from_utf8(h).ok()).unwrap_or_default();
        let keep_alive = if http10 { keep_alive && !close } else { !close };
        let asked = Asked { host, target, method, request_id, headers: req.headers };
        let (to, set_cookie, read_timeout) = match route(frontend, table, &asked) {
            Ok(routed) => routed,
            Err(Some(status)) => return Next::Answer { len, status, keep_alive, head, not_found: table.not_found() },
            Err(None) => return Next::Hyper,
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Next::Reject(StatusCode::BAD_REQUEST) };
        let up = &mut self.up;
        up.clear();
        up.extend_from_slice(method.as_str().as_bytes());
        up.push(b' ');
        up.extend_from_slice(target.as_bytes());
        up.extend_from_slice(b" HTTP/1.1\r\n");
        let named = &named[..n_named];
        for h in req.headers.iter() {
            let name = h.name.as_bytes();
            if is_one_of(name, &HOP_BY_HOP)
                || is_one_of(name, &FORWARDED)
                || named.iter().any(|n| n.eq_ignore_ascii_case(name))
            {
                continue;
            }
            for part in [name, b": ", h.value, b"\r\n"] {
                up.extend_from_slice(part);
            }
        }
        if host.is_empty() {
            let _ = write!(up, "host: {to}\r\n");
        }
        for (name, value) in FORWARDED.iter().zip(peer.forwarded(host.as_bytes())) {
            for part in [name.as_str().as_bytes(), b": ", value, b"\r\n"] {
                up.extend_from_slice(part);
            }
        }
        up.extend_from_slice(b"\r\n");
        Next::Forward(Forward { len, to, method, http10, keep_alive, set_cookie, read_timeout })
    }

    /// Sends the request to its pod and its answer to the client; `true` when the connection
    /// can carry another request.
    async fn forward(&mut self, frontend: &Frontend, forward: &Forward) -> io::Result<bool> {
        let (out, up) = (&mut self.out, &self.up);
        let ask = upstream::Ask { head: up, method: &forward.method, read_timeout: forward.read_timeout };
        let exchanged = frontend.exchange(forward.to, ask, |head| Ok(response_head(out, head, forward))).await;
        let (delimit, mut body) = match exchanged {
            Ok(answered) => answered,
            Err(e) => {
                tracing::debug!(error = %e, endpoint = %forward.to, "ingress: upstream failed");
                let status = match e.kind() {
                    io::ErrorKind::TimedOut => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::BAD_GATEWAY,
                };
                answer(&mut self.out, status, forward.keep_alive, forward.method == Method::HEAD, http::NOT_FOUND);
                self.write_out().await?;
                return Ok(forward.keep_alive);
            }
        };
        self.send_body(&mut body, delimit).await?;
        Ok(forward.keep_alive && delimit != Delimit::Close)
    }

    /// The body after the head already in `out`, written as it is read from the pod (what has
    /// been read goes out in one write with the head).
    async fn send_body(&mut self, body: &mut PodBody<PodStream>, delimit: Delimit) -> io::Result<()> {
        loop {
            match body.step()? {
                Step::Data(data) => {
                    if delimit == Delimit::Chunked {
                        let _ = write!(self.out, "{:x}\r\n", data.len());
                    }
                    if self.out.len() + data.len() > BATCH {
                        self.write_out().await?;
                        self.stream.write_all(&data).await?;
                    } else {
                        self.out.extend_from_slice(&data);
                    }
                    if delimit == Delimit::Chunked {
                        self.out.extend_from_slice(b"\r\n");
                    }
                }
                Step::Read => {
                    if !self.out.is_empty() {
                        self.write_out().await?;
                    }
                    body.fill().await?;
                }
                Step::End => break,
            }
        }
        if delimit == Delimit::Chunked {
            self.out.extend_from_slice(b"0\r\n\r\n");
        }
        self.write_out().await
    }

    /// Writes `out` to the client (through TLS, flushed).
    async fn write_out(&mut self) -> io::Result<()> {
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        self.stream.flush().await
    }
}

/// A parsed request head, as routing reads it.
struct Asked<'a, 'h> {
    host: &'a str,
    target: &'a str,
    method: &'a str,
    request_id: Option<&'a str>,
    headers: &'a [httparse::Header<'h>],
}

/// Where a request goes: a pod (with its affinity cookie and read timeout); or the status the
/// ingress answers itself; or `Err(None)`, hyper's path (the rule's filters change the request).
fn route(
    frontend: &Frontend,
    table: &dyn super::router::Router,
    asked: &Asked,
) -> Result<(SocketAddrV4, Option<String>, Duration), Option<StatusCode>> {
    let (path, query) = match asked.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (asked.target, None),
    };
    let headers = super::router::Parsed(asked.headers);
    let view = super::router::Request { host: asked.host, path, query, method: asked.method, headers: &headers };
    let found = table.route(&view);
    // Whatever a route's filters change is done in one place, hyper's path.
    if found.is_some_and(|m| m.filters.is_some()) {
        return Err(None);
    }
    let cookies = asked.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("cookie")).map(|h| h.value);
    let cookie = |name: &str| affinity::find_cookie(cookies, name);
    match frontend.choose(found, asked.host, path, cookie, asked.request_id) {
        Choice::Pod { to, set_cookie, read_timeout } => Ok((to, set_cookie, read_timeout)),
        Choice::NotFound => Err(Some(StatusCode::NOT_FOUND)),
        Choice::Unavailable => Err(Some(StatusCode::SERVICE_UNAVAILABLE)),
        Choice::Invalid => Err(Some(StatusCode::INTERNAL_SERVER_ERROR)),
    }
}

/// The status line and headers of the pod's answer as they go to the client, in `out`; and how
/// the body will be delimited.
fn response_head(out: &mut Vec<u8>, head: &upstream::Head, forward: &Forward) -> Delimit {
    let delimit = match head.framing {
        Framing::Length(_) => Delimit::Length,
        _ if forward.http10 => Delimit::Close,
        _ => Delimit::Chunked,
    };
    out.clear();
    let reason = StatusCode::from_u16(head.code).ok().and_then(|s| s.canonical_reason()).unwrap_or(head.reason);
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", head.code);
    // Headers the pod's `Connection` names are its hop's only; rare, so looked for only then.
    let is_connection = |h: &&httparse::Header| h.name.eq_ignore_ascii_case("connection");
    let named = head.headers.iter().filter(is_connection).flat_map(|h| upstream::tokens(h.value));
    let names_others =
        named.clone().any(|t| !t.eq_ignore_ascii_case(b"close") && !t.eq_ignore_ascii_case(b"keep-alive"));
    let mut dated = false;
    for h in head.headers {
        let name = h.name.as_bytes();
        if is_one_of(name, &HOP_BY_HOP)
            || (delimit != Delimit::Length && name.eq_ignore_ascii_case(b"content-length"))
            || (names_others && named.clone().any(|t| t.eq_ignore_ascii_case(name)))
        {
            continue;
        }
        dated |= name.eq_ignore_ascii_case(b"date");
        for part in [name, b": ", h.value, b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    if delimit == Delimit::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if let Some(cookie) = &forward.set_cookie {
        let _ = write!(out, "set-cookie: {cookie}\r\n");
    }
    if !dated {
        date(out);
    }
    connection(out, forward.keep_alive && delimit != Delimit::Close, forward.http10);
    out.extend_from_slice(b"\r\n");
    delimit
}

/// An answer of the ingress's own, as ingress-nginx gives it: the default backend's 404 (a
/// Gateway's says `not_found`), 503 for a backend without endpoints, 502 for a pod that failed,
/// 504 for one that did not answer in time, 400 and 431 for a bad head.
fn answer(out: &mut Vec<u8>, status: StatusCode, keep_alive: bool, head: bool, not_found: &str) {
    let (content_type, body) = match status {
        StatusCode::NOT_FOUND => ("text/plain; charset=utf-8", not_found.to_string()),
        StatusCode::SERVICE_UNAVAILABLE => ("text/html", http::error_page(http::UNAVAILABLE)),
        StatusCode::BAD_GATEWAY => ("text/html", http::error_page(http::BAD_GATEWAY)),
        StatusCode::GATEWAY_TIMEOUT => ("text/html", http::error_page(http::GATEWAY_TIMEOUT)),
        StatusCode::INTERNAL_SERVER_ERROR => ("text/html", http::error_page(http::INTERNAL_ERROR)),
        _ => ("text/plain; charset=utf-8", String::new()),
    };
    out.clear();
    let reason = status.canonical_reason().unwrap_or_default();
    let _ = write!(
        out,
        "HTTP/1.1 {} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
        status.as_u16(),
        body.len()
    );
    date(out);
    connection(out, keep_alive, false);
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(body.as_bytes());
    }
}

fn connection(out: &mut Vec<u8>, keep_alive: bool, http10: bool) {
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
}

/// A `date:` header line, formatted once a second per thread (as hyper and nginx cache it).
fn date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|(at, line)| {
        if *at != second || line.is_empty() {
            *at = second;
            *line = format!("date: {}\r\n", httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(line.as_bytes());
    });
}

/// A client connection with the bytes already read from it in front, for hyper.
struct Prefixed<S> {
    prefix: BytesMut,
    stream: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    write_through!(stream);
}
