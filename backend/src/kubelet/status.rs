//! The status a kubelet reports: a running pod's conditions and container states, a ready node.

use super::PodSandbox;
use super::container::{ContainerRuntime, Phase, Terminated};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP,
    Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::net::Ipv4Addr;
use svclab_shared::resources::KUBERNETES_MINOR;

/// A condition that keeps its transition time while its status stays the same.
fn condition(
    old: &[PodCondition],
    type_: &str,
    ok: bool,
    why: Option<(&str, String)>,
    (now, generation): (&Time, Option<i64>),
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let previous = old.iter().find(|c| c.type_ == type_ && c.status == status);
    let (reason, message) = why.filter(|_| !ok).map(|(r, m)| (Some(r.to_string()), Some(m))).unwrap_or_default();
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        last_transition_time: previous.and_then(|c| c.last_transition_time.clone()).or(Some(now.clone())),
        reason,
        message,
        observed_generation: generation,
        ..Default::default()
    }
}

fn terminated_state(t: &Terminated) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: t.exit_code,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: Some(Time(t.started)),
        finished_at: Some(Time(t.finished)),
        ..Default::default()
    }
}

fn state(phase: &Phase) -> ContainerState {
    match phase {
        Phase::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
            ..Default::default()
        },
        Phase::Running { since } => ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(Time(*since)) }),
            ..Default::default()
        },
        Phase::Terminated(t) => ContainerState { terminated: Some(terminated_state(t)), ..Default::default() },
    }
}

/// A container's status as the kubelet reports it.
fn container_status(c: &ContainerRuntime, sandbox: &PodSandbox, initializing: bool) -> ContainerStatus {
    let s = c.snapshot();
    let definition = c.definition();
    let running = matches!(s.phase, Phase::Running { .. });
    let mut phase = s.phase.clone();
    if initializing && matches!(&phase, Phase::Waiting { reason, .. } if reason == "ContainerCreating") {
        // App containers wait for the init containers.
        phase = Phase::Waiting { reason: "PodInitializing".into(), message: None };
    }
    ContainerStatus {
        name: c.name().to_string(),
        image: definition.image.clone(),
        image_id: format!("svclab://builtin/{}", definition.image),
        container_id: Some(format!("svclab://{}-{}-{}", sandbox.uid, c.name(), s.restart_count)),
        ready: running && s.ready,
        started: Some(running && s.started),
        restart_count: s.restart_count,
        state: Some(state(&phase)),
        last_state: s
            .last
            .as_ref()
            .filter(|_| !matches!(s.phase, Phase::Terminated(_)))
            .map(|t| ContainerState { terminated: Some(terminated_state(t)), ..Default::default() }),
        ..Default::default()
    }
}

/// Whether an init container is done: it succeeded, or (a sidecar) it runs.
fn init_done(c: &ContainerRuntime) -> bool {
    match c.snapshot().phase {
        Phase::Terminated(t) => t.exit_code == 0,
        Phase::Running { .. } => c.definition().spec.restart_policy.as_deref() == Some("Always"),
        Phase::Waiting { .. } => false,
    }
}

/// The status of a pod whose sandbox runs, from its containers' states.
pub(super) fn pod_status(pod: &Pod, sandbox: &PodSandbox, node_ip: Ipv4Addr) -> PodStatus {
    let now = Time(Timestamp::now());
    let restart_policy = sandbox.spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
    let pending_init: Vec<&str> = sandbox.init_containers.iter().filter(|c| !init_done(c)).map(|c| c.name()).collect();
    let initialized = pending_init.is_empty();
    let init_failed = restart_policy == "Never"
        && sandbox
            .init_containers
            .iter()
            .any(|c| matches!(c.snapshot().phase, Phase::Terminated(t) if t.exit_code != 0));
    let init_statuses: Vec<ContainerStatus> =
        sandbox.init_containers.iter().map(|c| container_status(c, sandbox, false)).collect();
    let statuses: Vec<ContainerStatus> =
        sandbox.containers.iter().map(|c| container_status(c, sandbox, !initialized)).collect();
    // Ephemeral containers count for neither readiness nor the phase.
    // (No probe makes one ready: the kubelet reports them never ready.)
    let ephemeral: Vec<ContainerStatus> = sandbox
        .ephemeral()
        .iter()
        .map(|c| ContainerStatus { ready: false, ..container_status(c, sandbox, false) })
        .collect();
    let unready: Vec<&str> = statuses.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
    let all_ready = unready.is_empty();
    let why = Some(("ContainersNotReady", format!("containers with unready status: [{}]", unready.join(" "))));
    let finished: Vec<i32> = sandbox
        .containers
        .iter()
        .filter_map(|c| match c.snapshot().phase {
            Phase::Terminated(t) if !super::container::restarts(&restart_policy, t.exit_code) => Some(t.exit_code),
            _ => None,
        })
        .collect();
    // Until a container has started (ContainerCreating, CreateContainerConfigError) the pod is Pending.
    let creating = statuses.iter().all(|s| {
        s.state.as_ref().is_some_and(|st| st.waiting.is_some()) && s.last_state.is_none() && s.restart_count == 0
    });
    let phase = if init_failed {
        "Failed"
    } else if !initialized {
        "Pending"
    } else if finished.len() == statuses.len() && !statuses.is_empty() {
        if finished.iter().all(|c| *c == 0) { "Succeeded" } else { "Failed" }
    } else if creating {
        "Pending"
    } else {
        "Running"
    };
    let not_initialized =
        Some(("ContainersNotInitialized", format!("containers with incomplete status: [{}]", pending_init.join(" "))));
    let old = pod.status.clone().unwrap_or_default();
    let old_conditions = old.conditions.clone().unwrap_or_default();
    let generation = sandbox.generation();
    let at = (&now, generation);
    PodStatus {
        observed_generation: generation,
        phase: Some(phase.into()),
        pod_ip: Some(sandbox.pod_ip.to_string()),
        pod_ips: Some(vec![PodIP { ip: sandbox.pod_ip.to_string() }]),
        host_ip: Some(node_ip.to_string()),
        host_ips: Some(vec![HostIP { ip: node_ip.to_string() }]),
        start_time: old.start_time.or(Some(now.clone())),
        conditions: Some(vec![
            condition(&old_conditions, "PodReadyToStartContainers", true, None, at),
            condition(&old_conditions, "Initialized", initialized, not_initialized, at),
            condition(&old_conditions, "Ready", all_ready, why.clone(), at),
            condition(&old_conditions, "ContainersReady", all_ready, why, at),
            condition(&old_conditions, "PodScheduled", true, None, at),
        ]),
        container_statuses: Some(statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        ephemeral_container_statuses: (!ephemeral.is_empty()).then_some(ephemeral),
        qos_class: old.qos_class.or(Some("BestEffort".into())),
        ..Default::default()
    }
}

/// This machine's architecture as Kubernetes names it (Go's `GOARCH`: `amd64`, `arm64`).
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// A node as its kubelet reports it once started: Ready, with its address and capacity.
pub(super) fn node_ready(mut node: Node, ip: Ipv4Addr) -> Node {
    let now = Time(Timestamp::now());
    let name = node.metadata.name.clone().unwrap_or_default();
    let capacity: std::collections::BTreeMap<String, Quantity> = [("cpu", "2"), ("memory", "4Gi"), ("pods", "110")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect();
    node.status = Some(NodeStatus {
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".into(), address: ip.to_string() },
            NodeAddress { type_: "Hostname".into(), address: name },
        ]),
        allocatable: Some(capacity.clone()),
        capacity: Some(capacity),
        conditions: Some(vec![NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            message: Some("kubelet is posting ready status".into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(now),
        }]),
        node_info: Some(NodeSystemInfo {
            architecture: architecture().into(),
            container_runtime_version: "svclab://builtin".into(),
            kernel_version: "svclab".into(),
            kube_proxy_version: env!("CARGO_PKG_VERSION").into(),
            kubelet_version: format!("v1.{KUBERNETES_MINOR}.0-svclab.{}", env!("CARGO_PKG_VERSION")),
            operating_system: "linux".into(),
            os_image: "svclab simulated node".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    node
}
