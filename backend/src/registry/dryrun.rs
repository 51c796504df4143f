//! Server-side dry runs (`?dryRun=All`, what `kubectl diff`, `--dry-run=server` and `apply
//! --dry-run=server` send): every step of a write — defaults, admission, validation, address
//! allocation, conflicts — and the object it would store, with nothing stored, no address kept,
//! nothing cascaded. The registry's writes to the store all go through here.

use super::Registry;
use crate::store::{ObjectKey, StoreError};
use std::sync::Arc;
use svclab_shared::Object;

impl Registry {
    /// The same registry, for a dry run: what its writes would do, done to nothing.
    pub fn dry_run(&self) -> Registry {
        Registry { dry_run: true, ..self.clone() }
    }

    /// Whether this registry only tries its writes.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    pub(super) fn store_create(&self, object: Object) -> Result<Arc<Object>, StoreError> {
        if !self.dry_run {
            return self.store.create(object);
        }
        if self.store.get(&ObjectKey::of(&object)).is_some() {
            return Err(StoreError::AlreadyExists);
        }
        Ok(Arc::new(object))
    }

    pub(super) fn store_update(&self, mut object: Object) -> Result<Arc<Object>, StoreError> {
        if !self.dry_run {
            return self.store.update(object);
        }
        let current = self.store.get(&ObjectKey::of(&object)).ok_or(StoreError::NotFound)?;
        let stored = current.metadata().resource_version.clone();
        let asked = object.metadata().resource_version.as_deref().filter(|rv| !rv.is_empty());
        if asked.is_some_and(|rv| Some(rv) != stored.as_deref()) {
            return Err(StoreError::Conflict);
        }
        object.metadata_mut().resource_version = stored;
        Ok(Arc::new(object))
    }

    pub(super) fn store_delete(
        &self,
        key: &ObjectKey,
        resource_version: Option<&str>,
    ) -> Result<Arc<Object>, StoreError> {
        if !self.dry_run {
            return self.store.delete(key, resource_version);
        }
        let current = self.store.get(key).ok_or(StoreError::NotFound)?;
        if resource_version.is_some_and(|rv| Some(rv) != current.metadata().resource_version.as_deref()) {
            return Err(StoreError::Conflict);
        }
        Ok(current)
    }
}
