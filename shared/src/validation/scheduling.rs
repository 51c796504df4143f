//! PriorityClasses, as kube-apiserver validates them: `system-` names are the two system
//! classes only, a user's value is at most one billion, the preemption policy is known, and the
//! value and policy never change.

use super::FieldError;
use k8s_openapi::api::scheduling::v1::PriorityClass;

/// The highest value a user's class may have (`HighestUserDefinablePriority`).
const HIGHEST_USER_PRIORITY: i32 = 1_000_000_000;

/// The classes every cluster has, and their values.
pub const SYSTEM_CLASSES: &[(&str, i32)] =
    &[("system-node-critical", 2_000_001_000), ("system-cluster-critical", 2_000_000_000)];

const POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];

pub(super) fn validate_priority_class(class: &PriorityClass) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = class.metadata.name.as_deref().unwrap_or_default();
    if name.starts_with("system-") {
        let why = match SYSTEM_CLASSES.iter().find(|(n, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, value)) if class.value != *value => Some(format!("value of {name} PriorityClass must be {value}")),
            Some(_) if class.global_default == Some(true) => {
                Some(format!("globalDefault of {name} PriorityClass must be false"))
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            let msg =
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {why}");
            errs.push(FieldError::forbidden("metadata.name", msg));
        }
    } else if class.value > HIGHEST_USER_PRIORITY {
        let msg = format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}");
        errs.push(FieldError::forbidden("value", msg));
    }
    if let Some(policy) = class.preemption_policy.as_deref().filter(|p| !POLICIES.contains(p)) {
        errs.push(FieldError::not_supported("preemptionPolicy", policy, POLICIES));
    }
    errs
}

pub(super) fn validate_priority_class_update(old: &PriorityClass, new: &PriorityClass) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.value != new.value {
        errs.push(FieldError::forbidden("value", "may not be changed in an update."));
    }
    if old.preemption_policy != new.preemption_policy {
        errs.push(FieldError::invalid(
            "preemptionPolicy",
            format!("{:?}", new.preemption_policy.as_deref().unwrap_or_default()),
            "field is immutable",
        ));
    }
    errs
}
