//! HTTP/1.1 to pods for the common request, one without a body: the request head written
//! straight to a pooled keep-alive connection, the response head parsed with httparse, and the
//! body read by its framing (a length, chunks, or until the pod closes) as the client's
//! connection asks for it, all in the client connection's own task. hyper's client runs each
//! connection as a task of its own and passes the request, the response and every body chunk
//! through channels; for a small answer those hand-offs cost more than the proxying (pingora
//! reads and writes the upstream in the downstream's task for the same reason). Requests with a
//! body, and upgrades, still go through hyper's client.

use bytes::{Buf, BytesMut};
use http_body::Body;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

mod body;
pub use body::{Chunked, Framing, PodBody, Step};
use body::{framing, invalid};

/// The largest response head accepted from a pod (nginx's default `proxy_buffer_size` is 4k or
/// 8k; this is generous).
const MAX_HEAD: usize = 64 * 1024;
/// As many headers as hyper accepts by default.
const MAX_HEADERS: usize = 100;
/// At most this many idle connections are kept per endpoint.
const IDLE_PER_ENDPOINT: usize = 256;

/// A keep-alive connection to a pod and what has been read from it but not yet used.
pub struct Conn<S> {
    stream: S,
    buf: BytesMut,
}

impl<S> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn { stream, buf: BytesMut::with_capacity(8 * 1024) }
    }
}

/// A stream to a pod that can say, without waiting, whether it is still open while idle.
pub trait Stream: AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {
    /// `Ok(true)` when the pod has closed it or sent something unasked (it cannot be reused).
    fn closed_while_idle(&self) -> io::Result<bool>;
}

impl Stream for tokio::net::TcpStream {
    fn closed_while_idle(&self) -> io::Result<bool> {
        let mut probe = [0u8; 1];
        // Without a readiness event this costs no system call.
        match self.try_read(&mut probe) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Idle connections per endpoint, for one worker.
pub struct Pool<S> {
    idle: Mutex<HashMap<SocketAddrV4, Vec<Conn<S>>>>,
}

impl<S: Stream> Default for Pool<S> {
    fn default() -> Self {
        Pool { idle: Mutex::default() }
    }
}

impl<S: Stream> Pool<S> {
    /// An idle connection to `to` that is still open.
    pub fn take(&self, to: SocketAddrV4) -> Option<Conn<S>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.get_mut(&to)?;
        while let Some(conn) = conns.pop() {
            if conn.buf.is_empty() && matches!(conn.stream.closed_while_idle(), Ok(false)) {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, to: SocketAddrV4, conn: Conn<S>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.entry(to).or_default();
        if conns.len() < IDLE_PER_ENDPOINT {
            conns.push(conn);
        }
    }
}

/// Whether a request can take this path: no body, no upgrade.
pub fn suits<B: Body>(req: &Request<B>, upgrade: bool) -> bool {
    !upgrade && req.body().is_end_stream()
}

/// Why an exchange failed, and whether it may be tried again on a fresh connection.
#[derive(Debug)]
pub struct Failed {
    pub error: io::Error,
    /// Nothing came back on a reused connection (the pod may have closed it as it was taken).
    pub retry: bool,
}

/// A response head as the pod sent it, parsed in place in the connection's buffer.
pub struct Head<'h> {
    pub code: u16,
    /// The reason phrase as sent (may be empty).
    pub reason: &'h str,
    pub http10: bool,
    pub headers: &'h [httparse::Header<'h>],
    /// How the body that follows is framed.
    pub framing: Framing,
}

/// A bodiless request for a pod: its head (already written for the pod), the method it asks
/// with, and how long the pod has to answer.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    pub head: &'a [u8],
    pub method: &'a Method,
    pub read_timeout: Duration,
}

/// Sends `ask` on `conn` and reads the response head, which `on_head` sees in place (interim
/// 1xx answers are skipped). The body follows through the returned [`PodBody`]; the connection
/// goes back to `pool` once it has been read whole (if the pod keeps it alive).
pub async fn exchange<S: Stream, T>(
    mut conn: Conn<S>,
    reused: bool,
    ask: Ask<'_>,
    to: SocketAddrV4,
    pool: Arc<Pool<S>>,
    on_head: impl FnOnce(&Head) -> io::Result<T>,
) -> Result<(T, PodBody<S>), Failed> {
    let Ask { head, method, read_timeout } = ask;
    let fail = |error: io::Error, retry: bool| Failed { error, retry };
    conn.stream.write_all(head).await.map_err(|e| fail(e, reused))?;
    loop {
        if !conn.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&conn.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let code = parsed.code.unwrap_or(0);
                    // Interim answers (103 Early Hints, a 100 nobody asked for) are not passed on.
                    if (100..200).contains(&code) {
                        conn.buf.advance(len);
                        continue;
                    }
                    let http10 = parsed.version == Some(0);
                    let (framing, reusable) =
                        framing(code, http10, parsed.headers, method).map_err(|e| fail(e, false))?;
                    let reason = parsed.reason.unwrap_or_default();
                    let head = Head { code, reason, http10, headers: parsed.headers, framing };
                    let seen = on_head(&head).map_err(|e| fail(e, false))?;
                    conn.buf.advance(len);
                    let body = PodBody::new(conn, framing, reusable, to, pool, read_timeout);
                    return Ok((seen, body));
                }
                Ok(httparse::Status::Partial) if conn.buf.len() < MAX_HEAD => {}
                Ok(httparse::Status::Partial) => return Err(fail(invalid("the response head is too large"), false)),
                Err(e) => return Err(fail(invalid(&format!("a malformed response head: {e}")), false)),
            }
        }
        conn.buf.reserve(8 * 1024);
        let had = conn.buf.len();
        // Each read has `read_timeout`, as nginx's `proxy_read_timeout` is between two reads.
        let read = tokio::time::timeout(read_timeout, conn.stream.read_buf(&mut conn.buf)).await;
        match read.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())) {
            Ok(0) if had == 0 => return Err(fail(io::ErrorKind::UnexpectedEof.into(), reused)),
            Ok(0) => return Err(fail(io::ErrorKind::UnexpectedEof.into(), false)),
            Ok(_) => {}
            Err(e) => return Err(fail(e, false)),
        }
    }
}

/// The head of `req` as sent to a pod: origin form, HTTP/1.1, its headers as they are.
pub fn encode_head(req: &Request<impl Body>, head: &mut Vec<u8>) {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    head.clear();
    head.extend_from_slice(req.method().as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
}

/// The response a pod's head describes, for hyper (headers copied out of the head).
pub fn to_response(head: &Head) -> io::Result<Response<()>> {
    let status = StatusCode::from_u16(head.code).map_err(|_| invalid("a malformed status code"))?;
    let mut headers = HeaderMap::with_capacity(head.headers.len());
    for h in head.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| invalid("a malformed header name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| invalid("a malformed header value"))?;
        headers.append(name, value);
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = if head.http10 { Version::HTTP_10 } else { Version::HTTP_11 };
    *response.headers_mut() = headers;
    Ok(response)
}

/// The comma-separated tokens of a header value, trimmed.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::backend::READ_TIMEOUT;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A pod on a free port that answers each request with the next of `answers`, written a
    /// few bytes at a time, closing after the last.
    async fn pod(answers: Vec<&'static [u8]>) -> SocketAddrV4 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else { unreachable!() };
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for answer in answers {
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut buf = [0u8; 1024];
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                seen.drain(..end + 4);
                for piece in answer.chunks(3) {
                    stream.write_all(piece).await.unwrap();
                    stream.flush().await.unwrap();
                }
            }
        });
        addr
    }

    fn get(method: Method) -> Request<Empty<Bytes>> {
        let mut req = Request::builder().method(method).uri("/x").body(Empty::new()).unwrap();
        req.headers_mut().insert(hyper::header::HOST, HeaderValue::from_static("pod"));
        req
    }

    /// `method /x` on `conn`, through the path hyper's server takes.
    async fn request(
        conn: Conn<TcpStream>,
        reused: bool,
        method: Method,
        to: SocketAddrV4,
        pool: Arc<Pool<TcpStream>>,
    ) -> Result<Response<PodBody<TcpStream>>, Failed> {
        let req = get(method);
        let mut head = Vec::new();
        encode_head(&req, &mut head);
        let (response, body) = exchange(
            conn,
            reused,
            Ask { head: &head, method: req.method(), read_timeout: READ_TIMEOUT },
            to,
            pool,
            to_response,
        )
        .await?;
        Ok(response.map(|()| body))
    }

    async fn send(pool: &Arc<Pool<TcpStream>>, to: SocketAddrV4, method: Method) -> (StatusCode, Bytes) {
        let (conn, reused) = match pool.take(to) {
            Some(conn) => (conn, true),
            None => (Conn::new(TcpStream::connect(to).await.unwrap()), false),
        };
        let response = request(conn, reused, method, to, pool.clone()).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.unwrap().to_bytes())
    }

    #[tokio::test]
    async fn bodies_are_read_by_their_framing_and_the_connection_is_reused() {
        let to = pod(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nchun\r\n3\r\nked\r\n0\r\nTrailer: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nuntil the pod closes",
        ])
        .await;
        let pool = Arc::new(Pool::default());
        assert_eq!(send(&pool, to, Method::GET).await, (StatusCode::OK, Bytes::from("hello")));
        assert_eq!(send(&pool, to, Method::GET).await, (StatusCode::OK, Bytes::from("chunked")));
        // A HEAD answer has the length of the body it does not carry.
        assert_eq!(send(&pool, to, Method::HEAD).await, (StatusCode::OK, Bytes::new()));
        assert_eq!(send(&pool, to, Method::GET).await, (StatusCode::NO_CONTENT, Bytes::new()));
        assert_eq!(send(&pool, to, Method::GET).await, (StatusCode::NOT_MODIFIED, Bytes::new()));
        assert_eq!(send(&pool, to, Method::GET).await, (StatusCode::OK, Bytes::from("until the pod closes")));
        // All of it on one connection (the pod accepts once); the last cannot be reused.
        assert!(pool.take(to).is_none());
    }

    #[tokio::test]
    async fn a_closed_idle_connection_is_not_taken_and_close_is_honoured() {
        let to = pod(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]).await;
        let pool = Arc::new(Pool::default());
        assert_eq!(send(&pool, to, Method::GET).await, (StatusCode::OK, Bytes::from("ok")));
        // The pod has closed its end after its only answer: the pooled connection is dropped
        // once that shows.
        let idle = pool.idle.lock().unwrap().get(&to).map_or(0, Vec::len);
        assert_eq!(idle, 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool
            .idle
            .lock()
            .unwrap()
            .get(&to)
            .is_some_and(|c| c.last().is_some_and(|c| matches!(c.stream.closed_while_idle(), Ok(false))))
        {
            assert!(std::time::Instant::now() < deadline, "the close never showed");
            tokio::task::yield_now().await;
        }
        assert!(pool.take(to).is_none());

        let to = pod(vec![b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"]).await;
        assert_eq!(send(&pool, to, Method::GET).await, (StatusCode::OK, Bytes::from("ok")));
        assert!(pool.idle.lock().unwrap().get(&to).is_none_or(Vec::is_empty));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_the_pod_stops_sending_is_cut_off_after_the_read_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let std::net::SocketAddr::V4(to) = listener.local_addr().unwrap() else { unreachable!() };
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await.unwrap();
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").await.unwrap();
            // Holds the connection, sending nothing more.
            std::future::pending::<()>().await;
        });
        let conn = Conn::new(TcpStream::connect(to).await.unwrap());
        let started = tokio::time::Instant::now();
        let response = request(conn, false, Method::GET, to, Arc::new(Pool::default())).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let error = response.into_body().collect().await.map(|_| ()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), READ_TIMEOUT, "cut off once the pod has been quiet that long");
    }

    #[tokio::test]
    async fn a_malformed_answer_is_an_error() {
        let pool = Arc::new(Pool::default());
        for answer in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..],
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let to = pod(vec![answer]).await;
            let conn = Conn::new(TcpStream::connect(to).await.unwrap());
            let result = match request(conn, false, Method::GET, to, pool.clone()).await {
                Ok(response) => response.into_body().collect().await.map(|_| ()),
                Err(f) => Err(f.error),
            };
            assert!(result.is_err(), "{:?}", String::from_utf8_lossy(answer));
        }
    }
}
