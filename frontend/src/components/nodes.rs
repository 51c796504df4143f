//! The nodes, as `kubectl get nodes -o wide` shows them, with their pod counts.

use crate::state::use_cluster;
use k8s_openapi::api::core::v1::Node;
use leptos::prelude::*;

#[component]
pub fn NodesTable() -> impl IntoView {
    let cluster = use_cluster();
    let per_node = Memo::new(move |_| cluster.pods_per_node());
    let rows = move || {
        cluster
            .list::<Node>()
            .into_iter()
            .map(|n| {
                let name = n.metadata.name.clone().unwrap_or_default();
                let status = n.status.as_ref();
                let ready = status
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                    .map(|c| if c.status == "True" { "Ready" } else { "NotReady" })
                    .unwrap_or("Unknown");
                let address = svclab_shared::display::internal_ip(&n).unwrap_or_default().to_string();
                let count = per_node.with(|c| c.get(&name).copied().unwrap_or(0));
                (name, ready, address, count)
            })
            .collect::<Vec<_>>()
    };
    view! {
        <section class="panel">
            <h2>"Nodes"</h2>
            <div class="table-wrap">
            <table aria-label="Nodes">
                <thead><tr><th>"NAME"</th><th>"STATUS"</th><th>"INTERNAL-IP"</th><th>"PODS"</th></tr></thead>
                <tbody>
                    <For each=rows key=|r| r.clone() let((name, ready, address, count))>
                        <tr>
                            <td>{name}</td>
                            <td class:bad=ready != "Ready">{ready}</td>
                            <td class="mono">{address}</td>
                            <td>{count}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            </div>
        </section>
    }
}
