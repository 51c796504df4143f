//! The pods, as `kubectl get pods -o wide` shows them.

use super::age;
use crate::state::use_cluster;
use k8s_openapi::api::core::v1::Pod;
use leptos::prelude::*;
use svclab_shared::pod::{is_ready, ready_column, restarts, status_column};

#[component]
pub fn PodsTable() -> impl IntoView {
    let cluster = use_cluster();
    let rows = move || cluster.list::<Pod>();
    view! {
        <section class="panel">
            <h2>"Pods"</h2>
            <div class="table-wrap">
            <table aria-label="Pods">
                <thead>
                    <tr>
                        <th>"NAME"</th><th>"READY"</th><th>"STATUS"</th><th>"RESTARTS"</th>
                        <th>"AGE"</th><th>"IP"</th><th>"NODE"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=rows
                        key=|p| (p.metadata.uid.clone(), p.metadata.resource_version.clone())
                        let(pod)
                    >
                        <tr data-pod=pod.metadata.name.clone() class:unready=!is_ready(&pod)>
                            <td class="mono">
                                {super::qualified(pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default())}
                            </td>
                            <td>{ready_column(&pod)}</td>
                            <td>{status_column(&pod)}</td>
                            <td>{restarts(&pod)}</td>
                            <td>{age(pod.metadata.creation_timestamp.as_ref())}</td>
                            <td class="mono">{pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_else(|| "<none>".into())}</td>
                            <td>{pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_else(|| "<none>".into())}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            </div>
        </section>
    }
}
