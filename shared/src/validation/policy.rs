//! A PodDisruptionBudget, as kube-apiserver validates it: one of `minAvailable` and
//! `maxUnavailable` (a non-negative number or a percentage up to 100%), a valid selector, a known
//! unhealthy-pod eviction policy.

use super::FieldError;
use super::meta::validate_label_selector;
use super::workload::validate_int_or_percent;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

const EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

pub(super) fn validate_pod_disruption_budget(pdb: &PodDisruptionBudget) -> Vec<FieldError> {
    let Some(spec) = &pdb.spec else { return Vec::new() };
    let mut errs = Vec::new();
    if let (Some(min), Some(max)) = (&spec.min_available, &spec.max_unavailable) {
        let value =
            format!("policy.PodDisruptionBudgetSpec{{MinAvailable:{}, MaxUnavailable:{}}}", show(min), show(max));
        errs.push(FieldError::invalid("spec", value, "minAvailable and maxUnavailable cannot be both set"));
    }
    errs.extend(validate_int_or_percent(spec.min_available.as_ref(), "spec.minAvailable").0);
    errs.extend(validate_int_or_percent(spec.max_unavailable.as_ref(), "spec.maxUnavailable").0);
    if let Some(selector) = &spec.selector {
        errs.extend(validate_label_selector(selector, "spec.selector"));
    }
    if let Some(policy) = spec.unhealthy_pod_eviction_policy.as_deref().filter(|p| !EVICTION_POLICIES.contains(p)) {
        errs.push(FieldError::not_supported("spec.unhealthyPodEvictionPolicy", policy, EVICTION_POLICIES));
    }
    errs
}

fn show(value: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}
