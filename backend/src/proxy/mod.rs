//! The service proxy (kube-proxy's role). A proxier task turns Services and Endpoints into a
//! [`ProxyTable`] published as an immutable snapshot through `tokio::sync::watch`; the data path
//! reads the current snapshot, holds no lock, and picks a ready endpoint per connection.

mod affinity;
mod flows;
pub mod listeners;
mod relay;
mod router;
mod table;

pub use affinity::Affinity;
pub use router::ServiceRouter;
pub use table::{Backend, Entry, NoRoute, ProxyTable, Reason, Route, ServicePortRoute};

use crate::metrics::Metrics;
use crate::store::{ObjectKey, Store, WatchItem};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use std::collections::HashMap;
use std::sync::Arc;
use svclab_shared::{Kind, Object};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

type Routes = Vec<Arc<ServicePortRoute>>;

/// Keeps the proxy table in step with the store until `cancel` fires, and measures how long each
/// Endpoints change took to be programmed.
pub async fn run_proxier(
    store: Store,
    table: watch::Sender<Arc<ProxyTable>>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let mut watch = store.watch();
    let mut routes: HashMap<ObjectKey, Routes> = HashMap::new();
    let mut programmed = crate::metrics::Triggers::default();
    // Every change already waiting is taken before publishing once.
    while let Some(batch) = watch.next_batch(&cancel).await {
        let mut changed = Vec::new();
        for item in batch {
            absorb(item, &mut routes, &mut changed);
        }
        if changed.is_empty() {
            continue;
        }
        let mut triggers = Vec::new();
        for key in changed {
            let svc = store.get_typed::<Service>(&key.namespace, &key.name);
            let eps = store.get_typed::<Endpoints>(&key.namespace, &key.name);
            triggers.extend(programmed.fresh(&key, eps.as_ref()));
            match svc {
                Some(svc) => routes.insert(key, table::routes_for(&svc, eps.as_ref())),
                None => {
                    programmed.forget(&key);
                    routes.remove(&key)
                }
            };
        }
        table.send_replace(Arc::new(ProxyTable::new(routes.values().flatten().cloned())));
        crate::metrics::observe_since(&metrics.network_programming, &triggers);
    }
}

/// Notes which services an item touches; a relist starts the table afresh.
fn absorb(item: WatchItem, routes: &mut HashMap<ObjectKey, Routes>, changed: &mut Vec<ObjectKey>) {
    match item {
        WatchItem::Relist { objects, .. } => {
            routes.clear();
            changed.extend(objects.iter().filter(|o| o.kind() == Kind::Service).map(|o| ObjectKey::of(o)));
        }
        WatchItem::Change(change) => changed.extend(service_key(&change.object)),
    }
}

/// The service a Service or Endpoints change concerns (they share namespace and name).
pub(crate) fn service_key(object: &Object) -> Option<ObjectKey> {
    matches!(object.kind(), Kind::Service | Kind::Endpoints)
        .then(|| ObjectKey::new(Kind::Service, object.namespace(), object.name()))
}
