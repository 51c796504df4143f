//! The garbage collector's work that a deletion waits on (kube-controller-manager's
//! `garbagecollector`): an owner deleted with `propagationPolicy: Orphan` lets go of its
//! dependents (their ownerReferences to it are removed), and one deleted in the foreground
//! waits until its dependents are deleted, in the foreground too; then the finalizer is
//! removed and the owner goes. Background deletion is done by the registry at once; a
//! dependent none of whose owners exists any more (made by a controller just as its owner was
//! deleted, say) is deleted here, as the collector's graph finds it.

use super::runtime::{Action, Reconciler, outcome};
use crate::error::ApiError;
use crate::registry::{DeleteOptions, FOREGROUND, ORPHAN, Propagation, Registry, retry_on_conflict};
use crate::store::ObjectKey;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::time::Duration;
use svclab_shared::{Kind, Object};

pub struct GarbageCollector {
    registry: Registry,
}

impl GarbageCollector {
    pub fn new(registry: Registry) -> Self {
        GarbageCollector { registry }
    }

    /// Works off an owner's `orphan` and `foregroundDeletion` finalizers.
    fn collect(&self, owner: &Object) -> Result<Option<Duration>, ApiError> {
        let has = |name: &str| owner.metadata().finalizers.iter().flatten().any(|f| f == name);
        let uid = owner.metadata().uid.clone().unwrap_or_default();
        if has(ORPHAN) {
            for dependent in self.registry.dependents(owner) {
                self.let_go(&ObjectKey::of(&dependent), &uid)?;
            }
            self.remove_finalizer(owner, ORPHAN)?;
        } else if has(FOREGROUND) {
            let mut blocking = 0;
            for dependent in self.registry.dependents(owner) {
                let meta = dependent.metadata();
                let reference = meta.owner_references.iter().flatten().find(|r| r.uid == uid);
                blocking += reference.is_some_and(|r| r.block_owner_deletion == Some(true)) as usize;
                if meta.deletion_timestamp.is_none() {
                    let options = DeleteOptions { propagation: Some(Propagation::Foreground), ..Default::default() };
                    match self.registry.delete_with(&ObjectKey::of(&dependent), &options) {
                        Ok(_) | Err(ApiError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if blocking == 0 {
                self.remove_finalizer(owner, FOREGROUND)?;
            }
        }
        Ok(None)
    }

    /// Removes a dependent's ownerReference to `uid`.
    fn let_go(&self, key: &ObjectKey, uid: &str) -> Result<(), ApiError> {
        self.edit(key, |meta| meta.owner_references = without(meta.owner_references.take(), |r| r.uid != uid))
    }

    fn remove_finalizer(&self, owner: &Object, name: &str) -> Result<(), ApiError> {
        self.edit(&ObjectKey::of(owner), |meta| meta.finalizers = without(meta.finalizers.take(), |f| f != name))
    }

    /// Changes an object's metadata, on the latest version; one already gone needs nothing.
    fn edit(&self, key: &ObjectKey, change: impl Fn(&mut ObjectMeta)) -> Result<(), ApiError> {
        retry_on_conflict(false, || {
            let Some(current) = self.registry.store().get(key) else { return Ok(()) };
            let mut edited = (*current).clone();
            change(edited.metadata_mut());
            match self.registry.update(edited) {
                Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

/// A list with only what `keep` keeps, `None` once empty.
fn without<T>(list: Option<Vec<T>>, keep: impl FnMut(&T) -> bool) -> Option<Vec<T>> {
    let mut list = list.unwrap_or_default();
    list.retain(keep);
    (!list.is_empty()).then_some(list)
}

/// Whether every owner the object names is gone (none exists with the uid it names); objects
/// without owners, or naming a kind svclab does not serve, are not.
fn orphaned(store: &crate::store::Store, object: &Object) -> bool {
    let meta = object.metadata();
    let owners = meta.owner_references.as_deref().unwrap_or_default();
    if owners.is_empty() || meta.deletion_timestamp.is_some() {
        return false;
    }
    owners.iter().all(|r| {
        Kind::from_type(&r.api_version, &r.kind).is_some_and(|kind| {
            let owner = store.get(&ObjectKey::new(kind, object.namespace(), &r.name));
            owner.is_none_or(|o| o.metadata().uid.as_deref() != Some(r.uid.as_str()))
        })
    })
}

/// Whether the object carries work for the collector.
fn awaits_collection(object: &Object) -> bool {
    let meta = object.metadata();
    meta.deletion_timestamp.is_some() && meta.finalizers.iter().flatten().any(|f| f == ORPHAN || f == FOREGROUND)
}

impl Reconciler for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbagecollector"
    }

    /// The object itself when it awaits collection, and the owners of a changed or deleted
    /// dependent (an owner deleted in the foreground waits on it).
    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        let mut keys = Vec::new();
        // A dependent is looked at as it is made (or listed at start): one whose owner goes
        // later is deleted with it, so its other changes (pods' status writes) need no look.
        let owned = old.is_none() && object.metadata().owner_references.as_ref().is_some_and(|o| !o.is_empty());
        if awaits_collection(object) || owned {
            keys.push(ObjectKey::of(object));
        }
        for o in std::iter::once(object).chain(old) {
            for r in o.metadata().owner_references.iter().flatten() {
                if let Some(kind) = Kind::from_type(&r.api_version, &r.kind).filter(|k| k.namespaced()) {
                    keys.push(ObjectKey::new(kind, o.namespace(), &r.name));
                }
            }
        }
        keys.dedup();
        keys
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store();
        match store.get(key) {
            Some(owner) if awaits_collection(&owner) => outcome(self.name(), key, self.collect(&owner)),
            Some(dependent) if orphaned(store, &dependent) => match self.registry.delete(key, None) {
                Ok(_) | Err(ApiError::NotFound { .. }) => Action::AwaitChange,
                Err(e) => outcome(self.name(), key, Err::<Option<Duration>, _>(e)),
            },
            _ => Action::AwaitChange,
        }
    }
}
