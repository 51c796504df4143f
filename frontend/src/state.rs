//! The cluster as the dashboard knows it, list then watch: every object from `GET /lab/v1/state`
//! (which index.html starts while the WebAssembly loads), then the websocket watch from its
//! resourceVersion, each `ADDED`/`MODIFIED`/`DELETED` patching it. The feed reconnects after a
//! drop, and the server then resyncs it with a `SYNC` that replaces everything.
//!
//! Built to stay fast at 10,000 pods:
//! - messages are parsed by the browser's own `JSON.parse`, and each object is typed (decoded
//!   into its `k8s-openapi` struct) only when something reads it, once: a table that shows 30 of
//!   10,000 pods decodes 30;
//! - each object has its own signal, so a `MODIFIED` pod re-renders only its row; each kind has a
//!   sorted key list that changes only when objects come or go, and a trigger for views that
//!   aggregate a kind.

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};
use svclab_shared::{Kind, Object, Typed};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `JSON.parse` on a JavaScript string, without copying it into Rust first.
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;

    /// The browser's `TextDecoder`, giving a JavaScript string without copying it into Rust.
    type Utf8;
    #[wasm_bindgen(constructor, js_class = "TextDecoder")]
    fn new() -> Utf8;
    #[wasm_bindgen(method, js_class = "TextDecoder")]
    fn decode(this: &Utf8, buffer: &JsValue) -> JsValue;
}

/// An object's place: (namespace, name).
pub type Key = (String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

/// One object as received, decoded on first use.
struct Slot {
    raw: SendWrapper<JsValue>,
    resource_version: String,
    /// For pods: the node it is bound to (read without decoding the pod).
    node: Option<String>,
    /// What summaries count, read without decoding: for pods, whether it is Ready (1 or 0); for
    /// events, whether it is a Warning; for Endpoints, the ready and the not-ready addresses.
    counts: [u32; 2],
    typed: OnceLock<Option<Object>>,
}

impl Slot {
    /// The object as its own type `T`, decoded the first time it is read (straight into `T`,
    /// so the dashboard carries the decoders of the kinds it shows only).
    fn typed<T: Typed + DeserializeOwned>(&self) -> Option<&T> {
        self.typed
            .get_or_init(|| {
                let text = js_sys::JSON::stringify(&self.raw).ok()?.as_string()?;
                serde_json::from_str::<T>(&text)
                    .map(T::into_object)
                    .map_err(|e| leptos::logging::warn!("svclab: an object the dashboard can't read: {e}"))
                    .ok()
            })
            .as_ref()
            .and_then(T::from_object)
    }
}

/// The objects of one kind.
#[derive(Clone, Default)]
struct KindState {
    /// Sorted keys; set only when objects are added or removed.
    keys: ArcRwSignal<Vec<Key>>,
    objects: Arc<RwLock<HashMap<Key, ArcRwSignal<Arc<Slot>>>>>,
    /// Notified on every change of this kind, for views that aggregate it.
    changed: ArcTrigger,
}

/// Counts over a kind's objects, read without decoding them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub objects: usize,
    /// The sum of each object's first count (ready pods, warnings, ready addresses).
    pub first: usize,
    /// The sum of the second (not-ready addresses).
    pub second: usize,
    /// How many objects have a first count above zero (Endpoints with a ready address).
    pub with_first: usize,
}

/// The shared cluster state.
#[derive(Clone, Copy)]
pub struct Cluster {
    kinds: StoredValue<Arc<BTreeMap<Kind, KindState>>>,
    pub connection: RwSignal<Connection>,
}

/// The field names read from every object, made once as JavaScript strings.
struct Fields {
    api_version: JsValue,
    kind: JsValue,
    metadata: JsValue,
    namespace: JsValue,
    name: JsValue,
    resource_version: JsValue,
    spec: JsValue,
    node_name: JsValue,
    status: JsValue,
    conditions: JsValue,
    ready: JsValue,
    true_: JsValue,
    warning: JsValue,
    subsets: JsValue,
    addresses: JsValue,
    not_ready_addresses: JsValue,
    labels: JsValue,
    type_: JsValue,
    object: JsValue,
    objects: JsValue,
}

thread_local! {
    static FIELDS: Fields = Fields {
        api_version: "apiVersion".into(),
        kind: "kind".into(),
        metadata: "metadata".into(),
        namespace: "namespace".into(),
        name: "name".into(),
        resource_version: "resourceVersion".into(),
        spec: "spec".into(),
        node_name: "nodeName".into(),
        status: "status".into(),
        conditions: "conditions".into(),
        ready: "Ready".into(),
        true_: "True".into(),
        warning: "Warning".into(),
        subsets: "subsets".into(),
        addresses: "addresses".into(),
        not_ready_addresses: "notReadyAddresses".into(),
        labels: "labels".into(),
        type_: "type".into(),
        object: "object".into(),
        objects: "objects".into(),
    };
}

fn get(value: &JsValue, field: &JsValue) -> JsValue {
    if !value.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(value, field).unwrap_or(JsValue::UNDEFINED)
}

/// An object as received: its kind, key and slot.
fn slot(raw: JsValue) -> Option<(Kind, Key, Slot)> {
    FIELDS.with(|f| {
        let kind = Kind::from_type(&get(&raw, &f.api_version).as_string()?, &get(&raw, &f.kind).as_string()?)?;
        let metadata = get(&raw, &f.metadata);
        let key = (get(&metadata, &f.namespace).as_string().unwrap_or_default(), get(&metadata, &f.name).as_string()?);
        let resource_version = get(&metadata, &f.resource_version).as_string().unwrap_or_default();
        let node = (kind == Kind::Pod).then(|| get(&get(&raw, &f.spec), &f.node_name).as_string()).flatten();
        let counts = match kind {
            Kind::Pod => {
                let ready =
                    get(&get(&raw, &f.status), &f.conditions).dyn_into::<js_sys::Array>().is_ok_and(|conditions| {
                        conditions.iter().any(|c| get(&c, &f.type_) == f.ready && get(&c, &f.status) == f.true_)
                    });
                [u32::from(ready), 0]
            }
            Kind::Event => [u32::from(get(&raw, &f.type_) == f.warning), 0],
            Kind::Endpoints => addresses(&get(&raw, &f.subsets), f),
            _ => [0, 0],
        };
        Some((kind, key, Slot { raw: SendWrapper::new(raw), resource_version, node, counts, typed: OnceLock::new() }))
    })
}

/// How many ready and not-ready addresses an Endpoints' `subsets` hold.
fn addresses(subsets: &JsValue, f: &Fields) -> [u32; 2] {
    let length = |list: JsValue| list.dyn_into::<js_sys::Array>().map_or(0, |a| a.length());
    subsets.clone().dyn_into::<js_sys::Array>().map_or([0, 0], |subsets| {
        subsets.iter().fold([0, 0], |[ready, not], s| {
            [ready + length(get(&s, &f.addresses)), not + length(get(&s, &f.not_ready_addresses))]
        })
    })
}

/// A message's `type`, and its `object`.
fn message_parts(message: &JsValue) -> (Option<String>, JsValue) {
    FIELDS.with(|f| (get(message, &f.type_).as_string(), get(message, &f.object)))
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
        self.count_of(T::OBJECT_KIND)
    }

    /// [`Self::count`] by kind.
    pub fn count_of(&self, kind: Kind) -> usize {
        self.kind(kind).keys.with(Vec::len)
    }

    /// One object. Reactive on that object only (and on its arrival while it is missing).
    pub fn get<T: Typed + DeserializeOwned>(&self, namespace: &str, name: &str) -> Option<T> {
        let state = self.kind(T::OBJECT_KIND);
        let signal =
            state.objects.read().unwrap_or_else(|e| e.into_inner()).get(&(namespace.into(), name.into())).cloned();
        match signal {
            Some(signal) => signal.with(|slot| slot.typed::<T>().cloned()),
            None => {
                state.keys.track();
                None
            }
        }
    }

    /// A service's endpoints: its Endpoints object, or else those its EndpointSlices stand for (a
    /// selectorless service whose user wrote slices, which the proxy and DNS serve). Reactive
    /// like [`Self::get`], and on every slice change while there is no Endpoints object.
    pub fn endpoints(&self, namespace: &str, name: &str) -> Option<k8s_openapi::api::core::v1::Endpoints> {
        self.get(namespace, name).or_else(|| {
            let label = [(svclab_shared::service::SERVICE_NAME_LABEL.to_string(), name.to_string())].into();
            let slices = self.selected::<k8s_openapi::api::discovery::v1::EndpointSlice>(namespace, &label);
            svclab_shared::slices::as_endpoints(namespace, name, &slices)
        })
    }

    /// The endpoints of a service that are terminating yet serving (from its EndpointSlices),
    /// which the proxy sends to while none is ready.
    /// Found by name (the controller names them `<service>-…`), so that a service reads only its
    /// own: reactive on slices coming and going, and on its own slices' changes.
    pub fn draining(&self, namespace: &str, name: &str) -> Option<k8s_openapi::api::core::v1::Endpoints> {
        use k8s_openapi::api::discovery::v1::EndpointSlice;
        let prefix = format!("{name}-");
        let names: Vec<String> = self.kind(Kind::EndpointSlice).keys.with(|keys| {
            let start = keys.partition_point(|(ns, n)| (ns.as_str(), n.as_str()) < (namespace, prefix.as_str()));
            keys[start..]
                .iter()
                .take_while(|(ns, n)| ns == namespace && n.starts_with(&prefix))
                .map(|(_, n)| n.clone())
                .collect()
        });
        let label = svclab_shared::service::SERVICE_NAME_LABEL;
        let slices: Vec<EndpointSlice> = names
            .iter()
            .filter_map(|n| self.get::<EndpointSlice>(namespace, n))
            .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get(label)).is_some_and(|s| s == name))
            .collect();
        svclab_shared::slices::serving_terminating(namespace, name, &slices)
    }

    /// An object as the server sent it, as JSON (for manifests: nothing is decoded into types or
    /// encoded back). Not reactive.
    pub fn raw(&self, kind: Kind, namespace: &str, name: &str) -> Option<serde_json::Value> {
        let state = self.kind(kind);
        let signal =
            state.objects.read().unwrap_or_else(|e| e.into_inner()).get(&(namespace.into(), name.into())).cloned()?;
        let text = signal.with_untracked(|slot| js_sys::JSON::stringify(&slot.raw).ok()?.as_string())?;
        serde_json::from_str(&text).ok()
    }

    /// Every object of a kind as the server sent it, as JSON, in key order (nothing decoded
    /// into types). Reactive on every change of the kind.
    pub fn raw_all(&self, kind: Kind) -> Vec<serde_json::Value> {
        let state = self.kind(kind);
        state.changed.track();
        state.keys.track();
        let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
        state.keys.with_untracked(|keys| {
            keys.iter()
                .filter_map(|key| {
                    let text = objects
                        .get(key)?
                        .with_untracked(|slot| js_sys::JSON::stringify(&slot.raw).ok()?.as_string())?;
                    serde_json::from_str(&text).ok()
                })
                .collect()
        })
    }

    /// Typed copies of every object of a kind, sorted. Reactive on every change of the kind:
    /// for small kinds (nodes, services, ingresses) and views that need them all.
    pub fn list<T: Typed + DeserializeOwned>(&self) -> Vec<T> {
        self.fold::<T, _>(Vec::new(), |mut out, o| {
            out.push(o.clone());
            out
        })
    }

    /// Folds over every object of a kind in key order without copying them. Reactive on every
    /// change of the kind.
    pub fn fold<T: Typed + DeserializeOwned, R>(&self, init: R, mut f: impl FnMut(R, &T) -> R) -> R {
        let state = self.kind(T::OBJECT_KIND);
        state.changed.track();
        let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
        state.keys.with_untracked(|keys| {
            keys.iter().fold(init, |acc, key| match objects.get(key) {
                Some(signal) => signal.with_untracked(|slot| match slot.typed::<T>() {
                    Some(t) => f(acc, t),
                    None => acc,
                }),
                None => acc,
            })
        })
    }

    /// How many pods each node has, read without decoding the pods. Reactive on pod changes.
    pub fn pods_per_node(&self) -> HashMap<String, usize> {
        let state = self.kind(Kind::Pod);
        state.changed.track();
        let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
        let mut counts = HashMap::new();
        for signal in objects.values() {
            if let Some(node) = signal.with_untracked(|slot| slot.node.clone()) {
                *counts.entry(node).or_default() += 1;
            }
        }
        counts
    }

    /// Counts over the objects of a kind in the namespaces `shown` accepts, read without
    /// decoding them (see `Slot::counts`). Reactive on every change of the kind.
    pub fn tally<T: Typed>(&self, shown: impl Fn(&str) -> bool) -> Tally {
        let state = self.kind(T::OBJECT_KIND);
        state.changed.track();
        let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
        let mut tally = Tally::default();
        for (_, signal) in objects.iter().filter(|((namespace, _), _)| shown(namespace)) {
            let [first, second] = signal.with_untracked(|slot| slot.counts);
            tally.objects += 1;
            tally.first += first as usize;
            tally.second += second as usize;
            tally.with_first += usize::from(first > 0);
        }
        tally
    }

    /// The objects of a kind in `namespace` whose labels hold every `key=value` of `selector` (a
    /// Service's selector), sorted; the labels are read off the raw objects, so only the
    /// matching ones are decoded. Reactive on every change of the kind.
    pub fn selected<T: Typed + DeserializeOwned>(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Vec<T> {
        let state = self.kind(T::OBJECT_KIND);
        state.changed.track();
        let wanted: Vec<(JsValue, JsValue)> =
            selector.iter().map(|(k, v)| (JsValue::from_str(k), JsValue::from_str(v))).collect();
        let objects = state.objects.read().unwrap_or_else(|e| e.into_inner());
        let mut matching: Vec<(&Key, &ArcRwSignal<Arc<Slot>>)> = FIELDS.with(|f| {
            objects
                .iter()
                .filter(|((ns, _), _)| ns == namespace)
                .filter(|(_, signal)| {
                    signal.with_untracked(|slot| {
                        let labels = get(&get(&slot.raw, &f.metadata), &f.labels);
                        wanted.iter().all(|(k, v)| get(&labels, k) == *v)
                    })
                })
                .collect()
        });
        matching.sort_by(|a, b| a.0.cmp(b.0));
        matching
            .into_iter()
            .filter_map(|(_, signal)| signal.with_untracked(|slot| slot.typed::<T>().cloned()))
            .collect()
    }

    /// Applies one message of the feed (already parsed by the browser).
    fn apply(&self, message: JsValue) {
        let (type_, object) = message_parts(&message);
        match type_.as_deref() {
            Some("SYNC") => {
                self.sync(&object);
            }
            Some("ADDED" | "MODIFIED") => {
                let Some((kind, key, slot)) = slot(object) else { return };
                let state = self.kind(kind);
                let existing = state.objects.read().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
                match existing {
                    Some(signal) => signal.set(Arc::new(slot)),
                    None => {
                        let signal = ArcRwSignal::new(Arc::new(slot));
                        state.objects.write().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), signal);
                        state.keys.update(|keys| {
                            if let Err(at) = keys.binary_search(&key) {
                                keys.insert(at, key);
                            }
                        });
                    }
                }
                state.changed.notify();
            }
            Some("DELETED") => {
                let Some((kind, key, _)) = slot(object) else { return };
                let state = self.kind(kind);
                if state.objects.write().unwrap_or_else(|e| e.into_inner()).remove(&key).is_some() {
                    state.keys.update(|keys| keys.retain(|k| *k != key));
                }
                state.changed.notify();
            }
            other => leptos::logging::warn!("svclab: unknown watch message type {other:?}"),
        }
    }

    /// The whole state from a list (`{"resourceVersion","objects"}`, as `GET /lab/v1/state`
    /// answers and a `SYNC` carries): every kind replaced, keeping the signals of objects that
    /// stay. The list's resourceVersion.
    fn sync(&self, list: &JsValue) -> Option<String> {
        let (resource_version, objects) = FIELDS.with(|f| (get(list, &f.resource_version), get(list, &f.objects)));
        let mut by_kind: BTreeMap<Kind, Vec<(Key, Slot)>> = BTreeMap::new();
        if let Ok(array) = objects.dyn_into::<js_sys::Array>() {
            for raw in array.iter() {
                if let Some((kind, key, slot)) = slot(raw) {
                    by_kind.entry(kind).or_default().push((key, slot));
                }
            }
        }
        for (kind, state) in self.kinds.get_value().iter() {
            let received = by_kind.remove(kind).unwrap_or_default();
            let mut keys: Vec<Key> = Vec::with_capacity(received.len());
            let mut map = state.objects.write().unwrap_or_else(|e| e.into_inner());
            let mut fresh = HashMap::with_capacity(received.len());
            for (key, slot) in received {
                keys.push(key.clone());
                let signal = match map.remove(&key) {
                    Some(signal) => {
                        if signal.with_untracked(|old| old.resource_version != slot.resource_version) {
                            signal.set(Arc::new(slot));
                        }
                        signal
                    }
                    None => ArcRwSignal::new(Arc::new(slot)),
                };
                fresh.insert(key, signal);
            }
            *map = fresh;
            drop(map);
            keys.sort();
            if state.keys.with_untracked(|old| *old != keys) {
                state.keys.set(keys);
            }
            state.changed.notify();
        }
        // The state is whole: live, as an informer has synced once its list is in (the changes
        // after it follow on the watch).
        self.connection.set(Connection::Live);
        resource_version.as_string()
    }
}

pub fn provide_cluster() -> Cluster {
    let kinds = Kind::ALL.iter().map(|k| (*k, KindState::default())).collect();
    let cluster =
        Cluster { kinds: StoredValue::new(Arc::new(kinds)), connection: RwSignal::new(Connection::Connecting) };
    provide_context(cluster);
    start(cluster);
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

/// The list index.html started while the dashboard loaded (a promise of the answer's text, or
/// of null when it failed), taken once.
fn early_list() -> Option<js_sys::Promise> {
    let window = web_sys::window()?;
    let list = js_sys::Reflect::get(&window, &"svclabList".into()).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    let _ = js_sys::Reflect::delete_property(&window, &"svclabList".into());
    Some(list)
}

/// Lists, then watches from the list's resourceVersion; without the list (it failed, or the page
/// did not start one) the watch begins with a `SYNC`.
fn start(cluster: Cluster) {
    let Some(list) = early_list() else { return connect(cluster, 250, None) };
    leptos::task::spawn_local(async move {
        // The answer's text, parsed here: parsed in index.html, it would hold up the page's
        // own scripts while the WebAssembly could be starting.
        let list = wasm_bindgen_futures::JsFuture::from(list).await.and_then(|text| json_parse(&text));
        let from = match list {
            Ok(list) if list.is_object() => cluster.sync(&list),
            _ => None,
        };
        connect(cluster, 250, from);
    });
}

/// Opens the feed, from resourceVersion `from` when the state up to it is already here; when it
/// closes, opens it again (with a `SYNC`) after `delay_ms` (doubling up to 5 s, back to 250 ms
/// once one was live). The callbacks live as long as the page: one set per connection.
fn connect(cluster: Cluster, delay_ms: u32, from: Option<String>) {
    let retry = move |delay: u32| {
        cluster.connection.set(Connection::Reconnecting);
        let next = (delay * 2).min(5000);
        set_timeout(move || connect(cluster, next, None), std::time::Duration::from_millis(delay.into()));
    };
    let url = match &from {
        Some(rv) => format!("{}?resourceVersion={rv}", watch_url()),
        None => watch_url(),
    };
    let Ok(socket) = crate::auth::websocket(&url, &["svclab.feed"]) else { return retry(delay_ms) };
    socket.set_binary_type(web_sys::BinaryType::Arraybuffer);
    let utf8 = Utf8::new();
    let receive = move |event: web_sys::MessageEvent| {
        let data = event.data();
        let text = if data.is_string() { data } else { utf8.decode(&data) };
        match json_parse(&text) {
            Ok(message) => cluster.apply(message),
            Err(e) => leptos::logging::warn!("svclab: unreadable watch message: {e:?}"),
        }
    };
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(receive);
    // `error` and `close` both come when a connection fails: retry once.
    let handled = std::rc::Rc::new(std::cell::Cell::new(false));
    let on_close = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        if !handled.replace(true) {
            retry(if cluster.connection.get_untracked() == Connection::Live { 250 } else { delay_ms });
        }
    });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    socket.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    on_message.forget();
    on_close.forget();
}
