//! A response body from a pod, read by its framing (a length, chunks, or until the pod
//! closes) as the client's side asks for it, each read within the route's read timeout; the
//! connection goes back to the pool once the body has been read whole.

use super::{Conn, MAX_HEAD, Pool, Stream, tokens};
use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::Method;
use std::io;
use std::net::SocketAddrV4;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// How a response's body is framed, and whether the connection can carry another request
/// afterwards (RFC 9112 §6.3, §9.3).
pub(super) fn framing(
    code: u16,
    http10: bool,
    headers: &[httparse::Header],
    method: &Method,
) -> io::Result<(Framing, bool)> {
    if !(200..=999).contains(&code) {
        return Err(invalid("a malformed status code"));
    }
    let (mut close, mut keep_alive, mut chunked, mut length) = (false, false, None, None);
    for h in headers {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"connection") {
            for t in tokens(h.value) {
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if let Some(last) = tokens(h.value).last() {
                chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
        } else if name.eq_ignore_ascii_case(b"content-length") && length.is_none() {
            let len = std::str::from_utf8(h.value).ok().and_then(|l| l.trim().parse::<u64>().ok());
            length = Some(len.ok_or_else(|| invalid("a malformed Content-Length"))?);
        }
    }
    let reusable = if http10 { keep_alive } else { !close };
    Ok(if *method == Method::HEAD || code == 204 || code == 304 {
        (Framing::Length(0), reusable)
    } else if let Some(chunked) = chunked {
        if chunked { (Framing::Chunked(Chunked::Size), reusable) } else { (Framing::UntilClose, false) }
    } else if let Some(len) = length {
        (Framing::Length(len), reusable)
    } else {
        (Framing::UntilClose, false)
    })
}

pub(super) fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// How a response body ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunked),
    /// It ends when the pod closes the connection.
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Chunked {
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
    /// How long the pod has to send the next bytes, as for the head.
    read_timeout: Duration,
    /// Set while a read waits for the pod, to `read_timeout` from when it began.
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S: Stream> PodBody<S> {
    /// The body that follows a response head read from `conn` (the rest of its buffer first).
    pub(super) fn new(
        conn: Conn<S>,
        framing: Framing,
        reusable: bool,
        to: SocketAddrV4,
        pool: Arc<Pool<S>>,
        read_timeout: Duration,
    ) -> Self {
        PodBody { conn: Some(conn), framing, reusable, to, pool, read_timeout, waiting: None }
    }

    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.reusable
        {
            self.pool.give_back(self.to, conn);
        }
    }

    /// The next piece of body out of what has been read: data, [`Step::Read`] when more must be
    /// read first ([`PodBody::fill`]), or [`Step::End`] (the connection then goes back to the pool).
    pub fn step(&mut self) -> io::Result<Step> {
        if self.conn.is_none() {
            return Ok(Step::End);
        }
        match self.decode() {
            Ok(Step::End) => {
                self.finish();
                Ok(Step::End)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
            other => other,
        }
    }

    /// Reads more of the body from the pod.
    pub async fn fill(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(conn) = self.conn.as_mut() else { return Poll::Ready(Ok(())) };
        conn.buf.reserve(16 * 1024);
        let read = match tokio_util::io::poll_read_buf(Pin::new(&mut conn.stream), cx, &mut conn.buf) {
            Poll::Ready(read) => read,
            Poll::Pending => {
                let timeout = self.read_timeout;
                let waiting = self.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(waiting.as_mut().poll(cx));
                // The pod sent nothing for that long: the body is cut off, as nginx cuts it.
                self.conn = None;
                Err(io::ErrorKind::TimedOut.into())
            }
        };
        self.waiting = None;
        Poll::Ready(match read {
            Ok(0) => {
                self.conn = None;
                // Only a body framed by the close ends with it.
                if self.framing == Framing::UntilClose { Ok(()) } else { Err(io::ErrorKind::UnexpectedEof.into()) }
            }
            Ok(_) => Ok(()),
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        })
    }

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

/// What [`PodBody::step`] found.
pub enum Step {
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
            match this.step() {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Step::End) => return Poll::Ready(None),
                Ok(Step::Read) => {
                    if let Err(e) = ready!(this.poll_fill(cx)) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
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
