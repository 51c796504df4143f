//! The status a kubelet reports: a running pod's conditions and container states, a ready node.

use super::PodSandbox;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateWaiting, ContainerStatus, Node, NodeAddress, NodeCondition,
    NodeStatus, NodeSystemInfo, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::net::Ipv4Addr;

fn condition(type_: &str, ok: bool, now: &Time) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        last_transition_time: Some(now.clone()),
        ..Default::default()
    }
}

/// The status of a pod whose sandbox runs; `started` names the containers that started.
pub(super) fn running(pod: &Pod, sandbox: &PodSandbox, node_ip: Ipv4Addr, started: &[String]) -> PodStatus {
    let now = Time(Timestamp::now());
    let spec = pod.spec.clone().unwrap_or_default();
    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            let up = started.contains(&c.name);
            let image = c.image.clone().unwrap_or_default();
            let state = if up {
                ContainerState {
                    running: Some(ContainerStateRunning { started_at: Some(now.clone()) }),
                    ..Default::default()
                }
            } else {
                let waiting = ContainerStateWaiting { reason: Some("CrashLoopBackOff".into()), message: None };
                ContainerState { waiting: Some(waiting), ..Default::default() }
            };
            ContainerStatus {
                name: c.name.clone(),
                image: image.clone(),
                image_id: format!("svclab://builtin/{image}"),
                container_id: Some(format!("svclab://{}-{}", sandbox.uid, c.name)),
                ready: up,
                started: Some(up),
                restart_count: 0,
                state: Some(state),
                ..Default::default()
            }
        })
        .collect();
    let all_ready = statuses.iter().all(|s| s.ready);
    let old = pod.status.clone().unwrap_or_default();
    PodStatus {
        phase: Some("Running".into()),
        pod_ip: Some(sandbox.ip.to_string()),
        pod_ips: Some(vec![PodIP { ip: sandbox.ip.to_string() }]),
        host_ip: Some(node_ip.to_string()),
        start_time: old.start_time.or(Some(now.clone())),
        conditions: Some(vec![
            condition("PodReadyToStartContainers", true, &now),
            condition("Initialized", true, &now),
            condition("Ready", all_ready, &now),
            condition("ContainersReady", all_ready, &now),
            condition("PodScheduled", true, &now),
        ]),
        container_statuses: Some(statuses),
        qos_class: old.qos_class.or(Some("BestEffort".into())),
        ..Default::default()
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
            architecture: std::env::consts::ARCH.into(),
            container_runtime_version: "svclab://builtin".into(),
            kernel_version: "svclab".into(),
            kube_proxy_version: env!("CARGO_PKG_VERSION").into(),
            kubelet_version: format!("v1.35.0-svclab.{}", env!("CARGO_PKG_VERSION")),
            operating_system: "linux".into(),
            os_image: "svclab simulated node".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    node
}
