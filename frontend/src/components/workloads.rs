//! The controllers that keep pods running, as `kubectl get rc,rs,deploy,sts,ds` shows them:
//! DESIRED, CURRENT and READY pods, the selector, AGE; and the batch workloads as `kubectl get
//! jobs,cronjobs` shows them; with Edit (`kubectl edit`) for each.

use super::age;
use crate::components::apply::use_editor;
use crate::state::use_cluster;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ReplicationController;
use leptos::prelude::*;
use svclab_shared::Object;

/// One row: the object and its counts.
#[derive(Clone)]
struct Row {
    object: Object,
    desired: i32,
    current: i32,
    ready: i32,
    selector: String,
}

fn labels(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")).unwrap_or_default()
}

/// The rows of every controller kind in the namespaces shown.
fn controller_rows(cluster: crate::state::Cluster, scope: super::scope::Scope) -> Vec<Row> {
    let mut rows = Vec::new();
    for rc in cluster
        .list::<ReplicationController>()
        .into_iter()
        .filter(|o| scope.shows(o.metadata.namespace.as_deref().unwrap_or_default()))
    {
        let (spec, status) = (rc.spec.clone().unwrap_or_default(), rc.status.clone().unwrap_or_default());
        rows.push(Row {
            desired: spec.replicas.unwrap_or(1),
            current: status.replicas,
            ready: status.ready_replicas.unwrap_or(0),
            selector: labels(spec.selector.as_ref()),
            object: Object::ReplicationController(rc),
        });
    }
    for rs in cluster
        .list::<ReplicaSet>()
        .into_iter()
        .filter(|o| scope.shows(o.metadata.namespace.as_deref().unwrap_or_default()))
    {
        let (spec, status) = (rs.spec.clone().unwrap_or_default(), rs.status.clone().unwrap_or_default());
        rows.push(Row {
            desired: spec.replicas.unwrap_or(1),
            current: status.replicas,
            ready: status.ready_replicas.unwrap_or(0),
            selector: labels(spec.selector.match_labels.as_ref()),
            object: Object::ReplicaSet(rs),
        });
    }
    for d in cluster
        .list::<Deployment>()
        .into_iter()
        .filter(|o| scope.shows(o.metadata.namespace.as_deref().unwrap_or_default()))
    {
        let (spec, status) = (d.spec.clone().unwrap_or_default(), d.status.clone().unwrap_or_default());
        rows.push(Row {
            desired: spec.replicas.unwrap_or(1),
            current: status.replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            selector: labels(spec.selector.match_labels.as_ref()),
            object: Object::Deployment(d),
        });
    }
    for set in cluster
        .list::<StatefulSet>()
        .into_iter()
        .filter(|o| scope.shows(o.metadata.namespace.as_deref().unwrap_or_default()))
    {
        let (spec, status) = (set.spec.clone().unwrap_or_default(), set.status.clone().unwrap_or_default());
        rows.push(Row {
            desired: spec.replicas.unwrap_or(1),
            current: status.replicas,
            ready: status.ready_replicas.unwrap_or(0),
            selector: labels(spec.selector.match_labels.as_ref()),
            object: Object::StatefulSet(set),
        });
    }
    for set in cluster
        .list::<DaemonSet>()
        .into_iter()
        .filter(|o| scope.shows(o.metadata.namespace.as_deref().unwrap_or_default()))
    {
        let (spec, status) = (set.spec.clone().unwrap_or_default(), set.status.clone().unwrap_or_default());
        rows.push(Row {
            desired: status.desired_number_scheduled,
            current: status.current_number_scheduled,
            ready: status.number_ready,
            selector: labels(spec.selector.match_labels.as_ref()),
            object: Object::DaemonSet(set),
        });
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
                    <For each=rows key=|r| (r.object.reference(), r.object.namespace().to_string(), r.object.resource_version()) let(r)>
                        {
                            let reference = r.object.reference();
                            let object = r.object.clone();
                            let behind = r.ready < r.desired;
                            view! {
                                <tr data-controller=reference.clone() class:unready=behind>
                                    <td class="mono">{super::qualified(r.object.namespace(), &reference)}</td>
                                    <td>{r.desired}</td>
                                    <td>{r.current}</td>
                                    <td>{r.ready}</td>
                                    <td class="mono">{r.selector.clone()}</td>
                                    <td>{age(r.object.metadata().creation_timestamp.as_ref())}</td>
                                    <td><button class="small" on:click=move |_| editor.edit(object.kind(), object.namespace(), object.name())>"Edit"</button></td>
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
        let shown = |ns: Option<&String>| scope.shows(ns.map(String::as_str).unwrap_or_default());
        let mut rows: Vec<(Object, String, String)> = Vec::new();
        for cron in cluster.list::<CronJob>().into_iter().filter(|c| shown(c.metadata.namespace.as_ref())) {
            let spec = cron.spec.clone().unwrap_or_default();
            let status = cron.status.clone().unwrap_or_default();
            let state = if spec.suspend == Some(true) {
                "Suspended".to_string()
            } else {
                format!("{} active", status.active.map_or(0, |a| a.len()))
            };
            let last = status
                .last_schedule_time
                .map_or_else(|| "never ran".to_string(), |t| format!("last ran {} ago", age(Some(&t))()));
            rows.push((Object::CronJob(cron), state, format!("{} — {last}", spec.schedule)));
        }
        for job in cluster.list::<Job>().into_iter().filter(|j| shown(j.metadata.namespace.as_ref())) {
            let state = svclab_shared::printers::job_status(&job).to_string();
            let spec = job.spec.clone().unwrap_or_default();
            let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
            let completions = match spec.completions {
                Some(c) => format!("{succeeded}/{c} completions"),
                None => format!("{succeeded}/1 completions"),
            };
            rows.push((Object::Job(job), state, completions));
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
                    <For each=rows key=|(o, _, _)| (o.reference(), o.namespace().to_string(), o.resource_version()) let((object, state, progress))>
                        {
                            let reference = object.reference();
                            let edited = object.clone();
                            let failed = state == "Failed";
                            view! {
                                <tr data-controller=reference.clone() class:unready=failed>
                                    <td class="mono">{super::qualified(object.namespace(), &reference)}</td>
                                    <td>{state}</td>
                                    <td class="mono">{progress}</td>
                                    <td>{age(object.metadata().creation_timestamp.as_ref())}</td>
                                    <td><button class="small" on:click=move |_| editor.edit(edited.kind(), edited.namespace(), edited.name())>"Edit"</button></td>
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
