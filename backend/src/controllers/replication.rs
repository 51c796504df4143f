//! The replication controller: keeps `replicas` pods matching a ReplicationController's or
//! ReplicaSet's selector, adopting orphans, releasing pods whose labels stop matching, replacing
//! deleted pods and scaling down the least valuable pods first. Template edits leave existing
//! pods alone, as in Kubernetes.

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController, ReplicationControllerStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;
use std::time::Duration;
use svclab_shared::pod::{is_ready, is_terminal_or_deleting};
use svclab_shared::selector::Selector;
use svclab_shared::{Kind, Object};

pub struct ReplicationManager {
    registry: Registry,
}

impl ReplicationManager {
    pub fn new(registry: Registry) -> Self {
        ReplicationManager { registry }
    }
}

/// What the controller needs of an RC or a ReplicaSet.
struct Workload {
    kind: Kind,
    name: String,
    namespace: String,
    uid: String,
    generation: Option<i64>,
    replicas: i32,
    selector: Selector,
    template: PodTemplateSpec,
}

impl Workload {
    fn of(object: &Object) -> Option<Workload> {
        let meta = object.metadata();
        let (replicas, selector, template) = match object {
            Object::ReplicationController(rc) => {
                let spec = rc.spec.as_ref()?;
                (spec.replicas, Selector::from_map(spec.selector.as_ref()?), spec.template.clone()?)
            }
            Object::ReplicaSet(rs) => {
                let spec = rs.spec.as_ref()?;
                (spec.replicas, Selector::from_label_selector(&spec.selector).ok()?, spec.template.clone()?)
            }
            _ => return None,
        };
        Some(Workload {
            kind: object.kind(),
            name: meta.name.clone()?,
            namespace: meta.namespace.clone()?,
            uid: meta.uid.clone()?,
            generation: meta.generation,
            replicas: replicas.unwrap_or(1),
            selector,
            template,
        })
    }

    fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.kind.api_version().into(),
            kind: self.kind.name().into(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn new_pod(&self) -> Pod {
        let template_meta = self.template.metadata.clone().unwrap_or_default();
        Pod {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", self.name)),
                namespace: Some(self.namespace.clone()),
                labels: template_meta.labels,
                annotations: template_meta.annotations,
                owner_references: Some(vec![self.owner_reference()]),
                ..Default::default()
            },
            spec: self.template.spec.clone(),
            status: None,
        }
    }
}

fn controller_of(object: &Object) -> Option<&OwnerReference> {
    object.metadata().owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Which pods to delete first when scaling down: unscheduled, then pending, then not ready, then
/// the most recently created (Kubernetes' `ActivePods` ordering, simplified).
fn deletion_rank(pod: &Pod) -> (u8, u8, u8, std::cmp::Reverse<Option<jiff::Timestamp>>) {
    let scheduled = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    (scheduled as u8, running as u8, is_ready(pod) as u8, std::cmp::Reverse(created))
}

impl Reconciler for ReplicationManager {
    fn name(&self) -> &'static str {
        "replication-controller"
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        match object.kind() {
            Kind::ReplicationController | Kind::ReplicaSet => vec![ObjectKey::of(object)],
            Kind::Pod => {
                let mut keys = Vec::new();
                for o in std::iter::once(object).chain(old) {
                    match controller_of(o) {
                        Some(r) if r.kind == "ReplicationController" || r.kind == "ReplicaSet" => {
                            let kind =
                                if r.kind == "ReplicaSet" { Kind::ReplicaSet } else { Kind::ReplicationController };
                            keys.push(ObjectKey::new(kind, o.namespace(), &r.name));
                        }
                        Some(_) => {}
                        // An orphan may be adopted by any controller whose selector matches it.
                        None => {
                            let store = self.registry.store();
                            for kind in [Kind::ReplicationController, Kind::ReplicaSet] {
                                for owner in store.list(kind, Some(o.namespace())).1 {
                                    let labels = o.metadata().labels.as_ref();
                                    if Workload::of(&owner).is_some_and(|w| w.selector.matches_opt(labels)) {
                                        keys.push(ObjectKey::of(&owner));
                                    }
                                }
                            }
                        }
                    }
                }
                keys.dedup();
                keys
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store().clone();
        let Some(object) = store.get(key) else { return Action::AwaitChange };
        // Being deleted: its pods are the garbage collector's now (a foreground deletion would
        // otherwise see them replaced as fast as they go).
        if object.metadata().deletion_timestamp.is_some() {
            return Action::AwaitChange;
        }
        let Some(w) = Workload::of(&object) else { return Action::AwaitChange };
        let mut active = Vec::new();
        for pod_object in store.list(Kind::Pod, Some(&w.namespace)).1 {
            let Some(pod) = pod_object.downcast::<Pod>() else { continue };
            let matches = w.selector.matches_opt(pod.metadata.labels.as_ref());
            match controller_of(&pod_object) {
                Some(owner) if owner.uid == w.uid => {
                    if !matches {
                        self.set_owner(pod, None);
                    } else if !is_terminal_or_deleting(pod) {
                        active.push(pod.clone());
                    }
                }
                None if matches && !is_terminal_or_deleting(pod) => {
                    if let Some(adopted) = self.set_owner(pod, Some(w.owner_reference())) {
                        active.push(adopted);
                    }
                }
                _ => {}
            }
        }
        let diff = w.replicas as i64 - active.len() as i64;
        let mut failed = false;
        if diff > 0 {
            for _ in 0..diff {
                match self.registry.create(Object::Pod(w.new_pod())) {
                    Ok(pod) => {
                        let msg = format!("Created pod: {}", pod.name());
                        self.registry.record_event(
                            &object,
                            "Normal",
                            "SuccessfulCreate",
                            &msg,
                            "replication-controller",
                        );
                        if let Some(p) = pod.downcast::<Pod>() {
                            active.push(p.clone());
                        }
                    }
                    Err(e) => {
                        failed = true;
                        let msg = format!("Error creating: {e}");
                        self.registry.record_event(&object, "Warning", "FailedCreate", &msg, "replication-controller");
                    }
                }
            }
        } else if diff < 0 {
            active.sort_by_key(deletion_rank);
            for pod in active.drain(..(-diff) as usize) {
                let key = ObjectKey::new(Kind::Pod, &w.namespace, pod.metadata.name.as_deref().unwrap_or_default());
                if self.registry.delete(&key, None).is_ok() {
                    let msg = format!("Deleted pod: {}", key.name);
                    self.registry.record_event(&object, "Normal", "SuccessfulDelete", &msg, "replication-controller");
                }
            }
        }
        let written = self.write_status(&object, &w, &active);
        if failed {
            // A quota or a missing service account may not clear soon: back off.
            return Action::Retry;
        }
        if written.is_err() {
            return Action::RequeueAfter(Duration::from_millis(200));
        }
        Action::AwaitChange
    }
}

impl ReplicationManager {
    /// Adopts (`Some`) or releases (`None`) a pod; returns the updated pod.
    fn set_owner(&self, pod: &Pod, owner: Option<OwnerReference>) -> Option<Pod> {
        let mut updated = pod.clone();
        let refs = updated.metadata.owner_references.get_or_insert_with(Vec::new);
        refs.retain(|r| r.controller != Some(true));
        refs.extend(owner);
        if refs.is_empty() {
            updated.metadata.owner_references = None;
        }
        let stored = self.registry.update(Object::Pod(updated)).ok()?;
        stored.downcast::<Pod>().cloned()
    }

    fn write_status(&self, object: &Object, w: &Workload, active: &[Pod]) -> Result<(), crate::error::ApiError> {
        let replicas = active.len() as i32;
        let template_labels: BTreeMap<String, String> =
            w.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        let fully_labeled = active
            .iter()
            .filter(|p| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                template_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .count() as i32;
        let ready = active.iter().filter(|p| is_ready(p)).count() as i32;
        let mut updated = object.clone();
        match &mut updated {
            Object::ReplicationController(ReplicationController { status, .. }) => {
                *status = Some(ReplicationControllerStatus {
                    replicas,
                    fully_labeled_replicas: Some(fully_labeled),
                    ready_replicas: Some(ready),
                    available_replicas: Some(ready),
                    observed_generation: w.generation,
                    conditions: None,
                });
            }
            Object::ReplicaSet(ReplicaSet { status, .. }) => {
                *status = Some(ReplicaSetStatus {
                    replicas,
                    fully_labeled_replicas: Some(fully_labeled),
                    ready_replicas: Some(ready),
                    available_replicas: Some(ready),
                    observed_generation: w.generation,
                    ..Default::default()
                });
            }
            _ => return Ok(()),
        }
        if updated == *object {
            return Ok(());
        }
        self.registry.update_status(&updated).map(|_| ())
    }
}
