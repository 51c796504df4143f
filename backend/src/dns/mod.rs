//! Cluster DNS (CoreDNS' role), on hickory-server: the cluster zone per the Kubernetes DNS
//! specification, answered from a snapshot rebuilt on every update of the Services informer and
//! swapped in whole (hickory's own catalog cannot change once serving).
//!
//! - [`records`]: the zone's records (pure);
//! - [`handler`]: the hickory request handler over the snapshot, and the upstream forwarder;
//! - [`udp`]: the UDP threads that feed it (TCP is hickory's own server), which keep the
//!   answers they sent per question ([`answers`]) and send them again while the zone is the same;
//! - [`client`]: one DNS exchange over real sockets.

mod answers;
pub mod client;
pub mod handler;
pub mod records;
mod udp;

use crate::informer::Informer;
use crate::metrics::Metrics;
use handler::{ClusterDns, SharedSnapshot};
use hickory_proto::rr::Name;
use hickory_server::Server;
use records::{Snapshot, Zone};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
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
    informer: Informer,
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
    tracker.spawn(keep_zone(informer, snapshot, domain, config.ttl, metrics, cancel));
    Ok(addr)
}

/// Rebuilds the zone on every update of the Services informer, and measures how long a change
/// took to be answered (CoreDNS' `dns_programming_duration_seconds`).
async fn keep_zone(
    informer: Informer,
    snapshot: SharedSnapshot,
    domain: Name,
    ttl: u32,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let mut updates = informer.subscribe();
    let mut zone = Zone::new(&domain, ttl);
    while let Some(batch) = updates.next_batch(&cancel).await {
        for update in &batch {
            if update.relist {
                zone.clear();
            }
            for (key, state) in &update.changed {
                let records = state.as_ref().map(|state| zone.records_for(state));
                zone.set(&format!("{}/{}", key.namespace, key.name), records);
            }
        }
        snapshot.replace(zone.snapshot());
        for update in &batch {
            update.programmed(&metrics.dns_programming);
        }
    }
}
