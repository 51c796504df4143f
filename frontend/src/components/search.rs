//! Quick jump (Ctrl-K, or `/`): any view, or any service, pod, ingress, workload or node by
//! name, as you type; Enter or a click goes to its page.

use super::nav::VIEWS;
use crate::state::{Cluster, use_cluster};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod, ReplicationController, Service};
use k8s_openapi::api::networking::v1::Ingress;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use svclab_shared::Typed;

/// At most this many matches are offered.
const SHOWN: usize = 12;

/// One match: what it is, its name as shown, and where it leads.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub what: &'static str,
    pub name: String,
    pub href: String,
}

/// Every object of a kind whose name contains `needle`, with its page's URL.
fn matching<T: Typed>(
    cluster: Cluster,
    what: &'static str,
    needle: &str,
    href: impl Fn(&str, &str) -> String,
    out: &mut Vec<(bool, Target)>,
) {
    for (namespace, name) in cluster.keys::<T>() {
        if let Some(at) = name.to_lowercase().find(needle) {
            let shown = if namespace.is_empty() { name.clone() } else { format!("{namespace}/{name}") };
            out.push((at == 0, Target { what, name: shown, href: href(&namespace, &name) }));
        }
    }
}

/// The matches for what was typed: views, then objects whose name starts with it, then the rest.
pub fn targets(cluster: Cluster, typed: &str) -> Vec<Target> {
    let needle = typed.trim().to_lowercase();
    if needle.is_empty() {
        return vec![];
    }
    let mut found: Vec<(bool, Target)> = VIEWS
        .iter()
        .filter(|v| v.label.to_lowercase().contains(&needle))
        .map(|v| (true, Target { what: "view", name: v.label.into(), href: v.href.into() }))
        .collect();
    matching::<Service>(cluster, "service", &needle, |ns, n| format!("/services/{ns}/{n}"), &mut found);
    matching::<Pod>(cluster, "pod", &needle, |ns, n| format!("/pods/{ns}/{n}"), &mut found);
    matching::<Ingress>(cluster, "ingress", &needle, |ns, n| format!("/ingresses/{ns}/{n}"), &mut found);
    let workloads = |_: &str, _: &str| "/workloads".to_string();
    matching::<Deployment>(cluster, "deployment", &needle, workloads, &mut found);
    matching::<ReplicaSet>(cluster, "replicaset", &needle, workloads, &mut found);
    matching::<ReplicationController>(cluster, "replicationcontroller", &needle, workloads, &mut found);
    matching::<Node>(cluster, "node", &needle, |_, _| "/nodes".into(), &mut found);
    // Stable: views first as listed, then prefix matches, each kind in the order above.
    found.sort_by_key(|(prefix, t)| (t.what != "view", !prefix));
    found.into_iter().map(|(_, t)| t).take(SHOWN).collect()
}

/// Ctrl-K (or `/` outside a text field) opens the box; Escape closes it.
fn open_on_key(ev: &leptos::ev::KeyboardEvent, open: RwSignal<bool>, typed: RwSignal<String>, chosen: RwSignal<usize>) {
    let editing = ev
        .target()
        .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
    if (ev.key() == "k" && (ev.ctrl_key() || ev.meta_key())) || (ev.key() == "/" && !editing) {
        ev.prevent_default();
        typed.set(String::new());
        chosen.set(0);
        open.set(true);
    } else if ev.key() == "Escape" && open.get_untracked() {
        open.set(false);
    }
}

#[component]
pub fn QuickJump() -> impl IntoView {
    let cluster = use_cluster();
    let open = RwSignal::new(false);
    let typed = RwSignal::new(String::new());
    let chosen = RwSignal::new(0usize);
    let input = NodeRef::<leptos::html::Input>::new();
    let found = Memo::new(move |_| if open.get() { targets(cluster, &typed.get()) } else { vec![] });
    let navigate = use_navigate();
    let go = move |target: &Target| {
        open.set(false);
        navigate(&target.href, Default::default());
    };
    let handle = window_event_listener(leptos::ev::keydown, move |ev| open_on_key(&ev, open, typed, chosen));
    on_cleanup(move || handle.remove());
    Effect::new(move |_| {
        if open.get()
            && let Some(input) = input.get()
        {
            let _ = input.focus();
        }
    });
    let go_on_key = go.clone();
    let on_key = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            chosen.update(|c| *c = (*c + 1).min(found.with(Vec::len).saturating_sub(1)));
        }
        "ArrowUp" => {
            ev.prevent_default();
            chosen.update(|c| *c = c.saturating_sub(1));
        }
        "Enter" => {
            ev.prevent_default();
            if let Some(target) = found.with(|f| f.get(chosen.get_untracked()).cloned()) {
                go_on_key(&target);
            }
        }
        _ => {}
    };
    view! {
        <button class="jump-open" on:click=move |_| { typed.set(String::new()); open.set(true); }
            title="Jump to a view or an object by name (Ctrl-K)">
            "Jump to… " <kbd>"Ctrl K"</kbd>
        </button>
        <Show when=move || open.get()>
            <div class="jump-backdrop" on:click=move |_| open.set(false)></div>
            <div class="jump" role="dialog" aria-modal="true" aria-label="Jump to">
                <input
                    node_ref=input
                    id="jump"
                    type="search"
                    placeholder="a view, or a service, pod, ingress… by name"
                    autocomplete="off"
                    aria-controls="jump-results"
                    prop:value=move || typed.get()
                    on:input=move |ev| { typed.set(event_target_value(&ev)); chosen.set(0); }
                    on:keydown=on_key.clone()
                />
                <ul id="jump-results" role="listbox" aria-label="Matches">
                    {
                        let go = go.clone();
                        move || {
                            let go = go.clone();
                            found
                                .get()
                                .into_iter()
                                .enumerate()
                                .map(|(i, t)| {
                                    let go = go.clone();
                                    let target = t.clone();
                                    view! {
                                        <li role="option" aria-selected=move || (chosen.get() == i).to_string()
                                            on:click=move |_| go(&target)>
                                            <span class="what">{t.what}</span>" "<span class="mono">{t.name}</span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }
                    }
                    <Show when=move || !typed.with(|t| t.trim().is_empty()) && found.with(Vec::is_empty)>
                        <li class="none">"No view or object by that name"</li>
                    </Show>
                </ul>
            </div>
        </Show>
    }
}
