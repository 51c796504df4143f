//! The EndpointSlices, as `kubectl get endpointslices` shows them (NAME, ADDRESSTYPE, PORTS,
//! ENDPOINTS, AGE), each endpoint with its conditions (ready, serving, terminating), node, zone
//! and the zones its topology hints have it serve.

use super::age;
use super::window::{WINDOW_FROM, Window, spacer};
use crate::state::use_cluster;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use leptos::prelude::*;

#[component]
pub fn SlicesTable() -> impl IntoView {
    let cluster = use_cluster();
    let window = Window::new();
    let scope = super::scope::use_scope();
    let keys = Memo::new(move |_| scope.keys::<EndpointSlice>(cluster));
    let slice = Memo::new(move |_| keys.with(|k| window.slice(k)));
    let windowed = move || keys.with(|k| k.len() > WINDOW_FROM);
    view! {
        <section class="panel" id="endpointslices" aria-labelledby="slices-title">
            <h2 id="slices-title">"EndpointSlices " <span class="count">{move || keys.with(Vec::len)}</span></h2>
            <div class="table-wrap" class:windowed=windowed on:scroll=window.on_scroll() tabindex="0" role="region" aria-label="EndpointSlices, scrollable">
            <table aria-label="EndpointSlices">
                <thead><tr><th>"NAME"</th><th>"SERVICE"</th><th>"ADDRESSTYPE"</th><th>"PORTS"</th><th>"ENDPOINTS"</th><th>"AGE"</th></tr></thead>
                <tbody>
                    {move || spacer(slice.with(|s| s.1), 6)}
                    <For each=move || slice.with(|s| s.0.clone()) key=|k| k.clone() let((namespace, name))>
                        <SliceRow namespace=namespace name=name />
                    </For>
                    {move || spacer(slice.with(|s| s.2), 6)}
                </tbody>
            </table>
            </div>
        </section>
    }
}

#[component]
fn SliceRow(namespace: String, name: String) -> impl IntoView {
    let cluster = use_cluster();
    move || {
        let s = cluster.get::<EndpointSlice>(&namespace, &name)?;
        let service = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(svclab_shared::service::SERVICE_NAME_LABEL).cloned())
            .unwrap_or_default();
        let ports: Vec<String> = s.ports.iter().flatten().filter_map(|p| p.port).map(|p| p.to_string()).collect();
        let chips = s
            .endpoints
            .iter()
            .map(|e| {
                let c = e.conditions.clone().unwrap_or_default();
                let (ready, serving, terminating) = (c.ready.unwrap_or(false), c.serving.unwrap_or(false), c.terminating.unwrap_or(false));
                let hinted: Vec<String> =
                    e.hints.iter().flat_map(|h| h.for_zones.iter().flatten()).map(|z| z.name.clone()).collect();
                let title = format!(
                    "ready={ready} serving={serving} terminating={terminating}{}{}",
                    e.node_name.as_ref().map(|n| format!(" node={n}")).unwrap_or_default(),
                    e.zone.as_ref().map(|z| format!(" zone={z}")).unwrap_or_default()
                );
                let hint = (!hinted.is_empty()).then(|| view! { <span class="hint">" for "{hinted.join(",")}</span> });
                let pod = e.target_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
                view! {
                    <span class="endpoint" class:ready=ready class:not-ready=!ready class:terminating=terminating title=title>
                        <span class="mono">{e.addresses.join(",")}</span>" "<span class="pod">{pod}</span>
                        {hint}
                        {terminating.then_some(" (terminating)")}
                    </span>
                }
            })
            .collect_view();
        Some(view! {
            <tr data-slice=name.clone()>
                <td class="mono">{super::qualified(&namespace, &name)}</td>
                <td class="mono">{service}</td>
                <td>{s.address_type.clone()}</td>
                <td class="mono">{if ports.is_empty() { "<unset>".to_string() } else { ports.join(",") }}</td>
                <td><div class="endpoints">{chips}</div></td>
                <td>{age(s.metadata.creation_timestamp.as_ref())}</td>
            </tr>
        })
    }
}
