//! The overview: one namespace drawn as Gateways → HTTPRoutes and ingresses → services → pods
//! grouped by node (SVG). An
//! edge to a pod is solid green for a ready endpoint, dashed amber for a not-ready one, dotted
//! grey for a pod the selector matches that is no endpoint at all. The request whose trace is
//! open in the test results is drawn on it.

use crate::state::use_cluster;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use leptos::prelude::*;
use std::collections::HashMap;
use svclab_shared::topology::{EdgeState, GatewayApi, Graph, build};

/// Beyond this many pods in the namespace the overview is not drawn.
const MAX_PODS: usize = 300;
/// … or this many services.
const MAX_SERVICES: usize = 60;
const WIDTH: f64 = 900.0;
const BOX_W: f64 = 190.0;
const BOX_H: f64 = 34.0;
const POD_H: f64 = 28.0;
/// Ingresses (and routes), services, pods; with Gateways, a column for them first.
const COLUMNS: [f64; 3] = [10.0, 330.0, 680.0];
const COLUMNS_WITH_GATEWAYS: [f64; 4] = [10.0, 230.0, 450.0, 690.0];

/// What the open trace passed through: ids of the topology's boxes (`service:ns/name`, `pod:ns/name`).
#[derive(Clone, Copy)]
pub struct Traced(pub RwSignal<Vec<String>>);

pub fn provide_traced() {
    provide_context(Traced(RwSignal::new(vec![])));
}

/// Where everything goes: each box's top-left corner by id, each node's frame (name, top,
/// height), and the drawing's height.
struct Layout {
    /// Where the columns start: [gateways, ingresses and routes, services, pods].
    columns: [f64; 4],
    at: HashMap<String, (f64, f64)>,
    groups: Vec<(String, f64, f64)>,
    height: f64,
}

fn layout(graph: &Graph) -> Layout {
    let columns = if graph.gateways.is_empty() {
        [COLUMNS[0], COLUMNS[0], COLUMNS[1], COLUMNS[2]]
    } else {
        COLUMNS_WITH_GATEWAYS
    };
    let mut at = HashMap::new();
    let mut groups = Vec::new();
    let mut y = 30.0;
    for (node, pods) in &graph.nodes {
        groups.push((node.clone(), y, pods.len() as f64 * POD_H + 30.0));
        y += 26.0;
        for pod in pods {
            at.insert(pod.id.clone(), (columns[3] + 10.0, y));
            y += POD_H;
        }
        y += 16.0;
    }
    let pods_bottom = y;
    let spread = |n: usize| if n == 0 { 0.0 } else { ((pods_bottom - 30.0) / n as f64).max(BOX_H + 12.0) };
    let step = spread(graph.services.len());
    for (i, s) in graph.services.iter().enumerate() {
        at.insert(s.id.clone(), (columns[2], 30.0 + i as f64 * step));
    }
    let step = spread(graph.ingresses.len());
    for (i, g) in graph.ingresses.iter().enumerate() {
        at.insert(g.id.clone(), (columns[1], 30.0 + i as f64 * step));
    }
    let step = spread(graph.gateways.len());
    for (i, g) in graph.gateways.iter().enumerate() {
        at.insert(g.id.clone(), (columns[0], 30.0 + i as f64 * step));
    }
    let height = at.values().map(|(_, y)| y + BOX_H).fold(pods_bottom, f64::max) + 10.0;
    Layout { columns, at, groups, height }
}

fn edge_class(state: EdgeState) -> &'static str {
    match state {
        EdgeState::Routes => "edge routes",
        EdgeState::Ready => "edge ready",
        EdgeState::NotReady => "edge not-ready",
        EdgeState::Selected => "edge selected",
    }
}

fn legend() -> impl IntoView {
    view! {
        <p class="legend">
            <span class="key ready">"ready endpoint"</span>
            <span class="key not-ready">"not ready"</span>
            <span class="key selected">"selected, not an endpoint"</span>
            <span class="key routes">"ingress or route rule"</span>
        </p>
    }
}

/// The namespace drawn: the one picked in the top bar, or (while all are shown) the drawing's
/// own choice, `default` at first.
fn drawn_namespace() -> RwSignal<String> {
    let scope = super::scope::use_scope().0;
    let namespace =
        RwSignal::new(scope.with_untracked(|s| if s.is_empty() { "default".to_string() } else { s.clone() }));
    Effect::new(move |_| {
        let picked = scope.get();
        if !picked.is_empty() {
            namespace.set(picked);
        }
    });
    namespace
}

/// The graph around one service: the ingresses that send to it, it, and the pods it selects.
fn focused(cluster: crate::state::Cluster, ns: &str, name: &str) -> Graph {
    let service: Vec<Service> = cluster.get(ns, name).into_iter().collect();
    let endpoints: Vec<Endpoints> = cluster.endpoints(ns, name).into_iter().collect();
    let selector = service.first().and_then(|s| s.spec.as_ref()?.selector.clone()).filter(|s| !s.is_empty());
    let pods: Vec<Pod> = selector.map(|s| cluster.selected(ns, &s)).unwrap_or_default();
    let ingresses: Vec<Ingress> = cluster
        .list::<Ingress>()
        .into_iter()
        .filter(|i| svclab_shared::topology::ingress_services(i).contains(name))
        .collect();
    let routes: Vec<serde_json::Value> = cluster
        .raw_all(svclab_shared::Kind::HttpRoute)
        .into_iter()
        .filter(|r| svclab_shared::topology::route_services(r).contains(&(ns.to_string(), name.to_string())))
        .collect();
    let parents: Vec<String> = routes
        .iter()
        .flat_map(|r| r["spec"]["parentRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    let gateways: Vec<serde_json::Value> = cluster
        .raw_all(svclab_shared::Kind::Gateway)
        .into_iter()
        .filter(|g| g["metadata"]["namespace"] == ns && parents.iter().any(|p| g["metadata"]["name"] == p.as_str()))
        .collect();
    build(ns, &ingresses, GatewayApi { gateways: &gateways, routes: &routes }, &service, &endpoints, &pods)
}

/// The graph of a namespace; the numbers of pods and services when it is too large to draw.
/// Counted from the key lists first, so a namespace too large to draw decodes nothing.
fn whole(cluster: crate::state::Cluster, ns: &str) -> Result<Graph, (usize, usize)> {
    let in_ns = |keys: Vec<(String, String)>| keys.into_iter().filter(|(n, _)| n == ns).collect::<Vec<_>>();
    let (pod_keys, service_keys) = (in_ns(cluster.keys::<Pod>()), in_ns(cluster.keys::<Service>()));
    if pod_keys.len() > MAX_PODS || service_keys.len() > MAX_SERVICES {
        return Err((pod_keys.len(), service_keys.len()));
    }
    let pods: Vec<Pod> = pod_keys.iter().filter_map(|(n, name)| cluster.get(n, name)).collect();
    let services: Vec<Service> = service_keys.iter().filter_map(|(n, name)| cluster.get(n, name)).collect();
    let endpoints: Vec<Endpoints> = service_keys.iter().filter_map(|(n, name)| cluster.endpoints(n, name)).collect();
    let ingresses: Vec<Ingress> =
        in_ns(cluster.keys::<Ingress>()).iter().filter_map(|(n, name)| cluster.get(n, name)).collect();
    let gateways = cluster.raw_all(svclab_shared::Kind::Gateway);
    let routes = cluster.raw_all(svclab_shared::Kind::HttpRoute);
    Ok(build(ns, &ingresses, GatewayApi { gateways: &gateways, routes: &routes }, &services, &endpoints, &pods))
}

/// The graph's edges as SVG paths between where `at` placed their ends; those of the request
/// traced last (`lit`) stand out.
fn edge_views(graph: &Graph, at: &HashMap<String, (f64, f64)>, lit: &[String]) -> impl IntoView + use<> {
    graph
        .edges
        .iter()
        .filter_map(|e| {
            let (&(x1, y1), &(x2, y2)) = (at.get(&e.from)?, at.get(&e.to)?);
            let (x1, y1) = (x1 + BOX_W, y1 + BOX_H / 2.0);
            let (x2, y2) = (x2, y2 + if e.to.starts_with("pod:") { (POD_H - 4.0) / 2.0 } else { BOX_H / 2.0 });
            let mid = (x1 + x2) / 2.0;
            let d = format!("M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}");
            let traced = lit.contains(&e.from) && lit.contains(&e.to);
            let title = format!("{} → {}: {:?}", e.from, e.to, e.state);
            // Drawn through CSS `d`, so an edge glides when its ends move.
            let style = format!("d: path('{d}')");
            Some(view! {
                <path d=d style=style class=edge_class(e.state) class:traced=traced data-from=e.from.clone() data-to=e.to.clone()>
                    <title>{title}</title>
                </path>
            })
        })
        .collect_view()
}

/// The graph's boxes (gateways, ingresses and routes, services, pods) where `at` placed them.
fn box_views(graph: &Graph, at: &HashMap<String, (f64, f64)>, lit: &[String]) -> impl IntoView + use<> {
    let kind_of = |id: &str| match id.split(':').next() {
        Some("ingress") => "ingress",
        Some("httproute") => "ingress route",
        Some("gateway") => "gateway",
        _ => "service",
    };
    graph
        .gateways
        .iter()
        .chain(&graph.ingresses)
        .chain(&graph.services)
        .map(|b| (b, BOX_H, kind_of(&b.id)))
        .chain(graph.nodes.values().flatten().map(|p| (p, POD_H - 4.0, "pod")))
        .filter_map(|(b, h, kind)| {
            let &(x, y) = at.get(&b.id)?;
            let class = format!("box {kind}{}", if kind == "pod" && !b.ready { " unready" } else { "" });
            let traced = lit.contains(&b.id);
            Some(view! {
                <g class=class class:traced=traced data-id=b.id.clone() style=format!("transform: translate({x}px, {y}px)")>
                    <rect width=BOX_W height=h rx="5"></rect>
                    <text x="8" y=if kind == "pod" { 16.0 } else { 14.0 } class="label">{b.label.clone()}</text>
                    {(kind != "pod").then(|| view! { <text x="8" y="28" class="detail">{b.detail.clone()}</text> })}
                    {(kind == "pod").then(|| view! { <text x=BOX_W - 8.0 y="16" class="detail" text-anchor="end">{b.detail.clone()}</text> })}
                </g>
            })
        })
        .collect_view()
}

/// The drawing, of the namespace picked (the top bar's, or its own select while all are
/// shown), or with `focus` of one service: its ingresses, it, and the pods it selects.
#[component]
pub fn TopologyView(#[prop(optional, into)] focus: Option<Signal<(String, String)>>) -> impl IntoView {
    let cluster = use_cluster();
    let Traced(traced) = expect_context::<Traced>();
    let namespace = drawn_namespace();
    let namespaces = move || cluster.keys::<Namespace>().into_iter().map(|(_, n)| n).collect::<Vec<_>>();
    // Counted from the key lists first, so a namespace too large to draw decodes nothing.
    let graph = Memo::new(move |_| {
        if let Some(focus) = focus {
            return Ok(focus.with(|(ns, name)| focused(cluster, ns, name)));
        }
        namespace.with(|ns| whole(cluster, ns))
    });
    let drawing = move || {
        let graph = match graph.get() {
            Err((pods, services)) => {
                let text = format!(
                    "{pods} pods and {services} services in this namespace: too many to draw (at most {MAX_PODS} pods and {MAX_SERVICES} services)."
                );
                return view! { <p class="none">{text}</p> }.into_any();
            }
            Ok(g) => g,
        };
        if graph.services.is_empty() && graph.nodes.is_empty() {
            return view! { <p class="none">"Nothing in this namespace yet."</p> }.into_any();
        }
        let Layout { columns, at, groups, height } = layout(&graph);
        let lit = traced.get();
        let edges = edge_views(&graph, &at, &lit);
        let node_groups = groups
            .into_iter()
            .map(|(name, y, h)| {
                view! {
                    <g class="node-group">
                        <rect x=columns[3] y=y width=BOX_W + 20.0 height=h rx="8"></rect>
                        <text x=columns[3] + 10.0 y=y + 17.0 class="group-label">{name}</text>
                    </g>
                }
            })
            .collect_view();
        let boxes = box_views(&graph, &at, &lit);
        view! {
            <svg class="topology" viewBox=format!("0 0 {WIDTH} {height}") width="100%" role="img"
                aria-label="Ingresses, services and the pods they send to, by node">
                {(!graph.gateways.is_empty()).then(|| view! { <text x=columns[0] y="16" class="column">"GATEWAYS"</text> })}
                <text x=columns[1] y="16" class="column">
                    {if graph.ingresses.iter().any(|i| i.id.starts_with("httproute:")) { "INGRESSES & ROUTES" } else { "INGRESSES" }}
                </text>
                <text x=columns[2] y="16" class="column">"SERVICES"</text>
                <text x=columns[3] y="16" class="column">"PODS BY NODE"</text>
                {node_groups}
                {edges}
                {boxes}
            </svg>
        }
        .into_any()
    };
    view! {
        <section class="panel" id="overview" aria-labelledby="overview-title">
            <h2 id="overview-title">{if focus.is_some() { "Topology" } else { "Overview" }}</h2>
            <div class="filters">
                <label class:visually-hidden=focus.is_some()>
                    "Namespace"
                    <select id="overview-namespace" on:change=move |ev| namespace.set(event_target_value(&ev))>
                        <For each=namespaces key=|n| n.clone() let(n)>
                            <option value=n.clone() selected=n == "default">{n.clone()}</option>
                        </For>
                    </select>
                </label>
                {legend()}
            </div>
            {drawing}
        </section>
    }
}
