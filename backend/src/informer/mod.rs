//! The Services informer (client-go's shared informer, kube-rs' reflector): one cache of the
//! cluster's Services, their Endpoints and what their EndpointSlices add (topology hints, and
//! the endpoints terminating yet serving), and of the nodes' zones (for topology-aware
//! routing), kept from one watch of the store, each service with its typed [`Facts`]. The
//! service proxy, the cluster DNS and the ingress controller subscribe and each derive their own snapshot from the services an [`Update`] names; how long an
//! Endpoints change took to reach each of them is measured the same way for all three
//! ([`Update::programmed`], from the endpoints controller's trigger time).

pub use svclab_shared::service::{Facts, ServiceType, Zones};

use crate::metrics::{Histogram, Triggers};
use crate::store::{ObjectKey, Store, View, WatchItem};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, RwLock};
use svclab_shared::service::SERVICE_NAME_LABEL as SERVICE_NAME;
use svclab_shared::slices::{as_endpoints, serving_terminating};
use svclab_shared::{Kind, Object};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One Service as the informer knows it.
#[derive(Debug)]
pub struct ServiceState {
    pub service: Service,
    /// Its Endpoints (same namespace and name), when there are any; else those its
    /// EndpointSlices stand for, when it has any with endpoints.
    pub endpoints: Option<Endpoints>,
    /// What its EndpointSlices tell beyond its Endpoints.
    pub sliced: SliceFacts,
    pub facts: Facts,
}

/// What a service's EndpointSlices tell beyond its Endpoints.
#[derive(Debug, Default, PartialEq)]
pub struct SliceFacts {
    /// The topology hints they give each endpoint address.
    pub hints: Hints,
    /// The endpoints terminating yet serving (which Endpoints leave out): kube-proxy's fallback
    /// when a service has no ready endpoint.
    pub terminating: Option<Endpoints>,
}

impl ServiceState {
    pub fn new(service: Service, endpoints: Option<Endpoints>) -> Self {
        ServiceState { facts: Facts::of(&service), service, endpoints, sliced: SliceFacts::default() }
    }

    pub fn with_slices(self, sliced: SliceFacts) -> Self {
        ServiceState { sliced, ..self }
    }
}

/// Where an endpoint is to serve (an EndpointSlice endpoint's `hints`): the zones, and the nodes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hint {
    pub zones: Vec<String>,
    pub nodes: Vec<String>,
}

/// The hints of a service's endpoints, by address (the endpoints without any are absent).
pub type Hints = HashMap<Ipv4Addr, Arc<Hint>>;

/// The hints the EndpointSlices labelled for a service (`kubernetes.io/service-name`) carry.
pub fn hints_of<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> Hints {
    let mut out = Hints::new();
    for endpoint in slices.into_iter().flat_map(|s| &s.endpoints) {
        let Some(hints) = &endpoint.hints else { continue };
        let hint = Hint {
            zones: hints.for_zones.iter().flatten().map(|z| z.name.clone()).collect(),
            nodes: hints.for_nodes.iter().flatten().map(|n| n.name.clone()).collect(),
        };
        if hint == Hint::default() {
            continue;
        }
        let hint = Arc::new(hint);
        for ip in endpoint.addresses.iter().filter_map(|a| a.parse().ok()) {
            out.insert(ip, hint.clone());
        }
    }
    out
}

/// What changed, as one step: the services named, with what they are now.
#[derive(Debug, Default)]
pub struct Update {
    /// The cache was rebuilt (the first update, and after the store's watch fell behind): every
    /// service not named here is gone.
    pub relist: bool,
    /// Each changed service (its key is the Service's) with its state now, `None` once deleted.
    pub changed: Vec<(ObjectKey, Option<Arc<ServiceState>>)>,
    /// The nodes' zones, when they changed (and in every relist).
    pub zones: Option<Arc<Zones>>,
    /// When the Endpoints changes it carries were made, for the programming latency.
    triggers: Vec<jiff::Timestamp>,
}

impl Update {
    /// Records how long ago the Endpoints changes in this update were made: call it once the
    /// update is published (network, DNS and ingress programming latency).
    pub fn programmed(&self, histogram: &Histogram) {
        crate::metrics::observe_since(histogram, &self.triggers);
    }
}

/// The services as the informer last saw them.
pub type Services = HashMap<ObjectKey, Arc<ServiceState>>;

/// A cloneable handle: read the cache, or subscribe to its updates.
#[derive(Clone, Default)]
pub struct Informer {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cache: RwLock<Services>,
    zones: RwLock<Arc<Zones>>,
    /// Subscribers, each sent every update; taken with the cache's updates so that a new one
    /// starts from exactly the state the next update applies to.
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Arc<Update>>>>,
}

/// A subscriber's end: every update since it subscribed, the first a relist.
pub struct Subscription {
    rx: mpsc::UnboundedReceiver<Arc<Update>>,
}

impl Subscription {
    /// The updates waiting (at least one), or `None` once `cancel` fires or the informer stops.
    pub async fn next_batch(&mut self, cancel: &CancellationToken) -> Option<Vec<Arc<Update>>> {
        let first = tokio::select! {
            _ = cancel.cancelled() => return None,
            update = self.rx.recv() => update?,
        };
        let mut batch = vec![first];
        while let Ok(more) = self.rx.try_recv() {
            batch.push(more);
        }
        Some(batch)
    }
}

impl Informer {
    pub fn new() -> Self {
        Informer::default()
    }

    /// Subscribes; the first update is a relist of what the cache holds now.
    pub fn subscribe(&self) -> Subscription {
        let mut subscribers = self.inner.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let cache = self.inner.cache.read().unwrap_or_else(|e| e.into_inner());
        let changed = cache.iter().map(|(k, s)| (k.clone(), Some(s.clone()))).collect();
        let zones = Some(self.inner.zones.read().unwrap_or_else(|e| e.into_inner()).clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Arc::new(Update { relist: true, changed, zones, triggers: vec![] }));
        subscribers.push(tx);
        Subscription { rx }
    }

    /// One service, as last seen.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<ServiceState>> {
        let key = ObjectKey::new(Kind::Service, namespace, name);
        self.inner.cache.read().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
    }

    /// Keeps the cache in step with the store until `cancel` fires.
    pub async fn run(self, store: Store, cancel: CancellationToken) {
        let mut watch = store.watch();
        let mut triggers = Triggers::default();
        while let Some(batch) = watch.next_batch(&cancel).await {
            let mut update = Update::default();
            let mut changed = Vec::new();
            // Services whose slices alone changed: published only if their hints did.
            let mut sliced = Vec::new();
            let mut nodes_changed = false;
            for item in batch {
                match item {
                    WatchItem::Relist { objects, .. } => {
                        update.relist = true;
                        changed.clear();
                        changed.extend(objects.iter().filter(|o| o.kind() == Kind::Service).map(|o| ObjectKey::of(o)));
                    }
                    WatchItem::Change(change) => {
                        nodes_changed |= change.object.kind() == Kind::Node;
                        changed.extend(service_key(&change.object));
                        sliced.extend(sliced_service(&change.object));
                        sliced.extend(change.old.as_deref().and_then(sliced_service));
                    }
                }
            }
            if update.relist || nodes_changed {
                let zones = svclab_shared::service::zones(store.list(Kind::Node, None).1.iter().map(|o| &**o));
                let current = self.inner.zones.read().unwrap_or_else(|e| e.into_inner()).clone();
                if update.relist || *current != zones {
                    update.zones = Some(Arc::new(zones));
                }
            }
            changed.sort();
            changed.dedup();
            sliced.sort();
            sliced.dedup();
            let slices = |key: &ObjectKey| slices_of(&store, &key.namespace, &key.name);
            // What the slices add: their facts, and the endpoints they stand for when the service
            // has no Endpoints object (`own`), as for a selectorless service whose user wrote slices.
            let from_slices = |key: &ObjectKey, own: bool| {
                let slices = slices(key);
                let (ns, name) = (&key.namespace, &key.name);
                let facts = SliceFacts {
                    hints: hints_of(slices.iter().map(|s| &**s)),
                    terminating: serving_terminating(ns, name, slices.iter().map(|s| &**s)),
                };
                let endpoints = (!own).then(|| as_endpoints(ns, name, slices.iter().map(|s| &**s)));
                (endpoints.flatten(), facts)
            };
            // What was read to decide (Endpoints, slices) is kept for the service's new state.
            let mut read = HashMap::new();
            for key in sliced {
                if changed.binary_search(&key).is_ok() {
                    continue;
                }
                let Some(cached) = self.get(&key.namespace, &key.name) else { continue };
                let own = store.get_typed::<Endpoints>(&key.namespace, &key.name);
                let (endpoints, facts) = from_slices(&key, own.is_some());
                if cached.sliced != facts || (own.is_none() && cached.endpoints != endpoints) {
                    read.insert(key.clone(), (own, endpoints, facts));
                    changed.push(key);
                }
            }
            if changed.is_empty() && !update.relist && update.zones.is_none() {
                continue;
            }
            changed.sort();
            for key in changed {
                let state = store.get_typed::<Service>(&key.namespace, &key.name).map(|service| {
                    let (own, sliced, facts) = read.remove(&key).unwrap_or_else(|| {
                        let own = store.get_typed::<Endpoints>(&key.namespace, &key.name);
                        let (sliced, facts) = from_slices(&key, own.is_some());
                        (own, sliced, facts)
                    });
                    let endpoints = own.or(sliced);
                    update.triggers.extend(triggers.fresh(&key, endpoints.as_ref()));
                    Arc::new(ServiceState::new(service, endpoints).with_slices(facts))
                });
                if state.is_none() {
                    triggers.forget(&key);
                }
                update.changed.push((key, state));
            }
            self.publish(update);
        }
        // Subscribers see the end of their stream.
        self.inner.subscribers.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn publish(&self, update: Update) {
        let mut subscribers = self.inner.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut cache = self.inner.cache.write().unwrap_or_else(|e| e.into_inner());
            if update.relist {
                cache.clear();
            }
            for (key, state) in &update.changed {
                match state {
                    Some(state) => cache.insert(key.clone(), state.clone()),
                    None => cache.remove(key),
                };
            }
            if let Some(zones) = &update.zones {
                *self.inner.zones.write().unwrap_or_else(|e| e.into_inner()) = zones.clone();
            }
        }
        let update = Arc::new(update);
        subscribers.retain(|tx| tx.send(update.clone()).is_ok());
    }
}

/// The EndpointSlices labelled for service `name` (`kubernetes.io/service-name`), whoever wrote
/// them.
pub fn slices_of(store: &Store, namespace: &str, name: &str) -> Vec<View<EndpointSlice>> {
    let selector = svclab_shared::selector::Selector::from_map(&[(SERVICE_NAME.to_string(), name.to_string())].into());
    store.select::<EndpointSlice>(namespace, &selector)
}

/// The service an EndpointSlice is labelled for.
fn sliced_service(object: &Object) -> Option<ObjectKey> {
    let service = object.metadata().labels.as_ref()?.get(SERVICE_NAME)?;
    (object.kind() == Kind::EndpointSlice).then(|| ObjectKey::new(Kind::Service, object.namespace(), service))
}

/// The service a Service or Endpoints change concerns (they share namespace and name).
fn service_key(object: &Object) -> Option<ObjectKey> {
    matches!(object.kind(), Kind::Service | Kind::Endpoints)
        .then(|| ObjectKey::new(Kind::Service, object.namespace(), object.name()))
}

#[cfg(test)]
mod tests;
