//! The scheduler: binds each unscheduled pod to the ready, schedulable node running the fewest
//! pods (ties broken at random), spreading a controller's pods over the nodes.

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{Node, Pod};
use rand::seq::IndexedRandom;
use std::collections::BTreeMap;
use std::time::Duration;
use svclab_shared::{Kind, Object};

pub struct Scheduler {
    registry: Registry,
}

impl Scheduler {
    pub fn new(registry: Registry) -> Self {
        Scheduler { registry }
    }
}

fn node_ready(node: &Node) -> bool {
    let unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    ready && !unschedulable
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())
}

/// Whether the pod is this scheduler's to place (`spec.schedulerName`); a pod that names
/// another scheduler waits for it to bind it.
fn mine(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).is_none_or(|s| s == SCHEDULER)
}

const SCHEDULER: &str = "default-scheduler";

/// How many pods a node takes (`status.allocatable.pods`, 110 by default as in Kubernetes).
fn pod_capacity(node: &Node) -> usize {
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    allocatable.and_then(|a| a.get("pods")).and_then(|q| q.0.parse().ok()).unwrap_or(110)
}

/// Why no node can take a pod, counted by reason as the scheduler's `FailedScheduling` event
/// says it (`0/3 nodes are available: 3 Too many pods.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unschedulable {
    pub nodes: usize,
    pub not_ready: usize,
    pub full: usize,
}

impl std::fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut reasons = Vec::new();
        if self.not_ready > 0 {
            reasons.push(format!("{} node(s) were not ready", self.not_ready));
        }
        if self.full > 0 {
            reasons.push(format!("{} Too many pods", self.full));
        }
        write!(f, "0/{} nodes are available: {}.", self.nodes, reasons.join(", "))
    }
}

impl std::error::Error for Unschedulable {}

/// The nodes with the fewest pods among those that can take one, or the scheduler's
/// explanation of why none can (`0/3 nodes are available: 3 Too many pods.`).
pub fn least_loaded<'a, 'p>(
    nodes: &'a [Node],
    pods: impl IntoIterator<Item = &'p Pod>,
) -> Result<Vec<&'a str>, Unschedulable> {
    let mut load: BTreeMap<&str, usize> =
        nodes.iter().map(|n| (n.metadata.name.as_deref().unwrap_or_default(), 0)).collect();
    for pod in pods {
        if let Some(n) = node_name(pod).and_then(|n| load.get_mut(n)) {
            *n += 1;
        }
    }
    let (mut not_ready, mut full) = (0, 0);
    let mut fits = Vec::new();
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if !node_ready(node) {
            not_ready += 1;
        } else if load[name] >= pod_capacity(node) {
            full += 1;
        } else {
            fits.push((name, load[name]));
        }
    }
    let Some(min) = fits.iter().map(|(_, l)| *l).min() else {
        return Err(Unschedulable { nodes: nodes.len(), not_ready, full });
    };
    Ok(fits.into_iter().filter(|(_, l)| *l == min).map(|(n, _)| n).collect())
}

impl Reconciler for Scheduler {
    fn name(&self) -> &'static str {
        "default-scheduler"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object.downcast::<Pod>() {
            Some(pod) if node_name(pod).is_none() && mine(pod) => vec![ObjectKey::of(object)],
            // A node becoming ready may make room for pods that are still pending.
            None if object.kind() == Kind::Node => self
                .registry
                .store()
                .list_views::<Pod>(None)
                .iter()
                .filter(|p| node_name(p).is_none() && mine(p))
                .map(|p| {
                    ObjectKey::new(
                        Kind::Pod,
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default(),
                    )
                })
                .collect(),
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store();
        let Some(pod) = store.get_typed::<Pod>(&key.namespace, &key.name) else { return Action::AwaitChange };
        if node_name(&pod).is_some() || pod.metadata.deletion_timestamp.is_some() || !mine(&pod) {
            return Action::AwaitChange;
        }
        let nodes = store.list_typed::<Node>(None);
        let pods = store.list_views::<Pod>(None);
        let candidates = least_loaded(&nodes, pods.iter().map(|p| &**p));
        let object = Object::Pod(pod);
        let node = match candidates {
            Ok(names) => names.choose(&mut rand::rng()).map(|n| n.to_string()).expect("at least one fits"),
            Err(why) => {
                let msg = why.to_string();
                self.registry.record_event(&object, "Warning", "FailedScheduling", &msg, "default-scheduler");
                return Action::RequeueAfter(Duration::from_secs(1));
            }
        };
        match self.registry.bind(&key.namespace, &key.name, &node) {
            Ok(_) => {
                let msg = format!("Successfully assigned {}/{} to {node}", key.namespace, key.name);
                self.registry.record_event(&object, "Normal", "Scheduled", &msg, "default-scheduler");
                Action::AwaitChange
            }
            Err(_) => Action::RequeueAfter(Duration::from_millis(100)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, ready: bool) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        .unwrap()
    }

    fn pod_on(node: &str) -> Pod {
        serde_json::from_value(json!({"spec": {"nodeName": node, "containers": []}})).unwrap()
    }

    #[test]
    fn picks_the_least_loaded_ready_nodes() {
        let nodes = [node("node-1", true), node("node-2", true), node("node-3", false)];
        assert_eq!(least_loaded(&nodes, &[]).unwrap(), ["node-1", "node-2"]);
        assert_eq!(least_loaded(&nodes, &[pod_on("node-1")]).unwrap(), ["node-2"]);
        let err = least_loaded(&[node("node-3", false)], &[]).unwrap_err().to_string();
        assert_eq!(err, "0/1 nodes are available: 1 node(s) were not ready.");
    }

    #[test]
    fn full_nodes_take_no_more_pods() {
        let mut small = node("node-1", true);
        let pods = std::collections::BTreeMap::from([(
            "pods".to_string(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("2".into()),
        )]);
        small.status.as_mut().unwrap().allocatable = Some(pods);
        let running = [pod_on("node-1"), pod_on("node-1")];
        let err = least_loaded(&[small, node("node-2", false)], &running).unwrap_err().to_string();
        assert_eq!(err, "0/2 nodes are available: 1 node(s) were not ready, 1 Too many pods.");
    }
}
