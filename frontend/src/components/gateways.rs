//! Gateway API: the Gateways (`kubectl get gateways`' columns with their listeners) and
//! HTTPRoutes (hostnames, parents and whether they accepted the route), and a page per route
//! (`/httproutes/<namespace>/<name>`): its rules as they match and split traffic, each parent's
//! conditions, test requests through its Gateway with the per-pod histogram, and its events.
//! Read from the objects as the server sent them (no decoding into types).

use super::age;
use super::test_requests::{TestRun, TestRunView, send_button};
use crate::components::apply::use_editor;
use crate::state::use_cluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use leptos::prelude::*;
use leptos_router::components::A;
use serde_json::Value;
use svclab_shared::Kind;
use svclab_shared::lab::IngressTarget;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn created(o: &Value) -> Option<Time> {
    serde_json::from_value(o["metadata"]["creationTimestamp"].clone()).ok()
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// A condition's status by type, as the CRD columns print it.
fn condition(conditions: &Value, type_: &str) -> String {
    list(conditions).iter().find(|c| c["type"] == type_).map(|c| text(&c["status"])).unwrap_or_default()
}

/// `http:80 kubia.example.com` for each listener.
fn listeners(gateway: &Value) -> String {
    let shown: Vec<String> = list(&gateway["spec"]["listeners"])
        .iter()
        .map(|l| {
            let host = text(&l["hostname"]);
            let host = if host.is_empty() { "*".into() } else { host };
            format!("{}:{} {host}", text(&l["protocol"]).to_lowercase(), text(&l["port"]))
        })
        .collect();
    shown.join(", ")
}

/// The Gateways a route names, `namespace/name`.
fn parents(route: &Value) -> Vec<String> {
    let ns = text(&route["metadata"]["namespace"]);
    list(&route["spec"]["parentRefs"])
        .iter()
        .map(|p| {
            let pns = text(&p["namespace"]);
            format!("{}/{}", if pns.is_empty() { ns.clone() } else { pns }, text(&p["name"]))
        })
        .collect()
}

/// `Accepted` of each of the route's parents: `True`, or why not.
fn accepted(route: &Value) -> String {
    let shown: Vec<String> = list(&route["status"]["parents"])
        .iter()
        .map(|p| {
            let c = list(&p["conditions"]).iter().find(|c| c["type"] == "Accepted").cloned().unwrap_or_default();
            if c["status"] == "True" {
                "True".to_string()
            } else {
                format!("{} ({})", text(&c["status"]), text(&c["reason"]))
            }
        })
        .collect();
    if shown.is_empty() { "<not attached>".into() } else { shown.join(", ") }
}

fn edit_button(kind: Kind, o: &Value) -> impl IntoView + use<> {
    let editor = use_editor();
    let (ns, name) = (text(&o["metadata"]["namespace"]), text(&o["metadata"]["name"]));
    view! { <button on:click=move |_| editor.edit(kind, &ns, &name) title="kubectl edit: in the editor">"Edit"</button> }
}

#[component]
pub fn GatewaysView() -> impl IntoView {
    let cluster = use_cluster();
    let scope = super::scope::use_scope();
    let shown = move |kind: Kind| {
        cluster
            .raw_all(kind)
            .into_iter()
            .filter(|o| scope.shows(o["metadata"]["namespace"].as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let gateway_rows = move || {
        shown(Kind::Gateway)
            .into_iter()
            .map(|g| {
                let name = super::qualified(&text(&g["metadata"]["namespace"]), &text(&g["metadata"]["name"]));
                let address = list(&g["status"]["addresses"]).first().map(|a| text(&a["value"])).unwrap_or_default();
                view! {
                    <tr data-gateway=text(&g["metadata"]["name"])>
                        <td class="mono">{name}</td>
                        <td class="mono">{text(&g["spec"]["gatewayClassName"])}</td>
                        <td class="mono">{address}</td>
                        <td>{condition(&g["status"]["conditions"], "Programmed")}</td>
                        <td class="mono">{listeners(&g)}</td>
                        <td>{age(created(&g).as_ref())}</td>
                        <td>{edit_button(Kind::Gateway, &g)}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let route_rows = move || {
        shown(Kind::HttpRoute)
            .into_iter()
            .map(|r| {
                let (ns, n) = (text(&r["metadata"]["namespace"]), text(&r["metadata"]["name"]));
                let hostnames: Vec<String> = list(&r["spec"]["hostnames"]).iter().map(text).collect();
                let (href, shown) = (format!("/httproutes/{ns}/{n}"), super::qualified(&ns, &n));
                view! {
                    <tr data-route=n.clone()>
                        <td class="mono"><A href=href attr:class="name-link">{shown}</A></td>
                        <td class="mono">{if hostnames.is_empty() { "*".to_string() } else { hostnames.join(", ") }}</td>
                        <td class="mono">{parents(&r).join(", ")}</td>
                        <td>{accepted(&r)}</td>
                        <td>{age(created(&r).as_ref())}</td>
                        <td>{edit_button(Kind::HttpRoute, &r)}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section class="panel">
            <h2>"Gateways"</h2>
            <div class="table-wrap">
            <table aria-label="Gateways">
                <thead><tr><th>"NAME"</th><th>"CLASS"</th><th>"ADDRESS"</th><th>"PROGRAMMED"</th><th>"LISTENERS"</th><th>"AGE"</th><th></th></tr></thead>
                <tbody>{gateway_rows}</tbody>
            </table>
            </div>
        </section>
        <section class="panel">
            <h2>"HTTPRoutes"</h2>
            <div class="table-wrap">
            <table aria-label="HTTPRoutes">
                <thead><tr><th>"NAME"</th><th>"HOSTNAMES"</th><th>"PARENTS"</th><th>"ACCEPTED"</th><th>"AGE"</th><th></th></tr></thead>
                <tbody>{route_rows}</tbody>
            </table>
            </div>
        </section>
    }
}

/// A rule as one line: what it matches, what its filters do, and where it sends by weight.
fn rule_line(rule: &Value) -> String {
    let matches: Vec<String> = list(&rule["matches"])
        .iter()
        .map(|m| {
            let mut parts = vec![format!("{} {}", text(&m["path"]["type"]), text(&m["path"]["value"]))];
            if !m["method"].is_null() {
                parts.push(text(&m["method"]));
            }
            for h in list(&m["headers"]) {
                parts.push(format!("header {}={}", text(&h["name"]), text(&h["value"])));
            }
            for q in list(&m["queryParams"]) {
                parts.push(format!("query {}={}", text(&q["name"]), text(&q["value"])));
            }
            parts.join(" ")
        })
        .collect();
    let filters: Vec<String> = list(&rule["filters"]).iter().map(|f| text(&f["type"])).collect();
    let backends = list(&rule["backendRefs"]);
    let total: i64 = backends.iter().map(|b| b["weight"].as_i64().unwrap_or(1)).sum();
    let sends: Vec<String> = backends
        .iter()
        .map(|b| {
            let weight = b["weight"].as_i64().unwrap_or(1);
            let share =
                if backends.len() > 1 && total > 0 { format!(" ({}%)", weight * 100 / total) } else { String::new() };
            format!("{}:{}{share}", text(&b["name"]), text(&b["port"]))
        })
        .collect();
    let mut line = if matches.is_empty() { "PathPrefix /".to_string() } else { matches.join(" or ") };
    if !filters.is_empty() {
        line.push_str(&format!(" [{}]", filters.join(", ")));
    }
    let to = if sends.is_empty() { "(no backend)".to_string() } else { sends.join(", ") };
    format!("{line} → {to}")
}

/// One route's page.
#[component]
pub fn RoutePage() -> impl IntoView {
    let key = super::page_key();
    let cluster = use_cluster();
    let run = RwSignal::new(None::<TestRun>);
    let doctor = RwSignal::new(None::<super::doctor::DoctorRun>);
    let route = Memo::new(move |_| key.with(|(ns, n)| cluster.raw(Kind::HttpRoute, ns, n)));
    let namespace = Signal::derive(move || key.get().0);
    let name = Signal::derive(move || key.get().1);
    view! {
        <section class="panel" data-testid="route-page">
            <p class="crumbs"><A href="/gateways">"← Gateways"</A></p>
            <h2>{move || key.with(|(ns, n)| format!("HTTPRoute {}", super::qualified(ns, n)))}</h2>
            {move || match route.get() {
                None => key.with(|(ns, n)| view! {
                    <p class="none">{format!("Error from server (NotFound): httproutes.gateway.networking.k8s.io \"{n}\" not found in namespace \"{ns}\"")}</p>
                }).into_any(),
                Some(r) => route_body(r, run).into_any(),
            }}
            <div class="actions">
                <button on:click=move |_| key.with(|(ns, n)| super::doctor::DoctorRun::start_route(doctor, ns.clone(), n.clone()))
                    title="Is the route attached, and can it reach its backends?">"Diagnose"</button>
            </div>
            <super::doctor::DoctorView run=doctor />
            <TestRunView run=run />
        </section>
        <super::events::EventsFor kind="HTTPRoute" namespace=namespace name=name />
    }
}

fn route_body(r: Value, run: RwSignal<Option<TestRun>>) -> impl IntoView {
    let rules =
        list(&r["spec"]["rules"]).iter().map(|rule| view! { <li class="mono">{rule_line(rule)}</li> }).collect_view();
    let conditions = list(&r["status"]["parents"])
        .iter()
        .flat_map(|p| {
            let parent = format!("{}/{}", text(&p["parentRef"]["namespace"]), text(&p["parentRef"]["name"]));
            let parent = parent.trim_start_matches('/').to_string();
            list(&p["conditions"])
                .iter()
                .map(|c| {
                    view! {
                        <tr data-condition=text(&c["type"])>
                            <td class="mono">{parent.clone()}</td>
                            <td>{text(&c["type"])}</td>
                            <td>{text(&c["status"])}</td>
                            <td>{text(&c["reason"])}</td>
                            <td>{text(&c["message"])}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect_view();
    let mut hostnames: Vec<String> = list(&r["spec"]["hostnames"]).iter().map(text).collect();
    if hostnames.is_empty() {
        hostnames.push("example.com".into());
    }
    // Each parent Gateway's HTTP, and HTTPS when it has such a listener, for each hostname.
    let cluster = use_cluster();
    let buttons = parents(&r)
        .into_iter()
        .flat_map(|gateway| {
            let (gns, gname) = gateway.split_once('/').unwrap_or(("default", gateway.as_str()));
            let protocols: Vec<String> = cluster
                .raw(Kind::Gateway, gns, gname)
                .map(|g| list(&g["spec"]["listeners"]).iter().map(|l| text(&l["protocol"])).collect())
                .unwrap_or_default();
            let schemes: Vec<bool> = [false, true]
                .into_iter()
                .filter(|https| protocols.iter().any(|p| p == if *https { "HTTPS" } else { "HTTP" }))
                .collect();
            hostnames
                .iter()
                .flat_map(|h| schemes.iter().map(|https| (gateway.clone(), h.clone(), *https)).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .map(|(gateway, host, https)| {
            let label = format!("{}://{host}/ via gateway {gateway}", if https { "https" } else { "http" });
            let target = IngressTarget { host, https, gateway: Some(gateway) };
            send_button(run, target, label, 100, "Send 100 requests through the Gateway")
        })
        .collect_view();
    view! {
        <h3>"Rules"</h3>
        <ul class="rules">{rules}</ul>
        <h3>"Parents"</h3>
        <div class="table-wrap">
        <table aria-label="Route status">
            <thead><tr><th>"PARENT"</th><th>"CONDITION"</th><th>"STATUS"</th><th>"REASON"</th><th>"MESSAGE"</th></tr></thead>
            <tbody>{conditions}</tbody>
        </table>
        </div>
        <div class="actions">{edit_button(Kind::HttpRoute, &r)}{buttons}</div>
    }
}
