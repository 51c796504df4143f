//! A service's endpoints, one row per pod its selector matches (and per address written by hand):
//! where each stands — a ready endpoint, a not-ready one, or no endpoint at all — and why: its
//! readiness probe's last result, no IP yet, terminating, or a named target port it lacks.

use super::events::newest_message;
use crate::state::use_cluster;
use k8s_openapi::api::core::v1::{Endpoints, Event, Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use leptos::prelude::*;
use leptos_router::components::A;
use svclab_shared::pod::is_ready;

/// One row: the pod (empty for an address without one), its IP, where it stands, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub pod: String,
    pub ip: String,
    /// `ready`, `not-ready` or `none`.
    pub standing: &'static str,
    pub why: String,
}

/// How a standing reads: `ready endpoint`, `not-ready endpoint`, `not an endpoint`.
pub fn standing_words(standing: &str) -> &'static str {
    match standing {
        "ready" => "ready endpoint",
        "not-ready" => "not-ready endpoint",
        _ => "not an endpoint",
    }
}

/// The named target ports of the service that the pod declares no port for.
fn missing_ports(svc: &Service, pod: &Pod) -> Vec<String> {
    let declared: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.name.as_deref())
        .collect();
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| match &p.target_port {
            Some(IntOrString::String(name)) if !declared.contains(&name.as_str()) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// Every row for the service, pods first by name, then addresses without a pod.
pub fn rows(svc: &Service, endpoints: Option<&Endpoints>, pods: &[Pod], events: &[Event]) -> Vec<Row> {
    let mut listed: Vec<(String, String, bool)> = Vec::new();
    for subset in endpoints.iter().flat_map(|e| e.subsets.iter().flatten()) {
        for (list, ready) in [(&subset.addresses, true), (&subset.not_ready_addresses, false)] {
            for a in list.iter().flatten() {
                let pod = a.target_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
                listed.push((pod, a.ip.clone(), ready));
            }
        }
    }
    let mut out = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
        let has_probe = pod.spec.iter().flat_map(|s| &s.containers).any(|c| c.readiness_probe.is_some());
        let row = match listed.iter().find(|(p, _, _)| *p == name) {
            Some((_, _, true)) if has_probe => ("ready", "its readiness probe passes".to_string()),
            Some((_, _, true)) => ("ready", "running, and it has no readiness probe".to_string()),
            Some((_, _, false)) if !is_ready(pod) => (
                "not-ready",
                newest_message(
                    events.iter().filter(|e| e.involved_object.name.as_deref() == Some(name.as_str())),
                    "Readiness probe failed",
                )
                .unwrap_or_else(|| "its readiness probe has not passed yet".into()),
            ),
            Some((_, _, false)) => ("not-ready", "ready, but not yet in the endpoints".into()),
            None if pod.metadata.deletion_timestamp.is_some() => ("none", "terminating".into()),
            None if svclab_shared::pod::is_finished(pod) => ("none", "the pod has finished".into()),
            None if ip.is_empty() => ("none", "no IP yet (not scheduled or not started)".into()),
            None => match missing_ports(svc, pod).as_slice() {
                [] => ("none", "not in the endpoints yet".into()),
                names => ("none", format!("it declares no container port named {}", names.join(", "))),
            },
        };
        out.push(Row { pod: name, ip, standing: row.0, why: row.1 });
    }
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    for (pod, ip, ready) in listed.into_iter().filter(|(p, _, _)| p.is_empty()) {
        let why = "an address written by hand in the Endpoints (the service has no selector)".to_string();
        out.push(Row { pod, ip, standing: if ready { "ready" } else { "not-ready" }, why });
    }
    out
}

#[component]
pub fn EndpointsPanel(key: Memo<(String, String)>) -> impl IntoView {
    let cluster = use_cluster();
    let rows = Memo::new(move |_| {
        let (ns, name) = key.get();
        let svc = cluster.get::<Service>(&ns, &name)?;
        let endpoints = cluster.endpoints(&ns, &name);
        let selector = svc.spec.as_ref().and_then(|s| s.selector.clone()).filter(|s| !s.is_empty());
        let pods: Vec<Pod> = selector.map(|s| cluster.selected(&ns, &s)).unwrap_or_default();
        let events = super::events::of_kind(cluster, "Pod", &ns);
        Some(rows(&svc, endpoints.as_ref(), &pods, &events))
    });
    view! {
        <section class="panel" data-testid="endpoints">
            <h3>"Endpoints, and why"</h3>
            {move || match rows.get() {
                Some(rows) if !rows.is_empty() => view! {
                    <div class="table-wrap">
                    <table aria-label="Endpoints of this service">
                        <thead><tr><th>"POD"</th><th>"IP"</th><th>"STANDING"</th><th>"WHY"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|r| {
                                let (ns, pod) = (key.get_untracked().0, r.pod.clone());
                                let name = if pod.is_empty() {
                                    view! { <span class="none">"<none>"</span> }.into_any()
                                } else {
                                    let href = format!("/pods/{ns}/{pod}");
                                    view! { <A href=href attr:class="name-link">{pod}</A> }.into_any()
                                };
                                view! {
                                    <tr data-pod=r.pod.clone() data-standing=r.standing>
                                        <td class="mono">{name}</td>
                                        <td class="mono">{if r.ip.is_empty() { "<none>".to_string() } else { r.ip.clone() }}</td>
                                        <td class=format!("standing {}", r.standing)>{standing_words(r.standing)}</td>
                                        <td class="message">{r.why.clone()}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                }.into_any(),
                Some(_) => view! { <p class="none">"No pod matches the selector, and no address is written by hand."</p> }.into_any(),
                None => ().into_any(),
            }}
        </section>
    }
}
