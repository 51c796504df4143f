//! The ingress's listeners: one per worker on the shared port (`SO_REUSEPORT`), TLS terminated
//! with rustls (the certificate chosen by SNI), each connection handed to [`super::downstream`]
//! on the worker that accepted it.

use super::certs::{Certificates, SniResolver};
use super::downstream;
use super::http::Peer;
use super::router::Router;
use super::server::{self, Frontend};
use super::traces::Traces;
use crate::network::Network;
use crate::network::workers::Worker;
use rustls::sign::CertifiedKey;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

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
    pub routes: watch::Receiver<Arc<dyn Router>>,
    pub network: Network,
    pub source: Ipv4Addr,
    pub traces: Arc<Traces>,
    /// See [`super::IngressConfig::fast_path`].
    pub fast_path: bool,
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
    let fast_path = shared.fast_path;
    let frontend = Frontend::new(shared.routes, shared.network, shared.source, shared.traces).fast_path(fast_path);
    // The worker's own, so that its connections do not share one across threads.
    let cancel = cancel.child_token();
    while let Some((stream, peer)) = accept(&listener, &cancel).await {
        let (frontend, cancel, peer) = (frontend.clone(), cancel.clone(), Peer::new(peer, scheme, port));
        match tls.clone() {
            None if !fast_path => worker.spawn(server::serve_with_hyper(stream, peer, frontend, cancel)),
            None => worker.spawn(downstream::serve(stream, peer, frontend, cancel)),
            Some(acceptor) => worker.spawn(async move {
                let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) if !fast_path => server::serve_with_hyper(tls, peer, frontend, cancel).await,
                    Ok(Ok(tls)) => downstream::serve(tls, peer, frontend, cancel).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "ingress: TLS handshake failed"),
                    Err(_) => tracing::debug!("ingress: TLS handshake timed out"),
                }
            }),
        };
    }
}
