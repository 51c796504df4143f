//! A service's endpoint timeline: one lane per pod, coloured by where it stood in the
//! endpoints over time (ready, not ready, gone), and below it each change with its reason, so a
//! flapping probe or a rolling update is seen at a glance. Fetched again whenever the service's
//! Endpoints change.

use crate::api;
use crate::state::use_cluster;
use k8s_openapi::api::core::v1::Endpoints;
use leptos::prelude::*;
use leptos::task::spawn_local;
use svclab_shared::lab::{EndpointState, Timeline, TimelineEntry};

/// Milliseconds since the epoch of an RFC 3339 time.
fn millis(time: &str) -> f64 {
    js_sys::Date::parse(time)
}

/// `14:03:27`, in the browser's time zone.
fn clock(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    format!("{:02}:{:02}:{:02}", date.get_hours(), date.get_minutes(), date.get_seconds())
}

fn state_word(state: EndpointState) -> &'static str {
    match state {
        EndpointState::Ready => "ready",
        EndpointState::NotReady => "not-ready",
        EndpointState::Gone => "gone",
    }
}

/// One lane's segments: (start %, width %, state) between `from` and `to` (ms).
fn segments(entries: &[&TimelineEntry], from: f64, to: f64) -> Vec<(f64, f64, EndpointState)> {
    let span = (to - from).max(1.0);
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let start = millis(&e.time).max(from);
        let end = entries.get(i + 1).map_or(to, |next| millis(&next.time)).min(to);
        if e.state != EndpointState::Gone && end > start {
            out.push(((start - from) / span * 100.0, ((end - start) / span * 100.0).max(0.4), e.state));
        }
    }
    out
}

#[component]
pub fn EndpointTimeline(key: Memo<(String, String)>) -> impl IntoView {
    let cluster = use_cluster();
    let now = expect_context::<super::Now>().0;
    let timeline = RwSignal::new(None::<Result<Timeline, String>>);
    // Fetched on arrival and after each change of the service's Endpoints.
    let version = Memo::new(move |_| {
        key.with(|(ns, n)| cluster.get::<Endpoints>(ns, n).and_then(|e| e.metadata.resource_version))
    });
    Effect::new(move |_| {
        version.track();
        let (ns, n) = key.get();
        spawn_local(async move { timeline.set(Some(api::timeline(&ns, &n).await)) });
    });
    // The lanes follow the clock; the list of changes only the timeline.
    let lanes = move || {
        let t = timeline.with(|t| t.clone().and_then(Result::ok))?;
        let to = now.get();
        let from = t.entries.first().map_or(to, |e| millis(&e.time)).min(to - 1000.0);
        let mut pods: Vec<&str> = Vec::new();
        for e in &t.entries {
            if !pods.contains(&e.pod.as_str()) {
                pods.push(&e.pod);
            }
        }
        let lanes = pods
            .iter()
            .map(|pod| {
                let entries: Vec<&TimelineEntry> = t.entries.iter().filter(|e| e.pod == *pod).collect();
                let bars = segments(&entries, from, to)
                    .into_iter()
                    .map(|(left, width, state)| {
                        view! { <span class=format!("segment {}", state_word(state)) style=format!("left: {left:.2}%; width: {width:.2}%")></span> }
                    })
                    .collect_view();
                view! {
                    <div class="lane" data-pod=pod.to_string()>
                        <span class="lane-pod mono">{pod.to_string()}</span>
                        <span class="lane-track">{bars}</span>
                    </div>
                }
            })
            .collect_view();
        Some(view! {
            <div class="lanes" role="img" aria-label="Each pod's place in the endpoints over time">
                {lanes}
                <div class="lane axis"><span></span><span class="lane-track">
                    <span class="tick start">{clock(from)}</span><span class="tick end">"now"</span>
                </span></div>
            </div>
        })
    };
    let changes = move || {
        let t = match timeline.get()? {
            Err(e) => return Some(view! { <p class="error" role="alert">{e}</p> }.into_any()),
            Ok(t) => t,
        };
        if t.entries.is_empty() {
            return Some(view! { <p class="none">"No pod has joined or left the endpoints yet."</p> }.into_any());
        }
        let items = t
            .entries
            .iter()
            .rev()
            .map(|e| {
                view! {
                    <li data-pod=e.pod.clone() data-state=state_word(e.state)>
                        <span class="when">{clock(millis(&e.time))}</span>
                        <span class="mono">{e.pod.clone()}</span>
                        <span class=format!("to {}", state_word(e.state))>{match e.state {
                            EndpointState::Ready => "→ ready",
                            EndpointState::NotReady => "→ not ready",
                            EndpointState::Gone => "→ left",
                        }}</span>
                        <span class="why">{e.reason.clone()}</span>
                    </li>
                }
            })
            .collect_view();
        Some(view! { <ul class="changes" aria-label="Endpoint changes">{items}</ul> }.into_any())
    };
    view! {
        <section class="panel" data-testid="endpoint-timeline">
            <h3>"Endpoint timeline"</h3>
            <p class="legend">
                <span class="key ready">"ready"</span>
                <span class="key not-ready">"not ready"</span>
                " — when each pod joined or left the endpoints, and why"
            </p>
            {lanes}
            {changes}
        </section>
    }
}
