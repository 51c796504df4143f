//! The service doctor: the chapter's troubleshooting checklist run by the backend for one
//! service, each finding with its explanation and links to the objects it is about.

use crate::api;
use leptos::prelude::*;
use leptos::task::spawn_local;
use svclab_shared::doctor::{Diagnosis, Severity};

/// One run of the doctor for `service` (`namespace/name`), or for a route.
#[derive(Clone, Debug, PartialEq)]
pub struct DoctorRun {
    /// `Service doctor` or `Route doctor`.
    pub title: &'static str,
    pub service: String,
    pub result: Option<Result<Diagnosis, String>>,
}

impl DoctorRun {
    pub fn start(run: RwSignal<Option<DoctorRun>>, namespace: String, name: String) {
        Self::run(run, "services", namespace, name);
    }

    /// The doctor for an HTTPRoute: attached to its Gateways, its backends usable.
    pub fn start_route(run: RwSignal<Option<DoctorRun>>, namespace: String, name: String) {
        Self::run(run, "httproutes", namespace, name);
    }

    fn run(run: RwSignal<Option<DoctorRun>>, resource: &'static str, namespace: String, name: String) {
        let title = if resource == "services" { "Service doctor" } else { "Route doctor" };
        run.set(Some(DoctorRun { title, service: format!("{namespace}/{name}"), result: None }));
        spawn_local(async move {
            let result = api::diagnosis(resource, &namespace, &name).await;
            run.update(|r| {
                if let Some(r) = r {
                    r.result = Some(result);
                }
            });
        });
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Ok => "ok",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// Where a linked object is shown: its page (a service's shows its Endpoints too), or its row.
pub fn link(kind: &str, namespace: &str, name: &str) -> String {
    match kind {
        "Pod" => format!("/pods/{namespace}/{name}"),
        "Service" | "Endpoints" => format!("/services/{namespace}/{name}"),
        "Ingress" => format!("/ingresses/{namespace}/{name}"),
        "HTTPRoute" => format!("/httproutes/{namespace}/{name}"),
        "Gateway" => "/gateways".to_string(),
        "NetworkPolicy" => "/config".to_string(),
        _ => format!("#{}", anchor(kind, namespace, name)),
    }
}

/// A row's id, for links within a page (a service's row shows its Endpoints too).
pub fn anchor(kind: &str, namespace: &str, name: &str) -> String {
    let kind = if kind == "Endpoints" { "service".to_string() } else { kind.to_ascii_lowercase() };
    format!("{kind}-{namespace}-{name}")
}

#[component]
pub fn DoctorView(run: RwSignal<Option<DoctorRun>>) -> impl IntoView {
    move || {
        run.get().map(|r| {
            let body = match r.result {
                None => view! { <p class="progress">"Running the checklist…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(d)) => findings(d).into_any(),
            };
            view! {
                <div class="doctor" data-testid="doctor" aria-live="polite">
                    <h3>
                        {format!("{}: {}", r.title, r.service)}
                        <button class="close" on:click=move |_| run.set(None) aria-label="Close the doctor">"×"</button>
                    </h3>
                    {body}
                </div>
            }
        })
    }
}

fn findings(d: Diagnosis) -> impl IntoView {
    let worst = severity_word(d.worst());
    let items = d
        .findings
        .into_iter()
        .map(|f| {
            let severity = severity_word(f.severity);
            let links = f
                .objects
                .iter()
                .map(|o| {
                    let href = link(&o.kind, &o.namespace, &o.name);
                    view! { <a href=href class="mono">{format!("{}/{}", o.kind.to_ascii_lowercase(), o.name)}</a> }
                })
                .collect_view();
            view! {
                <li class=format!("finding {severity}") data-check=f.check.clone() data-severity=severity>
                    <span class="badge">{severity}</span>
                    <div>
                        <strong>{f.title}</strong>
                        <p>{f.detail}</p>
                        <p class="links">{links}</p>
                    </div>
                </li>
            }
        })
        .collect_view();
    view! {
        <p class="meta" data-worst=worst>{format!("Worst finding: {worst}")}</p>
        <ul class="findings" aria-label="Findings">{items}</ul>
    }
}
