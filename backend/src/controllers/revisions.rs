//! ControllerRevisions: the pod templates a StatefulSet or DaemonSet has had, each stored once
//! under `<owner>-<hash>` with a revision number, so pods can say which one they were made from
//! (`controller-revision-hash`) and `kubectl rollout history` can list them.

use super::owners::{controller_of, reference_to};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use std::collections::BTreeMap;
use svclab_shared::{Kind, Object};

/// The label a pod carries naming the revision it was made from.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// The owner's revisions, oldest first.
pub fn of(registry: &Registry, kind: Kind, owner: &ObjectMeta) -> Vec<ControllerRevision> {
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let mut revisions: Vec<ControllerRevision> = registry
        .store()
        .list_typed::<ControllerRevision>(Some(ns))
        .into_iter()
        .filter(|r| {
            controller_of(&r.metadata).is_some_and(|o| Some(&o.uid) == owner.uid.as_ref() && o.kind == kind.name())
        })
        .collect();
    revisions.sort_by_key(|r| r.revision);
    revisions
}

/// The template a revision holds.
pub fn template(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let data = revision.data.as_ref()?;
    serde_json::from_value(data.0.get("spec")?.get("template")?.clone()).ok()
}

/// The revision for `template` (its name, `<owner>-<hash>`), made the newest when it is new or
/// an older one comes back (a rollback takes the next number, as Kubernetes does).
pub fn ensure(
    registry: &Registry,
    kind: Kind,
    owner: &ObjectMeta,
    labels: &BTreeMap<String, String>,
    template: &PodTemplateSpec,
) -> Result<String, ApiError> {
    let hash = super::deployment::template_hash(template);
    let name = format!("{}-{hash}", owner.name.as_deref().unwrap_or_default());
    let existing = of(registry, kind, owner);
    let newest = existing.last().map_or(0, |r| r.revision);
    match existing.iter().find(|r| r.metadata.name.as_deref() == Some(name.as_str())) {
        Some(r) if r.revision == newest => {}
        Some(r) => {
            let mut again = r.clone();
            again.revision = newest + 1;
            registry.update(Object::ControllerRevision(again))?;
        }
        None => {
            let mut labels = labels.clone();
            labels.insert(HASH_LABEL.into(), hash);
            let data = serde_json::json!({"spec": {"template": template}});
            let revision = ControllerRevision {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: owner.namespace.clone(),
                    labels: Some(labels),
                    owner_references: Some(vec![reference_to(kind, owner)]),
                    ..Default::default()
                },
                data: Some(RawExtension(data)),
                revision: newest + 1,
            };
            match registry.create(Object::ControllerRevision(revision)) {
                Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(name)
}

/// Deletes the oldest revisions beyond `limit`, sparing those named in `in_use`.
pub fn prune(registry: &Registry, kind: Kind, owner: &ObjectMeta, limit: i32, in_use: &[&str]) {
    let revisions = of(registry, kind, owner);
    let spare: Vec<&ControllerRevision> =
        revisions.iter().filter(|r| !in_use.contains(&r.metadata.name.as_deref().unwrap_or_default())).collect();
    let excess = spare.len().saturating_sub(limit.max(0) as usize);
    for r in spare.into_iter().take(excess) {
        let name = r.metadata.name.clone().unwrap_or_default();
        let ns = r.metadata.namespace.clone().unwrap_or_default();
        let _ = registry.delete(&ObjectKey::new(Kind::ControllerRevision, &ns, &name), None);
    }
}
