//! The API and dashboard listener: hyper's HTTP/1.1 server (with upgrades, for exec and the
//! dashboard's feed) under the limits a server on a laptop needs against clients that never
//! finish or never read:
//!
//! - a request head must arrive within [`HEAD_TIMEOUT`] (also between the requests of a kept-alive
//!   connection, so idle connections are closed), and hold at most [`MAX_HEAD`] bytes;
//! - a write that makes no progress for [`WRITE_TIMEOUT`] ends the connection, so a watch or a
//!   WebSocket whose client stopped reading is cut off, never buffered for;
//! - running out of descriptors pauses accepting instead of spinning.

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
        let (router, cancel) = (router.clone(), cancel.clone());
        tracker.spawn(connection(stream, router, cancel));
    }
}

async fn connection(stream: tokio::net::TcpStream, router: Router, cancel: CancellationToken) {
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let io = TokioIo::new(Box::pin(stream) as Pin<Box<TimeoutStream<tokio::net::TcpStream>>>);
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
