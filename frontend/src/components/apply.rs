//! Manifests: a YAML box, the chapter's examples as templates, Apply, and each document's
//! outcome with its located error.

use crate::api;
use leptos::prelude::*;
use leptos::task::spawn_local;
use svclab_shared::lab::{ApplyOutcome, ApplyResponse};

const KUBIA: &str = include_str!("../../../examples/kubia.yaml");
const INGRESS: [&str; 2] =
    [include_str!("../../../examples/kubia-nodeport.yaml"), include_str!("../../../examples/kubia-ingress.yaml")];

#[component]
pub fn ApplyPanel() -> impl IntoView {
    let yaml = RwSignal::new(String::new());
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
                <button on:click=move |_| yaml.set(KUBIA.to_string())>"Template: kubia Service + ReplicationController"</button>
                <button on:click=move |_| yaml.set(INGRESS.join("---\n"))>"Template: kubia NodePort + Ingress"</button>
            </div>
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
