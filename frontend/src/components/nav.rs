//! The sidebar: every view of the dashboard by its URL, the current one marked (`aria-current`),
//! with how many objects each holds.

use crate::state::{Cluster, use_cluster};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Node, Pod, ReplicationController, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use leptos::prelude::*;
use leptos_router::components::A;

/// A view: its label, its URL, and how many objects it lists (none for tools).
pub struct View {
    pub label: &'static str,
    pub href: &'static str,
    count: Option<fn(Cluster) -> usize>,
}

/// Every view, in the sidebar's order.
pub const VIEWS: &[View] = &[
    View { label: "Overview", href: "/", count: None },
    View { label: "Learn", href: "/learn", count: None },
    View { label: "Services", href: "/services", count: Some(|c| c.count::<Service>()) },
    View { label: "Pods", href: "/pods", count: Some(|c| c.count::<Pod>()) },
    View {
        label: "Workloads",
        href: "/workloads",
        count: Some(|c| {
            c.count::<ReplicationController>()
                + c.count::<ReplicaSet>()
                + c.count::<Deployment>()
                + c.count::<StatefulSet>()
                + c.count::<DaemonSet>()
                + c.count::<Job>()
                + c.count::<CronJob>()
        }),
    },
    View { label: "Config", href: "/config", count: Some(|c| super::config::kinds().map(|k| c.count_of(k)).sum()) },
    View { label: "Ingresses", href: "/ingresses", count: Some(|c| c.count::<Ingress>()) },
    View {
        label: "Gateways",
        href: "/gateways",
        count: Some(|c| c.count_of(svclab_shared::Kind::Gateway) + c.count_of(svclab_shared::Kind::HttpRoute)),
    },
    View { label: "EndpointSlices", href: "/endpointslices", count: Some(|c| c.count::<EndpointSlice>()) },
    View { label: "Nodes", href: "/nodes", count: Some(|c| c.count::<Node>()) },
    View { label: "Events", href: "/events", count: Some(|c| c.count::<Event>()) },
    View { label: "DNS", href: "/dns", count: None },
    View { label: "Terminal", href: "/terminal", count: None },
];

#[component]
pub fn Sidebar() -> impl IntoView {
    let cluster = use_cluster();
    view! {
        <nav class="sidebar" aria-label="Views">
            <ul>
                {VIEWS
                    .iter()
                    .map(|v| {
                        let count = v.count;
                        view! {
                            <li>
                                <A href=v.href exact=v.href == "/">
                                    <span>{v.label}</span>
                                    {count.map(|count| view! { <span class="count">{move || count(cluster)}</span> })}
                                </A>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="hint"><kbd>"Ctrl"</kbd>" "<kbd>"K"</kbd>" jumps to any object"</p>
        </nav>
    }
}
