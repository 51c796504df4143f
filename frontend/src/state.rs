//! The cluster as the dashboard knows it: every object from the websocket watch, replaced whole
//! on `SYNC` and patched by each `ADDED`/`MODIFIED`/`DELETED`. The feed reconnects (and the server
//! resyncs) after a drop.

use futures::StreamExt;
use gloo_net::websocket::{Message, futures::WebSocket};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::BTreeMap;
use svclab_shared::watch::LabEvent;
use svclab_shared::{Kind, Object, Typed};

/// Objects of one kind by (namespace, name).
pub type Objects = BTreeMap<(String, String), Object>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

/// The shared cluster state.
#[derive(Clone, Copy)]
pub struct Cluster {
    objects: RwSignal<BTreeMap<Kind, Objects>>,
    pub connection: RwSignal<Connection>,
}

impl Cluster {
    /// Typed copies of every object of a kind, sorted by namespace and name. Reactive.
    pub fn list<T: Typed>(&self) -> Vec<T> {
        self.objects.with(|all| {
            all.get(&T::OBJECT_KIND)
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(|o| T::from_object(o).cloned())
                .collect()
        })
    }

    /// One object. Reactive.
    pub fn get<T: Typed>(&self, namespace: &str, name: &str) -> Option<T> {
        self.objects.with(|all| {
            let key = (namespace.to_string(), name.to_string());
            all.get(&T::OBJECT_KIND).and_then(|m| m.get(&key)).and_then(|o| T::from_object(o).cloned())
        })
    }

    fn apply(&self, event: LabEvent) {
        let key = |o: &Object| (o.namespace().to_string(), o.name().to_string());
        self.objects.update(|all| match event {
            LabEvent::Sync(snapshot) => {
                all.clear();
                for o in snapshot.objects {
                    all.entry(o.kind()).or_default().insert(key(&o), o);
                }
            }
            LabEvent::Added(o) | LabEvent::Modified(o) => {
                all.entry(o.kind()).or_default().insert(key(&o), o);
            }
            LabEvent::Deleted(o) => {
                if let Some(m) = all.get_mut(&o.kind()) {
                    m.remove(&key(&o));
                }
            }
        });
    }
}

pub fn provide_cluster() -> Cluster {
    let cluster =
        Cluster { objects: RwSignal::new(BTreeMap::new()), connection: RwSignal::new(Connection::Connecting) };
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
                        if matches!(event, LabEvent::Sync(_)) {
                            cluster.connection.set(Connection::Live);
                            delay_ms = 250;
                        }
                        cluster.apply(event);
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
