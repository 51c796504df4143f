//! The overview's first line: how many services, endpoints, pods, ingresses and nodes there are
//! in the picked namespace and how many of them are ready, each leading to its view.

use super::scope::use_scope;
use crate::state::use_cluster;
use k8s_openapi::api::core::v1::{Endpoints, Event, Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use leptos::prelude::*;
use leptos_router::components::A;

/// One card: a number, what it counts, a detail line, and where it leads.
#[component]
fn Card(
    label: &'static str,
    href: &'static str,
    value: Signal<String>,
    detail: Signal<String>,
    #[prop(optional)] warn: Option<Signal<bool>>,
) -> impl IntoView {
    view! {
        <A href=href attr:class="card" attr:data-card=label>
            <span class="value" class:warn=move || warn.is_some_and(|w| w.get())>{value}</span>
            <span class="label">{label}</span>
            <span class="detail">{detail}</span>
        </A>
    }
}

#[component]
pub fn Summary() -> impl IntoView {
    let cluster = use_cluster();
    let scope = use_scope();
    // Read off the raw objects: the overview decodes nothing it does not show.
    let endpoints = Memo::new(move |_| cluster.tally::<Endpoints>(|ns| scope.shows(ns)));
    let services = Memo::new(move |_| (scope.keys::<Service>(cluster).len(), endpoints.get().with_first));
    let pods = Memo::new(move |_| {
        let tally = cluster.tally::<Pod>(|ns| scope.shows(ns));
        (tally.objects, tally.first)
    });
    let nodes = Memo::new(move |_| {
        cluster.fold::<Node, _>((0usize, 0usize), |(all, ready), n| {
            let is = n
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (all + 1, ready + usize::from(is))
        })
    });
    let warnings = Memo::new(move |_| cluster.tally::<Event>(|ns| scope.shows(ns)).first);
    let ingresses = Memo::new(move |_| scope.keys::<Ingress>(cluster).len());
    view! {
        <section class="summary" aria-label="Summary">
            <Card label="Services" href="/services"
                value=Signal::derive(move || services.get().0.to_string())
                detail=Signal::derive(move || { let (all, ready) = services.get(); format!("{ready} of {all} with ready endpoints") })
                warn=Signal::derive(move || { let (all, ready) = services.get(); ready < all }) />
            <Card label="Endpoints" href="/endpointslices"
                value=Signal::derive(move || endpoints.get().first.to_string())
                detail=Signal::derive(move || format!("ready, {} not ready", endpoints.get().second))
                warn=Signal::derive(move || endpoints.get().second > 0) />
            <Card label="Pods" href="/pods"
                value=Signal::derive(move || pods.get().0.to_string())
                detail=Signal::derive(move || { let (all, ready) = pods.get(); format!("{ready} of {all} ready") })
                warn=Signal::derive(move || { let (all, ready) = pods.get(); ready < all }) />
            <Card label="Ingresses" href="/ingresses"
                value=Signal::derive(move || ingresses.get().to_string())
                detail=Signal::derive(|| "routing HTTP from outside".to_string()) />
            <Card label="Nodes" href="/nodes"
                value=Signal::derive(move || nodes.get().0.to_string())
                detail=Signal::derive(move || { let (all, ready) = nodes.get(); format!("{ready} of {all} ready") })
                warn=Signal::derive(move || { let (all, ready) = nodes.get(); ready < all }) />
            <Card label="Warnings" href="/events"
                value=Signal::derive(move || warnings.get().to_string())
                detail=Signal::derive(|| "warning events".to_string())
                warn=Signal::derive(move || warnings.get() > 0) />
        </section>
    }
}
