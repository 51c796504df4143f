//! The deployment controller: a ReplicaSet per pod template (named by its `pod-template-hash`),
//! rolled out by `RollingUpdate` within `maxSurge` and `maxUnavailable` — old pods go only as new
//! ones become available — or by `Recreate`; revisions, status and conditions as Kubernetes keeps
//! them. The arithmetic is pure ([`plan`]); the reconciler reads and writes ReplicaSets.

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::time::Duration;
use svclab_shared::{Kind, Object};

const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
const COMPONENT: &str = "deployment-controller";

pub struct DeploymentController {
    registry: Registry,
}

impl DeploymentController {
    pub fn new(registry: Registry) -> Self {
        DeploymentController { registry }
    }
}

/// Kubernetes' `pod-template-hash`: FNV-1a of the template, its decimal digits mapped onto the
/// alphabet of generated names.
pub fn template_hash(template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut hash: u32 = 0x811c9dc5;
    for b in bytes {
        hash ^= b as u32;
        hash = hash.wrapping_mul(0x01000193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string().bytes().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

/// `25%` of `total`, rounded up (surge) or down (unavailable), or an absolute number.
pub fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => 0,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let percent: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = percent * total as i64;
            (if round_up { (scaled + 99) / 100 } else { scaled / 100 }) as i32
        }
    }
}

/// One ReplicaSet as the rollout arithmetic sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub spec: i32,
    pub available: i32,
}

/// A rolling update's next step: the new ReplicaSet's replicas and each old one's (oldest first).
pub fn plan(desired: i32, max_surge: i32, max_unavailable: i32, new: Counts, old: &[Counts]) -> (i32, Vec<i32>) {
    let max_unavailable = if max_surge == 0 && max_unavailable == 0 { 1 } else { max_unavailable };
    // Scale up the new ReplicaSet as far as the surge allows.
    let total: i32 = new.spec + old.iter().map(|c| c.spec).sum::<i32>();
    let new_spec = if new.spec < desired {
        let allowed = desired + max_surge - total;
        if allowed > 0 { (new.spec + allowed).min(desired) } else { new.spec }
    } else {
        desired
    };
    // Scale down old ones, never below the minimum available.
    let mut old_specs: Vec<i32> = old.iter().map(|c| c.spec).collect();
    let all_pods: i32 = new_spec + old_specs.iter().sum::<i32>();
    let min_available = desired - max_unavailable;
    let new_unavailable = new_spec - new.available;
    let mut budget = all_pods - min_available - new_unavailable;
    if budget > 0 {
        // First the old pods that are not available anyway.
        for (spec, c) in old_specs.iter_mut().zip(old) {
            let unhealthy = (*spec - c.available).max(0).min(budget);
            *spec -= unhealthy;
            budget -= unhealthy;
        }
    }
    let available: i32 = new.available + old.iter().zip(&old_specs).map(|(c, s)| c.available.min(*s)).sum::<i32>();
    let mut can_remove = (available - min_available).max(0);
    for spec in old_specs.iter_mut() {
        let down = (*spec).min(can_remove);
        *spec -= down;
        can_remove -= down;
    }
    (new_spec, old_specs)
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata.annotations.as_ref().and_then(|a| a.get(REVISION)).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn counts(rs: &ReplicaSet) -> Counts {
    Counts {
        spec: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
        available: rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0),
    }
}

fn owned_by(object: &ObjectMeta, uid: &str) -> bool {
    object.owner_references.iter().flatten().any(|r| r.controller == Some(true) && r.uid == uid)
}

impl DeploymentController {
    fn new_replica_set(
        &self,
        d: &Deployment,
        spec: &DeploymentSpec,
        hash: &str,
        revision: i64,
        replicas: i32,
    ) -> ReplicaSet {
        let name = d.metadata.name.clone().unwrap_or_default();
        let mut template = spec.template.clone();
        let meta = template.metadata.get_or_insert_with(Default::default);
        meta.labels.get_or_insert_with(Default::default).insert(HASH_LABEL.into(), hash.into());
        let mut selector = spec.selector.clone();
        selector.match_labels.get_or_insert_with(Default::default).insert(HASH_LABEL.into(), hash.into());
        let annotations: BTreeMap<String, String> = [
            (REVISION.to_string(), revision.to_string()),
            ("deployment.kubernetes.io/desired-replicas".into(), spec.replicas.unwrap_or(1).to_string()),
        ]
        .into();
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{name}-{hash}")),
                namespace: d.metadata.namespace.clone(),
                labels: meta.labels.clone(),
                annotations: Some(annotations),
                owner_references: Some(vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name,
                    uid: d.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        }
    }

    /// Sets a ReplicaSet's replicas, with the event Kubernetes records.
    fn scale(&self, d: &Deployment, rs: &ReplicaSet, replicas: i32) -> bool {
        let from = counts(rs).spec;
        if from == replicas {
            return true;
        }
        let mut updated = rs.clone();
        if let Some(spec) = updated.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        let ok = self.registry.update(Object::ReplicaSet(updated)).is_ok();
        if ok {
            let way = if replicas > from { "up" } else { "down" };
            let name = rs.metadata.name.as_deref().unwrap_or_default();
            let msg = format!("Scaled {way} replica set {name} from {from} to {replicas}");
            self.registry.record_event(&Object::Deployment(d.clone()), "Normal", "ScalingReplicaSet", &msg, COMPONENT);
        }
        ok
    }

    fn write_status(&self, d: &Deployment, new: Option<&ReplicaSet>, all: &[ReplicaSet], max_unavailable: i32) -> bool {
        let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let sum = |f: fn(&ReplicaSet) -> i32| all.iter().map(f).sum::<i32>();
        let replicas = sum(|rs| rs.status.as_ref().map_or(0, |s| s.replicas));
        let ready = sum(|rs| rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0));
        let available = sum(|rs| rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0));
        let updated = new.and_then(|rs| rs.status.as_ref()).map_or(0, |s| s.replicas);
        let old = d.status.clone().unwrap_or_default();
        let now = Time(jiff::Timestamp::now());
        let condition = |type_: &str, ok: bool, reason: &str, message: String| {
            let status = if ok { "True" } else { "False" };
            let previous = old.conditions.iter().flatten().find(|c| c.type_ == type_);
            let same = previous.is_some_and(|c| c.status == status && c.reason.as_deref() == Some(reason));
            let since = previous.filter(|_| same).and_then(|c| c.last_transition_time.clone());
            let updated = previous.filter(|_| same).and_then(|c| c.last_update_time.clone());
            DeploymentCondition {
                type_: type_.into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some(message),
                last_transition_time: since.or(Some(now.clone())),
                last_update_time: updated.or(Some(now.clone())),
            }
        };
        let minimum = available >= desired - max_unavailable;
        let new_name = new.and_then(|rs| rs.metadata.name.clone()).unwrap_or_default();
        let complete = updated == desired && replicas == desired && available == desired;
        // Progress: more pods of the new template, ready or available, or fewer old ones.
        let made_progress = updated > old.updated_replicas.unwrap_or(0)
            || ready > old.ready_replicas.unwrap_or(0)
            || available > old.available_replicas.unwrap_or(0)
            || replicas - updated < old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
        let previous = old.conditions.iter().flatten().find(|c| c.type_ == "Progressing");
        let deadline = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds);
        // A paused rollout is not expected to progress.
        let paused = d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        let progressing = if complete {
            condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            )
        } else if !made_progress && !paused && timed_out(previous, deadline, &now) {
            let message = format!("ReplicaSet \"{new_name}\" has timed out progressing.");
            condition("Progressing", false, "ProgressDeadlineExceeded", message)
        } else {
            let mut c = condition(
                "Progressing",
                true,
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{new_name}\" is progressing."),
            );
            if made_progress {
                // The deadline counts from the last progress.
                c.last_update_time = Some(now.clone());
            }
            c
        };
        let available_condition = if minimum {
            condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.".into())
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        };
        let status = DeploymentStatus {
            observed_generation: d.metadata.generation,
            replicas: Some(replicas),
            updated_replicas: Some(updated),
            ready_replicas: Some(ready),
            available_replicas: Some(available),
            unavailable_replicas: Some((desired - available).max(0)),
            conditions: Some(vec![available_condition, progressing]),
            collision_count: old.collision_count,
            terminating_replicas: None,
        };
        if d.status.as_ref() == Some(&status) {
            return true;
        }
        let mut updated_d = d.clone();
        updated_d.status = Some(status);
        self.registry.update_status(&Object::Deployment(updated_d)).is_ok()
    }
}

/// Whether a rollout made no progress for `progressDeadlineSeconds` since the Progressing
/// condition's last update (one that timed out stays so until progress is made).
fn timed_out(previous: Option<&DeploymentCondition>, deadline: Option<i32>, now: &Time) -> bool {
    let Some(c) = previous else { return false };
    c.reason.as_deref() == Some("ProgressDeadlineExceeded") || due(c, deadline).is_some_and(|due| due <= now.0)
}

/// When a rollout still progressing (`ReplicaSetUpdated`) reaches its deadline without progress.
fn due(c: &DeploymentCondition, deadline: Option<i32>) -> Option<jiff::Timestamp> {
    let since = c.last_update_time.as_ref().filter(|_| c.reason.as_deref() == Some("ReplicaSetUpdated"))?;
    Some(since.0 + jiff::SignedDuration::from_secs(deadline?.into()))
}

/// How long until a rollout without progress reaches its deadline, if it is on its way to it.
fn until_deadline(d: &Deployment) -> Option<Duration> {
    let spec = d.spec.as_ref().filter(|s| s.paused != Some(true))?;
    let conditions = d.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| c.type_ == "Progressing")?;
    let left = due(c, spec.progress_deadline_seconds)?.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(left).unwrap_or_default() + Duration::from_millis(50))
}

/// A Deployment and its ReplicaSets, as one reconcile sees them.
struct Rollout {
    d: Deployment,
    spec: DeploymentSpec,
    /// Its ReplicaSets, oldest first.
    all: Vec<ReplicaSet>,
    /// The current template's `pod-template-hash`.
    hash: String,
    desired: i32,
    recreate: bool,
    max_surge: i32,
    max_unavailable: i32,
    max_revision: i64,
    /// The ReplicaSet of the current template, if there is one yet (an index into `all`).
    existing: Option<usize>,
    old: Vec<ReplicaSet>,
    old_counts: Vec<Counts>,
}

impl DeploymentController {
    /// Reads the Deployment and the ReplicaSets it owns, and works out its strategy's numbers.
    fn rollout(&self, key: &ObjectKey) -> Option<Rollout> {
        let store = self.registry.store();
        let d = store.get_typed::<Deployment>(&key.namespace, &key.name)?;
        let spec = d.spec.clone()?;
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let mut all: Vec<ReplicaSet> = store
            .list_typed::<ReplicaSet>(Some(&key.namespace))
            .into_iter()
            .filter(|rs| owned_by(&rs.metadata, &uid))
            .collect();
        all.sort_by_key(|rs| rs.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let hash = template_hash(&spec.template);
        let desired = spec.replicas.unwrap_or(1);
        let rolling = spec.strategy.as_ref().and_then(|s| s.rolling_update.clone()).unwrap_or_default();
        let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
        let max_surge = if recreate { 0 } else { scaled_value(rolling.max_surge.as_ref(), desired, true) };
        let max_unavailable =
            if recreate { desired } else { scaled_value(rolling.max_unavailable.as_ref(), desired, false) };
        let max_revision = all.iter().map(revision).max().unwrap_or(0);
        let existing =
            all.iter().position(|rs| rs.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)) == Some(&hash));
        let old: Vec<ReplicaSet> =
            all.iter().enumerate().filter(|(i, _)| Some(*i) != existing).map(|(_, rs)| rs.clone()).collect();
        let old_counts: Vec<Counts> = old.iter().map(counts).collect();
        Some(Rollout {
            d,
            spec,
            all,
            hash,
            desired,
            recreate,
            max_surge,
            max_unavailable,
            max_revision,
            existing,
            old,
            old_counts,
        })
    }

    /// The current template's ReplicaSet, made the newest revision when the template was rolled
    /// back to it.
    fn newest_revision(&self, r: &Rollout, i: usize) -> Result<ReplicaSet, Action> {
        let mut rs = r.all[i].clone();
        if revision(&rs) >= r.max_revision {
            return Ok(rs);
        }
        let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(REVISION.into(), (r.max_revision + 1).to_string());
        match self.registry.update(Object::ReplicaSet(rs)) {
            Ok(o) => o.downcast::<ReplicaSet>().cloned().ok_or(Action::AwaitChange),
            Err(_) => Err(Action::RequeueAfter(Duration::from_millis(100))),
        }
    }

    /// Marks the Deployment with its current revision (`deployment.kubernetes.io/revision`), as
    /// kube-controller-manager does; `kubectl rollout undo` patches the annotations it expects
    /// there.
    fn annotate_revision(&self, d: &Deployment, new: &ReplicaSet) -> Result<(), Action> {
        let current = revision(new).to_string();
        if d.metadata.annotations.as_ref().and_then(|a| a.get(REVISION)) == Some(&current) {
            return Ok(());
        }
        let mut updated = d.clone();
        updated.metadata.annotations.get_or_insert_with(Default::default).insert(REVISION.into(), current);
        match self.registry.update(Object::Deployment(updated)) {
            // The update comes back as a change to reconcile.
            Ok(_) => Err(Action::AwaitChange),
            Err(_) => Err(Action::RequeueAfter(Duration::from_millis(100))),
        }
    }

    /// Takes on the ReplicaSets that no controller owns and that its selector matches (left by a
    /// Deployment deleted with `--cascade=orphan`, say), as kube-controller-manager does; says
    /// whether it took any (their updates bring the Deployment back to be reconciled).
    fn adopt_orphans(&self, d: &Deployment) -> bool {
        let Some(spec) = d.spec.as_ref() else { return false };
        let Ok(selector) = svclab_shared::selector::Selector::from_label_selector(&spec.selector) else { return false };
        let namespace = d.metadata.namespace.as_deref().unwrap_or_default();
        let orphans = self.registry.store().list_typed::<ReplicaSet>(Some(namespace)).into_iter().filter(|rs| {
            super::owners::controller_of(&rs.metadata).is_none()
                && rs.metadata.deletion_timestamp.is_none()
                && selector.matches_opt(rs.metadata.labels.as_ref())
        });
        let mut adopted = false;
        for mut rs in orphans {
            rs.metadata
                .owner_references
                .get_or_insert_with(Vec::new)
                .push(super::owners::reference_to(Kind::Deployment, &d.metadata));
            adopted |= self.registry.update(Object::ReplicaSet(rs)).is_ok();
        }
        adopted
    }

    /// Creates the current template's ReplicaSet, scaled to what the strategy allows at once.
    fn create_new(&self, r: &Rollout) -> Action {
        let (first, _) = if r.recreate {
            (0, vec![])
        } else {
            let none = Counts { spec: 0, available: 0 };
            plan(r.desired, r.max_surge, r.max_unavailable, none, &r.old_counts)
        };
        let rs = self.new_replica_set(&r.d, &r.spec, &r.hash, r.max_revision + 1, 0);
        let created = match self.registry.create(Object::ReplicaSet(rs)) {
            Ok(o) => o.downcast::<ReplicaSet>().cloned(),
            Err(e) => {
                let msg = format!("Failed to create new replica set: {e}");
                let object = Object::Deployment(r.d.clone());
                self.registry.record_event(&object, "Warning", "FailedCreate", &msg, COMPONENT);
                return Action::RequeueAfter(Duration::from_secs(1));
            }
        };
        if let Some(created) = created.filter(|_| first > 0) {
            self.scale(&r.d, &created, first);
        }
        Action::AwaitChange
    }

    /// `Recreate`: every old pod goes first; the new ReplicaSet scales up once none is left.
    fn recreate(&self, r: &Rollout, new: &ReplicaSet) -> bool {
        let mut ok = true;
        for rs in &r.old {
            ok &= self.scale(&r.d, rs, 0);
        }
        let old_pods: i32 = r.old.iter().map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas)).sum();
        if old_pods == 0 {
            ok &= self.scale(&r.d, new, r.desired);
        }
        ok
    }

    /// `RollingUpdate`: the new and old ReplicaSets scaled as [`plan`] says.
    fn rolling(&self, r: &Rollout, new: &ReplicaSet) -> bool {
        let (new_spec, old_specs) = plan(r.desired, r.max_surge, r.max_unavailable, counts(new), &r.old_counts);
        let mut ok = self.scale(&r.d, new, new_spec);
        for (rs, replicas) in r.old.iter().zip(old_specs) {
            ok &= self.scale(&r.d, rs, replicas);
        }
        ok
    }

    /// Old ReplicaSets scaled to zero beyond `revisionHistoryLimit` go.
    fn cleanup(&self, r: &Rollout, namespace: &str) {
        let limit = r.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
        let empty: Vec<&ReplicaSet> = (r.old.iter())
            .filter(|rs| counts(rs).spec == 0 && rs.status.as_ref().is_none_or(|s| s.replicas == 0))
            .collect();
        for rs in empty.iter().take(empty.len().saturating_sub(limit)) {
            let key = ObjectKey::new(Kind::ReplicaSet, namespace, rs.metadata.name.as_deref().unwrap_or_default());
            let _ = self.registry.delete(&key, None);
        }
    }

    /// The Deployment's status, from its ReplicaSets as they are after this reconcile.
    fn sync_status(&self, r: &Rollout, new: &ReplicaSet, namespace: &str) -> bool {
        let store = self.registry.store();
        let fresh: Vec<ReplicaSet> = (r.all.iter())
            .filter_map(|rs| store.get_typed::<ReplicaSet>(namespace, rs.metadata.name.as_deref()?))
            .collect();
        let new_now = fresh.iter().find(|rs| rs.metadata.name == new.metadata.name);
        self.write_status(&r.d, new_now, &fresh, r.max_unavailable)
    }
}

impl Reconciler for DeploymentController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        match object.kind() {
            Kind::Deployment => vec![ObjectKey::of(object)],
            Kind::ReplicaSet => std::iter::once(object)
                .chain(old)
                .flat_map(|o| o.metadata().owner_references.iter().flatten())
                .filter(|r| r.kind == "Deployment" && r.controller == Some(true))
                .map(|r| ObjectKey::new(Kind::Deployment, object.namespace(), &r.name))
                .collect(),
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let Some(r) = self.rollout(key) else { return Action::AwaitChange };
        // Being deleted: its ReplicaSets are the garbage collector's now.
        if r.d.metadata.deletion_timestamp.is_some() {
            return Action::AwaitChange;
        }
        if self.adopt_orphans(&r.d) {
            return Action::AwaitChange;
        }
        if r.spec.paused == Some(true) {
            self.write_status(&r.d, r.existing.map(|i| &r.all[i]), &r.all, r.max_unavailable);
            return Action::AwaitChange;
        }
        let new = match r.existing {
            Some(i) => match self.newest_revision(&r, i) {
                Ok(rs) => rs,
                Err(action) => return action,
            },
            None => return self.create_new(&r),
        };
        if let Err(action) = self.annotate_revision(&r.d, &new) {
            return action;
        }
        let mut ok = if r.recreate { self.recreate(&r, &new) } else { self.rolling(&r, &new) };
        self.cleanup(&r, &key.namespace);
        ok &= self.sync_status(&r, &new, &key.namespace);
        if !ok {
            return Action::RequeueAfter(Duration::from_millis(100));
        }
        // A rollout that stops progressing is looked at again when its deadline comes.
        let written = self.registry.store().get_typed::<Deployment>(&key.namespace, &key.name);
        match written.as_ref().and_then(until_deadline) {
            Some(left) => Action::RequeueAfter(left),
            None => Action::AwaitChange,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(spec: i32, available: i32) -> Counts {
        Counts { spec, available }
    }

    #[test]
    fn percentages_round_like_kubernetes() {
        let pct = IntOrString::String("25%".into());
        assert_eq!(scaled_value(Some(&pct), 3, true), 1);
        assert_eq!(scaled_value(Some(&pct), 3, false), 0);
        assert_eq!(scaled_value(Some(&IntOrString::Int(2)), 3, false), 2);
    }

    #[test]
    fn a_rolling_update_never_drops_below_the_available_minimum() {
        // 3 replicas, surge 1, unavailable 0: one new pod, old ones stay until it is available.
        assert_eq!(plan(3, 1, 0, c(0, 0), &[c(3, 3)]), (1, vec![3]));
        assert_eq!(plan(3, 1, 0, c(1, 0), &[c(3, 3)]), (1, vec![3]), "the new pod is not ready yet");
        assert_eq!(plan(3, 1, 0, c(1, 1), &[c(3, 3)]), (1, vec![2]), "one available: one old goes");
        assert_eq!(plan(3, 1, 0, c(1, 1), &[c(2, 2)]), (2, vec![2]));
        assert_eq!(plan(3, 1, 0, c(3, 3), &[c(1, 1)]), (3, vec![0]));
        // Unavailable old pods are cleaned up first.
        assert_eq!(plan(3, 1, 1, c(0, 0), &[c(3, 1)]), (1, vec![2]));
        // Both zero would deadlock: Kubernetes uses maxUnavailable 1.
        assert_eq!(plan(2, 0, 0, c(0, 0), &[c(2, 2)]), (0, vec![1]));
    }

    #[test]
    fn template_hashes_are_stable_and_differ_by_template() {
        let mut t = k8s_openapi::api::core::v1::PodTemplateSpec::default();
        let a = template_hash(&t);
        assert_eq!(a, template_hash(&t));
        assert!(a.chars().all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch)));
        t.metadata =
            Some(ObjectMeta { labels: Some([("app".to_string(), "x".to_string())].into()), ..Default::default() });
        assert_ne!(a, template_hash(&t));
    }

    #[test]
    fn a_rollout_times_out_after_its_deadline_without_progress() {
        let at = |secs: i64| Time(jiff::Timestamp::from_second(1_000_000 + secs).unwrap());
        let c = |reason: &str, updated: i64| DeploymentCondition {
            type_: "Progressing".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            last_update_time: Some(at(updated)),
            ..Default::default()
        };
        assert!(!timed_out(Some(&c("ReplicaSetUpdated", 0)), Some(10), &at(9)));
        assert!(timed_out(Some(&c("ReplicaSetUpdated", 0)), Some(10), &at(10)));
        assert!(!timed_out(Some(&c("NewReplicaSetAvailable", 0)), Some(10), &at(60)), "a finished rollout");
        assert!(timed_out(Some(&c("ProgressDeadlineExceeded", 0)), Some(10), &at(1)), "stays timed out");
        assert!(!timed_out(None, Some(10), &at(60)));
    }
}
