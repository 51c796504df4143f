//! The DaemonSet controller: one pod on every node the template fits (its node selector and
//! affinity, the node's taints against its tolerations and the ones a daemon pod always has),
//! each pinned to its node by node affinity and placed by the scheduler; a pod on a node it no
//! longer fits goes. A `RollingUpdate` replaces old pods up to `maxUnavailable` at a time.

use super::owners::{controller_keys, owned_pods, reference_to};
use super::revisions::{self, HASH_LABEL};
use super::runtime::{Action, Reconciler, sync_live};
use super::scheduler::fits;
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodTemplateSpec,
    Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use svclab_shared::pod::is_ready;
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "daemonset-controller";

/// The tolerations every daemon pod gets, so that it runs on nodes that are not ready, under
/// pressure or cordoned.
fn daemon_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    };
    vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// The template's pod for `node`: the daemon tolerations added and node affinity to that node
/// only (`matchFields metadata.name`), replacing any required node affinity of its own.
fn pod_for(set: &DaemonSet, template: &PodTemplateSpec, revision: &str, node: &str) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.insert(HASH_LABEL.into(), revision.rsplit('-').next().unwrap_or_default().to_string());
    let generation = set.metadata.generation.unwrap_or(1).to_string();
    labels.insert("pod-template-generation".into(), generation);
    let mut spec = template.spec.clone().unwrap_or_default();
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for t in daemon_tolerations() {
        if !tolerations.iter().any(|have| have.key == t.key && have.effect == t.effect) {
            tolerations.push(t);
        }
    }
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_string()]),
        }]),
        match_expressions: None,
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution =
        Some(NodeSelector { node_selector_terms: vec![term] });
    let set_name = set.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{set_name}-")),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            owner_references: Some(vec![reference_to(Kind::DaemonSet, &set.metadata)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The node a daemon pod is for: where it runs, else the node its affinity names.
fn node_of(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.clone().filter(|n| !n.is_empty()) {
        return Some(node);
    }
    let required =
        spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?;
    let field = required.node_selector_terms.first()?.match_fields.as_ref()?.first()?;
    field.values.as_ref()?.first().cloned()
}

pub struct DaemonSetController {
    registry: Registry,
}

impl DaemonSetController {
    pub fn new(registry: Registry) -> Self {
        DaemonSetController { registry }
    }

    fn event(&self, set: &DaemonSet, type_: &str, reason: &str, message: &str) {
        self.registry.record_event(&Object::DaemonSet(set.clone()), type_, reason, message, COMPONENT);
    }

    fn delete(&self, set: &DaemonSet, pod: &Pod) {
        let (ns, name) =
            (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
        if self.registry.delete(&ObjectKey::new(Kind::Pod, &ns, &name), None).is_ok() {
            self.event(set, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}"));
        }
    }

    fn sync(&self, set: &DaemonSet) -> Result<(), ApiError> {
        let spec = set.spec.clone().unwrap_or_default();
        let labels = spec.selector.match_labels.clone().unwrap_or_default();
        let revision = revisions::ensure(&self.registry, Kind::DaemonSet, &set.metadata, &labels, &spec.template)?;
        let hash = revision.rsplit('-').next().unwrap_or_default().to_string();
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let nodes = self.registry.store().list_typed::<Node>(None);
        let mut by_node: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
        for pod in owned_pods(self.registry.store(), &ns, &uid) {
            by_node.entry(node_of(&pod).unwrap_or_default()).or_default().push(pod);
        }
        let mut unavailable = 0;
        let mut stale = Vec::new();
        for node in &nodes {
            let node_name = node.metadata.name.clone().unwrap_or_default();
            let probe = pod_for(set, &spec.template, &revision, &node_name);
            let wanted = fits(&probe, node).is_ok();
            let pods = by_node.remove(&node_name).unwrap_or_default();
            let (gone, live): (Vec<Pod>, Vec<Pod>) = pods.into_iter().partition(|p| {
                p.metadata.deletion_timestamp.is_some()
                    || matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Failed" | "Succeeded"))
            });
            for pod in gone.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
                self.delete(set, pod);
            }
            if !wanted {
                live.iter().for_each(|p| self.delete(set, p));
                continue;
            }
            match live.split_first() {
                None if gone.is_empty() => match self.registry.create(Object::Pod(probe)) {
                    Ok(created) => {
                        self.event(set, "Normal", "SuccessfulCreate", &format!("Created pod: {}", created.name()))
                    }
                    Err(e) => {
                        self.event(set, "Warning", "FailedCreate", &format!("Error creating: {e}"));
                        return Err(e);
                    }
                },
                None => unavailable += 1,
                Some((first, extra)) => {
                    extra.iter().for_each(|p| self.delete(set, p));
                    if !is_ready(first) {
                        unavailable += 1;
                    }
                    if first.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)) != Some(&hash) {
                        stale.push(first.clone());
                    }
                }
            }
        }
        // Pods on nodes that are gone.
        by_node
            .values()
            .flatten()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .for_each(|p| self.delete(set, p));
        self.roll(set, &stale, unavailable, nodes.len() as i32);
        self.write_status(set, &nodes, &hash)
    }

    /// Replaces old pods while fewer than `maxUnavailable` daemon pods are unavailable.
    fn roll(&self, set: &DaemonSet, stale: &[Pod], unavailable: i32, nodes: i32) {
        let strategy = set.spec.as_ref().and_then(|s| s.update_strategy.clone()).unwrap_or_default();
        if strategy.type_.as_deref() == Some("OnDelete") {
            return;
        }
        let max = strategy.rolling_update.as_ref().and_then(|r| r.max_unavailable.as_ref());
        let budget = super::deployment::scaled_value(max, nodes, true).max(1) - unavailable;
        for pod in stale.iter().take(budget.max(0) as usize) {
            self.delete(set, pod);
        }
    }

    fn write_status(&self, set: &DaemonSet, nodes: &[Node], hash: &str) -> Result<(), ApiError> {
        let spec = set.spec.clone().unwrap_or_default();
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let pods = owned_pods(self.registry.store(), &ns, set.metadata.uid.as_deref().unwrap_or_default());
        let live: Vec<&Pod> = pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        let (mut desired, mut current, mut misscheduled, mut ready, mut updated) = (0, 0, 0, 0, 0);
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let wanted = fits(&pod_for(set, &spec.template, hash, &name), node).is_ok();
            let here: Vec<&&Pod> =
                live.iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()) == Some(&name)).collect();
            desired += wanted as i32;
            match (wanted, here.first()) {
                (true, Some(p)) => {
                    current += 1;
                    ready += is_ready(p) as i32;
                    updated += (p.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str)
                        == Some(hash)) as i32;
                }
                (false, Some(_)) => misscheduled += 1,
                _ => {}
            }
        }
        let status = DaemonSetStatus {
            observed_generation: set.metadata.generation,
            desired_number_scheduled: desired,
            current_number_scheduled: current,
            number_misscheduled: misscheduled,
            number_ready: ready,
            number_available: Some(ready),
            number_unavailable: Some(desired - ready).filter(|n| *n > 0),
            updated_number_scheduled: Some(updated),
            collision_count: None,
            conditions: None,
        };
        if set.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut written = set.clone();
        written.status = Some(status);
        self.registry.update_status(&Object::DaemonSet(written)).map(|_| ())
    }
}

impl Reconciler for DaemonSetController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::DaemonSet(_) => vec![ObjectKey::of(object)],
            Object::Pod(_) => controller_keys(Kind::DaemonSet, object, old),
            // A node that comes, goes or changes its labels or taints may need a daemon pod.
            Object::Node(_) => {
                self.registry.store().list(Kind::DaemonSet, None).1.iter().map(|d| ObjectKey::of(d)).collect()
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        sync_live(self.registry.store(), key, COMPONENT, |set: &DaemonSet| self.sync(set).map(|()| None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_daemon_pod_is_pinned_to_its_node_and_tolerates_what_daemons_tolerate() {
        let set: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent", "namespace": "kube-system", "uid": "u", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}})).unwrap();
        let template = set.spec.as_ref().unwrap().template.clone();
        let pod = pod_for(&set, &template, "agent-5d4f", "node-2");
        assert_eq!(node_of(&pod).as_deref(), Some("node-2"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels.get(HASH_LABEL).map(String::as_str), Some("5d4f"));
        assert_eq!(labels.get("pod-template-generation").map(String::as_str), Some("2"));
        let node = |name: &str, taint: Option<serde_json::Value>| -> Node {
            serde_json::from_value(
                json!({"metadata": {"name": name}, "spec": {"taints": taint.into_iter().collect::<Vec<_>>()}}),
            )
            .unwrap()
        };
        assert!(fits(&pod, &node("node-2", None)).is_ok());
        assert!(fits(&pod, &node("node-1", None)).is_err(), "pinned to node-2");
        let cordoned = node("node-2", Some(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})));
        assert!(fits(&pod, &cordoned).is_ok(), "daemons run on cordoned nodes");
        let dedicated = node("node-2", Some(json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})));
        assert!(fits(&pod, &dedicated).is_err(), "but not past a taint they do not tolerate");
    }
}
