//! The services, as `kubectl get svc` shows them, each with its endpoints (ready and not ready)
//! a button that sends test requests from a pod, and one that runs the service doctor.

use super::age;
use super::doctor::{DoctorRun, DoctorView};
use super::events::EventsFor;
use super::records::DnsRecords;
use super::test_requests::{TestRun, TestRunView};
use super::timeline::EndpointTimeline;
use super::topology::TopologyView;
use super::window::{WINDOW_FROM, Window, spacer};
use crate::state::{Cluster, use_cluster};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use leptos::prelude::*;
use leptos_router::components::A;
use svclab_shared::describe::describe_service;
use svclab_shared::lab::TestRequest;
use svclab_shared::printers::{
    format_labels, service_cluster_ip as cluster_ip, service_external_ip as external_ip, service_ports,
};

/// One endpoint address as shown: `10.244.1.2:8080 kubia-abcde`.
#[derive(Clone, PartialEq)]
struct Address {
    ip: String,
    ports: String,
    pod: String,
    ready: bool,
    /// Terminating, yet serving: it takes traffic while no endpoint is ready.
    draining: bool,
}

/// The addresses `endpoints` lists (as draining ones, with `draining`).
fn listed(endpoints: Option<&Endpoints>, draining: bool) -> Vec<Address> {
    let mut out = Vec::new();
    for subset in endpoints.and_then(|e| e.subsets.as_ref()).into_iter().flatten() {
        let ports: Vec<String> = subset.ports.iter().flatten().map(|p| p.port.to_string()).collect();
        let ports = ports.join(",");
        for (list, ready) in [(&subset.addresses, !draining), (&subset.not_ready_addresses, false)] {
            for a in list.iter().flatten() {
                let pod = a.target_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
                out.push(Address { ip: a.ip.clone(), ports: ports.clone(), pod, ready, draining });
            }
        }
    }
    out
}

/// The service's endpoint addresses; while none is ready, also those draining (terminating yet
/// serving, read from its slices), which the proxy then sends to.
fn addresses(cluster: Cluster, namespace: &str, name: &str) -> Vec<Address> {
    let mut out = listed(cluster.endpoints(namespace, name).as_ref(), false);
    if !out.iter().any(|a| a.ready) {
        out.extend(listed(cluster.draining(namespace, name).as_ref(), true));
    }
    out.sort_by(|a, b| (!a.ready, &a.pod, &a.ip).cmp(&(!b.ready, &b.pod, &b.ip)));
    out
}

/// The services table's columns, `kubectl get services -o wide`'s with the endpoints.
fn columns() -> impl IntoView {
    view! {
        <thead>
            <tr>
                <th>"NAME"</th><th>"TYPE"</th><th>"CLUSTER-IP"</th><th>"EXTERNAL-IP"</th>
                <th>"PORT(S)"</th><th>"SELECTOR"</th><th>"AGE"</th><th>"ENDPOINTS"</th><th></th>
            </tr>
        </thead>
    }
}

#[component]
pub fn ServicesTable() -> impl IntoView {
    let cluster = use_cluster();
    let run = RwSignal::new(None::<TestRun>);
    let doctor = RwSignal::new(None::<DoctorRun>);
    let described = RwSignal::new(None::<(String, String)>);
    provide_context(Described(described));
    let window = Window::new();
    let scope = super::scope::use_scope();
    let keys = Memo::new(move |_| scope.keys::<Service>(cluster));
    let slice = Memo::new(move |_| keys.with(|k| window.slice(k)));
    let windowed = move || keys.with(|k| k.len() > WINDOW_FROM);
    view! {
        <section class="panel">
            <h2>"Services " <span class="count">{move || keys.with(Vec::len)}</span></h2>
            <div class="table-wrap" class:windowed=windowed on:scroll=window.on_scroll() tabindex="0" role="region" aria-label="Services, scrollable">
            <table aria-label="Services">
                {columns()}
                <tbody>
                    {move || spacer(slice.with(|s| s.1), 9)}
                    <For each=move || slice.with(|s| s.0.clone()) key=|k| k.clone() let((namespace, name))>
                        <ServiceRow namespace=namespace name=name run=run doctor=doctor />
                    </For>
                    {move || spacer(slice.with(|s| s.2), 9)}
                </tbody>
            </table>
            </div>
            <Describe described=described />
            <DoctorView run=doctor />
            <TestRunView run=run />
        </section>
    }
}

#[component]
fn ServiceRow(
    namespace: String,
    name: String,
    run: RwSignal<Option<TestRun>>,
    doctor: RwSignal<Option<DoctorRun>>,
) -> impl IntoView {
    let cluster = use_cluster();
    let (ns, n) = (namespace.clone(), name.clone());
    let endpoints = Memo::new(move |_| addresses(cluster, &ns, &n));
    move || {
        let svc = cluster.get::<Service>(&namespace, &name)?;
        Some(service_row(svc, namespace.clone(), name.clone(), endpoints, run, doctor))
    }
}

fn service_row(
    svc: Service,
    namespace: String,
    name: String,
    endpoints: Memo<Vec<Address>>,
    run: RwSignal<Option<TestRun>>,
    doctor: RwSignal<Option<DoctorRun>>,
) -> impl IntoView {
    let proxied = cluster_ip(&svc).parse::<std::net::Ipv4Addr>().is_ok();
    let (ns, n) = (namespace.clone(), name.clone());
    let send = move |_| {
        let request = TestRequest { namespace: ns.clone(), service: n.clone(), count: 10, ..Default::default() };
        TestRun::start(run, format!("{}/{}", ns, n), request)
    };
    let (ns, n) = (namespace.clone(), name.clone());
    let diagnose = move |_| DoctorRun::start(doctor, ns.clone(), n.clone());
    let Described(described) = expect_context::<Described>();
    let (ns, n) = (namespace.clone(), name.clone());
    let describe = move |_| described.set(Some((ns.clone(), n.clone())));
    let editor = crate::components::apply::use_editor();
    let (ns, n) = (namespace.clone(), name.clone());
    let edit = move |_| editor.edit(svclab_shared::Kind::Service, &ns, &n);
    let (href, shown) = (format!("/services/{namespace}/{name}"), super::qualified(&namespace, &name));
    view! {
        <tr data-service=name.clone() id=super::doctor::anchor("Service", &namespace, &name)>
            <td class="mono">
                <A href=href attr:class="name-link">{shown}</A>
            </td>
            <td>{svc.spec.as_ref().and_then(|s| s.type_.clone()).unwrap_or_default()}</td>
            <td class="mono">{cluster_ip(&svc)}</td>
            <td class="mono">{external_ip(&svc)}</td>
            <td class="mono">{service_ports(&svc)}</td>
            <td class="mono">{format_labels(svc.spec.as_ref().and_then(|s| s.selector.as_ref()))}</td>
            <td>{age(svc.metadata.creation_timestamp.as_ref())}</td>
            <td>
                <div class="endpoints">
                <For each=move || endpoints.get() key=|a| (a.ip.clone(), a.ready, a.draining) let(a)>
                    <span
                        class="endpoint"
                        class:ready=a.ready || a.draining
                        class:not-ready=!a.ready && !a.draining
                        class:terminating=a.draining
                        title=match (a.ready, a.draining) {
                            (true, _) => "ready: receives traffic",
                            (false, true) => "terminating, still serving: receives traffic while no endpoint is ready",
                            (false, false) => "not ready: receives no traffic",
                        }
                    >
                        <span class="mono">{format!("{}:{}", a.ip, a.ports)}</span>
                        " "
                        <span class="pod">{a.pod.clone()}</span>
                        {a.draining.then_some(" (terminating)")}
                    </span>
                </For>
                <Show when=move || endpoints.with(Vec::is_empty)>
                    <span class="none">"<none>"</span>
                </Show>
                </div>
            </td>
            <td class="actions">
                <button on:click=describe title="kubectl describe service">"Describe"</button>
                <button on:click=edit title="kubectl edit service: the service in the editor">"Edit"</button>
                <button on:click=diagnose title="Run the troubleshooting checklist for this service">"Doctor"</button>
                <Show when=move || proxied>
                    <button on:click=send.clone() title="Send 10 HTTP requests to this service from a pod">
                        "Send 10 requests"
                    </button>
                </Show>
            </td>
        </tr>
    }
}

/// Which service the describe panel shows.
#[derive(Clone, Copy)]
struct Described(RwSignal<Option<(String, String)>>);

/// `kubectl describe service`, kept current as the service, its endpoints and its events change.
#[component]
fn Describe(described: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let cluster = use_cluster();
    move || {
        let (namespace, name) = described.get()?;
        let text = match cluster.get::<Service>(&namespace, &name) {
            None => format!("Error from server (NotFound): services \"{name}\" not found"),
            Some(svc) => {
                let endpoints = cluster.endpoints(&namespace, &name);
                let events = super::events::about(cluster, "Service", &namespace, &name);
                describe_service(&svc, endpoints.as_ref(), &events)
            }
        };
        Some(view! {
            <div class="describe" data-testid="describe">
                <h3>
                    {format!("kubectl describe service {name} -n {namespace}")}
                    <button class="close" on:click=move |_| described.set(None) aria-label="Close the description">"×"</button>
                </h3>
                <pre class="mono">{text}</pre>
            </div>
        })
    }
}

/// One service's page (`/services/<namespace>/<name>`): its row (type, addresses, ports,
/// endpoints and their readiness) with its actions, the doctor's findings (run as it opens), test
/// requests, each selected pod's standing and why, the endpoint timeline, the topology around
/// it, its DNS records, `kubectl describe` and its events, all kept current.
#[component]
pub fn ServicePage() -> impl IntoView {
    let key = super::page_key();
    let cluster = use_cluster();
    let run = RwSignal::new(None::<TestRun>);
    let doctor = RwSignal::new(None::<DoctorRun>);
    let described = RwSignal::new(None::<(String, String)>);
    provide_context(Described(described));
    let exists = Memo::new(move |_| key.with(|(ns, n)| cluster.get::<Service>(ns, n).is_some()));
    // The page follows the URL: it describes its service and runs the doctor once the service is
    // there (again on request).
    Effect::new(move |_| {
        let (ns, n) = key.get();
        described.set(Some((ns.clone(), n.clone())));
        run.set(None);
        doctor.set(None);
        if exists.get() {
            DoctorRun::start(doctor, ns, n);
        }
    });
    let namespace = Signal::derive(move || key.get().0);
    let name = Signal::derive(move || key.get().1);
    let focus = Signal::derive(move || key.get());
    view! {
        <div class="stack" data-testid="service-page">
            <section class="panel">
                <p class="crumbs"><A href="/services">"← Services"</A></p>
                <h2>{move || key.with(|(ns, n)| format!("Service {}", super::qualified(ns, n)))}</h2>
                <Show
                    when=move || exists.get()
                    fallback=move || key.with(|(ns, n)| view! {
                        <p class="none">{format!("Error from server (NotFound): services \"{n}\" not found in namespace \"{ns}\"")}</p>
                    })
                >
                    <div class="table-wrap">
                    <table aria-label="Services">
                        {columns()}
                        <tbody>
                            {move || {
                                let (namespace, name) = key.get();
                                view! { <ServiceRow namespace=namespace name=name run=run doctor=doctor /> }
                            }}
                        </tbody>
                    </table>
                    </div>
                </Show>
                <DoctorView run=doctor />
                <TestRunView run=run />
            </section>
            <Show when=move || exists.get()>
                <super::endpoints::EndpointsPanel key=key />
                <EndpointTimeline key=key />
                <TopologyView focus=focus />
                <DnsRecords key=key />
                <section class="panel"><Describe described=described /></section>
            </Show>
            <EventsFor kind="Service" namespace=namespace name=name />
        </div>
    }
}
