//! Deletion, as kube-apiserver does it: preconditions, a running pod's graceful termination,
//! finalizers (an object that has any is only marked with a `deletionTimestamp`, and goes when
//! the last is removed), and what happens to dependents (`propagationPolicy`): deleted after
//! their owner (Background, done here at once), before it (Foreground), or let go (Orphan). The
//! last two are the `foregroundDeletion` and `orphan` finalizers, which the garbage collector
//! controller works off. A namespace is marked `Terminating`, its content is deleted, and it
//! goes once nothing is left in it (the namespace controller finishes what has to wait).

use super::{Registry, admission, store_error};
use crate::error::ApiError;
use crate::store::ObjectKey;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::sync::Arc;
use svclab_shared::validation::FieldError;
use svclab_shared::{Kind, Object};

/// The finalizer of an owner deleted with `propagationPolicy: Orphan`.
pub const ORPHAN: &str = "orphan";
/// The finalizer of an owner deleted with `propagationPolicy: Foreground`.
pub const FOREGROUND: &str = "foregroundDeletion";

/// What becomes of an object's dependents when it is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    /// A `propagationPolicy` value.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(invalid_options(FieldError::not_supported(
                "propagationPolicy",
                other,
                &["Foreground", "Background", "Orphan", "nil"],
            ))),
        }
    }

    /// The policy when a client names none: Jobs keep their pods (batch/v1's default, kept for
    /// compatibility), everything else takes its dependents along.
    pub fn default_for(kind: Kind) -> Self {
        if kind == Kind::Job { Propagation::Orphan } else { Propagation::Background }
    }

    fn finalizer(self) -> Option<&'static str> {
        match self {
            Propagation::Background => None,
            Propagation::Foreground => Some(FOREGROUND),
            Propagation::Orphan => Some(ORPHAN),
        }
    }
}

/// A DeleteOptions that kube-apiserver refuses, as it words it.
pub fn invalid_options(error: FieldError) -> ApiError {
    ApiError::Invalid {
        kind: "DeleteOptions".into(),
        group: "meta.k8s.io".into(),
        name: String::new(),
        causes: vec![error],
    }
}

/// How a delete is made (`DeleteOptions`).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// The resourceVersion the object must still have.
    pub resource_version: Option<String>,
    /// `gracePeriodSeconds`, for pods.
    pub grace: Option<i64>,
    /// The propagation policy; the kind's default when `None`.
    pub propagation: Option<Propagation>,
}

impl Registry {
    /// Deletes an object; its dependents (by ownerReference) go with it, and a namespace takes
    /// everything in it along. A running pod is deleted gracefully (see [`Self::delete_with`]).
    pub fn delete(&self, key: &ObjectKey, resource_version: Option<&str>) -> Result<Arc<Object>, ApiError> {
        let options = DeleteOptions {
            resource_version: resource_version.map(String::from),
            propagation: Some(Propagation::Background),
            ..DeleteOptions::default()
        };
        self.delete_with(key, &options)
    }

    /// Deletes an object as `options` say. A pod on a node is marked with a `deletionTimestamp`
    /// `grace` seconds ahead (its `terminationGracePeriodSeconds` by default) and shows as
    /// Terminating until its kubelet has stopped it and removes it; a grace of 0 removes it now.
    /// An object with finalizers (its own, or the policy's when it has dependents) is marked
    /// deleted and stays until they are removed.
    pub fn delete_with(&self, key: &ObjectKey, options: &DeleteOptions) -> Result<Arc<Object>, ApiError> {
        let current = self.current(key, options.resource_version.as_deref())?;
        admission::check_delete(key)?;
        if key.kind == Kind::Namespace {
            return self.terminate_namespace(&current);
        }
        let propagation = options.propagation.unwrap_or(Propagation::default_for(key.kind));
        let mut marked = (*current).clone();
        let meta = marked.metadata_mut();
        let mut finalizers = meta.finalizers.clone().unwrap_or_default();
        if let Some(finalizer) = propagation.finalizer()
            && !finalizers.iter().any(|f| f == finalizer)
            && !self.dependents(&current).is_empty()
        {
            finalizers.push(finalizer.to_string());
        }
        if let Some(pod) = current.downcast::<Pod>()
            && let Some((at, grace)) = graceful(pod, options.grace)
        {
            if meta.deletion_grace_period_seconds.is_some_and(|g| g <= grace)
                && meta.finalizers.as_ref().map_or(0, Vec::len) == finalizers.len()
            {
                return Ok(current);
            }
            meta.deletion_timestamp = Some(Time(at));
            meta.deletion_grace_period_seconds = Some(grace);
        } else if !finalizers.is_empty() {
            if meta.deletion_timestamp.is_some() && meta.finalizers.as_ref().map_or(0, Vec::len) == finalizers.len() {
                return Ok(current);
            }
            meta.finalizers = Some(finalizers);
            return self.hold(marked);
        } else {
            return self.remove(key, options.resource_version.as_deref());
        }
        meta.finalizers = (!finalizers.is_empty()).then_some(finalizers);
        self.store_update(marked).map_err(|e| store_error(e, key.kind, &key.name))
    }

    /// The object, held to `resource_version` when one is given.
    fn current(&self, key: &ObjectKey, resource_version: Option<&str>) -> Result<Arc<Object>, ApiError> {
        let current = self.store.get(key).ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
        if resource_version.is_some_and(|rv| Some(rv) != current.metadata().resource_version.as_deref()) {
            return Err(ApiError::conflict(key.kind, &key.name));
        }
        Ok(current)
    }

    /// Marks an object its finalizers hold as deleted, with no grace left: it goes when the
    /// last finalizer does.
    fn hold(&self, mut object: Object) -> Result<Arc<Object>, ApiError> {
        let meta = object.metadata_mut();
        meta.deletion_timestamp.get_or_insert_with(|| Time(Timestamp::now()));
        meta.deletion_grace_period_seconds = Some(0);
        let key = ObjectKey::of(&object);
        self.store_update(object).map_err(|e| store_error(e, key.kind, &key.name))
    }

    /// Removes an object at once, unless finalizers hold it (a kubelet finishing a pod's
    /// graceful deletion, a controller, grace 0): then it is marked deleted and stays until
    /// they are gone.
    pub fn delete_now(&self, key: &ObjectKey, resource_version: Option<&str>) -> Result<Arc<Object>, ApiError> {
        let current = self.current(key, resource_version)?;
        if current.metadata().finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
            return self.hold((*current).clone());
        }
        admission::check_delete(key)?;
        self.remove(key, resource_version)
    }

    /// An update left a deleted object with no finalizers and no grace left: it goes now.
    pub(super) fn finalized(&self, updated: Arc<Object>) -> Result<Arc<Object>, ApiError> {
        let meta = updated.metadata();
        let done = meta.deletion_timestamp.is_some()
            && meta.finalizers.as_ref().is_none_or(Vec::is_empty)
            && meta.deletion_grace_period_seconds.unwrap_or(0) == 0;
        if !done {
            return Ok(updated);
        }
        match self.remove(&ObjectKey::of(&updated), meta.resource_version.as_deref()) {
            Ok(_) | Err(ApiError::NotFound { .. }) => Ok(updated),
            Err(e) => Err(e),
        }
    }

    fn remove(&self, key: &ObjectKey, resource_version: Option<&str>) -> Result<Arc<Object>, ApiError> {
        let deleted = self.store_delete(key, resource_version).map_err(|e| store_error(e, key.kind, &key.name))?;
        self.after_delete(&deleted);
        Ok(deleted)
    }

    /// Everything in a namespace.
    fn contents(&self, namespace: &str) -> Vec<Arc<Object>> {
        let kinds = Kind::ALL.iter().filter(|kind| kind.namespaced());
        kinds.flat_map(|kind| self.store.list(*kind, Some(namespace)).1).collect()
    }

    /// The objects that name `owner` in their ownerReferences (by uid, in its namespace).
    pub fn dependents(&self, owner: &Object) -> Vec<Arc<Object>> {
        let Some(uid) = owner.metadata().uid.as_deref() else { return Vec::new() };
        if !owner.kind().namespaced() {
            return Vec::new();
        }
        let mut objects = self.contents(owner.namespace());
        objects.retain(|o| o.metadata().owner_references.iter().flatten().any(|r| r.uid == uid));
        objects
    }

    /// Marks a namespace `Terminating` and deletes what is in it; it goes now if that left it
    /// empty, else when [`Self::finish_namespace`] finds it so.
    fn terminate_namespace(&self, current: &Arc<Object>) -> Result<Arc<Object>, ApiError> {
        let marked = match &**current {
            Object::Namespace(ns) if ns.metadata.deletion_timestamp.is_none() => {
                let mut ns = ns.clone();
                ns.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
                ns.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
                let key = ObjectKey::of(current);
                self.store_update(Object::Namespace(ns)).map_err(|e| store_error(e, key.kind, &key.name))?
            }
            _ => current.clone(),
        };
        self.finish_namespace(marked.name())?;
        Ok(marked)
    }

    /// Deletes what is left in a terminating namespace, and the namespace once nothing is (an
    /// object held by a finalizer holds it too); says whether it is gone.
    pub fn finish_namespace(&self, name: &str) -> Result<bool, ApiError> {
        let key = ObjectKey::new(Kind::Namespace, "", name);
        let Some(namespace) = self.store.get(&key) else { return Ok(true) };
        if namespace.metadata().deletion_timestamp.is_none() {
            return Ok(false);
        }
        let contents = self.contents(name);
        for object in contents.iter().filter(|o| o.metadata().deletion_timestamp.is_none()) {
            match self.delete(&ObjectKey::of(object), None) {
                Ok(_) | Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let empty = contents.is_empty() || self.contents(name).is_empty();
        if empty {
            self.remove(&key, None)?;
        }
        Ok(empty)
    }

    fn after_delete(&self, deleted: &Object) {
        if self.dry_run {
            return;
        }
        if let Object::Service(svc) = deleted {
            self.allocators().release_all(svc);
        }
        // (A namespace goes only once it is empty: see `finish_namespace`.)
        // Background cascading deletion: dependents whose owner is gone go too (what the
        // garbage collector does, done at once). Orphaned dependents no longer name it.
        for object in self.dependents(deleted) {
            let _ = self.delete(&ObjectKey::of(&object), None);
        }
    }
}

/// When a pod's deletion waits for its kubelet: bound and not finished, with grace left.
/// Returns when it is due and the grace.
fn graceful(pod: &Pod, grace: Option<i64>) -> Option<(Timestamp, i64)> {
    let spec = pod.spec.as_ref()?;
    let bound = spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    let grace = grace.unwrap_or(spec.termination_grace_period_seconds.unwrap_or(30)).max(0);
    (bound && !svclab_shared::pod::is_finished(pod) && grace > 0)
        .then(|| (Timestamp::now() + jiff::SignedDuration::from_secs(grace), grace))
}
