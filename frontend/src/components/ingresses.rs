//! The ingresses, as `kubectl get ingress` shows them (NAME, CLASS, HOSTS, ADDRESS, PORTS, AGE),
//! with their rules and, per host, buttons that send test requests through the ingress
//! controller from outside the cluster, over HTTP or (with a `tls` section) HTTPS.

use super::age;
use super::test_requests::{TestRun, TestRunView, send_button};
use crate::state::use_cluster;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use leptos::prelude::*;
use leptos_router::components::A;
use svclab_shared::lab::IngressTarget;
use svclab_shared::printers::{ingress_address, ingress_hosts, ingress_ports};

fn backend_text(backend: &IngressBackend) -> String {
    match (&backend.service, &backend.resource) {
        (Some(svc), _) => {
            let port = svc.port.as_ref();
            let port = port.and_then(|p| p.name.clone().or(p.number.map(|n| n.to_string()))).unwrap_or_default();
            format!("{}:{port}", svc.name)
        }
        (None, Some(r)) => format!("{}/{}", r.kind, r.name),
        _ => String::new(),
    }
}

/// `kubia.example.com/ (Prefix) → kubia:80` for each path, then the default backend.
fn rules(ingress: &Ingress) -> Vec<String> {
    let spec = ingress.spec.clone().unwrap_or_default();
    let mut out = Vec::new();
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.clone().unwrap_or_else(|| "*".into());
        for path in rule.http.iter().flat_map(|h| &h.paths) {
            let p = path.path.clone().unwrap_or_else(|| "/".into());
            out.push(format!("{host}{p} ({}) → {}", path.path_type, backend_text(&path.backend)));
        }
    }
    if let Some(b) = &spec.default_backend {
        out.push(format!("default backend → {}", backend_text(b)));
    }
    out
}

/// The ingresses table's columns, `kubectl get ingress`'s with the rules.
fn columns() -> impl IntoView {
    view! {
        <thead>
            <tr>
                <th>"NAME"</th><th>"CLASS"</th><th>"HOSTS"</th><th>"ADDRESS"</th><th>"PORTS"</th>
                <th>"AGE"</th><th>"RULES"</th><th></th>
            </tr>
        </thead>
    }
}

#[component]
pub fn IngressesTable() -> impl IntoView {
    let cluster = use_cluster();
    let run = RwSignal::new(None::<TestRun>);
    let scope = super::scope::use_scope();
    let rows = move || {
        cluster
            .list::<Ingress>()
            .into_iter()
            .filter(|i| scope.shows(i.metadata.namespace.as_deref().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    view! {
        <section class="panel">
            <h2>"Ingresses"</h2>
            <div class="table-wrap">
            <table aria-label="Ingresses">
                {columns()}
                <tbody>
                    <For
                        each=rows
                        key=|i| (i.metadata.uid.clone(), i.metadata.resource_version.clone())
                        let(ingress)
                    >
                        <IngressRow ingress=ingress run=run />
                    </For>
                </tbody>
            </table>
            </div>
            <TestRunView run=run />
        </section>
    }
}

#[component]
fn IngressRow(ingress: Ingress, run: RwSignal<Option<TestRun>>) -> impl IntoView {
    let namespace = ingress.metadata.namespace.clone().unwrap_or_default();
    let name = ingress.metadata.name.clone().unwrap_or_default();
    let class = ingress.spec.as_ref().and_then(|s| s.ingress_class_name.clone()).unwrap_or_else(|| "<none>".into());
    let tls = ingress.spec.as_ref().and_then(|s| s.tls.as_ref()).is_some_and(|t| !t.is_empty());
    let mut hosts: Vec<String> =
        ingress.spec.iter().flat_map(|s| s.rules.iter().flatten()).filter_map(|r| r.host.clone()).collect();
    hosts.dedup();
    let buttons: Vec<_> = hosts
        .into_iter()
        .filter(|h| !h.starts_with('*'))
        .flat_map(|host| {
            let schemes: &[bool] = if tls { &[false, true] } else { &[false] };
            schemes.iter().map(move |https| (host.clone(), *https)).collect::<Vec<_>>()
        })
        .map(|(host, https)| {
            let label = format!("{}://{host}/", if https { "https" } else { "http" });
            let target = IngressTarget { host, https, gateway: None };
            send_button(run, target, label, 10, "Send 10 requests through the ingress controller")
        })
        .collect();
    let rule_lines: Vec<_> = rules(&ingress).into_iter().map(|r| view! { <li class="mono">{r}</li> }).collect();
    let editor = crate::components::apply::use_editor();
    let (ns, n) = (namespace.clone(), name.clone());
    let edit = move |_| editor.edit(svclab_shared::Kind::Ingress, &ns, &n);
    let convert = {
        let (ingress, cluster) = (ingress.clone(), crate::state::use_cluster());
        move |_| {
            let ns = ingress.metadata.namespace.clone().unwrap_or_default();
            let port_of = |svc: &str, port: &str| {
                let service = cluster.get::<k8s_openapi::api::core::v1::Service>(&ns, svc)?;
                let ports = service.spec?.ports?;
                ports.iter().find(|p| p.name.as_deref() == Some(port)).map(|p| p.port)
            };
            let name = ingress.metadata.name.clone().unwrap_or_default();
            match svclab_shared::convert::ingress_to_gateway(&ingress, &port_of) {
                Ok(objects) => {
                    let yaml: Vec<String> = objects.iter().filter_map(|o| serde_yaml::to_string(o).ok()).collect();
                    let hint = format!(
                        "Ingress {name} as Gateway API objects (what ingress2gateway makes, of svclab's GatewayClass): Apply to create them"
                    );
                    editor.load(yaml.join("---\n"), Some(hint));
                }
                Err(e) => editor.load(String::new(), Some(format!("Ingress {name} cannot be converted: {e}"))),
            }
        }
    };
    let (href, shown) = (format!("/ingresses/{namespace}/{name}"), super::qualified(&namespace, &name));
    view! {
        <tr data-ingress=name.clone()>
            <td class="mono">
                <A href=href attr:class="name-link">{shown}</A>
            </td>
            <td class="mono">{class}</td>
            <td class="mono">{ingress_hosts(&ingress)}</td>
            <td class="mono">{ingress_address(&ingress)}</td>
            <td class="mono">{ingress_ports(&ingress)}</td>
            <td>{age(ingress.metadata.creation_timestamp.as_ref())}</td>
            <td><ul class="rules">{rule_lines}</ul></td>
            <td>
                <div class="actions">
                    <button on:click=edit title="kubectl edit ingress: the ingress in the editor">"Edit"</button>
                    <button on:click=convert title="ingress2gateway: the equivalent Gateway and HTTPRoute in the editor">"Convert to Gateway API"</button>
                    {buttons}
                </div>
            </td>
        </tr>
    }
}

/// One ingress's page (`/ingresses/<namespace>/<name>`): its row with rules and test requests,
/// the services it routes to with their ready endpoints, and its events.
#[component]
pub fn IngressPage() -> impl IntoView {
    let key = super::page_key();
    let cluster = use_cluster();
    let run = RwSignal::new(None::<TestRun>);
    let ingress = Memo::new(move |_| key.with(|(ns, n)| cluster.get::<Ingress>(ns, n)));
    let namespace = Signal::derive(move || key.get().0);
    let name = Signal::derive(move || key.get().1);
    view! {
        <section class="panel" data-testid="ingress-page">
            <p class="crumbs"><A href="/ingresses">"← Ingresses"</A></p>
            <h2>{move || key.with(|(ns, n)| format!("Ingress {}", super::qualified(ns, n)))}</h2>
            {move || match ingress.get() {
                None => key.with(|(ns, n)| view! {
                    <p class="none">{format!("Error from server (NotFound): ingresses.networking.k8s.io \"{n}\" not found in namespace \"{ns}\"")}</p>
                }).into_any(),
                Some(i) => {
                    let ns = key.get().0;
                    let services = svclab_shared::topology::ingress_services(&i)
                        .into_iter()
                        .map(|svc| {
                            let ready = cluster.endpoints(&ns, &svc).map_or(0, |e| {
                                e.subsets.iter().flatten().map(|s| s.addresses.as_ref().map_or(0, Vec::len)).sum::<usize>()
                            });
                            let (href, shown) = (format!("/services/{ns}/{svc}"), svc.clone());
                            view! {
                                <li data-service=svc.clone()>
                                    <A href=href attr:class="name-link">{shown}</A>
                                    {format!(" — {ready} ready endpoint{}", if ready == 1 { "" } else { "s" })}
                                </li>
                            }
                        })
                        .collect_view();
                    view! {
                        <div class="table-wrap">
                        <table aria-label="Ingresses">
                            {columns()}
                            <tbody><IngressRow ingress=i run=run /></tbody>
                        </table>
                        </div>
                        <h3>"Backends"</h3>
                        <ul class="standing">{services}</ul>
                    }.into_any()
                }
            }}
            <TestRunView run=run />
        </section>
        <super::events::EventsFor kind="Ingress" namespace=namespace name=name />
    }
}
