//! The namespace the views show (kubectl's `-n`, or `-A` for all), picked once in the top bar
//! for every table and remembered in this browser.

use crate::state::{Cluster, Key, use_cluster};
use k8s_openapi::api::core::v1::Namespace;
use leptos::prelude::*;
use svclab_shared::Typed;

const KEY: &str = "svclab-namespace";

/// The namespace picked, empty for all of them.
#[derive(Clone, Copy)]
pub struct Scope(pub RwSignal<String>);

impl Scope {
    /// The keys of a namespaced kind in the picked namespace, sorted. Reactive.
    pub fn keys<T: Typed>(self, cluster: Cluster) -> Vec<Key> {
        let namespace = self.0.get();
        let keys = cluster.keys::<T>();
        if namespace.is_empty() { keys } else { keys.into_iter().filter(|(ns, _)| *ns == namespace).collect() }
    }

    /// Whether an object of `namespace` is shown. Reactive.
    pub fn shows(self, namespace: &str) -> bool {
        self.0.with(|picked| picked.is_empty() || picked == namespace)
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn provide_scope() {
    let saved = storage().and_then(|s| s.get_item(KEY).ok().flatten()).unwrap_or_default();
    let picked = RwSignal::new(saved);
    Effect::new(move |_| {
        if let Some(s) = storage() {
            let _ = s.set_item(KEY, &picked.get());
        }
    });
    provide_context(Scope(picked));
}

pub fn use_scope() -> Scope {
    expect_context::<Scope>()
}

/// The top bar's namespace select: all namespaces, or one of those that exist.
#[component]
pub fn NamespacePicker() -> impl IntoView {
    let cluster = use_cluster();
    let Scope(picked) = use_scope();
    let namespaces = move || {
        let mut names: Vec<String> = cluster.keys::<Namespace>().into_iter().map(|(_, n)| n).collect();
        // A namespace picked before it was created (or after it was deleted) stays offered.
        let current = picked.get();
        if !current.is_empty() && !names.contains(&current) {
            names.push(current);
            names.sort();
        }
        names
    };
    view! {
        <label class="namespace-picker">
            "Namespace"
            <select id="namespace" on:change=move |ev| picked.set(event_target_value(&ev))
                prop:value=move || picked.get()>
                <option value="" selected=move || picked.get().is_empty()>"All namespaces"</option>
                <For each=namespaces key=|n| n.clone() let(n)>
                    <option value=n.clone() selected=move || picked.get() == n>{n.clone()}</option>
                </For>
            </select>
        </label>
    }
}
