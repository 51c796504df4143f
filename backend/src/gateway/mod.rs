//! svclab's Gateway API implementation (what a cloud's Gateway controller or Envoy Gateway is on
//! a cluster), serving the GatewayClass `svclab` (controller `svclab.io/gateway-controller`). On
//! every change to its kinds, Secrets, Namespaces or the Services informer, the control loop
//! rebuilds the [`model`], gives each Gateway an address from the load-balancer pool, listens
//! on each of its ports there, publishes each port's route table and certificates, and writes
//! the statuses ([`status`]). The data path is the ingress's own (listeners, TLS, pool, both
//! HTTP paths), reading a port's [`routes::PortRoutes`] through the same `Router` interface.

mod filters;
mod inputs;
pub mod model;
mod refs;
pub mod routes;
pub mod status;

use crate::controllers::loadbalancer::AddressPool;
use crate::informer::Informer;
use crate::ingress::certs::{self, Certificates};
use crate::ingress::listener::{self, Shared};
use crate::ingress::router::Router;
use crate::ingress::traces::Traces;
use crate::network::workers::{self, Worker};
use crate::network::{Network, sockets};
use crate::registry::Registry;
use crate::store::{ObjectKey, WatchItem};
use inputs::CertificateError;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rustls::sign::CertifiedKey;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use svclab_shared::gateway::{CONTROLLER, Gateway, GatewayClass, HttpRoute, ReferenceGrant};
use svclab_shared::{Kind, Object};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a Gateway's port is not served: its listeners' `Programmed` condition says it.
#[derive(Debug, thiserror::Error)]
enum ListenError {
    #[error("Cannot start the gateway's workers: {0}")]
    Workers(std::io::Error),
    #[error("Cannot listen on {addr}: {error}")]
    Bind { addr: SocketAddr, error: std::io::Error },
}

/// What the controller needs.
pub struct GatewayController {
    pub registry: Registry,
    pub informer: Informer,
    pub network: Network,
    /// The address pods see the Gateway's connections come from.
    pub source: Ipv4Addr,
    pub traces: Arc<Traces>,
    /// The load-balancer pool; `None` where the environment has no load balancers.
    pub pool: Option<AddressPool>,
}

/// What a new port serves.
struct Listening {
    tls: bool,
    routes: Arc<dyn Router>,
    certificates: Arc<Certificates>,
    default: Arc<CertifiedKey>,
}

/// One port being listened on.
struct Port {
    tls: bool,
    routes: watch::Sender<Arc<dyn Router>>,
    certificates: watch::Sender<Arc<Certificates>>,
    cancel: CancellationToken,
}

fn relevant(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::GatewayClass | Kind::Gateway | Kind::HttpRoute | Kind::ReferenceGrant | Kind::Secret | Kind::Namespace
    )
}

/// What the loop keeps between passes.
struct Serving {
    tasks: TaskTracker,
    /// Started with the first port listened on.
    workers: Vec<Worker>,
    ports: HashMap<(ObjectKey, u16), Port>,
    default_key: Arc<CertifiedKey>,
    /// The Gateways that had an address after the last pass.
    addressed: HashSet<ObjectKey>,
}

/// The objects one pass reads.
struct Snapshot {
    classes: Vec<GatewayClass>,
    gateways: Vec<Gateway>,
    routes: Vec<HttpRoute>,
    grants: Vec<ReferenceGrant>,
    namespaces: Vec<Namespace>,
}

impl GatewayController {
    /// The controller, its Gateways served from the first node's address like the ingress.
    pub fn new(
        registry: Registry,
        informer: Informer,
        network: Network,
        ingress: &crate::ingress::IngressAddon,
        pool: Option<AddressPool>,
    ) -> Self {
        let source = network.plan().ingress_controller_ip();
        GatewayController { registry, informer, network, source, traces: ingress.traces(), pool }
    }

    /// Runs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let store = self.registry.store().clone();
        let mut watch = store.watch();
        let mut updates = self.informer.subscribe();
        let mut serving = Serving {
            tasks: TaskTracker::new(),
            workers: Vec::new(),
            ports: HashMap::new(),
            default_key: certs::default_certificate().key,
            addressed: HashSet::new(),
        };
        loop {
            tokio::select! {
                batch = watch.next_batch(&cancel) => {
                    let Some(batch) = batch else { break };
                    let touched = batch.iter().any(|item| match item {
                        WatchItem::Relist { .. } => true,
                        WatchItem::Change(change) => relevant(change.object.kind()),
                    });
                    if !touched {
                        continue;
                    }
                }
                batch = updates.next_batch(&cancel) => if batch.is_none() { break },
            }
            self.pass(&mut serving, &cancel);
        }
        for port in serving.ports.values() {
            port.cancel.cancel();
        }
        serving.tasks.close();
        serving.tasks.wait().await;
    }

    /// One pass: the model rebuilt, the ports listened on, the statuses written.
    fn pass(&self, serving: &mut Serving, cancel: &CancellationToken) {
        let store = self.registry.store();
        let snapshot = Snapshot {
            classes: store.list_typed(None),
            gateways: store.list_typed(None),
            routes: store.list_typed(None),
            grants: store.list_typed(None),
            namespaces: store.list_typed(None),
        };
        let certificate = |ns: &str, name: &str| self.certificate(ns, name);
        let inputs = model::Inputs {
            classes: &snapshot.classes,
            gateways: &snapshot.gateways,
            routes: &snapshot.routes,
            grants: &snapshot.grants,
            namespaces: &snapshot.namespaces,
            services: &self.informer,
            certificate: &certificate,
        };
        let mut built = model::build(&inputs);
        let now = Time(jiff::Timestamp::now());
        self.write_classes(&snapshot, &built, &now);
        let mut wanted = HashSet::new();
        let mut addressed = HashSet::new();
        for mut g in std::mem::take(&mut built.gateways) {
            let key = ObjectKey::new(Kind::Gateway, &g.namespace, &g.name);
            let spec = snapshot.gateways.iter().find(|x| {
                x.metadata.namespace.as_deref() == Some(&g.namespace) && x.metadata.name.as_deref() == Some(&g.name)
            });
            let current = spec.and_then(|s| s.status.as_ref()?.addresses.as_ref()?.first()?.value.parse().ok());
            let address = self.pool.as_ref().and_then(|p| p.allocate(&key, current));
            let mut bind_errors = BTreeMap::new();
            if let Some(ip) = address {
                addressed.insert(key.clone());
                for (number, port) in std::mem::take(&mut g.ports) {
                    wanted.insert((key.clone(), number));
                    if let Err(e) = self.serve_port(serving, &key, SocketAddr::from((ip, number)), port, cancel) {
                        bind_errors.insert(number, e.to_string());
                    }
                }
            }
            if let Some(spec) = spec {
                let new = status::gateway(spec.status.as_ref(), &g, address, &bind_errors, &now);
                if spec.status.as_ref() != Some(&new) {
                    let mut updated = spec.clone();
                    updated.status = Some(new);
                    let _ = self.registry.update_status(&Object::Gateway(updated));
                }
            }
        }
        serving.ports.retain(|key, port| {
            let keep = wanted.contains(key);
            if !keep {
                port.cancel.cancel();
            }
            keep
        });
        if let Some(pool) = &self.pool {
            for key in serving.addressed.difference(&addressed) {
                pool.release(key);
            }
        }
        serving.addressed = addressed;
        self.write_routes(&snapshot, &built, &now);
    }

    /// GatewayClasses of svclab's controller are accepted.
    fn write_classes(&self, snapshot: &Snapshot, built: &model::Model, now: &Time) {
        for class in &snapshot.classes {
            if !status::ours(built, class.metadata.name.as_deref().unwrap_or_default()) {
                continue;
            }
            let mut updated = class.clone();
            updated.status = Some(status::gateway_class(class.status.as_ref(), class.metadata.generation, now));
            if updated.status != class.status {
                let _ = self.registry.update_status(&Object::GatewayClass(updated));
            }
        }
    }

    /// Each route's parents of svclab's (and a route that had some and has none now).
    fn write_routes(&self, snapshot: &Snapshot, built: &model::Model, now: &Time) {
        for route in &snapshot.routes {
            let meta = &route.metadata;
            let key = format!(
                "{}/{}",
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            );
            let states = built.routes.get(&key).map(Vec::as_slice).unwrap_or_default();
            let had_ours =
                route.status.as_ref().is_some_and(|s| s.parents.iter().any(|p| p.controller_name == CONTROLLER));
            if states.is_empty() && !had_ours {
                continue;
            }
            let new = status::http_route(route.status.as_ref(), states, meta.generation, now);
            if route.status.as_ref() != Some(&new) {
                let mut updated = route.clone();
                updated.status = Some(new);
                let _ = self.registry.update_status(&Object::HttpRoute(updated));
            }
        }
    }

    /// Serves `port` on `addr`: the running listeners get the new routes and certificates, or
    /// new ones listen (again, when the port turned from HTTP to HTTPS or back).
    fn serve_port(
        &self,
        serving: &mut Serving,
        key: &ObjectKey,
        addr: SocketAddr,
        port: model::PortModel,
        cancel: &CancellationToken,
    ) -> Result<(), ListenError> {
        let id = (key.clone(), addr.port());
        let routes: Arc<dyn Router> = Arc::new(port.routes);
        let certificates = Arc::new(port.certificates);
        match serving.ports.get(&id) {
            Some(running) if running.tls == port.tls => {
                running.routes.send_replace(routes);
                running.certificates.send_replace(certificates);
                return Ok(());
            }
            Some(old) => old.cancel.cancel(),
            None => {}
        }
        serving.ports.remove(&id);
        if serving.workers.is_empty() {
            serving.workers = workers::start(sockets::per_core(), "gateway-worker", &serving.tasks, cancel)
                .map_err(ListenError::Workers)?;
        }
        let default = port.fallback.clone().unwrap_or_else(|| serving.default_key.clone());
        let listening = Listening { tls: port.tls, routes, certificates, default };
        let p = self
            .listen(addr, listening, &serving.workers, cancel)
            .map_err(|error| ListenError::Bind { addr, error })?;
        serving.ports.insert(id, p);
        Ok(())
    }

    /// A `kubernetes.io/tls` Secret's certificate, or why it cannot be used.
    fn certificate(&self, ns: &str, name: &str) -> Result<Arc<CertifiedKey>, CertificateError> {
        let secret = || format!("{ns}/{name}");
        let found: Secret =
            self.registry.store().get_typed(ns, name).ok_or_else(|| CertificateError::Missing(secret()))?;
        if found.type_.as_deref() != Some("kubernetes.io/tls") {
            return Err(CertificateError::NotTls(secret()));
        }
        match certs::from_secret(&found) {
            Some(loaded) => {
                loaded.map(|c| c.key).map_err(|error| CertificateError::Invalid { secret: secret(), error })
            }
            None => Err(CertificateError::NoKeyPair(secret())),
        }
    }

    /// Listens on `addr`, one listener per worker, serving from `routes`.
    fn listen(
        &self,
        addr: SocketAddr,
        what: Listening,
        workers: &[Worker],
        cancel: &CancellationToken,
    ) -> std::io::Result<Port> {
        let Listening { tls, routes, certificates, default } = what;
        let listeners = sockets::tcp_std(addr, workers.len())?;
        let (routes_tx, routes_rx) = watch::channel(routes);
        let (certs_tx, certs_rx) = watch::channel(certificates);
        let cancel = cancel.child_token();
        let shared = Shared {
            routes: routes_rx,
            network: self.network.clone(),
            source: self.source,
            traces: self.traces.clone(),
            fast_path: true,
        };
        let acceptor = tls.then(|| listener::tls_acceptor(certs_rx, default));
        for (l, worker) in listeners.into_iter().zip(workers) {
            worker.clone().spawn(listener::serve(l, worker.clone(), shared.clone(), acceptor.clone(), cancel.clone()));
        }
        tracing::info!(%addr, tls, "gateway listening");
        Ok(Port { tls, routes: routes_tx, certificates: certs_tx, cancel })
    }
}
