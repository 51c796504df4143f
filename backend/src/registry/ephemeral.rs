//! A pod's `ephemeralcontainers` subresource (what `kubectl debug` writes): it changes only
//! `spec.ephemeralContainers`, adding containers to a running pod; the kubelet starts them.

use super::patch::Patch;
use super::{Registry, Write, store_error};
use crate::error::ApiError;
use crate::store::ObjectKey;
use std::sync::Arc;
use svclab_shared::validation;
use svclab_shared::{Kind, Object};

impl Registry {
    /// `PUT …/ephemeralcontainers`: the pod's ephemeral containers become `object`'s; nothing
    /// else of it is read (its resourceVersion is a precondition).
    pub fn update_ephemeral_containers(&self, object: &Object) -> Result<Arc<Object>, ApiError> {
        let key = ObjectKey::of(object);
        let current = self.store.get(&key).ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
        self.commit_ephemeral(&current, object)
    }

    /// `PATCH …/ephemeralcontainers`: the patch applies to the whole pod, of which only the
    /// ephemeral containers are kept.
    pub fn patch_ephemeral_containers(
        &self,
        key: &ObjectKey,
        patch: Patch,
        write: &Write,
    ) -> Result<(Arc<Object>, Vec<String>), ApiError> {
        self.patch_with(key, &patch, write, |current, object| self.commit_ephemeral(current, &object))
    }

    fn commit_ephemeral(&self, current: &Object, object: &Object) -> Result<Arc<Object>, ApiError> {
        let (Object::Pod(stored), Object::Pod(asked)) = (current, object) else {
            return Err(ApiError::PathNotFound);
        };
        let name = stored.metadata.name.clone().unwrap_or_default();
        let mut updated = stored.clone();
        let spec = updated.spec.get_or_insert_with(Default::default);
        spec.ephemeral_containers = asked.spec.as_ref().and_then(|s| s.ephemeral_containers.clone());
        super::defaults::pod_spec(spec);
        let errs = validation::validate_ephemeral_containers_update(stored, &updated);
        if !errs.is_empty() {
            return Err(ApiError::invalid(Kind::Pod, &name, errs));
        }
        if updated.spec != stored.spec {
            updated.metadata.generation = stored.metadata.generation.map(|g| g + 1);
        }
        updated.metadata.resource_version = asked.metadata.resource_version.clone();
        self.store_update(Object::Pod(updated)).map_err(|e| store_error(e, Kind::Pod, &name))
    }
}
