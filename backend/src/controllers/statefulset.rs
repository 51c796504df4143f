//! The StatefulSet controller: pods `<name>-0 … <name>-N-1` with stable names, each with its
//! hostname and the governing service as subdomain (so `web-0.nginx.<ns>.svc.cluster.local`
//! resolves through the headless service) and its own claims from `volumeClaimTemplates`, kept
//! across deletions. `OrderedReady` makes pods one at a time in order, each waiting for the one
//! before to be running and ready, and removes them in reverse; `Parallel` does all at once.
//! A `RollingUpdate` replaces pods from the highest ordinal down to the `partition`, one at a
//! time; `OnDelete` waits for pods to be deleted. The decision is [`plan`], pure.

use super::owners::{controller_keys, owned_pods, reference_to};
use super::revisions::{self, HASH_LABEL};
use super::runtime::{Action, Reconciler, sync_live};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use svclab_shared::pod::is_ready;
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "statefulset-controller";
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// What the controller sees of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub running_and_ready: bool,
    pub terminating: bool,
    pub failed: bool,
    /// The revision it was made from (`controller-revision-hash`).
    pub revision: String,
}

/// The set's wishes, as [`plan`] reads them.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub replicas: i32,
    pub parallel: bool,
    /// `Some(partition)` for `RollingUpdate`, `None` for `OnDelete`.
    pub rolling_partition: Option<i32>,
    pub update_revision: String,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Create(i32),
    Delete(String),
}

/// What to do next for pods by ordinal, as Kubernetes' StatefulSet control loop decides.
pub fn plan(wanted: &Wanted, members: &BTreeMap<i32, Member>) -> Vec<Step> {
    let mut steps = Vec::new();
    let ordered = !wanted.parallel;
    // Failed pods are replaced.
    for member in members.values().filter(|m| m.failed && !m.terminating) {
        steps.push(Step::Delete(member.name.clone()));
    }
    if ordered && !steps.is_empty() {
        return steps;
    }
    let mut blocked = false;
    for ordinal in 0..wanted.replicas.max(0) {
        match members.get(&ordinal) {
            None => {
                steps.push(Step::Create(ordinal));
                if ordered {
                    return steps;
                }
            }
            Some(m) if m.failed => blocked = true,
            Some(m) if m.terminating || !m.running_and_ready => {
                blocked = true;
                if ordered {
                    return steps;
                }
            }
            Some(_) => {}
        }
    }
    // Scale down: the highest ordinals first; in order, one at a time once the rest are ready.
    let mut condemned: Vec<&Member> = members.range(wanted.replicas.max(0)..).map(|(_, m)| m).collect();
    condemned.reverse();
    if !condemned.is_empty() {
        if !ordered {
            steps.extend(condemned.iter().filter(|m| !m.terminating).map(|m| Step::Delete(m.name.clone())));
            return steps;
        }
        if blocked || condemned.iter().any(|m| m.terminating) {
            return steps;
        }
        steps.push(Step::Delete(condemned[0].name.clone()));
        return steps;
    }
    // Rolling update: the highest ordinal not yet updated, down to the partition, one at a time.
    let Some(partition) = wanted.rolling_partition else { return steps };
    if blocked || members.values().any(|m| m.terminating) {
        return steps;
    }
    let stale = (partition.max(0)..wanted.replicas).rev().find_map(|i| {
        let m = members.get(&i)?;
        (m.revision != wanted.update_revision).then(|| m.name.clone())
    });
    steps.extend(stale.map(Step::Delete));
    steps
}

/// A pod name's ordinal in the set (`web-2` → 2).
fn ordinal(set: &str, pod: &str) -> Option<i32> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

pub struct StatefulSetController {
    registry: Registry,
}

impl StatefulSetController {
    pub fn new(registry: Registry) -> Self {
        StatefulSetController { registry }
    }

    fn event(&self, set: &StatefulSet, type_: &str, reason: &str, message: &str) {
        self.registry.record_event(&Object::StatefulSet(set.clone()), type_, reason, message, COMPONENT);
    }

    /// The claim of template `claim` for the pod at `ordinal`, made when missing.
    fn ensure_claim(&self, set: &StatefulSet, template: &PersistentVolumeClaim, pod: &str) -> Result<String, ApiError> {
        let set_meta = &set.metadata;
        let ns = set_meta.namespace.clone().unwrap_or_default();
        let name = format!("{}-{pod}", template.metadata.name.as_deref().unwrap_or_default());
        if self.registry.store().get(&ObjectKey::new(Kind::PersistentVolumeClaim, &ns, &name)).is_some() {
            return Ok(name);
        }
        let spec = set.spec.clone().unwrap_or_default();
        let mut labels = template.metadata.labels.clone().unwrap_or_default();
        labels.extend(spec.selector.match_labels.clone().unwrap_or_default());
        let delete_with_set =
            spec.persistent_volume_claim_retention_policy.as_ref().and_then(|p| p.when_deleted.as_deref())
                == Some("Delete");
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns),
                labels: Some(labels),
                annotations: template.metadata.annotations.clone(),
                owner_references: delete_with_set.then(|| vec![reference_to(Kind::StatefulSet, set_meta)]),
                ..Default::default()
            },
            spec: template.spec.clone(),
            status: None,
        };
        match self.registry.create(Object::PersistentVolumeClaim(claim)) {
            Ok(_) => {
                let set_name = set_meta.name.as_deref().unwrap_or_default();
                let msg = format!("create Claim {name} Pod {pod} in StatefulSet {set_name} success");
                self.event(set, "Normal", "SuccessfulCreate", &msg);
                Ok(name)
            }
            Err(ApiError::AlreadyExists { .. }) => Ok(name),
            Err(e) => Err(e),
        }
    }

    /// The pod at `ordinal`, made from `template` (revision `revision`), with its claims.
    fn new_pod(
        &self,
        set: &StatefulSet,
        ordinal: i32,
        template: &PodTemplateSpec,
        revision: &str,
    ) -> Result<Pod, ApiError> {
        let spec = set.spec.clone().unwrap_or_default();
        let set_name = set.metadata.name.clone().unwrap_or_default();
        let name = format!("{set_name}-{ordinal}");
        let template_meta = template.metadata.clone().unwrap_or_default();
        let mut labels = template_meta.labels.unwrap_or_default();
        labels.insert(POD_NAME_LABEL.into(), name.clone());
        labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
        labels.insert(HASH_LABEL.into(), revision.to_string());
        let mut pod_spec = template.spec.clone().unwrap_or_default();
        pod_spec.hostname = Some(name.clone());
        pod_spec.subdomain = spec.service_name.clone().filter(|s| !s.is_empty());
        for claim in spec.volume_claim_templates.iter().flatten() {
            let claim_name = self.ensure_claim(set, claim, &name)?;
            let volume_name = claim.metadata.name.clone().unwrap_or_default();
            let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
            volumes.retain(|v| v.name != volume_name);
            volumes.push(Volume {
                name: volume_name,
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name, read_only: None }),
                ..Default::default()
            });
        }
        Ok(Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: set.metadata.namespace.clone(),
                labels: Some(labels),
                annotations: template_meta.annotations,
                owner_references: Some(vec![reference_to(Kind::StatefulSet, &set.metadata)]),
                ..Default::default()
            },
            spec: Some(pod_spec),
            status: None,
        })
    }

    fn members(&self, set: &StatefulSet) -> BTreeMap<i32, Member> {
        let (ns, name, uid) = (
            set.metadata.namespace.as_deref().unwrap_or_default(),
            set.metadata.name.as_deref().unwrap_or_default(),
            set.metadata.uid.as_deref().unwrap_or_default(),
        );
        owned_pods(self.registry.store(), ns, uid)
            .into_iter()
            .filter_map(|p| {
                let pod_name = p.metadata.name.clone()?;
                let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                let member = Member {
                    running_and_ready: running && is_ready(&p),
                    terminating: p.metadata.deletion_timestamp.is_some(),
                    failed: matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Failed" | "Succeeded")),
                    revision: p.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).cloned().unwrap_or_default(),
                    name: pod_name.clone(),
                };
                Some((ordinal(name, &pod_name)?, member))
            })
            .collect()
    }

    fn sync(&self, set: &StatefulSet) -> Result<(), ApiError> {
        let spec = set.spec.clone().unwrap_or_default();
        let labels = spec.selector.match_labels.clone().unwrap_or_default();
        let update_revision =
            revisions::ensure(&self.registry, Kind::StatefulSet, &set.metadata, &labels, &spec.template)?;
        let current_revision =
            set.status.as_ref().and_then(|s| s.current_revision.clone()).unwrap_or_else(|| update_revision.clone());
        let strategy = spec.update_strategy.clone().unwrap_or_default();
        let rolling = strategy.type_.as_deref() != Some("OnDelete");
        let partition = strategy.rolling_update.as_ref().and_then(|r| r.partition).unwrap_or(0);
        let wanted = Wanted {
            replicas: spec.replicas.unwrap_or(1),
            parallel: spec.pod_management_policy.as_deref() == Some("Parallel"),
            rolling_partition: rolling.then_some(partition),
            update_revision: update_revision.clone(),
        };
        let members = self.members(set);
        let set_name = set.metadata.name.clone().unwrap_or_default();
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        for step in plan(&wanted, &members) {
            match step {
                Step::Create(ordinal) => {
                    // Below the partition a pod comes back at the revision it had.
                    let (template, revision) = if rolling && ordinal < partition && current_revision != update_revision
                    {
                        let old = revisions::of(&self.registry, Kind::StatefulSet, &set.metadata)
                            .into_iter()
                            .find(|r| r.metadata.name.as_deref() == Some(current_revision.as_str()))
                            .and_then(|r| revisions::template(&r));
                        match old {
                            Some(t) => (t, current_revision.clone()),
                            None => (spec.template.clone(), update_revision.clone()),
                        }
                    } else {
                        (spec.template.clone(), update_revision.clone())
                    };
                    let pod = self.new_pod(set, ordinal, &template, &revision)?;
                    let pod_name = pod.metadata.name.clone().unwrap_or_default();
                    match self.registry.create(Object::Pod(pod)) {
                        Ok(_) => {
                            let msg = format!("create Pod {pod_name} in StatefulSet {set_name} successful");
                            self.event(set, "Normal", "SuccessfulCreate", &msg);
                        }
                        Err(ApiError::AlreadyExists { .. }) => {}
                        Err(e) => {
                            let msg = format!("create Pod {pod_name} in StatefulSet {set_name} failed error: {e}");
                            self.event(set, "Warning", "FailedCreate", &msg);
                            return Err(e);
                        }
                    }
                }
                Step::Delete(pod_name) => {
                    if self.registry.delete(&ObjectKey::new(Kind::Pod, &ns, &pod_name), None).is_ok() {
                        let msg = format!("delete Pod {pod_name} in StatefulSet {set_name} successful");
                        self.event(set, "Normal", "SuccessfulDelete", &msg);
                    }
                }
            }
        }
        self.write_status(set, &update_revision, &current_revision)
    }

    fn write_status(&self, set: &StatefulSet, update: &str, current: &str) -> Result<(), ApiError> {
        let members = self.members(set);
        let live: Vec<&Member> = members.values().filter(|m| !m.terminating).collect();
        let replicas = live.len() as i32;
        let ready = live.iter().filter(|m| m.running_and_ready).count() as i32;
        let updated = live.iter().filter(|m| m.revision == update).count() as i32;
        let wanted = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        // Once every pod is at the update revision, it is the current one.
        let current = if updated == wanted && replicas == wanted { update } else { current };
        let current_replicas = live.iter().filter(|m| m.revision == current).count() as i32;
        let status = StatefulSetStatus {
            observed_generation: set.metadata.generation,
            replicas,
            ready_replicas: Some(ready),
            available_replicas: Some(ready),
            current_replicas: Some(current_replicas),
            updated_replicas: Some(updated),
            current_revision: Some(current.to_string()),
            update_revision: Some(update.to_string()),
            collision_count: Some(0),
            conditions: None,
        };
        if set.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut updated_set = set.clone();
        updated_set.status = Some(status);
        self.registry.update_status(&Object::StatefulSet(updated_set))?;
        let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
        revisions::prune(&self.registry, Kind::StatefulSet, &set.metadata, limit, &[update, current]);
        Ok(())
    }
}

impl Reconciler for StatefulSetController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::StatefulSet(_) => vec![ObjectKey::of(object)],
            Object::Pod(_) => controller_keys(Kind::StatefulSet, object, old),
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        sync_live(self.registry.store(), key, COMPONENT, |set: &StatefulSet| self.sync(set).map(|()| None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, ready: bool, revision: &str) -> Member {
        Member {
            name: name.into(),
            running_and_ready: ready,
            terminating: false,
            failed: false,
            revision: revision.into(),
        }
    }

    fn wanted(replicas: i32, parallel: bool) -> Wanted {
        Wanted { replicas, parallel, rolling_partition: Some(0), update_revision: "web-2".into() }
    }

    #[test]
    fn ordered_ready_makes_one_pod_at_a_time_in_order() {
        let mut members = BTreeMap::new();
        assert_eq!(plan(&wanted(3, false), &members), [Step::Create(0)]);
        members.insert(0, member("web-0", false, "web-2"));
        assert_eq!(plan(&wanted(3, false), &members), [], "web-1 waits for web-0 to be ready");
        members.insert(0, member("web-0", true, "web-2"));
        assert_eq!(plan(&wanted(3, false), &members), [Step::Create(1)]);
        assert_eq!(plan(&wanted(3, true), &members), [Step::Create(1), Step::Create(2)], "Parallel does not wait");
    }

    #[test]
    fn scaling_down_removes_the_highest_ordinal_first_one_at_a_time() {
        let members: BTreeMap<i32, Member> = (0..3).map(|i| (i, member(&format!("web-{i}"), true, "web-2"))).collect();
        assert_eq!(plan(&wanted(1, false), &members), [Step::Delete("web-2".into())]);
        let mut terminating = members.clone();
        terminating.get_mut(&2).unwrap().terminating = true;
        assert_eq!(plan(&wanted(1, false), &terminating), [], "waits for web-2 to go");
        assert_eq!(plan(&wanted(1, true), &members), [Step::Delete("web-2".into()), Step::Delete("web-1".into())]);
    }

    #[test]
    fn a_rolling_update_goes_down_from_the_highest_ordinal_to_the_partition() {
        let mut members: BTreeMap<i32, Member> =
            (0..3).map(|i| (i, member(&format!("web-{i}"), true, "web-1"))).collect();
        assert_eq!(plan(&wanted(3, false), &members), [Step::Delete("web-2".into())]);
        members.insert(2, member("web-2", true, "web-2"));
        assert_eq!(plan(&wanted(3, false), &members), [Step::Delete("web-1".into())]);
        let partitioned = Wanted { rolling_partition: Some(2), ..wanted(3, false) };
        assert_eq!(plan(&partitioned, &members), [], "below the partition pods keep their revision");
        let on_delete = Wanted { rolling_partition: None, ..wanted(3, false) };
        assert_eq!(plan(&on_delete, &members), []);
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "webby-1"), None);
    }
}
