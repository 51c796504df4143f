//! Configuration, storage and policy: ConfigMaps, Secrets, ServiceAccounts, claims, volumes,
//! storage classes, priority classes, disruption budgets, autoscalers, network policies, RBAC, limit ranges and
//! quotas, each kind a table with the columns `kubectl get` shows that matter here. Read from
//! the objects as the server sent them (no decoding into types), with Edit on each.

use super::age;
use crate::components::apply::use_editor;
use crate::state::use_cluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use leptos::prelude::*;
use serde_json::Value;
use svclab_shared::Kind;

/// One kind's table: its title, extra column headers, and the cells of a row.
struct Section {
    kind: Kind,
    title: &'static str,
    headers: &'static [&'static str],
    cells: fn(&Value) -> Vec<String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn len(v: &Value) -> usize {
    v.as_object().map_or(0, |m| m.len()) + v.as_array().map_or(0, Vec::len)
}

fn selector(v: &Value) -> String {
    let labels = v["matchLabels"].as_object();
    let terms: Vec<String> = labels.into_iter().flatten().map(|(k, v)| format!("{k}={}", text(v))).collect();
    if terms.is_empty() { "<none>".into() } else { terms.join(",") }
}

const SECTIONS: &[Section] = &[
    Section {
        kind: Kind::ConfigMap,
        title: "ConfigMaps",
        headers: &["DATA"],
        cells: |o| vec![(len(&o["data"]) + len(&o["binaryData"])).to_string()],
    },
    Section {
        kind: Kind::Secret,
        title: "Secrets",
        headers: &["TYPE", "DATA"],
        cells: |o| vec![text(&o["type"]), len(&o["data"]).to_string()],
    },
    Section {
        kind: Kind::ServiceAccount,
        title: "ServiceAccounts",
        headers: &["SECRETS"],
        cells: |o| vec![len(&o["secrets"]).to_string()],
    },
    Section {
        kind: Kind::PersistentVolumeClaim,
        title: "PersistentVolumeClaims",
        headers: &["STATUS", "VOLUME", "CAPACITY", "STORAGECLASS"],
        cells: |o| {
            vec![
                text(&o["status"]["phase"]),
                text(&o["spec"]["volumeName"]),
                text(&o["status"]["capacity"]["storage"]),
                text(&o["spec"]["storageClassName"]),
            ]
        },
    },
    Section {
        kind: Kind::PersistentVolume,
        title: "PersistentVolumes",
        headers: &["CAPACITY", "STATUS", "CLAIM", "STORAGECLASS"],
        cells: |o| {
            let claim = &o["spec"]["claimRef"];
            let claim = if claim.is_object() {
                format!("{}/{}", text(&claim["namespace"]), text(&claim["name"]))
            } else {
                String::new()
            };
            vec![
                text(&o["spec"]["capacity"]["storage"]),
                text(&o["status"]["phase"]),
                claim,
                text(&o["spec"]["storageClassName"]),
            ]
        },
    },
    Section {
        kind: Kind::StorageClass,
        title: "StorageClasses",
        headers: &["PROVISIONER", "DEFAULT"],
        cells: |o| {
            let default = o["metadata"]["annotations"][svclab_shared::printers::DEFAULT_CLASS_ANNOTATION] == "true";
            vec![text(&o["provisioner"]), if default { "yes".into() } else { String::new() }]
        },
    },
    Section {
        kind: Kind::PriorityClass,
        title: "PriorityClasses",
        headers: &["VALUE", "GLOBAL DEFAULT", "PREEMPTION"],
        cells: |o| {
            let default = if o["globalDefault"] == true { "yes" } else { "" };
            vec![text(&o["value"]), default.into(), text(&o["preemptionPolicy"])]
        },
    },
    Section {
        kind: Kind::PodDisruptionBudget,
        title: "PodDisruptionBudgets",
        headers: &["MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS"],
        cells: |o| {
            let or_na = |v: &Value| if v.is_null() { "N/A".to_string() } else { text(v) };
            vec![
                or_na(&o["spec"]["minAvailable"]),
                or_na(&o["spec"]["maxUnavailable"]),
                text(&o["status"]["disruptionsAllowed"]),
            ]
        },
    },
    Section {
        kind: Kind::HorizontalPodAutoscaler,
        title: "HorizontalPodAutoscalers",
        headers: &["REFERENCE", "MINPODS", "MAXPODS"],
        cells: |o| {
            let target = &o["spec"]["scaleTargetRef"];
            vec![
                format!("{}/{}", text(&target["kind"]), text(&target["name"])),
                text(&o["spec"]["minReplicas"]),
                text(&o["spec"]["maxReplicas"]),
            ]
        },
    },
    Section {
        kind: Kind::NetworkPolicy,
        title: "NetworkPolicies",
        headers: &["POD-SELECTOR"],
        cells: |o| vec![selector(&o["spec"]["podSelector"])],
    },
    Section { kind: Kind::Role, title: "Roles", headers: &["RULES"], cells: |o| vec![len(&o["rules"]).to_string()] },
    Section {
        kind: Kind::RoleBinding,
        title: "RoleBindings",
        headers: &["ROLE"],
        cells: |o| vec![format!("{}/{}", text(&o["roleRef"]["kind"]), text(&o["roleRef"]["name"]))],
    },
    Section {
        kind: Kind::ClusterRole,
        title: "ClusterRoles",
        headers: &["RULES"],
        cells: |o| vec![len(&o["rules"]).to_string()],
    },
    Section {
        kind: Kind::ClusterRoleBinding,
        title: "ClusterRoleBindings",
        headers: &["ROLE"],
        cells: |o| vec![format!("{}/{}", text(&o["roleRef"]["kind"]), text(&o["roleRef"]["name"]))],
    },
    Section {
        kind: Kind::LimitRange,
        title: "LimitRanges",
        headers: &["LIMITS"],
        cells: |o| vec![len(&o["spec"]["limits"]).to_string()],
    },
    Section {
        kind: Kind::ResourceQuota,
        title: "ResourceQuotas",
        headers: &["HARD"],
        cells: |o| vec![len(&o["spec"]["hard"]).to_string()],
    },
];

/// The kinds this view lists.
pub fn kinds() -> impl Iterator<Item = Kind> {
    SECTIONS.iter().map(|s| s.kind)
}

#[component]
fn SectionTable(section: &'static Section) -> impl IntoView {
    let cluster = use_cluster();
    let editor = use_editor();
    let scope = super::scope::use_scope();
    let rows = move || {
        cluster
            .raw_all(section.kind)
            .into_iter()
            .filter(|o| {
                !section.kind.namespaced() || scope.shows(o["metadata"]["namespace"].as_str().unwrap_or_default())
            })
            .collect::<Vec<Value>>()
    };
    view! {
        <Show when=move || !rows().is_empty()>
            <h3>{section.title}</h3>
            <div class="table-wrap">
            <table aria-label=section.title data-kind=section.kind.plural()>
                <thead><tr>
                    <th>"NAME"</th>
                    {section.headers.iter().map(|h| view! { <th>{*h}</th> }).collect_view()}
                    <th>"AGE"</th><th></th>
                </tr></thead>
                <tbody>
                    <For each=rows key=|o| (text(&o["metadata"]["namespace"]), text(&o["metadata"]["name"]), text(&o["metadata"]["resourceVersion"])) let(o)>
                        {
                            let ns = text(&o["metadata"]["namespace"]);
                            let name = text(&o["metadata"]["name"]);
                            let created: Option<Time> = serde_json::from_value(o["metadata"]["creationTimestamp"].clone()).ok();
                            let (edit_ns, edit_name) = (ns.clone(), name.clone());
                            view! {
                                <tr data-name=name.clone()>
                                    <td class="mono">{super::qualified(&ns, &name)}</td>
                                    {(section.cells)(&o).into_iter().map(|c| view! { <td class="mono">{c}</td> }).collect_view()}
                                    <td>{age(created.as_ref())}</td>
                                    <td><button class="small" on:click=move |_| editor.edit(section.kind, &edit_ns, &edit_name)>"Edit"</button></td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
            </div>
        </Show>
    }
}

#[component]
pub fn ConfigView() -> impl IntoView {
    view! {
        <section class="panel" id="config" aria-labelledby="config-title">
            <h2 id="config-title">"Config & storage"</h2>
            <p class="hint">"What configures, stores and governs the workloads. NetworkPolicies are enforced, ingress and egress (the service doctor names those that select a service's pods); RBAC and quotas are stored without being enforced."</p>
            {SECTIONS.iter().map(|section| view! { <SectionTable section=section /> }).collect_view()}
        </section>
    }
}
