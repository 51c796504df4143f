//! Manifests: a YAML box, the chapter's examples as templates, Apply, and each document's
//! outcome with its located error. Other components put manifests in the box through the
//! [`Editor`] context.

use crate::api;
use leptos::prelude::*;
use leptos::task::spawn_local;
use svclab_shared::lab::{ApplyOutcome, ApplyResponse};

const KUBIA: &str = include_str!("../../../examples/kubia.yaml");
const INGRESS: [&str; 2] =
    [include_str!("../../../examples/kubia-nodeport.yaml"), include_str!("../../../examples/kubia-ingress.yaml")];

/// The manifest box, shared: what it holds, and a note on what applying it will do.
#[derive(Clone, Copy)]
pub struct Editor {
    pub yaml: RwSignal<String>,
    pub hint: RwSignal<Option<String>>,
}

impl Editor {
    /// Replaces the box's text, with a note to show beside it, and brings it into view.
    pub fn load(&self, yaml: String, hint: Option<String>) {
        self.yaml.set(yaml);
        self.hint.set(hint);
        if let Some(element) =
            web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("manifest"))
        {
            element.scroll_into_view();
        }
    }
}

pub fn provide_editor() {
    provide_context(Editor { yaml: RwSignal::new(String::new()), hint: RwSignal::new(None) });
}

pub fn use_editor() -> Editor {
    expect_context::<Editor>()
}

#[component]
pub fn ApplyPanel() -> impl IntoView {
    let editor = use_editor();
    let yaml = editor.yaml;
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<ApplyResponse, String>>);
    let apply = move |_| {
        let text = yaml.get_untracked();
        busy.set(true);
        spawn_local(async move {
            outcome.set(Some(api::apply(text).await));
            busy.set(false);
        });
    };
    view! {
        <section class="panel">
            <h2>"Manifests"</h2>
            <div class="templates">
                <button on:click=move |_| editor.load(KUBIA.to_string(), None)>"Template: kubia Service + ReplicationController"</button>
                <button on:click=move |_| editor.load(INGRESS.join("---\n"), None)>"Template: kubia NodePort + Ingress"</button>
            </div>
            {move || editor.hint.get().map(|h| view! { <p class="hint" data-testid="editor-hint">{h}</p> })}
            <label for="manifest" class="visually-hidden">"YAML manifests"</label>
            <textarea
                id="manifest"
                spellcheck="false"
                placeholder="Paste one or more YAML documents, separated by ---"
                prop:value=move || yaml.get()
                on:input=move |ev| yaml.set(event_target_value(&ev))
            ></textarea>
            <button class="primary" on:click=apply disabled=move || busy.get() || yaml.with(|y| y.trim().is_empty())>
                {move || if busy.get() { "Applying…" } else { "Apply" }}
            </button>
            <div class="apply-results" data-testid="apply-results" aria-live="polite">
                {move || outcome.get().map(|o| match o {
                    Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                    Ok(response) => view! {
                        <ul>
                            {response.results.into_iter().map(|r| {
                                let failed = r.outcome == ApplyOutcome::Failed;
                                let location = r.error.as_ref().and_then(|e| Some(format!("line {}, column {}: ", e.line?, e.column?))).unwrap_or_default();
                                let text = if failed {
                                    format!("document {} — {location}{}", r.document, r.error.map(|e| e.message).unwrap_or_default())
                                } else {
                                    r.message
                                };
                                view! { <li class:failed=failed class:ok=!failed>{text}</li> }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </div>
        </section>
    }
}
