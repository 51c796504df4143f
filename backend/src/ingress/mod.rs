//! The ingress controller add-on (ingress-nginx's role; minikube's `addons enable ingress`):
//! enabled and disabled at runtime, listening on 127.0.0.1:8080 (HTTP) and :8443 (HTTPS) by
//! default. While enabled, a control loop ([`sync`]) keeps the route table and certificates and
//! the Ingresses' ADDRESS; the data path ([`server`]), one worker thread per core on each port,
//! serves requests from them.

/// `AsyncWrite` for a wrapper of a stream, passed through to its field `$inner`.
macro_rules! write_through {
    ($inner:ident) => {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.$inner).poll_write(cx, buf)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.$inner).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.$inner).poll_shutdown(cx)
        }
        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.$inner).poll_write_vectored(cx, bufs)
        }
        fn is_write_vectored(&self) -> bool {
            self.$inner.is_write_vectored()
        }
    };
}

pub mod affinity;
pub mod backend;
pub mod certs;
mod downstream;
pub mod http;
pub mod listener;
mod pool;
pub mod router;
pub mod routes;
pub mod server;
mod sync;
pub mod traces;
pub use sync::Sources;
pub mod upstream;

use crate::network::{Network, sockets, workers};
use crate::registry::Registry;
use k8s_openapi::api::networking::v1::Ingress;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where the controller listens, and whether it starts enabled.
#[derive(Clone, Debug)]
pub struct IngressConfig {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub enabled: bool,
    /// Take a free port when a configured one is taken (the defaults are common ports).
    pub fallback: bool,
    /// Whether requests without a body take the fast path (httparse both ways, in the client
    /// connection's task) rather than hyper's server and client. Off, every request goes through
    /// hyper: the tests run both ways, and the benchmark compares them.
    pub fast_path: bool,
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            http: ([127, 0, 0, 1], 8080).into(),
            https: ([127, 0, 0, 1], 8443).into(),
            enabled: true,
            fallback: true,
            fast_path: true,
        }
    }
}

/// The addresses the running controller listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub http: SocketAddr,
    pub https: SocketAddr,
}

struct Running {
    addresses: Addresses,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

struct Inner {
    config: IngressConfig,
    registry: Registry,
    informer: crate::informer::Informer,
    metrics: Arc<crate::metrics::Metrics>,
    network: Network,
    /// The address pods see the controller's connections come from (it runs on the first node).
    source: Ipv4Addr,
    default_certificate: certs::Certificate,
    /// Addresses bound before, reused when enabled again (so a port 0 stays the same).
    bound: std::sync::Mutex<Option<Addresses>>,
    running: Mutex<Option<Running>>,
    traces: Arc<traces::Traces>,
    cancel: CancellationToken,
}

/// A handle to the add-on.
#[derive(Clone)]
pub struct IngressAddon {
    inner: Arc<Inner>,
}

/// One listener per core on `addr` (or on a free port when `addr` is taken and `fallback`).
fn bind(addr: SocketAddr, fallback: bool) -> io::Result<Vec<std::net::TcpListener>> {
    let n = sockets::per_core();
    match sockets::tcp_std(addr, n) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse && fallback && addr.port() != 0 => {
            tracing::warn!(%addr, "ingress: address in use; listening on a free port instead");
            sockets::tcp_std(SocketAddr::new(addr.ip(), 0), n)
        }
        other => other,
    }
}

impl IngressAddon {
    pub fn new(
        config: IngressConfig,
        sources: sync::Sources,
        network: Network,
        source: Ipv4Addr,
        cancel: CancellationToken,
    ) -> Self {
        // Its Secrets are checked as they are written, as its validating webhook would.
        let sync::Sources { registry, informer, metrics } = sources;
        registry.add_admission_check(Arc::new(certs::TlsSecretCheck));
        let inner = Inner {
            config,
            registry,
            informer,
            metrics,
            network,
            source,
            default_certificate: certs::default_certificate(),
            bound: std::sync::Mutex::new(None),
            running: Mutex::new(None),
            traces: Arc::default(),
            cancel,
        };
        IngressAddon { inner: Arc::new(inner) }
    }

    pub fn config(&self) -> &IngressConfig {
        &self.inner.config
    }

    /// How the request with this `X-Request-ID` was routed (once; kept for recent requests).
    pub fn trace(&self, request_id: &str) -> Option<svclab_shared::lab::Hop> {
        self.inner.traces.take(request_id)
    }

    /// Where the traces of test requests are kept (the Gateways' listeners record theirs here too).
    pub fn traces(&self) -> Arc<traces::Traces> {
        self.inner.traces.clone()
    }

    /// Where it listens while enabled.
    pub async fn addresses(&self) -> Option<Addresses> {
        self.inner.running.lock().await.as_ref().map(|r| r.addresses)
    }

    /// Starts the controller (nothing happens when it already runs).
    pub async fn enable(&self) -> io::Result<Addresses> {
        let mut running = self.inner.running.lock().await;
        if let Some(r) = running.as_ref() {
            return Ok(r.addresses);
        }
        let before = *self.inner.bound.lock().unwrap_or_else(|e| e.into_inner());
        let (http_addr, https_addr) = match before {
            Some(a) => (a.http, a.https),
            None => (self.inner.config.http, self.inner.config.https),
        };
        let http = bind(http_addr, self.inner.config.fallback)?;
        let https = bind(https_addr, self.inner.config.fallback)?;
        let addresses = Addresses { http: http[0].local_addr()?, https: https[0].local_addr()? };
        *self.inner.bound.lock().unwrap_or_else(|e| e.into_inner()) = Some(addresses);

        let cancel = self.inner.cancel.child_token();
        let tasks = TaskTracker::new();
        let empty: Arc<dyn router::Router> = Arc::new(routes::RouteTable::default());
        let (routes_tx, routes_rx) = watch::channel(empty);
        let (certs_tx, certs_rx) = watch::channel(Arc::new(certs::Certificates::default()));
        let published = sync::Published { routes: routes_tx, certificates: certs_tx };
        let address = status_address(addresses.http);
        let sources = sync::Sources {
            registry: self.inner.registry.clone(),
            informer: self.inner.informer.clone(),
            metrics: self.inner.metrics.clone(),
        };
        tasks.spawn(sync::run(sources, address, published, cancel.clone()));
        let shared = listener::Shared {
            routes: routes_rx,
            network: self.inner.network.clone(),
            source: self.inner.source,
            traces: self.inner.traces.clone(),
            fast_path: self.inner.config.fast_path,
        };
        let acceptor = listener::tls_acceptor(certs_rx, self.inner.default_certificate.key.clone());
        let listeners: Vec<_> =
            http.into_iter().map(|l| (l, None)).chain(https.into_iter().map(|l| (l, Some(acceptor.clone())))).collect();
        let workers = workers::start(listeners.len(), "ingress-worker", &tasks, &cancel)?;
        for ((listener, tls), worker) in listeners.into_iter().zip(workers) {
            worker.clone().spawn(listener::serve(listener, worker, shared.clone(), tls, cancel.clone()));
        }
        tracing::info!(http = %addresses.http, https = %addresses.https, "ingress controller enabled");
        *running = Some(Running { addresses, cancel, tasks });
        Ok(addresses)
    }

    /// Stops the controller: the listeners close, open connections finish their request, and
    /// the Ingresses lose their ADDRESS.
    pub async fn disable(&self) {
        let mut running = self.inner.running.lock().await;
        let Some(r) = running.take() else { return };
        r.cancel.cancel();
        r.tasks.close();
        r.tasks.wait().await;
        let address = status_address(r.addresses.http);
        for ingress in self.inner.registry.store().list_typed::<Ingress>(None) {
            let ips =
                ingress.status.as_ref().and_then(|s| s.load_balancer.as_ref()?.ingress.clone()).unwrap_or_default();
            if ips.iter().any(|i| i.ip.as_deref() == Some(address.as_str())) {
                sync::write_status(&self.inner.registry, &ingress, None);
            }
        }
        tracing::info!("ingress controller disabled");
    }
}

/// The ADDRESS Ingresses show: the HTTP listener's IP (127.0.0.1 when it listens on all).
fn status_address(http: SocketAddr) -> String {
    if http.ip().is_unspecified() { "127.0.0.1".into() } else { http.ip().to_string() }
}
