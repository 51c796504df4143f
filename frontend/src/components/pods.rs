//! The pods, as `kubectl get pods -o wide` shows them, with a readiness toggle that does what a
//! person would: it creates or removes the file the pod's exec readiness probe checks, so the
//! change travels through the real probe, the pod's Ready condition and the endpoints controller.
//! For an `httpGet` probe it creates or removes the file that makes svclab's built-in servers
//! fail (`/tmp/svclab-unhealthy`), for a `tcpSocket` probe the one that closes the container's
//! ports (`/tmp/svclab-closed`). A pod without a readiness probe says so and offers its
//! controller's manifest with one added.

use super::age;
use super::doctor::anchor;
use super::window::{WINDOW_FROM, Window, spacer};
use crate::api;
use crate::components::apply::use_editor;
use crate::state::{Cluster, use_cluster};
use k8s_openapi::api::core::v1::Pod;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use serde_json::{Value, json};
use svclab_shared::lab::ExecRequest;
use svclab_shared::pod::{ReadinessCheck, is_ready, readiness_check};
use svclab_shared::printers::{pod_ready, pod_restart_count, pod_status};
use svclab_shared::{Kind, Object};

/// The pods table's columns, `kubectl get pods -o wide`'s with the readiness toggle.
pub fn columns() -> impl IntoView {
    view! {
        <thead>
            <tr>
                <th>"NAME"</th><th>"READY"</th><th>"STATUS"</th><th>"RESTARTS"</th>
                <th>"AGE"</th><th>"IP"</th><th>"NODE"</th><th>"READINESS"</th><th></th>
            </tr>
        </thead>
    }
}

#[component]
pub fn PodsTable() -> impl IntoView {
    let cluster = use_cluster();
    let window = Window::new();
    let scope = super::scope::use_scope();
    let keys = Memo::new(move |_| scope.keys::<Pod>(cluster));
    let slice = Memo::new(move |_| keys.with(|k| window.slice(k)));
    let windowed = move || keys.with(|k| k.len() > WINDOW_FROM);
    view! {
        <section class="panel">
            <h2>"Pods " <span class="count">{move || keys.with(Vec::len)}</span></h2>
            <div class="table-wrap" class:windowed=windowed on:scroll=window.on_scroll() tabindex="0" role="region" aria-label="Pods, scrollable">
            <table aria-label="Pods">
                {columns()}
                <tbody>
                    {move || spacer(slice.with(|s| s.1), 9)}
                    <For each=move || slice.with(|s| s.0.clone()) key=|k| k.clone() let((namespace, name))>
                        <PodRow namespace=namespace name=name />
                    </For>
                    {move || spacer(slice.with(|s| s.2), 9)}
                </tbody>
            </table>
            </div>
        </section>
    }
}

#[component]
pub fn PodRow(namespace: String, name: String) -> impl IntoView {
    let cluster = use_cluster();
    move || {
        cluster.get::<Pod>(&namespace, &name).map(|pod| {
            let unready = !is_ready(&pod);
            let editor = use_editor();
            let (ns, n) = (namespace.clone(), name.clone());
            let edit = move |_| editor.edit(Kind::Pod, &ns, &n);
            let (href, shown) = (format!("/pods/{namespace}/{name}"), super::qualified(&namespace, &name));
            view! {
                <tr data-pod=name.clone() id=anchor("Pod", &namespace, &name) class:unready=unready>
                    <td class="mono">
                        <A href=href attr:class="name-link">{shown}</A>
                    </td>
                    <td>{pod_ready(&pod)}</td>
                    <td>{pod_status(&pod)}</td>
                    <td>{pod_restart_count(&pod)}</td>
                    <td>{age(pod.metadata.creation_timestamp.as_ref())}</td>
                    <td class="mono">{pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_else(|| "<none>".into())}</td>
                    <td>{pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_else(|| "<none>".into())}</td>
                    <td class="readiness"><ReadinessToggle pod=pod.clone() /></td>
                    <td><button class="small" on:click=edit title="kubectl edit pod: the pod in the editor">"Edit"</button></td>
                </tr>
            }
        })
    }
}

#[component]
fn ReadinessToggle(pod: Pod) -> impl IntoView {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ready = is_ready(&pod);
    match readiness_check(&pod) {
        ReadinessCheck::File { container, path } => {
            // Ready: remove the file so the probe starts failing; not ready: create it.
            let command = if ready { vec!["rm", "-f", &path] } else { vec!["touch", &path] };
            let command = command.into_iter().map(String::from).collect();
            flip_view(namespace, name, container, command, ready, None)
        }
        ReadinessCheck::Fault { container, description, file } => {
            // The built-in servers fail (httpGet) or take no connections (tcpSocket) while the file exists.
            let command = if ready { vec!["touch", file] } else { vec!["rm", "-f", file] };
            let command = command.into_iter().map(String::from).collect();
            flip_view(namespace, name, container, command, ready, Some(description))
        }
        ReadinessCheck::Other { description, .. } => view! {
            <span class="probe" title="This probe does not check a file the dashboard can create or remove">
                {format!("probe: {description}")}
            </span>
        }
        .into_any(),
        ReadinessCheck::None => {
            let cluster = use_cluster();
            let editor = use_editor();
            let offer = move |_| {
                if let Some((yaml, hint)) = with_probe_manifest(&cluster, &pod) {
                    editor.load(yaml, Some(hint));
                }
            };
            view! {
                <span class="none">"no readiness probe"</span>
                " "
                <button class="small" on:click=offer title="Put this pod's controller in the editor with a readiness probe added">
                    "Add one"
                </button>
            }
            .into_any()
        }
    }
}

/// The toggle's button: runs `command` in the container over exec, as `kubectl exec` would.
fn flip_view(
    namespace: String,
    name: String,
    container: String,
    command: Vec<String>,
    ready: bool,
    probe: Option<String>,
) -> AnyView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let label = if ready { "Make unready" } else { "Make ready" };
    let shown = command.join(" ");
    let title = format!("kubectl exec {name} -c {container} -- {shown}");
    let flip = move |_| {
        let request = ExecRequest { command: command.clone(), container: Some(container.clone()) };
        let (ns, pod) = (namespace.clone(), name.clone());
        busy.set(true);
        spawn_local(async move {
            let outcome = api::exec(&ns, &pod, &request).await;
            error.set(match outcome {
                Ok(r) if r.exit_code == 0 => None,
                Ok(r) => Some(format!("exit code {}: {}", r.exit_code, r.stderr.trim())),
                Err(e) => Some(e),
            });
            busy.set(false);
        });
    };
    view! {
        <button class="toggle" on:click=flip title=title disabled=move || busy.get()>{label}</button>
        <span class="mono probe-command">{shown}</span>
        {probe.map(|p| view! { <span class="probe">{format!(" (probe: {p})")}</span> })}
        {move || error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
    }
    .into_any()
}

/// The object that owns the pod's template: its ReplicationController or ReplicaSet, or the
/// Deployment above that ReplicaSet; the pod itself when nothing owns it.
fn template_owner(cluster: &Cluster, pod: &Pod) -> Object {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let owner = |refs: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>| {
        refs.and_then(|r| r.iter().find(|o| o.controller == Some(true)).or(r.first())).cloned()
    };
    let Some(first) = owner(pod.metadata.owner_references.as_ref()) else {
        return Object::Pod(pod.clone());
    };
    match first.kind.as_str() {
        "ReplicationController" => cluster
            .get::<k8s_openapi::api::core::v1::ReplicationController>(&namespace, &first.name)
            .map(Object::ReplicationController),
        "ReplicaSet" => cluster.get::<k8s_openapi::api::apps::v1::ReplicaSet>(&namespace, &first.name).map(|rs| {
            let deployment = owner(rs.metadata.owner_references.as_ref())
                .filter(|o| o.kind == "Deployment")
                .and_then(|o| cluster.get::<k8s_openapi::api::apps::v1::Deployment>(&namespace, &o.name));
            deployment.map(Object::Deployment).unwrap_or(Object::ReplicaSet(rs))
        }),
        _ => None,
    }
    .unwrap_or_else(|| Object::Pod(pod.clone()))
}

/// The owner's manifest with the chapter's readiness probe (`ls /var/ready`) on every container
/// that has none, as YAML, and what applying it will do.
fn with_probe_manifest(cluster: &Cluster, pod: &Pod) -> Option<(String, String)> {
    let owner = template_owner(cluster, pod);
    let kind = owner.kind();
    let mut value: Value = svclab_shared::object::manifest_of(cluster.raw(kind, owner.namespace(), owner.name())?);
    let containers = match kind {
        Kind::Pod => value.pointer_mut("/spec/containers"),
        _ => value.pointer_mut("/spec/template/spec/containers"),
    }?;
    for container in containers.as_array_mut()? {
        if container.get("readinessProbe").is_none() {
            container["readinessProbe"] = json!({"exec": {"command": ["ls", "/var/ready"]}});
        }
    }
    let yaml = serde_yaml::to_string(&value).ok()?;
    let hint = match kind {
        Kind::Deployment => "Apply this: the Deployment rolls its pods over to the template with the probe. A new \
                             pod is ready once /var/ready exists in it."
            .to_string(),
        Kind::Pod => "A pod's probes can't be changed: delete the pod, then apply this.".to_string(),
        _ => format!(
            "Apply this, then delete the pods: the {} keeps its existing pods as they are, and only the \
             replacements it creates get the probe (as in the chapter).",
            kind.name()
        ),
    };
    Some((yaml, hint))
}
