//! Test requests: pick a source (a pod, a node, outside the cluster), a target (a service by name
//! or FQDN, a cluster IP, a node port, a load balancer, an ingress host), a count and keep-alive,
//! and see each response, which pod answered, and each request's trace: the DNS queries, the
//! address dialled, every hop a proxy chose and why, and the source the pod saw.

use super::pickers::PodPicker;
use super::topology::Traced;
use crate::api;
use crate::state::{Cluster, use_cluster};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::networking::v1::Ingress;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::BTreeMap;
use svclab_shared::lab::{Hop, IngressTarget, TestReport, TestRequest, TestResult, TestSource};
use svclab_shared::topology;

/// One run of test requests and its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct TestRun {
    pub service: String,
    pub result: Option<Result<TestReport, String>>,
}

impl TestRun {
    /// Sends `request` and shows it as requests to `target`.
    pub fn start(run: RwSignal<Option<TestRun>>, target: String, request: TestRequest) {
        run.set(Some(TestRun { service: target, result: None }));
        spawn_local(async move {
            let result = api::test_requests(&request).await;
            run.update(|r| {
                if let Some(r) = r {
                    r.result = Some(result);
                }
            });
        });
    }
}

/// A button that sends `count` GETs of `/` from outside to `target` (through the ingress, or a
/// Gateway when it names one), shown as requests to `label`.
pub fn send_button(
    run: RwSignal<Option<TestRun>>,
    target: IngressTarget,
    label: String,
    count: u32,
    title: &'static str,
) -> impl IntoView + use<> {
    let host = target.host.clone();
    let text = format!("Send {count} to {label}");
    let send = move |_| {
        let request = TestRequest { count, path: "/".into(), ingress: Some(target.clone()), ..Default::default() };
        TestRun::start(run, label.clone(), request)
    };
    view! { <button on:click=send data-host=host title=title>{text}</button> }
}

/// The value of the source picker: `pod:ns/name`, `node:name` or `outside`.
fn parse_source(value: &str) -> Option<TestSource> {
    if value == "outside" {
        return Some(TestSource::Outside);
    }
    if let Some(node) = value.strip_prefix("node:") {
        return Some(TestSource::Node { name: node.to_string() });
    }
    let (namespace, name) = value.strip_prefix("pod:")?.split_once('/')?;
    Some(TestSource::Pod { namespace: namespace.to_string(), name: name.to_string() })
}

fn node_addresses(nodes: &[Node]) -> Vec<String> {
    nodes.iter().filter_map(|n| svclab_shared::display::internal_ip(n).map(String::from)).collect()
}

/// URLs worth trying, from the cluster as it is: each service by name, FQDN and cluster IP, its
/// node ports on every node, its load-balancer address, and every ingress host.
fn suggested_targets(services: &[Service], nodes: &[String], ingresses: &[Ingress]) -> Vec<String> {
    let mut out = Vec::new();
    for svc in services {
        let (ns, name) =
            (svc.metadata.namespace.clone().unwrap_or_default(), svc.metadata.name.clone().unwrap_or_default());
        let spec = svc.spec.clone().unwrap_or_default();
        let Some(first) = spec.ports.as_ref().and_then(|p| p.first()) else { continue };
        let port = |p: i32| if p == 80 { String::new() } else { format!(":{p}") };
        if ns == "default" {
            out.push(format!("http://{name}{}/", port(first.port)));
        }
        out.push(format!("http://{name}.{ns}.svc.cluster.local{}/", port(first.port)));
        if let Some(ip) = spec.cluster_ip.filter(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok()) {
            out.push(format!("http://{ip}{}/", port(first.port)));
        }
        for p in spec.ports.iter().flatten() {
            if let Some(np) = p.node_port {
                out.extend(nodes.iter().map(|n| format!("http://{n}:{np}/")));
            }
        }
        let lb = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()?.ingress.clone()).unwrap_or_default();
        out.extend(lb.iter().filter_map(|i| i.ip.clone()).map(|ip| format!("http://{ip}{}/", port(first.port))));
    }
    for ingress in ingresses {
        let spec = ingress.spec.clone().unwrap_or_default();
        let tls: Vec<String> = spec.tls.iter().flatten().flat_map(|t| t.hosts.clone().unwrap_or_default()).collect();
        for host in spec.rules.iter().flatten().filter_map(|r| r.host.clone()) {
            out.push(format!("http://{host}/"));
            if tls.contains(&host) {
                out.push(format!("https://{host}/"));
            }
        }
    }
    out
}

/// Where a test request may come from, as (value, label): outside, each node, and (once the
/// picker is used) each pod; else the pod `selected` alone, when one is.
fn source_options(cluster: Cluster, picker: PodPicker, wanted: bool, selected: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![("outside".into(), "outside the cluster (the host)".into())];
    for node in cluster.list::<Node>() {
        let name = node.metadata.name.unwrap_or_default();
        out.push((format!("node:{name}"), format!("node {name}")));
    }
    if wanted {
        out.extend(
            picker
                .pods(cluster)
                .into_iter()
                .map(|(ns, name)| (format!("pod:{ns}/{name}"), format!("pod {}", super::qualified(&ns, &name)))),
        );
    } else if selected.starts_with("pod:") {
        out.push((selected.to_string(), selected.replacen("pod:", "pod ", 1)));
    }
    out
}

/// The panel: source, target, count, keep-alive, and the run's outcome.
#[component]
pub fn TestPanel() -> impl IntoView {
    let cluster = use_cluster();
    let run = RwSignal::new(None::<TestRun>);
    let source = RwSignal::new("outside".to_string());
    let url = RwSignal::new(String::new());
    let count = RwSignal::new(10u32);
    let keep_alive = RwSignal::new(false);
    // The suggestions, like the pods, are gathered once the pickers are used.
    let picker = PodPicker::new();
    let wanted = Signal::derive(move || picker.wanted(cluster));
    let sources = move || source_options(cluster, picker, wanted.get(), &source.get_untracked());
    let targets = move || {
        if !wanted.get() {
            return vec![];
        }
        let nodes = node_addresses(&cluster.list::<Node>());
        suggested_targets(&cluster.list::<Service>(), &nodes, &cluster.list::<Ingress>())
    };
    let send = move || {
        let target = url.get_untracked().trim().to_string();
        let request = TestRequest {
            url: Some(target.clone()),
            source: parse_source(&source.get_untracked()),
            count: count.get_untracked(),
            keep_alive: keep_alive.get_untracked(),
            ..Default::default()
        };
        TestRun::start(run, target, request);
    };
    view! {
        <section class="panel" aria-labelledby="test-title">
            <h2 id="test-title">"Test requests"</h2>
            <form class="test-form" on:submit=move |ev| { ev.prevent_default(); send(); }>
                <label>
                    "From"
                    <select
                        id="test-source"
                        on:focus=move |_| picker.use_it()
                        on:pointerdown=move |_| picker.use_it()
                        on:change=move |ev| source.set(event_target_value(&ev))
                    >
                        <For each=sources key=|s| s.0.clone() let((value, label))>
                            <option value=value.clone() selected=value == "outside">{label}</option>
                        </For>
                    </select>
                </label>
                <label>
                    "To"
                    <input
                        id="test-url"
                        class="mono"
                        list="test-targets"
                        on:focus=move |_| picker.use_it()
                        placeholder="http://kubia/"
                        prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev))
                    />
                    <datalist id="test-targets">
                        <For each=targets key=|t| t.clone() let(t)>
                            <option value=t></option>
                        </For>
                    </datalist>
                </label>
                <div class="row">
                    <label>
                        "Requests"
                        <input
                            id="test-count"
                            type="number"
                            min="1"
                            max="1000"
                            prop:value=move || count.get().to_string()
                            on:input=move |ev| count.set(event_target_value(&ev).parse().unwrap_or(1).clamp(1, 1000))
                        />
                    </label>
                    <label class="check">
                        <input
                            id="test-keep-alive"
                            type="checkbox"
                            prop:checked=move || keep_alive.get()
                            on:change=move |ev| keep_alive.set(event_target_checked(&ev))
                        />
                        "keep-alive (one connection)"
                    </label>
                </div>
                <button
                    type="submit"
                    class="primary"
                    disabled=move || url.with(|u| u.trim().is_empty()) || run.with(|r| r.as_ref().is_some_and(|r| r.result.is_none()))
                >
                    "Send"
                </button>
            </form>
            <TestRunView run=run />
        </section>
    }
}

#[component]
pub fn TestRunView(run: RwSignal<Option<TestRun>>) -> impl IntoView {
    move || {
        run.get().map(|r| {
            let body = match r.result {
                None => view! { <p class="progress">"Sending requests…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(report)) => report_view(report).into_any(),
            };
            view! {
                <div class="test-run" data-testid="test-results" aria-live="polite">
                    <h3>{format!("Requests to {}", r.service)}</h3>
                    {body}
                </div>
            }
        })
    }
}

fn hop_line(h: &Hop) -> String {
    let to = match (&h.pod, h.endpoint.is_empty()) {
        (_, true) => "nowhere".to_string(),
        (Some(pod), false) => {
            format!("{} ({pod}{})", h.endpoint, h.node.as_ref().map(|n| format!(" on {n}")).unwrap_or_default())
        }
        (None, false) => format!("{}{}", h.endpoint, h.node.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()),
    };
    let source = if h.source.is_empty() { String::new() } else { format!("; the far end sees source {}", h.source) };
    format!("{} → {to}: {}{source}", h.virtual_address, h.reason)
}

fn trace_view(r: &TestResult) -> impl IntoView + use<> {
    let dns = r
        .dns
        .iter()
        .map(|q| {
            let answers: Vec<String> = q.answers.iter().map(|a| format!("{} {}", a.type_, a.data)).collect();
            let answers = if answers.is_empty() { String::new() } else { format!(" ({})", answers.join(", ")) };
            let text = format!(
                "DNS {} {}? → {}{answers} from {} in {:.2} ms",
                q.name,
                q.type_,
                q.rcode,
                q.server,
                q.micros as f64 / 1000.0
            );
            view! { <li class="dns">{text}</li> }
        })
        .collect_view();
    let dialled = (!r.address.is_empty()).then(
        || view! { <li class="dial">{format!("connect to {} (connection {})", r.address, r.connection + 1)}</li> },
    );
    let hops = r.hops.iter().map(|h| view! { <li class="hop">{hop_line(h)}</li> }).collect_view();
    let certificate = r.certificate.clone().map(|c| view! { <li>{format!("TLS certificate: {c}")}</li> });
    view! { <ol class="trace">{dns}{dialled}{hops}{certificate}</ol> }
}

fn report_view(report: TestReport) -> impl IntoView {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &report.results {
        let who = r.hop.as_ref().and_then(|h| h.pod.clone()).unwrap_or_else(|| "(no answer)".into());
        *counts.entry(who).or_default() += 1;
    }
    let total = report.results.len().max(1);
    let histogram: Vec<_> = counts
        .into_iter()
        .map(|(pod, n)| {
            let width = format!("width: {}%", n * 100 / total);
            let key = pod.clone();
            view! {
                <li data-pod=key>
                    <span class="mono">{pod}</span>
                    <span class="bar"><span style=width></span></span>
                    <span>{n}</span>
                </li>
            }
        })
        .collect();
    let lines: Vec<_> = report
        .results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let outcome = match (&r.error, r.status) {
                (Some(e), _) => e.clone(),
                (None, Some(status)) => format!("{status} {}", r.body.trim()),
                (None, None) => "no answer".into(),
            };
            let hop = r
                .hop
                .as_ref()
                .map(|h| {
                    format!(
                        "{} → {} ({}) on {}: {}",
                        h.virtual_address,
                        h.endpoint,
                        h.pod.clone().unwrap_or_default(),
                        h.node.clone().unwrap_or_default(),
                        h.reason
                    )
                })
                .unwrap_or_default();
            let hop = match &r.certificate {
                Some(subject) => format!("{hop} [certificate {subject}]"),
                None => hop,
            };
            let ms = format!("{:.1} ms", r.micros as f64 / 1000.0);
            let trace = trace_view(&r);
            // Opening a trace draws it on the overview: the services and pods it went through.
            let ids: Vec<String> = r
                .hops
                .iter()
                .flat_map(|h| {
                    let (ns, name) = h.service.split_once('/').unwrap_or(("default", h.service.as_str()));
                    let pod = h.pod.as_ref().map(|p| topology::pod_id(ns, p));
                    std::iter::once(topology::service_id(ns, name)).chain(pod)
                })
                .collect();
            let Traced(traced) = expect_context::<Traced>();
            let on_toggle = move |ev: leptos::ev::Event| {
                if event_target::<web_sys::HtmlDetailsElement>(&ev).open() {
                    traced.set(ids.clone());
                }
            };
            view! {
                <li class:failed=r.error.is_some() data-connection=r.connection>
                    <span class="n">{i + 1}</span>
                    <span class="outcome">{outcome}</span>
                    <span class="hop mono">{hop}</span>
                    <span class="ms">{ms}</span>
                    <details class="trace-details" on:toggle=on_toggle>
                        <summary>"trace"</summary>
                        {trace}
                    </details>
                </li>
            }
        })
        .collect();
    view! {
        <p class="meta">{format!("from {} to {}", report.source, report.url)}</p>
        <ul class="histogram" aria-label="Which pod answered">{histogram}</ul>
        <ol class="requests" aria-label="Requests">{lines}</ol>
    }
}
