//! The service proxy (kube-proxy's role). A proxier task turns the Services informer's updates
//! into a [`ProxyTable`] published as an immutable snapshot through `tokio::sync::watch`; the data path
//! reads the current snapshot, holds no lock, and picks a ready endpoint per connection.

mod affinity;
mod flows;
pub mod listeners;
mod relay;
mod router;
mod table;

pub use affinity::Affinity;
pub use router::ServiceRouter;
pub use table::{Backend, Entry, NoRoute, Place, ProxyTable, Reason, Route, ServicePortRoute};

use crate::informer::{Informer, Zones};
use crate::metrics::Metrics;
use crate::store::ObjectKey;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

type Routes = Vec<Arc<ServicePortRoute>>;

/// Keeps the proxy table in step with the Services informer until `cancel` fires, and measures
/// how long each Endpoints change took to be programmed.
pub async fn run_proxier(
    informer: Informer,
    table: watch::Sender<Arc<ProxyTable>>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let mut updates = informer.subscribe();
    let mut routes: HashMap<ObjectKey, Routes> = HashMap::new();
    let mut zones = Arc::new(Zones::new());
    // Every update already waiting is taken before publishing once.
    while let Some(batch) = updates.next_batch(&cancel).await {
        for update in &batch {
            if update.relist {
                routes.clear();
            }
            if let Some(new) = &update.zones {
                zones = new.clone();
            }
            for (key, state) in &update.changed {
                match state {
                    Some(state) => routes.insert(key.clone(), table::routes_for(state)),
                    None => routes.remove(key),
                };
            }
        }
        table.send_replace(Arc::new(ProxyTable::new(routes.values().flatten().cloned(), zones.clone())));
        for update in &batch {
            update.programmed(&metrics.network_programming);
        }
    }
}
