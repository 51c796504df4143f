//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the object created from an
//! applied configuration, or the configuration merged into it, as its field manager's (see
//! [`super::fieldmanager`]).

use super::{Fields, Registry, Write, fieldmanager, keep_server_fields, retry_on_conflict, with_status_of};
use crate::error::ApiError;
use crate::openapi::fields;
use crate::store::ObjectKey;
use std::sync::Arc;
use svclab_shared::Object;

impl Registry {
    /// Server-side apply: creates the object from `applied`, or merges `applied` into it, as
    /// `write.manager`'s configuration (see [`fieldmanager`]); `true` when it was created.
    pub fn apply(
        &self,
        key: &ObjectKey,
        applied: &serde_json::Value,
        force: bool,
        write: &Write,
    ) -> Result<(Arc<Object>, bool, Vec<String>), ApiError> {
        retry_on_conflict(false, || self.apply_once(key, applied, force, write))
    }

    fn apply_once(
        &self,
        key: &ObjectKey,
        applied: &serde_json::Value,
        force: bool,
        write: &Write,
    ) -> Result<(Arc<Object>, bool, Vec<String>), ApiError> {
        let manager = write
            .manager
            .ok_or_else(|| ApiError::BadRequest("fieldManager: Required value: is required for apply patch".into()))?;
        let schemas = crate::openapi::schemas();
        let api_version = write.legacy.unwrap_or(key.kind.api_version());
        let warnings = fields::check(key.kind, api_version, applied, write.validation)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let schema = schemas.root_in(api_version, key.kind).unwrap_or(schemas.root(key.kind));
        let writer = fieldmanager::Writer { schemas, schema, manager, api_version };
        let current = self.store.get(key);
        let live = current.as_ref().map(|c| svclab_shared::legacy::downgrade(c.to_value(), api_version));
        let merged = writer.apply(live.as_ref(), applied, force).map_err(|conflicts| ApiError::ApplyConflict {
            message: fieldmanager::conflict_message(&conflicts),
            fields: conflicts
                .iter()
                .map(|c| (format!("conflict with \"{}\" using {}", c.manager, c.api_version), c.field.clone()))
                .collect(),
        })?;
        let mut object = crate::openapi::custom::decode(key.kind, svclab_shared::legacy::upgrade(merged))?;
        let namespace_differs =
            key.kind.namespaced() && !object.namespace().is_empty() && object.namespace() != key.namespace;
        if object.name() != key.name || namespace_differs {
            return Err(ApiError::BadRequest(
                "the name and namespace of the applied configuration must match the URL".into(),
            ));
        }
        if key.kind.namespaced() {
            object.metadata_mut().namespace = Some(key.namespace.clone());
        }
        match current {
            None => Ok((self.create_as(object, None)?, true, warnings)),
            Some(current) => {
                keep_server_fields(&current, &mut object);
                let object = with_status_of(&object, &current);
                Ok((self.commit_update(&current, object, Fields::AsGiven)?, false, warnings))
            }
        }
    }
}
