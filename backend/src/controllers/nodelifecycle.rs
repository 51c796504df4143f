//! The node lifecycle controller: a node whose Ready condition is not `True` gets the
//! `node.kubernetes.io/not-ready` (False) or `…/unreachable` (Unknown) taints, its pods are marked
//! not ready (so they leave their services' endpoints), and its pods are evicted once their
//! toleration of the `NoExecute` taint runs out (300 s by default), so that their controllers
//! replace them on other nodes. When the node is Ready again the taints go.

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;
use svclab_shared::{Kind, Object};

const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const COMPONENT: &str = "node-controller";

pub struct NodeLifecycleController {
    registry: Registry,
}

impl NodeLifecycleController {
    pub fn new(registry: Registry) -> Self {
        NodeLifecycleController { registry }
    }
}

/// The status of the node's Ready condition: `True`, `False` or `Unknown`.
pub fn ready_status(node: &Node) -> &str {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.into_iter().flatten().find(|c| c.type_ == "Ready").map_or("Unknown", |c| c.status.as_str())
}

/// When a pod must leave a node carrying `taint` (NoExecute): `None` never, or the instant.
pub fn eviction_time(tolerations: &[Toleration], taint: &Taint) -> Option<Timestamp> {
    let added = taint.time_added.as_ref().map_or_else(Timestamp::now, |t| t.0);
    let tolerating = tolerations.iter().find(|t| {
        let key_matches = match t.operator.as_deref() {
            Some("Exists") => t.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key),
            _ => t.key.as_deref() == Some(taint.key.as_str()) && t.value == taint.value,
        };
        key_matches && t.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect)
    });
    match tolerating {
        None => Some(added),
        Some(t) => t.toleration_seconds.map(|s| added + SignedDuration::from_secs(s.max(0))),
    }
}

impl Reconciler for NodeLifecycleController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object.kind() {
            Kind::Node => vec![ObjectKey::of(object)],
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store().clone();
        let Some(node) = store.get_typed::<Node>("", &key.name) else { return Action::AwaitChange };
        let reported = node.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| !c.is_empty());
        if !reported {
            // A node whose kubelet has not reported yet is still starting up.
            return Action::AwaitChange;
        }
        let status = ready_status(&node).to_string();
        let key_for = match status.as_str() {
            "True" => None,
            "False" => Some(NOT_READY),
            _ => Some(UNREACHABLE),
        };
        // The taints: ours for the current state, none of ours otherwise.
        let mut spec = node.spec.clone().unwrap_or_default();
        let mut taints: Vec<Taint> = spec.taints.clone().unwrap_or_default();
        taints.retain(|t| (t.key != NOT_READY && t.key != UNREACHABLE) || Some(t.key.as_str()) == key_for);
        if let Some(k) = key_for {
            for effect in ["NoSchedule", "NoExecute"] {
                if !taints.iter().any(|t| t.key == k && t.effect == effect) {
                    let time_added = (effect == "NoExecute").then(|| Time(Timestamp::now()));
                    taints.push(Taint { key: k.into(), effect: effect.into(), time_added, value: None });
                }
            }
        }
        let taints = (!taints.is_empty()).then_some(taints);
        if taints != spec.taints {
            spec.taints = taints;
            let mut updated = node.clone();
            updated.spec = Some(spec.clone());
            if self.registry.update(Object::Node(updated)).is_err() {
                return Action::RequeueAfter(Duration::from_millis(100));
            }
        }
        let Some(k) = key_for else { return Action::AwaitChange };
        let no_execute = spec.taints.iter().flatten().find(|t| t.key == k && t.effect == "NoExecute").cloned();
        let Some(no_execute) = no_execute else { return Action::AwaitChange };
        let now = Timestamp::now();
        let mut next: Option<Timestamp> = None;
        for pod in store.list_typed::<Pod>(None) {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(key.name.as_str()) {
                continue;
            }
            if pod.metadata.deletion_timestamp.is_some() || svclab_shared::pod::is_finished(&pod) {
                continue;
            }
            self.mark_not_ready(&pod);
            let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
            match eviction_time(&tolerations, &no_execute) {
                Some(at) if at <= now => {
                    let (ns, name) = (
                        pod.metadata.namespace.clone().unwrap_or_default(),
                        pod.metadata.name.clone().unwrap_or_default(),
                    );
                    let msg = format!("Marking for deletion Pod {ns}/{name}");
                    self.registry.record_event(
                        &Object::Pod(pod.clone()),
                        "Normal",
                        "TaintManagerEviction",
                        &msg,
                        "taint-eviction-controller",
                    );
                    let _ = self.registry.delete(&ObjectKey::new(Kind::Pod, &ns, &name), None);
                }
                Some(at) => next = Some(next.map_or(at, |n| n.min(at))),
                None => {}
            }
        }
        match next {
            Some(at) => Action::RequeueAfter(
                Duration::try_from(at.duration_since(now)).unwrap_or_default().max(Duration::from_millis(10)),
            ),
            None => Action::AwaitChange,
        }
    }
}

impl NodeLifecycleController {
    /// Sets the pod's Ready condition to False, as the node controller does for pods on a node
    /// that stopped reporting.
    fn mark_not_ready(&self, pod: &Pod) {
        let mut updated = pod.clone();
        let Some(conditions) = updated.status.as_mut().and_then(|s| s.conditions.as_mut()) else { return };
        let Some(ready) = conditions.iter_mut().find(|c| c.type_ == "Ready") else { return };
        if ready.status == "False" {
            return;
        }
        ready.status = "False".into();
        ready.reason = Some("NodeNotReady".into());
        ready.message = None;
        ready.last_transition_time = Some(Time(Timestamp::now()));
        let _ = self.registry.update_status(&Object::Pod(updated));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: "NoExecute".into(),
            time_added: Some(Time(Timestamp::UNIX_EPOCH)),
            value: None,
        }
    }

    #[test]
    fn tolerations_decide_when_a_pod_is_evicted() {
        let t = taint(NOT_READY);
        assert_eq!(eviction_time(&[], &t), Some(Timestamp::UNIX_EPOCH), "no toleration: at once");
        let for_300 = Toleration {
            key: Some(NOT_READY.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: Some(300),
            value: None,
        };
        let at = eviction_time(std::slice::from_ref(&for_300), &t).unwrap();
        assert_eq!(at, Timestamp::UNIX_EPOCH + SignedDuration::from_secs(300));
        let forever = Toleration { toleration_seconds: None, ..for_300.clone() };
        assert_eq!(eviction_time(&[forever], &t), None);
        let other = Toleration { key: Some(UNREACHABLE.into()), ..for_300 };
        assert_eq!(eviction_time(&[other], &t), Some(Timestamp::UNIX_EPOCH), "a toleration of another taint");
    }
}
