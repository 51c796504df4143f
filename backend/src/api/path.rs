//! What a Kubernetes REST path names: `/api/v1/namespaces/default/pods/x/exec` and friends, the
//! kind (older served versions included), namespace, name and subresource.

use crate::error::ApiError;
use svclab_shared::{Kind, legacy};

/// What a REST path names.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The older version the path names (`extensions/v1beta1`), which svclab converts.
    pub legacy: Option<&'static str>,
}

/// Parses `/api/v1/namespaces/default/pods/x/exec` and friends.
pub fn parse_path(path: &str) -> Result<Target, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::PathNotFound),
    };
    let find = |plural: &str| {
        Kind::from_plural(group, version, plural).or_else(|| legacy::kind_from_plural(group, version, plural))
    };
    let kind = |plural: &str| find(plural).ok_or(ApiError::PathNotFound);
    let own = |s: &&str| Some(s.to_string());
    let api_version = format!("{group}/{version}");
    let legacy = |kind: Kind| legacy::served_version(&api_version, kind);
    let target = match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some() => {
            let kind = kind(plural)?;
            if !kind.namespaced() {
                return Err(ApiError::PathNotFound);
            }
            let (name, subresource) = match tail {
                [] => (None, None),
                [name] => (own(name), None),
                [name, sub] => (own(name), own(sub)),
                _ => return Err(ApiError::PathNotFound),
            };
            Target { kind, namespace: own(ns), name, subresource, legacy: legacy(kind) }
        }
        [plural, tail @ ..] => {
            let kind = kind(plural)?;
            let (name, subresource) = match tail {
                [] => (None, None),
                [name] => (own(name), None),
                [name, sub] => (own(name), own(sub)),
                _ => return Err(ApiError::PathNotFound),
            };
            // Listing a namespaced kind across all namespaces is fine; naming one needs a namespace.
            if kind.namespaced() && name.is_some() {
                return Err(ApiError::PathNotFound);
            }
            Target { kind, namespace: None, name, subresource, legacy: legacy(kind) }
        }
        _ => return Err(ApiError::PathNotFound),
    };
    Ok(target)
}

impl Target {
    /// The object the path names, from `store`.
    pub fn get(&self, store: &crate::store::Store) -> Result<std::sync::Arc<svclab_shared::Object>, ApiError> {
        let name = self.name.as_deref().unwrap_or_default();
        let key = crate::store::ObjectKey::new(self.kind, self.namespace.as_deref().unwrap_or_default(), name);
        store.get(&key).ok_or_else(|| ApiError::not_found(self.kind, name))
    }

    /// Refuses a written object whose name is not the path's, as kube-apiserver does.
    pub fn check_identity(&self, object: &svclab_shared::Object) -> Result<(), ApiError> {
        let url_name = self.name.as_deref().unwrap_or_default();
        if object.name() != url_name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({url_name})",
                object.name()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_kinds_namespaces_and_subresources() {
        let t = parse_path("/api/v1/namespaces/default/pods/kubia-x/exec").unwrap();
        assert_eq!(
            (t.kind, t.namespace.as_deref(), t.name.as_deref(), t.subresource.as_deref()),
            (Kind::Pod, Some("default"), Some("kubia-x"), Some("exec"))
        );
        let t = parse_path("/api/v1/namespaces/default").unwrap();
        assert_eq!((t.kind, t.name.as_deref()), (Kind::Namespace, Some("default")));
        let t = parse_path("/api/v1/services").unwrap();
        assert_eq!((t.kind, t.namespace), (Kind::Service, None));
        let t = parse_path("/apis/apps/v1/namespaces/x/replicasets").unwrap();
        assert_eq!(t.kind, Kind::ReplicaSet);
        assert!(parse_path("/api/v1/widgets").is_err());
        assert!(parse_path("/api/v1/pods/x").is_err(), "a namespaced object needs its namespace");
        assert!(parse_path("/api/v1/namespaces/x/nodes").is_err());
    }
}
