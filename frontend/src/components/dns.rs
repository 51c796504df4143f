//! The DNS panel: look a name up through a pod's resolver, seeing each name its search path
//! and `ndots:5` make it try, or ask the cluster DNS server straight.

use super::pickers::PodPicker;
use crate::api;
use crate::state::use_cluster;
use leptos::prelude::*;
use leptos::task::spawn_local;
use svclab_shared::lab::{DnsLookup, DnsLookupRequest, DnsRecordLine, PodRef};

const TYPES: [&str; 8] = ["A", "SRV", "PTR", "CNAME", "TXT", "SOA", "NS", "ANY"];
/// The source value meaning "no pod".
const SERVER: &str = "";

fn record(r: &DnsRecordLine) -> String {
    format!("{} {} IN {} {}", r.name, r.ttl, r.type_, r.data)
}

#[component]
pub fn DnsPanel() -> impl IntoView {
    let cluster = use_cluster();
    let name = RwSignal::new(String::new());
    let rtype = RwSignal::new("A".to_string());
    let source = RwSignal::new(SERVER.to_string());
    let outcome = RwSignal::new(None::<Result<DnsLookup, String>>);
    let busy = RwSignal::new(false);
    let picker = PodPicker::new();
    let running_pods = move || picker.pods(cluster);
    let lookup = move || {
        let from_pod = source.get_untracked();
        let from_pod = from_pod
            .split_once('/')
            .map(|(namespace, name)| PodRef { namespace: namespace.to_string(), name: name.to_string() });
        let request = DnsLookupRequest { name: name.get_untracked(), type_: Some(rtype.get_untracked()), from_pod };
        busy.set(true);
        spawn_local(async move {
            outcome.set(Some(api::dns_lookup(&request).await));
            busy.set(false);
        });
    };
    view! {
        <section class="panel" aria-labelledby="dns-title">
            <h2 id="dns-title">"DNS lookup"</h2>
            <form class="dns-form" on:submit=move |ev| { ev.prevent_default(); lookup(); }>
                <label>
                    "Name"
                    <input
                        id="dns-name"
                        class="mono"
                        placeholder="kubia-headless"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Type"
                    <select id="dns-type" on:change=move |ev| rtype.set(event_target_value(&ev))>
                        {TYPES.iter().map(|t| view! { <option value=*t selected=*t == "A">{*t}</option> }).collect_view()}
                    </select>
                </label>
                <label>
                    "Ask"
                    <select
                        id="dns-source"
                        on:focus=move |_| picker.use_it()
                        on:pointerdown=move |_| picker.use_it()
                        on:change=move |ev| source.set(event_target_value(&ev))
                    >
                        <option value=SERVER>"the DNS server straight (no search path)"</option>
                        <For each=running_pods key=|p| p.clone() let((ns, pod))>
                            <option value=format!("{ns}/{pod}")>{format!("through pod {ns}/{pod}'s resolver")}</option>
                        </For>
                    </select>
                </label>
                <button type="submit" class="primary" disabled=move || busy.get() || name.with(|n| n.trim().is_empty())>
                    {move || if busy.get() { "Looking up…" } else { "Look up" }}
                </button>
            </form>
            <div data-testid="dns-results" aria-live="polite">
                {move || outcome.get().map(|o| match o {
                    Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                    Ok(lookup) => result(lookup).into_any(),
                })}
            </div>
        </section>
    }
}

fn result(lookup: DnsLookup) -> impl IntoView {
    let queries = lookup
        .queries
        .into_iter()
        .map(|q| {
            let answered = !q.answers.is_empty();
            let ms = format!("{:.2} ms", q.micros as f64 / 1000.0);
            let records = q.answers.iter().map(|r| view! { <li class="mono">{record(r)}</li> }).collect_view();
            view! {
                <li class:answered=answered data-rcode=q.rcode.clone()>
                    <span class="mono">{format!("{} {}?", q.name, q.type_)}</span>
                    " → "
                    <span class="rcode">{q.rcode.clone()}</span>
                    <span class="meta">{format!(" from {} in {ms}", q.server)}</span>
                    <ul class="records">{records}</ul>
                </li>
            }
        })
        .collect_view();
    let summary = match (&lookup.error, lookup.answers.len()) {
        (Some(e), _) => format!("No answer: {e}"),
        (None, n) => format!("{n} record{} in the answer", if n == 1 { "" } else { "s" }),
    };
    let failed = lookup.error.is_some();
    view! {
        <p class="meta">{lookup.via}</p>
        <ol class="queries" aria-label="Queries sent">{queries}</ol>
        <p class:error=failed class="summary" data-testid="dns-summary">{summary}</p>
    }
}
