//! The controllers that keep pods running, as `kubectl get rc,rs,deploy,sts,ds` shows them:
//! DESIRED, CURRENT and READY pods, the selector, AGE; and the batch workloads as `kubectl get
//! jobs,cronjobs` shows them; with Edit (`kubectl edit`) for each.

use super::age;
use crate::components::apply::use_editor;
use crate::state::use_cluster;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use svclab_shared::{Kind, Typed};

/// One row: which object, and its counts.
#[derive(Clone)]
struct Row {
    kind: Kind,
    namespace: String,
    name: String,
    resource_version: String,
    created: Option<Time>,
    desired: i64,
    current: i64,
    ready: i64,
    selector: String,
}

impl Row {
    fn of(kind: Kind, meta: &ObjectMeta, desired: i32, current: i32, ready: i32, selector: String) -> Row {
        Row {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            created: meta.creation_timestamp.clone(),
            desired: desired.into(),
            current: current.into(),
            ready: ready.into(),
            selector,
        }
    }

    /// A row from an object as the server sent it (StatefulSets and DaemonSets: the dashboard
    /// carries no decoder for them), its counts at the JSON `paths`.
    fn raw(kind: Kind, o: &Value, [desired, current, ready]: [&str; 3]) -> Row {
        let meta = &o["metadata"];
        let count = |path: &str| {
            o.pointer(path).and_then(Value::as_i64).unwrap_or(if path == "/spec/replicas" { 1 } else { 0 })
        };
        let labels = o.pointer("/spec/selector/matchLabels").and_then(Value::as_object);
        Row {
            kind,
            namespace: meta["namespace"].as_str().unwrap_or_default().to_string(),
            name: meta["name"].as_str().unwrap_or_default().to_string(),
            resource_version: meta["resourceVersion"].as_str().unwrap_or_default().to_string(),
            created: serde_json::from_value(meta["creationTimestamp"].clone()).ok(),
            desired: count(desired),
            current: count(current),
            ready: count(ready),
            selector: labels
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    fn reference(&self) -> String {
        format!("{}/{}", self.kind.name().to_lowercase(), self.name)
    }
}

fn labels(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")).unwrap_or_default()
}

/// The rows of a kind decoded into its type, counted by `counts` (desired, current, ready,
/// selector).
fn typed_rows<T: Typed + DeserializeOwned>(
    cluster: crate::state::Cluster,
    scope: super::scope::Scope,
    rows: &mut Vec<Row>,
    counts: impl Fn(&T) -> (i32, i32, i32, String),
) {
    cluster.fold::<T, _>((), |(), object| {
        let meta = object.metadata();
        if scope.shows(meta.namespace.as_deref().unwrap_or_default()) {
            let (desired, current, ready, selector) = counts(object);
            rows.push(Row::of(T::OBJECT_KIND, meta, desired, current, ready, selector));
        }
    });
}

/// The rows of every controller kind in the namespaces shown.
fn controller_rows(cluster: crate::state::Cluster, scope: super::scope::Scope) -> Vec<Row> {
    let mut rows = Vec::new();
    typed_rows::<ReplicationController>(cluster, scope, &mut rows, |rc| {
        let (spec, status) = (rc.spec.as_ref(), rc.status.as_ref());
        let selector = labels(spec.and_then(|s| s.selector.as_ref()));
        let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
        (spec.and_then(|s| s.replicas).unwrap_or(1), status.map_or(0, |s| s.replicas), ready, selector)
    });
    typed_rows::<ReplicaSet>(cluster, scope, &mut rows, |rs| {
        let (spec, status) = (rs.spec.as_ref(), rs.status.as_ref());
        let selector = labels(spec.and_then(|s| s.selector.match_labels.as_ref()));
        let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
        (spec.and_then(|s| s.replicas).unwrap_or(1), status.map_or(0, |s| s.replicas), ready, selector)
    });
    typed_rows::<Deployment>(cluster, scope, &mut rows, |d| {
        let (spec, status) = (d.spec.as_ref(), d.status.as_ref());
        let selector = labels(spec.and_then(|s| s.selector.match_labels.as_ref()));
        let (current, ready) = (status.and_then(|s| s.replicas), status.and_then(|s| s.ready_replicas));
        (spec.and_then(|s| s.replicas).unwrap_or(1), current.unwrap_or(0), ready.unwrap_or(0), selector)
    });
    let shown = |o: &Value| scope.shows(o["metadata"]["namespace"].as_str().unwrap_or_default());
    for o in cluster.raw_all(Kind::StatefulSet).iter().filter(|o| shown(o)) {
        rows.push(Row::raw(Kind::StatefulSet, o, ["/spec/replicas", "/status/replicas", "/status/readyReplicas"]));
    }
    for o in cluster.raw_all(Kind::DaemonSet).iter().filter(|o| shown(o)) {
        let counts = ["/status/desiredNumberScheduled", "/status/currentNumberScheduled", "/status/numberReady"];
        rows.push(Row::raw(Kind::DaemonSet, o, counts));
    }
    rows
}

#[component]
pub fn WorkloadsTable() -> impl IntoView {
    let cluster = use_cluster();
    let editor = use_editor();
    let scope = super::scope::use_scope();
    let rows = move || controller_rows(cluster, scope);
    view! {
        <section class="panel" id="workloads" aria-labelledby="workloads-title">
            <h2 id="workloads-title">"Controllers"</h2>
            <div class="table-wrap">
            <table aria-label="Controllers">
                <thead>
                    <tr><th>"NAME"</th><th>"DESIRED"</th><th>"CURRENT"</th><th>"READY"</th><th>"SELECTOR"</th><th>"AGE"</th><th></th></tr>
                </thead>
                <tbody>
                    <For each=rows key=|r| (r.reference(), r.namespace.clone(), r.resource_version.clone()) let(r)>
                        {
                            let reference = r.reference();
                            let (kind, namespace, name) = (r.kind, r.namespace.clone(), r.name.clone());
                            let behind = r.ready < r.desired;
                            view! {
                                <tr data-controller=reference.clone() class:unready=behind>
                                    <td class="mono">{super::qualified(&r.namespace, &reference)}</td>
                                    <td>{r.desired}</td>
                                    <td>{r.current}</td>
                                    <td>{r.ready}</td>
                                    <td class="mono">{r.selector.clone()}</td>
                                    <td>{age(r.created.as_ref())}</td>
                                    <td><button class="small" on:click=move |_| editor.edit(kind, &namespace, &name)>"Edit"</button></td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
            </div>
        </section>
        <BatchTable />
    }
}

/// Jobs and CronJobs, with kubectl's STATUS, COMPLETIONS and SCHEDULE.
#[component]
fn BatchTable() -> impl IntoView {
    let cluster = use_cluster();
    let editor = use_editor();
    let scope = super::scope::use_scope();
    let rows = move || {
        let shown = |o: &Value| scope.shows(o["metadata"]["namespace"].as_str().unwrap_or_default());
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut rows: Vec<(Kind, Value, String, String)> = Vec::new();
        for cron in cluster.raw_all(Kind::CronJob).into_iter().filter(|o| shown(o)) {
            let active = cron.pointer("/status/active").and_then(Value::as_array).map_or(0, Vec::len);
            let state =
                if cron["spec"]["suspend"] == true { "Suspended".to_string() } else { format!("{active} active") };
            let last: Option<Time> = serde_json::from_value(cron["status"]["lastScheduleTime"].clone()).ok();
            let last = last.map_or_else(|| "never ran".to_string(), |t| format!("last ran {} ago", age(Some(&t))()));
            let progress = format!("{} — {last}", text(&cron["spec"]["schedule"]));
            rows.push((Kind::CronJob, cron, state, progress));
        }
        for job in cluster.raw_all(Kind::Job).into_iter().filter(|o| shown(o)) {
            let conditions = job.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten();
            let pairs =
                conditions.map(|c| (c["type"].as_str().unwrap_or_default(), c["status"].as_str().unwrap_or_default()));
            let state = svclab_shared::printers::job_status_of(pairs, !job["metadata"]["deletionTimestamp"].is_null());
            let succeeded = job.pointer("/status/succeeded").and_then(Value::as_i64).unwrap_or(0);
            let completions = job.pointer("/spec/completions").and_then(Value::as_i64).unwrap_or(1);
            rows.push((Kind::Job, job, state.to_string(), format!("{succeeded}/{completions} completions")));
        }
        rows
    };
    view! {
        <section class="panel" id="batch" aria-labelledby="batch-title">
            <h2 id="batch-title">"Jobs and CronJobs"</h2>
            <div class="table-wrap">
            <table aria-label="Jobs and CronJobs">
                <thead><tr><th>"NAME"</th><th>"STATUS"</th><th>"PROGRESS"</th><th>"AGE"</th><th></th></tr></thead>
                <tbody>
                    <For each=rows key=|(k, o, _, _)| (*k, o["metadata"]["namespace"].to_string(), o["metadata"]["name"].to_string(), o["metadata"]["resourceVersion"].to_string()) let((kind, object, state, progress))>
                        {
                            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                            let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
                            let reference = format!("{}/{name}", kind.name().to_lowercase());
                            let created: Option<Time> = serde_json::from_value(object["metadata"]["creationTimestamp"].clone()).ok();
                            let failed = state == "Failed";
                            let (edit_ns, edit_name) = (namespace.clone(), name.clone());
                            view! {
                                <tr data-controller=reference.clone() class:unready=failed>
                                    <td class="mono">{super::qualified(&namespace, &reference)}</td>
                                    <td>{state}</td>
                                    <td class="mono">{progress}</td>
                                    <td>{age(created.as_ref())}</td>
                                    <td><button class="small" on:click=move |_| editor.edit(kind, &edit_ns, &edit_name)>"Edit"</button></td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
            </div>
        </section>
    }
}
