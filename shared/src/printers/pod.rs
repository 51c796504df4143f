//! Pods' columns: READY, STATUS and RESTARTS worked out from the containers' states as
//! kube-apiserver's `printPod` does (init containers, sidecars, terminating pods).

use super::{AGE, Column, NAME, Row, RowCondition, age, column, wide};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const POD_COLUMNS: &[Column] = &[
    NAME,
    column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    wide("Node", "NodeName indicates in which node this pod is scheduled."),
    wide("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node."),
    wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness."),
];

const COMPLETED: &str = "Completed";

/// READY, STATUS and RESTARTS of a pod, and when a container last restarted, as `printPod`
/// works them out.
struct PodSummary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i32,
    last_restart: Option<Timestamp>,
}

fn is_restartable_init(container: Option<&Container>) -> bool {
    container.and_then(|c| c.restart_policy.as_deref()) == Some("Always")
}

fn later(a: Option<Timestamp>, b: Option<&Time>) -> Option<Timestamp> {
    match (a, b.map(|t| t.0)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn summarize(pod: &Pod) -> PodSummary {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let init_containers = spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default();
    let find_init = |name: &str| init_containers.iter().find(|c| c.name == name);
    let mut total = spec.map_or(0, |s| s.containers.len());
    total += init_containers.iter().filter(|c| is_restartable_init(Some(c))).count();
    let phase = status.and_then(|s| s.phase.clone()).unwrap_or_default();
    let mut reason = status.and_then(|s| s.reason.clone()).filter(|r| !r.is_empty()).unwrap_or(phase.clone());
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    if conditions.iter().any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated")) {
        reason = "SchedulingGated".into();
    }
    let (mut ready, mut restarts, mut last_restart) = (0, 0, None);
    let (mut sidecar_restarts, mut sidecar_last) = (0, None);
    let mut initializing = false;
    let init_statuses = status.and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default();
    for (i, cs) in init_statuses.iter().enumerate() {
        restarts += cs.restart_count;
        let last_terminated = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
        last_restart = later(last_restart, last_terminated.and_then(|t| t.finished_at.as_ref()));
        let restartable = is_restartable_init(find_init(&cs.name));
        if restartable {
            sidecar_restarts += cs.restart_count;
            sidecar_last = later(sidecar_last, last_terminated.and_then(|t| t.finished_at.as_ref()));
        }
        let terminated = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
        let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if restartable && cs.started == Some(true) {
            if cs.ready {
                ready += 1;
            }
            continue;
        }
        initializing = true;
        reason = if let Some(t) = terminated {
            match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t.signal.unwrap_or(0) != 0 => format!("Init:Signal:{}", t.signal.unwrap_or(0)),
                None => format!("Init:ExitCode:{}", t.exit_code),
            }
        } else if let Some(r) =
            waiting.and_then(|w| w.reason.as_deref()).filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{}", init_containers.len())
        };
        break;
    }
    let initialized = conditions.iter().any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = sidecar_last;
        let mut has_running = false;
        let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
        for cs in statuses.iter().rev() {
            restarts += cs.restart_count;
            let last_terminated = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            last_restart = later(last_restart, last_terminated.and_then(|t| t.finished_at.as_ref()));
            let state = cs.state.as_ref();
            let waiting =
                state.and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.clone()).filter(|r| !r.is_empty());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(r) = waiting {
                reason = r;
            } else if let Some(t) = terminated {
                reason = match t.reason.clone().filter(|r| !r.is_empty()) {
                    Some(r) => r,
                    None if t.signal.unwrap_or(0) != 0 => format!("Signal:{}", t.signal.unwrap_or(0)),
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if cs.ready && state.and_then(|s| s.running.as_ref()).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == COMPLETED && has_running {
            let pod_ready = conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready { "Running".into() } else { "NotReady".into() };
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        if status.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            reason = "Unknown".into();
        } else if !matches!(phase.as_str(), "Succeeded" | "Failed") {
            reason = "Terminating".into();
        }
    }
    PodSummary { ready, total, reason, restarts, last_restart }
}

/// READY: ready containers / containers, e.g. `1/1`.
pub fn pod_ready(pod: &Pod) -> String {
    let s = summarize(pod);
    format!("{}/{}", s.ready, s.total)
}

/// STATUS: `Running`, `ContainerCreating`, `CrashLoopBackOff`, `Init:0/1`, `Terminating`…
pub fn pod_status(pod: &Pod) -> String {
    summarize(pod).reason
}

/// How often the pod's containers have restarted.
pub fn pod_restart_count(pod: &Pod) -> i32 {
    summarize(pod).restarts
}

/// RESTARTS: `0`, or `5 (3m ago)`.
pub fn pod_restarts(pod: &Pod, now: Timestamp) -> String {
    restarts_cell(&summarize(pod), now)
}

fn restarts_cell(s: &PodSummary, now: Timestamp) -> String {
    match s.last_restart {
        Some(at) if s.restarts != 0 => {
            format!("{} ({} ago)", s.restarts, super::human_duration(now.as_second() - at.as_second()))
        }
        _ => s.restarts.to_string(),
    }
}

pub fn pod(pod: &Pod, now: Timestamp) -> Row {
    let s = summarize(pod);
    let restarts = restarts_cell(&s, now);
    let status = pod.status.as_ref();
    let ip = status.and_then(|s| s.pod_ips.as_ref()).and_then(|ips| ips.first()).map(|ip| ip.ip.clone());
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let nominated = status.and_then(|s| s.nominated_node_name.clone());
    let or_none = |v: Option<String>| v.filter(|v| !v.is_empty()).unwrap_or_else(|| "<none>".into());
    let gates = pod.spec.as_ref().and_then(|s| s.readiness_gates.as_deref()).unwrap_or_default();
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
        let met = gates
            .iter()
            .filter(|g| conditions.iter().find(|c| c.type_ == g.condition_type).is_some_and(|c| c.status == "True"))
            .count();
        format!("{met}/{}", gates.len())
    };
    let mut row = Row::new(vec![
        pod.metadata.name.clone().unwrap_or_default().into(),
        format!("{}/{}", s.ready, s.total).into(),
        s.reason.into(),
        restarts.into(),
        age(pod.metadata.creation_timestamp.as_ref(), now).into(),
        or_none(ip).into(),
        or_none(node).into(),
        or_none(nominated).into(),
        readiness_gates.into(),
    ]);
    match status.and_then(|s| s.phase.as_deref()) {
        Some("Succeeded") => row.conditions.push(RowCondition {
            type_: COMPLETED,
            status: "True",
            reason: "Succeeded",
            message: "The pod has completed successfully.",
        }),
        Some("Failed") => row.conditions.push(RowCondition {
            type_: COMPLETED,
            status: "True",
            reason: "Failed",
            message: "The pod failed.",
        }),
        _ => {}
    }
    row
}
