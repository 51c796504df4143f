//! The top bar: the namespace picker, quick jump, the live-connection indicator, the manifests
//! drawer's switch and the light/dark switch (the system's choice until one is made, remembered
//! in this browser).

use super::apply::ManifestsToggle;
use super::scope::NamespacePicker;
use super::search::QuickJump;
use crate::state::{Connection, use_cluster};
use leptos::prelude::*;

#[component]
pub fn Header() -> impl IntoView {
    let cluster = use_cluster();
    let label = move || match cluster.connection.get() {
        Connection::Connecting => "connecting…",
        Connection::Live => "live",
        Connection::Reconnecting => "reconnecting…",
    };
    let state = move || match cluster.connection.get() {
        Connection::Live => "live",
        _ => "down",
    };
    view! {
        <header class="top">
            <h1>"svclab"</h1>
            <span class="tagline">"Kubernetes Services, for real, in your browser"</span>
            <NamespacePicker />
            <QuickJump />
            <span class="connection" data-state=state role="status" aria-live="polite">
                <span class="dot"></span>
                {label}
            </span>
            <ManifestsToggle />
            <ThemeSwitch />
        </header>
    }
}

const THEME_KEY: &str = "svclab-theme";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn apply_theme(theme: &str) {
    let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) else { return };
    let _ = match theme {
        "light" | "dark" => root.set_attribute("data-theme", theme),
        _ => root.remove_attribute("data-theme"),
    };
    if let Some(s) = storage() {
        let _ = if theme == "system" { s.remove_item(THEME_KEY) } else { s.set_item(THEME_KEY, theme) };
    }
}

#[component]
fn ThemeSwitch() -> impl IntoView {
    let saved = storage().and_then(|s| s.get_item(THEME_KEY).ok().flatten()).unwrap_or_else(|| "system".into());
    let theme = RwSignal::new(saved);
    Effect::new(move |_| apply_theme(&theme.get()));
    let next = move |_| {
        theme.update(|t| {
            *t = match t.as_str() {
                "system" => "light",
                "light" => "dark",
                _ => "system",
            }
            .into()
        })
    };
    view! {
        <button class="theme" on:click=next title="Light, dark, or as the system says">
            {move || format!("Theme: {}", theme.get())}
        </button>
    }
}
