//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes' strategic merge
//! patch ([`strategic`]), by the `Content-Type` that names them.

pub mod strategic;
pub mod threeway;

use crate::error::ApiError;

/// A patch body.
pub enum Patch {
    Merge(serde_json::Value),
    Json(json_patch::Patch),
    Strategic(serde_json::Value),
}

impl Patch {
    /// Whether the patch holds the object to a `resourceVersion` (a precondition, never retried).
    pub fn sets_resource_version(&self) -> bool {
        match self {
            Patch::Merge(v) | Patch::Strategic(v) => v["metadata"]["resourceVersion"].is_string(),
            Patch::Json(p) => p.0.iter().any(|op| op.path().as_str() == "/metadata/resourceVersion"),
        }
    }

    /// Applies the patch to `value`, an object whose schema is `schema` (strategic merge
    /// patches merge lists by the keys it names).
    pub fn apply(&self, schema: &serde_json::Value, value: &mut serde_json::Value) -> Result<(), ApiError> {
        match self {
            Patch::Merge(p) => json_patch::merge(value, p),
            Patch::Json(p) => json_patch::patch(value, p).map_err(|e| ApiError::BadRequest(e.to_string()))?,
            Patch::Strategic(p) => strategic::apply(crate::openapi::schemas(), schema, value, p)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        }
        Ok(())
    }
}
