//! The API and dashboard listener: hyper's HTTP/1.1 server (with upgrades, for exec and the
//! dashboard's feed) under the limits a server on a laptop needs against clients that never
//! finish or never read:
//!
//! - a request head must arrive within [`HEAD_TIMEOUT`] (also between the requests of a kept-alive
//!   connection, so idle connections are closed), and hold at most [`MAX_HEAD`] bytes;
//! - a write that makes no progress for [`WRITE_TIMEOUT`] ends the connection, so a watch or a
//!   WebSocket whose client stopped reading is cut off, never buffered for;
//! - running out of descriptors pauses accepting instead of spinning.
//!
//! The same router is served over TLS ([`serve_tls`]) where pods reach the API.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a client has to send a request head (or, between requests, to start the next).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may wait on a client that does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head (request line and headers) read.
pub const MAX_HEAD: usize = 64 * 1024;
/// How long open connections get to finish when svclab stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `cancel` fires.
pub async fn serve(listener: TcpListener, router: Router, cancel: CancellationToken, tracker: TaskTracker) {
    accept(listener, cancel.clone(), tracker, move |stream| {
        connection(Box::pin(stream) as Timed, router.clone(), cancel.clone())
    })
    .await
}

/// Serves `router` over TLS on `listener` until `cancel` fires: the API as pods reach it, at
/// the `kubernetes` service.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: tokio_rustls::TlsAcceptor,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    accept(listener, cancel.clone(), tracker, move |stream| {
        let (router, cancel, tls) = (router.clone(), cancel.clone(), tls.clone());
        async move {
            // The handshake, like a request head, has HEAD_TIMEOUT to arrive.
            match tokio::time::timeout(HEAD_TIMEOUT, tls.accept(Box::pin(stream) as Timed)).await {
                Ok(Ok(tls)) => connection(tls, router, cancel).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "API: TLS handshake failed"),
                Err(_) => tracing::debug!("API: TLS handshake timed out"),
            }
        }
    })
    .await
}

/// Accepts connections until `cancel` fires, each served by `serve` in a task of its own, its
/// writes bounded by [`WRITE_TIMEOUT`].
async fn accept<F, Fut>(listener: TcpListener, cancel: CancellationToken, tracker: TaskTracker, serve: F)
where
    F: Fn(TimeoutStream<tokio::net::TcpStream>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                crate::network::sockets::after_accept_error(&e, "API").await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(WRITE_TIMEOUT));
        tracker.spawn(serve(stream));
    }
}

/// A connection's stream, its writes bounded by [`WRITE_TIMEOUT`].
type Timed = Pin<Box<TimeoutStream<tokio::net::TcpStream>>>;

async fn connection<S>(stream: S, router: Router, cancel: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let io = TokioIo::new(stream);
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "API: connection ended");
            }
        }
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn).await;
        }
    }
}
