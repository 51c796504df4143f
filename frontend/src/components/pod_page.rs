//! One pod's page (`/pods/<namespace>/<name>`): its row with the readiness toggle, each
//! container with its probes and their last results, the services that select it and where it
//! stands in their endpoints (and why), its logs, a shell, its events and Edit, all live.

use super::endpoints::rows;
use super::events::EventsFor;
use super::pods::{PodRow, columns};
use crate::api;
use crate::state::use_cluster;
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Event, Pod, Probe, Service};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use svclab_shared::selector::Selector;

/// A probe as `kubectl describe pod` prints it:
/// `exec [ls /var/ready] delay=0s timeout=1s period=10s #success=1 #failure=3`.
pub fn probe_text(probe: &Probe) -> String {
    let how = if let Some(exec) = &probe.exec {
        format!("exec [{}]", exec.command.clone().unwrap_or_default().join(" "))
    } else if let Some(http) = &probe.http_get {
        let port = match &http.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
        };
        let scheme = http.scheme.clone().unwrap_or_else(|| "http".into()).to_lowercase();
        format!(
            "http-get {scheme}://{}:{port}{}",
            http.host.clone().unwrap_or_default(),
            http.path.clone().unwrap_or_default()
        )
    } else if let Some(tcp) = &probe.tcp_socket {
        let port = match &tcp.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
        };
        format!("tcp-socket :{port}")
    } else if let Some(grpc) = &probe.grpc {
        format!("grpc <pod>:{} {}", grpc.port, grpc.service.clone().unwrap_or_default())
    } else {
        "unknown".into()
    };
    format!(
        "{how} delay={}s timeout={}s period={}s #success={} #failure={}",
        probe.initial_delay_seconds.unwrap_or(0),
        probe.timeout_seconds.unwrap_or(1),
        probe.period_seconds.unwrap_or(10),
        probe.success_threshold.unwrap_or(1),
        probe.failure_threshold.unwrap_or(3)
    )
}

/// A container's state as kubectl describes it: `Running`, `Waiting (CrashLoopBackOff)`, ….
fn state_text(status: Option<&ContainerStatus>) -> String {
    let Some(state) = status.and_then(|s| s.state.as_ref()) else { return "Waiting".into() };
    if state.running.is_some() {
        "Running".into()
    } else if let Some(w) = &state.waiting {
        format!("Waiting ({})", w.reason.clone().unwrap_or_default())
    } else if let Some(t) = &state.terminated {
        format!("Terminated ({}, exit code {})", t.reason.clone().unwrap_or_default(), t.exit_code)
    } else {
        "Waiting".into()
    }
}

/// The probe's last result: failing (with kubelet's message) or passing.
fn probe_result(kind: &str, passing: bool, events: &[Event]) -> String {
    match (passing, super::events::newest_message(events, &format!("{kind} probe failed"))) {
        (true, _) => "passing".into(),
        (false, Some(message)) => message,
        (false, None) => "not passed yet".into(),
    }
}

/// What svclab runs for an image it does not know, and what that means for the probes.
fn default_program(container: &Container) -> Option<String> {
    let image = container.image.clone().unwrap_or_default();
    if svclab_shared::program::program_for(&image).is_builtin() {
        return None;
    }
    let tcp: Vec<String> = container
        .ports
        .iter()
        .flatten()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .map(|p| p.container_port.to_string())
        .collect();
    let serves = if tcp.is_empty() {
        "it declares no TCP port, so it serves nothing".to_string()
    } else {
        format!("it serves HTTP/1.1, h2c and gRPC health (SERVING) on port {}", tcp.join(", "))
    };
    let probed = container.readiness_probe.is_some() || container.liveness_probe.is_some();
    Some(format!(
        "{image} is not built into svclab: the container runs svclab's default program, and {serves}.{}",
        if probed {
            " Its probes pass because this program answers them; on a real cluster they test the application."
        } else {
            ""
        }
    ))
}

#[component]
fn ContainerCard(container: Container, status: Option<ContainerStatus>, events: Vec<Event>) -> impl IntoView {
    let ready = status.as_ref().is_some_and(|s| s.ready);
    let running = status.as_ref().and_then(|s| s.state.as_ref()).is_some_and(|s| s.running.is_some());
    let ports = container
        .ports
        .iter()
        .flatten()
        .map(|p| match &p.name {
            Some(name) => {
                format!("{}/{} ({name})", p.container_port, p.protocol.clone().unwrap_or_else(|| "TCP".into()))
            }
            None => format!("{}/{}", p.container_port, p.protocol.clone().unwrap_or_else(|| "TCP".into())),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let readiness =
        container.readiness_probe.as_ref().map(|p| (probe_text(p), probe_result("Readiness", ready, &events)));
    let liveness =
        container.liveness_probe.as_ref().map(|p| (probe_text(p), probe_result("Liveness", running, &events)));
    let probe = |label: &'static str, probe: Option<(String, String)>| {
        probe.map(|(text, result)| {
            view! {
                <dt>{label}</dt>
                <dd><span class="mono">{text}</span><br /><span class="probe-result">{format!("last result: {result}")}</span></dd>
            }
        })
    };
    view! {
        <div class="container-card" data-container=container.name.clone()>
            <h4 class="mono">{container.name.clone()}</h4>
            <dl>
                <dt>"Image"</dt><dd class="mono">{container.image.clone().unwrap_or_default()}</dd>
                <dt>"Ports"</dt><dd class="mono">{if ports.is_empty() { "<none>".into() } else { ports }}</dd>
                <dt>"State"</dt><dd>{state_text(status.as_ref())}</dd>
                <dt>"Ready"</dt><dd>{if ready { "True" } else { "False" }}</dd>
                <dt>"Restart Count"</dt><dd>{status.as_ref().map_or(0, |s| s.restart_count)}</dd>
                {probe("Readiness", readiness)}
                {probe("Liveness", liveness)}
            </dl>
            {container.readiness_probe.is_none().then(|| view! {
                <p class="none">"No readiness probe: the pod counts as ready as soon as its containers run."</p>
            })}
            {default_program(&container).map(|text| view! { <p class="stand-in">{text}</p> })}
        </div>
    }
}

/// Edit, logs (shown below on request) and a shell.
#[component]
fn PodActions(key: Memo<(String, String)>) -> impl IntoView {
    let logs = RwSignal::new(None::<Result<String, String>>);
    let show_logs = move |_| {
        let (ns, n) = key.get_untracked();
        spawn_local(async move { logs.set(Some(api::logs(&ns, &n).await)) });
    };
    let editor = super::apply::use_editor();
    let edit = move |_| key.with_untracked(|(ns, n)| editor.edit(svclab_shared::Kind::Pod, ns, n));
    view! {
        <div class="page-actions">
            <button on:click=edit title="kubectl edit pod: the pod in the editor">"Edit"</button>
            <button on:click=show_logs title="kubectl logs">"Show logs"</button>
            <A href=move || key.with(|(ns, n)| format!("/terminal?pod={ns}/{n}")) attr:class="button">"Open a shell"</A>
        </div>
        {move || logs.get().map(|l| match l {
            Ok(text) => view! {
                <h3>{move || format!("kubectl logs {}", key.get().1)}</h3>
                <pre class="terminal-output mono" data-testid="logs">{if text.is_empty() { "(no output yet)".to_string() } else { text }}</pre>
            }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        })}
    }
}

/// The services that select the pod, and where it stands in each one's endpoints.
#[component]
fn Standing(pod: Memo<Option<Pod>>, events: Memo<Vec<Event>>) -> impl IntoView {
    let cluster = use_cluster();
    move || {
        let pod = pod.get()?;
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone();
        let selecting: Vec<Service> = cluster
            .list::<Service>()
            .into_iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .filter(|s| {
                s.spec
                    .as_ref()
                    .and_then(|sp| sp.selector.as_ref())
                    .filter(|sel| !sel.is_empty())
                    .is_some_and(|sel| Selector::from_map(sel).matches_opt(labels.as_ref()))
            })
            .collect();
        if selecting.is_empty() {
            return Some(view! { <p class="none">"No service selects this pod."</p> }.into_any());
        }
        Some(
            view! {
                <ul class="standing">
                    {selecting
                        .into_iter()
                        .map(|s| {
                            let name = s.metadata.name.clone().unwrap_or_default();
                            let endpoints = cluster.endpoints(&namespace, &name);
                            let row = events.with(|events| rows(&s, endpoints.as_ref(), std::slice::from_ref(&pod), events));
                            let (class, why) = row.into_iter().next().map(|r| (r.standing, r.why)).unwrap_or_default();
                            let (href, shown) = (format!("/services/{namespace}/{name}"), name.clone());
                            view! {
                                <li data-service=name.clone() data-standing=class>
                                    <A href=href attr:class="name-link">{shown}</A>
                                    {format!(" — {}: {why}", super::endpoints::standing_words(class))}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            }
            .into_any(),
        )
    }
}

#[component]
pub fn PodPage() -> impl IntoView {
    let key = super::page_key();
    let cluster = use_cluster();
    let pod = Memo::new(move |_| key.with(|(ns, n)| cluster.get::<Pod>(ns, n)));
    let events = Memo::new(move |_| key.with(|(ns, n)| super::events::about(cluster, "Pod", ns, n)));
    let containers = move || {
        let pod = pod.get()?;
        let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
        let events = events.get();
        Some(
            pod.spec
                .map(|s| s.containers)
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    let status = statuses.iter().find(|s| s.name == c.name).cloned();
                    view! { <ContainerCard container=c status=status events=events.clone() /> }
                })
                .collect_view(),
        )
    };
    // What `kubectl debug` added: each as a container card, with its own status.
    let ephemeral = move || {
        let pod = pod.get()?;
        let specs = pod.spec.as_ref()?.ephemeral_containers.clone().filter(|e| !e.is_empty())?;
        let statuses = pod.status.as_ref().and_then(|s| s.ephemeral_container_statuses.clone()).unwrap_or_default();
        let events = events.get();
        let cards = specs
            .into_iter()
            .map(|e| {
                let status = statuses.iter().find(|s| s.name == e.name).cloned();
                let container: Container =
                    serde_json::to_value(&e).ok().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
                let target = e
                    .target_container_name
                    .map(|t| view! { <p class="none">{format!("Sees the processes of container {t}.")}</p> });
                view! { <ContainerCard container=container status=status events=events.clone() />{target} }
            })
            .collect_view();
        Some(view! {
            <h3>"Ephemeral containers"</h3>
            <p class="hint">"Added to the running pod by kubectl debug: they share its network, run once and are never restarted."</p>
            <div class="containers" data-testid="ephemeral-containers">{cards}</div>
        })
    };
    let namespace = Signal::derive(move || key.get().0);
    let name = Signal::derive(move || key.get().1);
    view! {
        <section class="panel" data-testid="pod-page">
            <p class="crumbs"><A href="/pods">"← Pods"</A></p>
            <h2>{move || key.with(|(ns, n)| format!("Pod {}", super::qualified(ns, n)))}</h2>
            <Show
                when=move || pod.with(Option::is_some)
                fallback=move || key.with(|(ns, n)| view! {
                    <p class="none">{format!("Error from server (NotFound): pods \"{n}\" not found in namespace \"{ns}\"")}</p>
                })
            >
                <div class="table-wrap">
                <table aria-label="Pods">
                    {columns()}
                    <tbody>{move || { let (namespace, name) = key.get(); view! { <PodRow namespace=namespace name=name /> } }}</tbody>
                </table>
                </div>
                <PodActions key=key />
                <h3>"Containers"</h3>
                <div class="containers">{containers}</div>
                {ephemeral}
                <h3>"Services"</h3>
                <Standing pod=pod events=events />
            </Show>
        </section>
        <EventsFor kind="Pod" namespace=namespace name=name />
    }
}
