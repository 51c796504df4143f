//! Asks for the API token when the API refuses this page without one (svclab listening beyond
//! loopback, or given `--token-file`), then reloads with it; otherwise it never shows.

use leptos::html::Input;
use leptos::prelude::*;

#[component]
pub fn TokenPrompt() -> impl IntoView {
    let needed = RwSignal::new(false);
    leptos::task::spawn_local(async move {
        if !crate::api::authorized_here().await {
            needed.set(true);
        }
    });
    let input = NodeRef::<Input>::new();
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Some(field) = input.get() else { return };
        let token = field.value();
        if token.trim().is_empty() {
            return;
        }
        crate::auth::remember(&token);
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    };
    view! {
        <Show when=move || needed.get()>
            <div class="token-prompt" role="dialog" aria-modal="true" aria-labelledby="token-title">
                <form on:submit=submit>
                    <h2 id="token-title">"API token"</h2>
                    <p>
                        "svclab's API needs a token here: the one it printed when it started, or the one in "
                        "its --token-file. This page keeps it until you close the tab."
                    </p>
                    <input type="password" node_ref=input aria-label="token" autocomplete="off" autofocus />
                    <button type="submit">"Use token"</button>
                </form>
            </div>
        </Show>
    }
}
