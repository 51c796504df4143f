//! Secrets and ConfigMaps, as kube-apiserver validates them (`core/validation`): valid keys, at
//! most 1 MiB of data, the keys each Secret type requires, a type that cannot change, and objects
//! marked `immutable` whose data cannot.

use super::{FieldError, quote};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

/// The most data a Secret or ConfigMap holds (etcd's request limit, as Kubernetes sets it).
const MAX_DATA: usize = 1024 * 1024;

fn validate_key(key: &str, field: &str) -> Option<FieldError> {
    let ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    (!ok).then(|| {
        let msg = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
        FieldError::invalid(format!("{field}[{key}]"), quote(key), msg)
    })
}

fn too_long(field: &str) -> FieldError {
    FieldError::invalid(field, "", format!("Too long: may not be more than {MAX_DATA} bytes"))
}

/// A docker config's JSON, as the `dockercfg` types require.
fn docker_config(data: &[u8], key: &str) -> Option<FieldError> {
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(_) => None,
        Err(e) => Some(FieldError::invalid(format!("data[{key}]"), "\"<secret contents redacted>\"", e.to_string())),
    }
}

pub(super) fn validate_secret(secret: &Secret) -> Vec<FieldError> {
    let data = secret.data.clone().unwrap_or_default();
    let mut errs: Vec<FieldError> = data.keys().filter_map(|k| validate_key(k, "data")).collect();
    if data.values().map(|v| v.0.len()).sum::<usize>() > MAX_DATA {
        errs.push(too_long("data"));
    }
    let has = |key: &str| data.contains_key(key);
    match secret.type_.as_deref().unwrap_or("Opaque") {
        "kubernetes.io/tls" => {
            errs.extend(
                ["tls.crt", "tls.key"]
                    .into_iter()
                    .filter(|k| !has(k))
                    .map(|k| FieldError::required(format!("data[{k}]"), "")),
            );
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if secret.type_.as_deref() == Some("kubernetes.io/dockercfg") {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(key) {
                None => errs.push(FieldError::required(format!("data[{key}]"), "")),
                Some(v) => errs.extend(docker_config(&v.0, key)),
            }
        }
        "kubernetes.io/service-account-token" => {
            let named = secret.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/service-account.name"));
            if named.is_none_or(|n| n.is_empty()) {
                errs.push(FieldError::required("metadata.annotations[kubernetes.io/service-account.name]", ""));
            }
        }
        _ => {}
    }
    errs
}

pub(super) fn validate_config_map(cm: &ConfigMap) -> Vec<FieldError> {
    let data = cm.data.clone().unwrap_or_default();
    let binary = cm.binary_data.clone().unwrap_or_default();
    let mut errs: Vec<FieldError> = data.keys().filter_map(|k| validate_key(k, "data")).collect();
    errs.extend(binary.keys().filter_map(|k| validate_key(k, "binaryData")));
    for key in data.keys().filter(|k| binary.contains_key(*k)) {
        errs.push(FieldError::invalid(format!("data[{key}]"), quote(key), "duplicate of key present in binaryData"));
    }
    let size = data.values().map(String::len).sum::<usize>() + binary.values().map(|v| v.0.len()).sum::<usize>();
    if size > MAX_DATA {
        errs.push(too_long(""));
    }
    errs
}

/// What an update may not change: a Secret's type; the data of an object marked `immutable`
/// (and the mark itself).
pub(super) fn validate_secret_update(old: &Secret, new: &Secret) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.type_ != new.type_ {
        errs.push(FieldError::invalid("type", quote(new.type_.as_deref().unwrap_or_default()), "field is immutable"));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
        }
        if old.data != new.data {
            errs.push(FieldError::forbidden("data", "field is immutable when `immutable` is set"));
        }
    }
    errs
}

pub(super) fn validate_config_map_update(old: &ConfigMap, new: &ConfigMap) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
        }
        if old.data != new.data {
            errs.push(FieldError::forbidden("data", "field is immutable when `immutable` is set"));
        }
        if old.binary_data != new.binary_data {
            errs.push(FieldError::forbidden("binaryData", "field is immutable when `immutable` is set"));
        }
    }
    errs
}
