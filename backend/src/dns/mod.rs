//! Cluster DNS (CoreDNS' role), on hickory-server: the cluster zone per the Kubernetes DNS
//! specification, answered from a snapshot that a watcher rebuilds whenever Services or
//! Endpoints change and swaps in whole (hickory's own catalog cannot change once serving).
//!
//! - [`records`]: the zone's records (pure);
//! - [`handler`]: the hickory request handler over the snapshot, and the upstream forwarder;
//! - [`udp`]: the UDP threads that feed it (TCP is hickory's own server);
//! - [`client`]: one DNS exchange over real sockets.

pub mod client;
pub mod handler;
pub mod records;
mod udp;

use crate::metrics::Metrics;
use crate::store::{ObjectKey, Store, WatchItem};
use handler::{ClusterDns, SharedSnapshot};
use hickory_proto::rr::Name;
use hickory_server::Server;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use records::{Snapshot, Zone};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::Kind;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the DNS server is set up.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Where it listens, UDP and TCP on the same port (`127.0.0.1:5353` by default).
    pub listen: SocketAddr,
    /// The cluster domain, `cluster.local` by default.
    pub domain: String,
    /// The TTL of every answer, 5 s by default.
    pub ttl: u32,
    /// Where names outside the cluster go; refused when unset.
    pub upstream: Option<SocketAddr>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: "127.0.0.1:5353".parse().expect("valid"),
            domain: "cluster.local".into(),
            ttl: 5,
            upstream: None,
        }
    }
}

/// Binds UDP (one socket per core, sharing the port) and TCP on one port (a free one when the
/// port is 0).
async fn bind(addr: SocketAddr) -> io::Result<(Vec<UdpSocket>, TcpListener)> {
    use crate::network::sockets;
    for _ in 0..16 {
        let udp = sockets::udp(addr, sockets::per_core())?;
        let bound = udp[0].local_addr()?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, "no port free for both UDP and TCP"))
}

/// Starts the DNS server and the watcher that keeps its zone current; returns the address it
/// listens on.
pub async fn start(
    config: &DnsConfig,
    store: Store,
    metrics: Arc<Metrics>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> io::Result<SocketAddr> {
    let domain = records::domain_name(&config.domain);
    let snapshot = SharedSnapshot::new(Snapshot::empty(&domain, config.ttl));
    let handler = ClusterDns::new(domain.clone(), snapshot.clone(), config.upstream);
    let (udp, tcp) = bind(config.listen).await?;
    let addr = tcp.local_addr()?;
    let handler = Arc::new(handler);
    udp::serve(udp, handler.clone(), tracker, cancel.clone())?;
    let mut server = Server::new(ClusterDns::clone(&handler));
    server.register_listener(tcp, Duration::from_secs(5), 64);
    let stop = cancel.clone();
    tracker.spawn(async move {
        stop.cancelled().await;
        if let Err(e) = server.shutdown_gracefully().await {
            tracing::debug!(error = %e, "DNS server stopped");
        }
    });
    tracker.spawn(keep_zone(store, snapshot, domain, config.ttl, metrics, cancel));
    Ok(addr)
}

/// Rebuilds the zone whenever Services or Endpoints change, and measures how long a change
/// took to be answered (CoreDNS' `dns_programming_duration_seconds`).
async fn keep_zone(
    store: Store,
    snapshot: SharedSnapshot,
    domain: Name,
    ttl: u32,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let mut watch = store.watch();
    let mut zone = Zone::new(&domain, ttl);
    let mut measured = crate::metrics::Triggers::default();
    while let Some(batch) = watch.next_batch(&cancel).await {
        let mut changed = Vec::new();
        for item in batch {
            absorb(item, &mut zone, &mut changed);
        }
        if changed.is_empty() {
            continue;
        }
        let mut triggers = Vec::new();
        for key in changed {
            let svc = store.get_typed::<Service>(&key.namespace, &key.name);
            let eps = store.get_typed::<Endpoints>(&key.namespace, &key.name);
            triggers.extend(measured.fresh(&key, eps.as_ref()));
            if svc.is_none() {
                measured.forget(&key);
            }
            let records = svc.map(|svc| zone.records_for(&svc, eps.as_ref()));
            zone.set(&format!("{}/{}", key.namespace, key.name), records);
        }
        snapshot.replace(zone.snapshot());
        crate::metrics::observe_since(&metrics.dns_programming, &triggers);
    }
}

fn absorb(item: WatchItem, zone: &mut Zone, changed: &mut Vec<ObjectKey>) {
    match item {
        WatchItem::Relist { objects, .. } => {
            zone.clear();
            changed.extend(objects.iter().filter(|o| o.kind() == Kind::Service).map(|o| ObjectKey::of(o)));
        }
        WatchItem::Change(change) => changed.extend(crate::proxy::service_key(&change.object)),
    }
}
