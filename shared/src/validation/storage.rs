//! PersistentVolumeClaims and PersistentVolumes, as kube-apiserver validates them: access modes,
//! a storage size, a valid selector, known volume modes and reclaim policies.

use super::meta::validate_label_selector;
use super::{FieldError, quote};
use crate::quantity;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaimSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];

/// A claim's spec at `at` (`spec`, or a StatefulSet's `volumeClaimTemplates[i].spec`).
pub(super) fn validate_claim_spec(spec: &PersistentVolumeClaimSpec, at: &str) -> Vec<FieldError> {
    let mut errs = access_modes(spec.access_modes.as_deref(), at);
    if let Some(selector) = &spec.selector {
        errs.extend(validate_label_selector(selector, &format!("{at}.selector")));
    }
    let storage = spec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage"));
    errs.extend(positive_storage(storage, &format!("{at}.resources[storage]")));
    if let Some(mode) = spec.volume_mode.as_deref().filter(|m| !VOLUME_MODES.contains(m)) {
        errs.push(FieldError::not_supported(format!("{at}.volumeMode"), mode, VOLUME_MODES));
    }
    if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty())
        && !super::names::is_dns1123_subdomain(class)
    {
        let msg = super::names::DNS1123_SUBDOMAIN_MSG;
        errs.push(FieldError::invalid(format!("{at}.storageClassName"), quote(class), msg));
    }
    errs
}

pub(super) fn validate_persistent_volume(pv: &PersistentVolume) -> Vec<FieldError> {
    let Some(spec) = &pv.spec else { return vec![FieldError::required("spec", "")] };
    let mut errs = access_modes(spec.access_modes.as_deref(), "spec");
    match spec.capacity.as_ref().filter(|c| !c.is_empty()) {
        None => errs.push(FieldError::required("spec.capacity", "")),
        Some(capacity) => {
            if let Some(name) = capacity.keys().find(|k| *k != "storage") {
                errs.push(FieldError::not_supported(format!("spec.capacity[{name}]"), name, &["storage"]));
            }
            errs.extend(positive_storage(capacity.get("storage"), "spec.capacity[storage]"));
        }
    }
    if let Some(policy) = spec.persistent_volume_reclaim_policy.as_deref().filter(|p| !RECLAIM_POLICIES.contains(p)) {
        errs.push(FieldError::not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES));
    }
    if let Some(mode) = spec.volume_mode.as_deref().filter(|m| !VOLUME_MODES.contains(m)) {
        errs.push(FieldError::not_supported("spec.volumeMode", mode, VOLUME_MODES));
    }
    errs
}

fn access_modes(modes: Option<&[String]>, at: &str) -> Vec<FieldError> {
    let modes = modes.unwrap_or_default();
    let mut errs = Vec::new();
    if modes.is_empty() {
        errs.push(FieldError::required(format!("{at}.accessModes"), "at least 1 access mode is required"));
    }
    for mode in modes.iter().filter(|m| !ACCESS_MODES.contains(&m.as_str())) {
        errs.push(FieldError::not_supported(format!("{at}.accessModes"), mode, ACCESS_MODES));
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod") && modes.len() > 1 {
        let msg = "may not use ReadWriteOncePod with other access modes";
        errs.push(FieldError::forbidden(format!("{at}.accessModes"), msg));
    }
    errs
}

fn positive_storage(storage: Option<&Quantity>, at: &str) -> Vec<FieldError> {
    match storage {
        None => vec![FieldError::required(at, "")],
        Some(q) if quantity::value(q).is_none_or(|v| v <= 0.0) => {
            vec![FieldError::invalid(at, quote(&q.0), "must be greater than zero")]
        }
        Some(_) => Vec::new(),
    }
}
