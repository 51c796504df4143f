//! The top bar, with the live-connection indicator.

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
            <span class="connection" data-state=state role="status" aria-live="polite">
                <span class="dot"></span>
                {label}
            </span>
        </header>
    }
}
