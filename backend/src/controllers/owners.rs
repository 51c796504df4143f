//! Ownership, as controllers use it: who controls an object (its controller `ownerReference`),
//! the reference a controller puts on what it makes, and the pods a controller owns.

use crate::store::{ObjectKey, Store};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use svclab_shared::{Kind, Object};

/// The object's controller, when it has one.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// The reference a controller of `kind` puts on an object it makes.
pub fn reference_to(kind: Kind, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: kind.api_version().into(),
        kind: kind.name().into(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The pods of the namespace that the object with `uid` controls.
pub fn owned_pods(store: &Store, namespace: &str, uid: &str) -> Vec<Pod> {
    store
        .list_typed::<Pod>(Some(namespace))
        .into_iter()
        .filter(|p| controller_of(&p.metadata).is_some_and(|r| r.uid == uid))
        .collect()
}

/// The key of the `kind` that controls `object` (or controlled it before the change): what a
/// change to a pod or Job means to its controller.
pub fn controller_keys(kind: Kind, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
    let mut keys: Vec<ObjectKey> = std::iter::once(object)
        .chain(old)
        .filter_map(|o| controller_of(o.metadata()).filter(|r| r.kind == kind.name()).map(|r| (o, r)))
        .map(|(o, r)| ObjectKey::new(kind, o.namespace(), &r.name))
        .collect();
    keys.dedup();
    keys
}
