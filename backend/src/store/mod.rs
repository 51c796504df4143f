//! The versioned object store: every object under one global resourceVersion, optimistic
//! concurrency on update, and a change feed that watchers consume (see [`watch`]).
//!
//! This is storage only, like etcd behind kube-apiserver: defaulting, validation and allocation
//! live in [`crate::registry`], which is the one writer. Reads are lock-and-clone of `Arc`s, so
//! they never wait on a slow reader. Each kind's objects sit in a persistent map, so a read can
//! keep the whole kind as it was at one resourceVersion for the price of a pointer copy (a paged
//! list's consistent snapshot); the latest changes are kept too, so a watch can start from a
//! resourceVersion a client already has (etcd's revisions, within its compaction window).
//!
//! The objects always live in memory; a durable store ([`Store::open`], see [`durable`]) also
//! commits each change to SQLite, in resourceVersion order, before the write returns or any
//! watcher sees it.

pub mod durable;
mod watch;

pub use durable::{Location, OpenError};
pub use watch::{Watch, WatchItem};

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use svclab_shared::selector::{Op, Selector};
use svclab_shared::{Kind, Object, Typed};
use tokio::sync::broadcast;

/// How many changes a watcher may fall behind before it has to relist.
const WATCH_BUFFER: usize = 16 * 1024;

/// How many of the latest changes are kept for watches that start from a resourceVersion.
const HISTORY: usize = 16 * 1024;

/// One kind's objects by (namespace, name), as they are at one resourceVersion.
pub type KindMap = imbl::OrdMap<(String, String), Arc<Object>>;

/// Identifies one object: kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        let namespace = if kind.namespaced() { namespace.to_string() } else { String::new() };
        ObjectKey { kind, namespace, name: name.to_string() }
    }

    pub fn of(object: &Object) -> Self {
        ObjectKey::new(object.kind(), object.namespace(), object.name())
    }
}

/// A stored object seen as its type, without copying it.
pub struct View<T> {
    object: Arc<Object>,
    kind: std::marker::PhantomData<T>,
}

impl<T: Typed> std::ops::Deref for View<T> {
    type Target = T;
    fn deref(&self) -> &T {
        T::from_object(&self.object).expect("a view is made only for objects of its kind")
    }
}

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed change. `old` is the object before a modification or deletion.
#[derive(Debug)]
pub struct Change {
    pub resource_version: u64,
    pub change: ChangeType,
    pub object: Arc<Object>,
    pub old: Option<Arc<Object>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("the object has been modified")]
    Conflict,
    /// The change could not be made durable (the database failed, or the store was closed);
    /// no write is accepted after that.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Default)]
struct State {
    resource_version: u64,
    objects: HashMap<Kind, KindMap>,
    /// Which objects carry each label: (kind, namespace, key, value) → names.
    labels: HashMap<LabelKey, BTreeSet<String>>,
    /// The latest changes, oldest first.
    history: VecDeque<Arc<Change>>,
}

type LabelKey = (Kind, String, String, String);

impl State {
    fn index(&mut self, object: &Object, add: bool) {
        let Some(labels) = &object.metadata().labels else { return };
        for (k, v) in labels {
            let key = (object.kind(), object.namespace().to_string(), k.clone(), v.clone());
            if add {
                self.labels.entry(key).or_default().insert(object.name().to_string());
            } else if let Some(names) = self.labels.get_mut(&key) {
                names.remove(object.name());
                if names.is_empty() {
                    self.labels.remove(&key);
                }
            }
        }
    }
}

struct Inner {
    state: RwLock<State>,
    changes: broadcast::Sender<Arc<Change>>,
    /// Where changes are committed before they are published; `None` for an in-memory store.
    durable: Option<durable::Log>,
}

impl Inner {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells watchers about committed changes, in resourceVersion order. Called with the write
    /// lock held, so a new watcher's snapshot and subscription line up exactly.
    fn publish(&self, state: &mut State, change: Arc<Change>) {
        if state.history.len() == HISTORY {
            state.history.pop_front();
        }
        state.history.push_back(change.clone());
        let _ = self.changes.send(change);
    }
}

/// A cheap, cloneable handle to the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Self::with_watch_buffer(WATCH_BUFFER)
    }

    /// An in-memory store whose watchers relist after falling `buffer` changes behind.
    pub fn with_watch_buffer(buffer: usize) -> Self {
        let (changes, _) = broadcast::channel(buffer);
        Store { inner: Arc::new(Inner { state: RwLock::new(State::default()), changes, durable: None }) }
    }

    /// A durable store: takes the cluster's lock, migrates the database, loads every object it
    /// holds and continues from its resourceVersion.
    pub fn open(location: &Location) -> Result<Self, OpenError> {
        Self::open_with_watch_buffer(location, WATCH_BUFFER)
    }

    pub fn open_with_watch_buffer(location: &Location, buffer: usize) -> Result<Self, OpenError> {
        let (database, loaded) = durable::Database::open(location)?;
        let mut state = State { resource_version: loaded.resource_version, ..State::default() };
        for object in loaded.objects {
            let object = Arc::new(object);
            state.index(&object, true);
            let key = (object.namespace().to_string(), object.name().to_string());
            state.objects.entry(object.kind()).or_default().insert(key, object);
        }
        let (changes, _) = broadcast::channel(buffer);
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            let publish = move |batch: Vec<Arc<Change>>| {
                if let Some(inner) = weak.upgrade() {
                    let mut state = inner.write();
                    for change in batch {
                        inner.publish(&mut state, change);
                    }
                }
            };
            let log = durable::Log::start(database, Box::new(publish));
            Inner { state: RwLock::new(state), changes, durable: Some(log) }
        });
        Ok(Store { inner })
    }

    /// How many commits a durable store has made.
    pub fn commits(&self) -> Option<u64> {
        self.inner.durable.as_ref().map(durable::Log::commits)
    }

    /// Stops committing: waits for the changes already made, then closes the database and
    /// releases the cluster's lock. Writes after this fail with [`StoreError::Unavailable`].
    pub fn close(&self) {
        if let Some(log) = &self.inner.durable {
            log.close();
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.write()
    }

    /// Makes a change the state already holds count: an in-memory store publishes it at once; a
    /// durable one hands it to the log under the lock (so the log sees resourceVersion order),
    /// then waits, without the lock, for the commit that carries it (and publishes it) — or,
    /// under [`durable::deferring`], leaves that wait to the caller.
    fn commit(
        &self,
        mut state: std::sync::RwLockWriteGuard<'_, State>,
        change: ChangeType,
        object: Arc<Object>,
        old: Option<Arc<Object>>,
    ) -> Result<(), StoreError> {
        let change = Arc::new(Change { resource_version: state.resource_version, change, object, old });
        match &self.inner.durable {
            None => {
                self.inner.publish(&mut state, change);
                Ok(())
            }
            Some(log) => {
                let rv = change.resource_version;
                log.append(change)?;
                drop(state);
                if log.defer(rv) { Ok(()) } else { log.wait(rv) }
            }
        }
    }

    /// Whether it can take writes: a durable store that can no longer commit refuses them before
    /// they change anything (and `/readyz` says so).
    pub fn writable(&self) -> Result<(), StoreError> {
        match &self.inner.durable {
            Some(log) => log.healthy(),
            None => Ok(()),
        }
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.read().objects.values().map(|m| m.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The resourceVersion of the latest change.
    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Object>> {
        let state = self.read();
        state.objects.get(&key.kind)?.get(&(key.namespace.clone(), key.name.clone())).cloned()
    }

    /// A typed copy of one object.
    pub fn get_typed<T: Typed>(&self, namespace: &str, name: &str) -> Option<T> {
        let object = self.get(&ObjectKey::new(T::OBJECT_KIND, namespace, name))?;
        T::from_object(&object).cloned()
    }

    /// Every object of a kind, in one namespace or all (`None`), with the resourceVersion of the list.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> (u64, Vec<Arc<Object>>) {
        let state = self.read();
        let items = match state.objects.get(&kind) {
            None => Vec::new(),
            Some(map) => match namespace {
                None => map.values().cloned().collect(),
                Some(ns) => {
                    let start = (ns.to_string(), String::new());
                    map.range(start..).take_while(|((n, _), _)| n == ns).map(|(_, o)| o.clone()).collect()
                }
            },
        };
        (state.resource_version, items)
    }

    /// A kind's objects as they are now, and the resourceVersion they are at; later writes do
    /// not change it.
    pub fn kind_snapshot(&self, kind: Kind) -> (u64, KindMap) {
        let state = self.read();
        (state.resource_version, state.objects.get(&kind).cloned().unwrap_or_default())
    }

    /// Every object of a kind in one namespace or all, as shared typed views (nothing is copied).
    pub fn list_views<T: Typed>(&self, namespace: Option<&str>) -> Vec<View<T>> {
        let (_, items) = self.list(T::OBJECT_KIND, namespace);
        items.into_iter().map(|object| View { object, kind: std::marker::PhantomData }).collect()
    }

    /// The objects of a kind in a namespace that a selector matches, as shared typed views. An
    /// equality term of the selector narrows the candidates through the label index first.
    pub fn select<T: Typed>(&self, namespace: &str, selector: &Selector) -> Vec<View<T>> {
        let state = self.read();
        let Some(map) = state.objects.get(&T::OBJECT_KIND) else { return vec![] };
        let narrowest = selector
            .requirements()
            .iter()
            .filter(|r| matches!(r.op, Op::Equals | Op::In) && r.values.len() == 1)
            .map(|r| {
                let key = (T::OBJECT_KIND, namespace.to_string(), r.key.clone(), r.values[0].clone());
                state.labels.get(&key)
            })
            .min_by_key(|names| names.map_or(0, BTreeSet::len));
        let candidates: Vec<&Arc<Object>> = match narrowest {
            Some(None) => vec![],
            Some(Some(names)) => names.iter().filter_map(|n| map.get(&(namespace.to_string(), n.clone()))).collect(),
            None => {
                let start = (namespace.to_string(), String::new());
                map.range(start..).take_while(|((n, _), _)| n == namespace).map(|(_, o)| o).collect()
            }
        };
        candidates
            .into_iter()
            .filter(|o| selector.matches_opt(o.metadata().labels.as_ref()))
            .map(|o| View { object: o.clone(), kind: std::marker::PhantomData })
            .collect()
    }

    /// Typed copies of every object of a kind in one namespace or all.
    pub fn list_typed<T: Typed>(&self, namespace: Option<&str>) -> Vec<T> {
        let (_, items) = self.list(T::OBJECT_KIND, namespace);
        items.iter().filter_map(|o| T::from_object(o).cloned()).collect()
    }

    /// Every object of every kind, at one resourceVersion.
    pub fn snapshot(&self) -> (u64, Vec<Arc<Object>>) {
        let state = self.read();
        let mut all = Vec::new();
        for kind in Kind::ALL {
            if let Some(map) = state.objects.get(kind) {
                all.extend(map.values().cloned());
            }
        }
        (state.resource_version, all)
    }

    /// Subscribes to changes, starting with a consistent snapshot of everything.
    pub fn watch(&self) -> Watch {
        Watch::new(self.clone(), self.inner.changes.subscribe())
    }

    /// Subscribes to the changes after `resource_version`, those already made first; `Err` with
    /// the oldest resourceVersion still known when the changes right after it are no longer kept.
    pub fn watch_from(&self, resource_version: u64) -> Result<Watch, u64> {
        let state = self.read();
        let oldest = state.history.front().map_or(state.resource_version, |c| c.resource_version - 1);
        if resource_version < oldest {
            return Err(oldest);
        }
        // Subscribing under the lock lines the backlog and the feed up exactly: every change is
        // published with the write lock held.
        let rx = self.inner.changes.subscribe();
        let backlog = state.history.iter().filter(|c| c.resource_version > resource_version).cloned().collect();
        Ok(Watch::resume(self.clone(), rx, resource_version, backlog))
    }

    /// Stores a new object and gives it the next resourceVersion.
    pub fn create(&self, mut object: Object) -> Result<Arc<Object>, StoreError> {
        let mut state = self.write();
        self.writable()?;
        let key = (object.namespace().to_string(), object.name().to_string());
        if state.objects.get(&object.kind()).is_some_and(|m| m.contains_key(&key)) {
            return Err(StoreError::AlreadyExists);
        }
        state.resource_version += 1;
        let rv = state.resource_version;
        object.metadata_mut().resource_version = Some(rv.to_string());
        let object = Arc::new(object);
        state.objects.entry(object.kind()).or_default().insert(key, object.clone());
        state.index(&object, true);
        self.commit(state, ChangeType::Added, object.clone(), None)?;
        Ok(object)
    }

    /// Replaces an object. A non-empty resourceVersion on `object` must equal the stored one
    /// (optimistic concurrency); an update that changes nothing keeps the old resourceVersion and
    /// tells no watcher.
    pub fn update(&self, mut object: Object) -> Result<Arc<Object>, StoreError> {
        let mut state = self.write();
        self.writable()?;
        let key = (object.namespace().to_string(), object.name().to_string());
        let current = state.objects.get(&object.kind()).and_then(|m| m.get(&key)).cloned();
        let current = current.ok_or(StoreError::NotFound)?;
        let wanted = object.metadata().resource_version.clone().unwrap_or_default();
        let stored = current.metadata().resource_version.clone().unwrap_or_default();
        if !wanted.is_empty() && wanted != stored {
            return Err(StoreError::Conflict);
        }
        object.metadata_mut().resource_version = Some(stored);
        if object == *current {
            return Ok(current);
        }
        state.resource_version += 1;
        let rv = state.resource_version;
        object.metadata_mut().resource_version = Some(rv.to_string());
        let object = Arc::new(object);
        state.objects.entry(object.kind()).or_default().insert(key, object.clone());
        if object.metadata().labels != current.metadata().labels {
            state.index(&current, false);
            state.index(&object, true);
        }
        self.commit(state, ChangeType::Modified, object.clone(), Some(current))?;
        Ok(object)
    }

    /// Removes an object; with `resource_version`, only if it is still that version.
    pub fn delete(&self, key: &ObjectKey, resource_version: Option<&str>) -> Result<Arc<Object>, StoreError> {
        let mut state = self.write();
        self.writable()?;
        let map_key = (key.namespace.clone(), key.name.clone());
        let map = state.objects.get_mut(&key.kind).ok_or(StoreError::NotFound)?;
        let current = map.get(&map_key).ok_or(StoreError::NotFound)?;
        if let Some(rv) = resource_version
            && current.metadata().resource_version.as_deref() != Some(rv)
        {
            return Err(StoreError::Conflict);
        }
        let old = map.remove(&map_key).expect("checked above");
        state.index(&old, false);
        state.resource_version += 1;
        let rv = state.resource_version;
        // A deletion event carries the object as it was, at the deletion's resourceVersion.
        let mut gone = (*old).clone();
        gone.metadata_mut().resource_version = Some(rv.to_string());
        let gone = Arc::new(gone);
        self.commit(state, ChangeType::Deleted, gone, Some(old.clone()))?;
        Ok(old)
    }
}

#[cfg(test)]
mod tests;
