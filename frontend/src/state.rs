//! The cluster as the dashboard knows it: every object from the websocket watch, replaced whole
//! on `SYNC` and patched by each `ADDED`/`MODIFIED`/`DELETED`. The feed reconnects (and the server
//! resyncs) after a drop.
//!
//! Reactivity is fine-grained so that tables stay fast at 10,000 pods: each object has its own
//! signal (a `MODIFIED` pod re-renders only its row), each kind has a sorted key list that
//! changes only when objects come or go, and a per-kind trigger for views that aggregate a kind.

use futures::StreamExt;
use gloo_net::websocket::{Message, futures::WebSocket};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use svclab_shared::watch::LabEvent;
use svclab_shared::{Kind, Object, Typed};

/// An object's place: (namespace, name).
pub type Key = (String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

/// The objects of one kind.
#[derive(Clone, Default)]
struct KindState {
    /// Sorted keys; set only when objects are added or removed.
    keys: ArcRwSignal<Vec<Key>>,
    objects: Arc<RwLock<HashMap<Key, ArcRwSignal<Object>>>>,
    /// Notified on every change of this kind, for views that aggregate it.
    changed: ArcTrigger,
}

/// The shared cluster state.
#[derive(Clone, Copy)]
pub struct Cluster {
    kinds: StoredValue<Arc<BTreeMap<Kind, KindState>>>,
    pub connection: RwSignal<Connection>,
    /// When the last `SYNC` was applied (ms since the epoch), for the dashboard benchmark.
    pub synced_at: RwSignal<Option<f64>>,
}

impl Cluster {
    fn kind(&self, kind: Kind) -> KindState {
        self.kinds.with_value(|k| k.get(&kind).cloned().expect("every kind has a state"))
    }

    /// The keys of a kind, sorted by namespace and name. Reactive on objects coming and going.
    pub fn keys<T: Typed>(&self) -> Vec<Key> {
        self.kind(T::OBJECT_KIND).keys.get()
    }

    /// How many objects of a kind there are. Reactive on objects coming and going.
    pub fn count<T: Typed>(&self) -> usize {
        self.kind(T::OBJECT_KIND).keys.with(Vec::len)
    }

    /// One object. Reactive on that object only (and on its arrival while it is missing).
    pub fn get<T: Typed>(&self, namespace: &str, name: &str) -> Option<T> {
        let state = self.kind(T::OBJECT_KIND);
        let signal =
            state.objects.read().unwrap_or_else(|e| e.into_inner()).get(&(namespace.into(), name.into())).cloned();
        match signal {
            Some(signal) => signal.with(|o| T::from_object(o).cloned()),
            None => {
                state.keys.track();
                None
            }
        }
    }

    /// Typed copies of every object of a kind, sorted. Reactive on every change of the kind:
    /// for small kinds (nodes, services, ingresses) and views that need them all.
    pub fn list<T: Typed>(&self) -> Vec<T> {
        self.fold::<T, _>(Vec::new(), |mut out, o| {
            out.push(o.clone());
            out
        })
    }

    /// Folds over every object of a kind in key order without copying them. Reactive on every
    /// change of the kind.
    pub fn fold<T: Typed, R>(&self, init: R, mut f: impl FnMut(R, &T) -> R) -> R {
        let state = self.kind(T::OBJECT_KIND);
        state.changed.track();
        let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
        state.keys.with_untracked(|keys| {
            keys.iter().fold(init, |acc, key| match objects.get(key) {
                Some(signal) => signal.with_untracked(|o| match T::from_object(o) {
                    Some(t) => f(acc, t),
                    None => acc,
                }),
                None => acc,
            })
        })
    }

    fn apply(&self, event: LabEvent) {
        match event {
            LabEvent::Sync(snapshot) => {
                let mut by_kind: BTreeMap<Kind, Vec<Object>> = BTreeMap::new();
                for o in snapshot.objects {
                    by_kind.entry(o.kind()).or_default().push(o);
                }
                for (kind, state) in self.kinds.get_value().iter() {
                    let objects = by_kind.remove(kind).unwrap_or_default();
                    let mut keys: Vec<Key> = Vec::with_capacity(objects.len());
                    let mut map = state.objects.write().unwrap_or_else(|e| e.into_inner());
                    let mut fresh = HashMap::with_capacity(objects.len());
                    for o in objects {
                        let key = key_of(&o);
                        keys.push(key.clone());
                        // Keep a row's signal across a resync when the object is still there.
                        match map.remove(&key) {
                            Some(signal) => {
                                if signal.with_untracked(|old| old.resource_version() != o.resource_version()) {
                                    signal.set(o);
                                }
                                fresh.insert(key, signal);
                            }
                            None => {
                                fresh.insert(key, ArcRwSignal::new(o));
                            }
                        }
                    }
                    *map = fresh;
                    drop(map);
                    keys.sort();
                    if state.keys.with_untracked(|old| *old != keys) {
                        state.keys.set(keys);
                    }
                    state.changed.notify();
                }
                self.synced_at.set(Some(js_sys::Date::now()));
            }
            LabEvent::Added(o) | LabEvent::Modified(o) => {
                let state = self.kind(o.kind());
                let key = key_of(&o);
                let existing = state.objects.read().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
                match existing {
                    Some(signal) => signal.set(o),
                    None => {
                        state
                            .objects
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key.clone(), ArcRwSignal::new(o));
                        state.keys.update(|keys| {
                            if let Err(at) = keys.binary_search(&key) {
                                keys.insert(at, key);
                            }
                        });
                    }
                }
                state.changed.notify();
            }
            LabEvent::Deleted(o) => {
                let state = self.kind(o.kind());
                let key = key_of(&o);
                if state.objects.write().unwrap_or_else(|e| e.into_inner()).remove(&key).is_some() {
                    state.keys.update(|keys| keys.retain(|k| *k != key));
                }
                state.changed.notify();
            }
        }
    }
}

fn key_of(o: &Object) -> Key {
    (o.namespace().to_string(), o.name().to_string())
}

pub fn provide_cluster() -> Cluster {
    let kinds = Kind::ALL.iter().map(|k| (*k, KindState::default())).collect();
    let cluster = Cluster {
        kinds: StoredValue::new(Arc::new(kinds)),
        connection: RwSignal::new(Connection::Connecting),
        synced_at: RwSignal::new(None),
    };
    provide_context(cluster);
    spawn_local(feed(cluster));
    cluster
}

pub fn use_cluster() -> Cluster {
    expect_context::<Cluster>()
}

fn watch_url() -> String {
    let location = web_sys::window().expect("a window").location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") { "wss" } else { "ws" };
    format!("{scheme}://{}/lab/v1/watch", location.host().unwrap_or_default())
}

async fn feed(cluster: Cluster) {
    let mut delay_ms = 250;
    loop {
        if let Ok(mut socket) = WebSocket::open(&watch_url()) {
            while let Some(Ok(message)) = socket.next().await {
                let text = match message {
                    Message::Text(t) => t,
                    Message::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                };
                match serde_json::from_str::<LabEvent>(&text) {
                    Ok(event) => {
                        let sync = matches!(event, LabEvent::Sync(_));
                        cluster.apply(event);
                        if sync {
                            cluster.connection.set(Connection::Live);
                            delay_ms = 250;
                        }
                    }
                    Err(e) => leptos::logging::warn!("svclab: unreadable watch message: {e}"),
                }
            }
        }
        cluster.connection.set(Connection::Reconnecting);
        gloo_timers::future::TimeoutFuture::new(delay_ms).await;
        delay_ms = (delay_ms * 2).min(5000);
    }
}
