//! HTTP/1.1 to pods for the common request, one without a body: the request head written
//! straight to a pooled keep-alive connection, the response head parsed with httparse, and the
//! body read by its framing (a length, chunks, or until the pod closes) as the client's
//! connection asks for it, all in the client connection's own task. hyper's client runs each
//! connection as a task of its own and passes the request, the response and every body chunk
//! through channels; for a small answer those hand-offs cost more than the proxying (pingora
//! reads and writes the upstream in the downstream's task for the same reason). Requests with a
//! body, and upgrades, still go through hyper's client.

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddrV4;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

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
    /// The request head being written (kept for the next request).
    head: Vec<u8>,
}

impl<S> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn { stream, buf: BytesMut::with_capacity(8 * 1024), head: Vec::with_capacity(512) }
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

/// Sends a bodiless request (its head already prepared for the pod) on `conn` and reads the
/// response head; the body follows through the returned response, and the connection goes
/// back to `pool` once it has been read whole (if the pod keeps it alive).
pub async fn exchange<S: Stream>(
    mut conn: Conn<S>,
    reused: bool,
    req: &Request<impl Body>,
    to: SocketAddrV4,
    pool: Arc<Pool<S>>,
) -> Result<Response<PodBody<S>>, Failed> {
    let fail = |error: io::Error, retry: bool| Failed { error, retry };
    encode_head(req, &mut conn.head);
    conn.stream.write_all(&conn.head).await.map_err(|e| fail(e, reused))?;
    loop {
        let (response, framing, reusable) = match read_head(&mut conn, req.method()).await {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Err(fail(io::ErrorKind::UnexpectedEof.into(), reused)),
            Err(e) => return Err(fail(e, false)),
        };
        // Interim answers (103 Early Hints, a 100 nobody asked for) are not passed on.
        if response.status().is_informational() {
            continue;
        }
        let body = PodBody { conn: Some(conn), framing, reusable, to, pool };
        return Ok(response.map(|()| body));
    }
}

fn encode_head(req: &Request<impl Body>, head: &mut Vec<u8>) {
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

/// Reads and parses a response head; `None` when the pod closed before sending a byte.
async fn read_head<S: Stream>(
    conn: &mut Conn<S>,
    method: &Method,
) -> io::Result<Option<(Response<()>, Framing, bool)>> {
    loop {
        if !conn.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&conn.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    // Where each name and value sits, so that the values can share the head's
                    // bytes instead of each being copied.
                    let base = conn.buf.as_ptr() as usize;
                    let at = |bytes: &[u8]| (bytes.as_ptr() as usize - base, bytes.len());
                    let spans: Vec<_> = parsed.headers.iter().map(|h| (at(h.name.as_bytes()), at(h.value))).collect();
                    let (code, http10) = (parsed.code.unwrap_or(0), parsed.version == Some(0));
                    let head = conn.buf.split_to(len).freeze();
                    return build(&head, code, http10, &spans, method).map(Some);
                }
                Ok(httparse::Status::Partial) if conn.buf.len() < MAX_HEAD => {}
                Ok(httparse::Status::Partial) => return Err(invalid("the response head is too large")),
                Err(e) => return Err(invalid(&format!("a malformed response head: {e}"))),
            }
        }
        conn.buf.reserve(8 * 1024);
        let had = conn.buf.len();
        let n = conn.stream.read_buf(&mut conn.buf).await?;
        if n == 0 {
            return if had == 0 { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) };
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A span of the head: where it starts and how long it is.
type Span = (usize, usize);

/// The response (without its body) from its head's bytes and the spans of its headers' names
/// and values, how its body is framed, and whether the connection can carry another request
/// afterwards (RFC 9112 §6.3, §9.3).
fn build(
    head: &Bytes,
    code: u16,
    http10: bool,
    spans: &[(Span, Span)],
    method: &Method,
) -> io::Result<(Response<()>, Framing, bool)> {
    let status = StatusCode::from_u16(code).map_err(|_| invalid("a malformed status code"))?;
    let mut headers = HeaderMap::with_capacity(spans.len());
    for &((name, name_len), (value, value_len)) in spans {
        let name =
            HeaderName::from_bytes(&head[name..name + name_len]).map_err(|_| invalid("a malformed header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value..value + value_len))
            .map_err(|_| invalid("a malformed header value"))?;
        headers.append(name, value);
    }
    let tokens = |name: HeaderName| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let connection = tokens(header::CONNECTION);
    let mut reusable =
        if http10 { connection.iter().any(|t| t == "keep-alive") } else { !connection.iter().any(|t| t == "close") };
    let framing = if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Length(0)
    } else if let Some(last) = tokens(header::TRANSFER_ENCODING).last() {
        if last == "chunked" {
            Framing::Chunked(Chunked::Size)
        } else {
            reusable = false;
            Framing::UntilClose
        }
    } else if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        let len = len.to_str().ok().and_then(|l| l.trim().parse::<u64>().ok());
        Framing::Length(len.ok_or_else(|| invalid("a malformed Content-Length"))?)
    } else {
        reusable = false;
        Framing::UntilClose
    };
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = if http10 { Version::HTTP_10 } else { Version::HTTP_11 };
    *response.headers_mut() = headers;
    Ok((response, framing, reusable))
}

/// How a response body ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunked),
    /// It ends when the pod closes the connection.
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Chunked {
    /// A chunk-size line comes next.
    Size,
    /// This many bytes of the chunk are left, then CRLF.
    Data(u64),
    Crlf,
    /// The trailer section (skipped) up to its empty line.
    Trailers,
}

/// A response body read from the pod as it is asked for.
pub struct PodBody<S: Stream> {
    /// `None` once the body has ended (and the connection gone back to the pool or closed).
    conn: Option<Conn<S>>,
    framing: Framing,
    reusable: bool,
    to: SocketAddrV4,
    pool: Arc<Pool<S>>,
}

impl<S: Stream> PodBody<S> {
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.reusable
        {
            self.pool.give_back(self.to, conn);
        }
    }

    /// The next piece of body out of what has been read, and whether more must be read first.
    fn decode(&mut self) -> io::Result<Step> {
        let conn = self.conn.as_mut().expect("decoding a body that has not ended");
        let buf = &mut conn.buf;
        loop {
            match self.framing {
                Framing::Length(0) => return Ok(Step::End),
                Framing::Length(left) => {
                    if buf.is_empty() {
                        return Ok(Step::Read);
                    }
                    let n = (buf.len() as u64).min(left) as usize;
                    self.framing = Framing::Length(left - n as u64);
                    return Ok(Step::Data(buf.split_to(n).freeze()));
                }
                Framing::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Step::Read);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                Framing::Chunked(Chunked::Size) => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((len, 0))) => {
                        buf.advance(len);
                        self.framing = Framing::Chunked(Chunked::Trailers);
                    }
                    Ok(httparse::Status::Complete((len, size))) => {
                        buf.advance(len);
                        self.framing = Framing::Chunked(Chunked::Data(size));
                    }
                    Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(Step::Read),
                    _ => return Err(invalid("a malformed chunk size")),
                },
                Framing::Chunked(Chunked::Data(left)) => {
                    if buf.is_empty() {
                        return Ok(Step::Read);
                    }
                    let n = (buf.len() as u64).min(left) as usize;
                    let data = buf.split_to(n).freeze();
                    self.framing =
                        Framing::Chunked(if left == n as u64 { Chunked::Crlf } else { Chunked::Data(left - n as u64) });
                    return Ok(Step::Data(data));
                }
                Framing::Chunked(Chunked::Crlf) => {
                    if buf.len() < 2 {
                        return Ok(Step::Read);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(invalid("a chunk without its CRLF"));
                    }
                    buf.advance(2);
                    self.framing = Framing::Chunked(Chunked::Size);
                }
                Framing::Chunked(Chunked::Trailers) => {
                    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                        return if buf.len() < MAX_HEAD { Ok(Step::Read) } else { Err(invalid("trailers too large")) };
                    };
                    buf.advance(end + 2);
                    if end == 0 {
                        self.framing = Framing::Length(0);
                    }
                }
            }
        }
    }
}

enum Step {
    Data(Bytes),
    Read,
    End,
}

impl<S: Stream> Body for PodBody<S> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = &mut *self;
        loop {
            if this.conn.is_none() {
                return Poll::Ready(None);
            }
            match this.decode() {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Step::End) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::Read) => {
                    let conn = this.conn.as_mut().expect("checked above");
                    conn.buf.reserve(16 * 1024);
                    let n = match ready!(tokio_util::io::poll_read_buf(Pin::new(&mut conn.stream), cx, &mut conn.buf)) {
                        Ok(n) => n,
                        Err(e) => {
                            this.conn = None;
                            return Poll::Ready(Some(Err(e)));
                        }
                    };
                    if n == 0 {
                        this.conn = None;
                        if this.framing == Framing::UntilClose {
                            return Poll::Ready(None);
                        }
                        return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                    }
                }
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.framing == Framing::Length(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

impl<S: Stream> Drop for PodBody<S> {
    fn drop(&mut self) {
        // A body read to its end has already gone back; one dropped early leaves a connection
        // in the middle of a response, which cannot be reused.
        if self.framing == Framing::Length(0) {
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        req.headers_mut().insert(header::HOST, HeaderValue::from_static("pod"));
        req
    }

    async fn send(pool: &Arc<Pool<TcpStream>>, to: SocketAddrV4, method: Method) -> (StatusCode, Bytes) {
        let (conn, reused) = match pool.take(to) {
            Some(conn) => (conn, true),
            None => (Conn::new(TcpStream::connect(to).await.unwrap()), false),
        };
        let response = exchange(conn, reused, &get(method), to, pool.clone()).await.unwrap();
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
            let result = match exchange(conn, false, &get(Method::GET), to, pool.clone()).await {
                Ok(response) => response.into_body().collect().await.map(|_| ()),
                Err(f) => Err(f.error),
            };
            assert!(result.is_err(), "{:?}", String::from_utf8_lossy(answer));
        }
    }
}
