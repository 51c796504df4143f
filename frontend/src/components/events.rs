//! The events, as `kubectl get events` shows them (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE),
//! newest first, filtered by type and by any text of the row.

use crate::state::use_cluster;
use k8s_openapi::api::core::v1::Event;
use leptos::prelude::*;

/// At most this many rows are shown (the newest that match).
const SHOWN: usize = 300;

#[derive(Clone, PartialEq)]
struct Row {
    key: String,
    when_ms: f64,
    type_: String,
    reason: String,
    object: String,
    message: String,
    count: i32,
}

fn row(e: &Event) -> Row {
    let when = e.last_timestamp.as_ref().map(|t| t.0).or(e.event_time.as_ref().map(|t| t.0)).or(e
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0));
    let object = &e.involved_object;
    Row {
        key: format!(
            "{}/{}",
            e.metadata.namespace.as_deref().unwrap_or_default(),
            e.metadata.name.as_deref().unwrap_or_default()
        ),
        when_ms: when.map_or(0.0, |t| t.as_millisecond() as f64),
        type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: e.reason.clone().unwrap_or_default(),
        object: format!(
            "{}/{}",
            object.kind.as_deref().unwrap_or_default().to_lowercase(),
            object.name.as_deref().unwrap_or_default()
        ),
        message: e.message.clone().unwrap_or_default(),
        count: e.count.unwrap_or(1),
    }
}

/// The events about one object.
pub fn about(cluster: crate::state::Cluster, kind: &str, namespace: &str, name: &str) -> Vec<Event> {
    let mut events = of_kind(cluster, kind, namespace);
    events.retain(|e| e.involved_object.name.as_deref() == Some(name));
    events
}

/// The newest message among `events` that starts with `prefix` (a pod's last `Readiness probe
/// failed: …`).
pub fn newest_message<'a>(events: impl IntoIterator<Item = &'a Event>, prefix: &str) -> Option<String> {
    events
        .into_iter()
        .filter(|e| e.message.as_deref().is_some_and(|m| m.starts_with(prefix)))
        .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0).or(e.event_time.as_ref().map(|t| t.0)))
        .and_then(|e| e.message.clone())
}

/// The events about objects of one kind in a namespace.
pub fn of_kind(cluster: crate::state::Cluster, kind: &str, namespace: &str) -> Vec<Event> {
    cluster.fold::<Event, _>(Vec::new(), |mut out, e| {
        let o = &e.involved_object;
        if o.kind.as_deref() == Some(kind) && o.namespace.as_deref().unwrap_or_default() == namespace {
            out.push(e.clone());
        }
        out
    })
}

/// One event as a row: LAST SEEN (live), TYPE, REASON, OBJECT (when `with_object`), MESSAGE.
fn event_row(r: Row, now: RwSignal<f64>, with_object: bool) -> impl IntoView {
    let message = if r.count > 1 { format!("{} (x{})", r.message, r.count) } else { r.message.clone() };
    view! {
        <tr class:warning=r.type_ == "Warning">
            <td>{move || svclab_shared::printers::human_duration(((now.get() - r.when_ms) / 1000.0) as i64)}</td>
            <td>{r.type_.clone()}</td>
            <td>{r.reason.clone()}</td>
            {with_object.then(|| view! { <td class="mono">{r.object.clone()}</td> })}
            <td class="message">{message}</td>
        </tr>
    }
}

#[component]
pub fn EventsTable() -> impl IntoView {
    let cluster = use_cluster();
    let now = expect_context::<super::Now>().0;
    let filter = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let scope = super::scope::use_scope();
    let rows = Memo::new(move |_| {
        let mut rows = cluster.fold::<Event, _>(Vec::new(), |mut out, e| {
            if scope.shows(e.metadata.namespace.as_deref().unwrap_or_default()) {
                out.push(row(e));
            }
            out
        });
        rows.sort_by(|a, b| b.when_ms.total_cmp(&a.when_ms));
        rows
    });
    let shown = move || {
        let text = filter.get().to_lowercase();
        let kind = kind.get();
        rows.with(|rows| {
            rows.iter()
                .filter(|r| kind.is_empty() || r.type_ == kind)
                .filter(|r| {
                    text.is_empty()
                        || [&r.reason, &r.object, &r.message].iter().any(|f| f.to_lowercase().contains(&text))
                })
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="panel" id="events" aria-labelledby="events-title">
            <h2 id="events-title">"Events " <span class="count">{move || rows.with(Vec::len)}</span></h2>
            <div class="filters">
                <label>
                    "Filter"
                    <input id="events-filter" placeholder="reason, object or message" prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev)) />
                </label>
                <label>
                    "Type"
                    <select id="events-type" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value="">"all"</option>
                        <option value="Normal">"Normal"</option>
                        <option value="Warning">"Warning"</option>
                    </select>
                </label>
            </div>
            <div class="table-wrap windowed" tabindex="0" role="region" aria-label="Events, scrollable">
            <table aria-label="Events">
                <thead><tr><th>"LAST SEEN"</th><th>"TYPE"</th><th>"REASON"</th><th>"OBJECT"</th><th>"MESSAGE"</th></tr></thead>
                <tbody>
                    <For each=shown key=|r| (r.key.clone(), r.count) let(r)>
                        {event_row(r, now, true)}
                    </For>
                </tbody>
            </table>
            </div>
        </section>
    }
}

/// The events about one object, newest first (`kubectl describe`'s Events), live.
#[component]
pub fn EventsFor(kind: &'static str, namespace: Signal<String>, name: Signal<String>) -> impl IntoView {
    let cluster = use_cluster();
    let now = expect_context::<super::Now>().0;
    let rows = Memo::new(move |_| {
        let mut rows: Vec<Row> = about(cluster, kind, &namespace.get(), &name.get()).iter().map(row).collect();
        rows.sort_by(|a, b| b.when_ms.total_cmp(&a.when_ms));
        rows
    });
    view! {
        <section class="panel" aria-label="Events">
            <h3>"Events"</h3>
            <Show when=move || !rows.with(Vec::is_empty) fallback=|| view! { <p class="none">"<none>"</p> }>
                <div class="table-wrap">
                <table aria-label="Events of this object">
                    <thead><tr><th>"LAST SEEN"</th><th>"TYPE"</th><th>"REASON"</th><th>"MESSAGE"</th></tr></thead>
                    <tbody>
                        <For each=move || rows.get() key=|r| (r.key.clone(), r.count) let(r)>
                            {event_row(r, now, false)}
                        </For>
                    </tbody>
                </table>
                </div>
            </Show>
        </section>
    }
}
