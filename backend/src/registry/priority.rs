//! The Priority admission plugin: a new pod's `priorityClassName` names an existing
//! PriorityClass, whose value and preemption policy become the pod's `priority` and
//! `preemptionPolicy` (a pod naming none gets the global default class, or priority 0); an update
//! keeps what creation resolved. At most one PriorityClass is the global default.

use crate::error::ApiError;
use crate::store::Store;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use svclab_shared::Object;

/// What a pod gets when no class is named and none is the global default.
const NO_DEFAULT: (i32, &str) = (0, "PreemptLowerPriority");

/// The plugin on a create: pods get their priority; a class may be the only global default.
pub(super) fn admit(store: &Store, object: &mut Object) -> Result<(), ApiError> {
    let name = super::admission::display_name(object);
    match object {
        Object::Pod(pod) => admit_pod(store, pod, &name),
        Object::PriorityClass(class) => admit_class(store, class),
        _ => Ok(()),
    }
}

/// Resolves a new pod's priority from its class, or refuses a pod whose class does not exist or
/// whose own `priority` or `preemptionPolicy` disagrees with its class.
fn admit_pod(store: &Store, pod: &mut Pod, name: &str) -> Result<(), ApiError> {
    let Some(spec) = pod.spec.as_mut() else { return Ok(()) };
    let forbidden = |why: String| ApiError::Forbidden(format!("pods \"{name}\" is forbidden: {why}"));
    let (value, policy) = match spec.priority_class_name.as_deref().filter(|n| !n.is_empty()) {
        Some(class) => {
            let class = store
                .get_typed::<PriorityClass>("", class)
                .ok_or_else(|| forbidden(format!("no PriorityClass with name {class} was found")))?;
            (class.value, class.preemption_policy.clone().unwrap_or_else(|| NO_DEFAULT.1.into()))
        }
        None => match global_default(store) {
            Some(class) => {
                spec.priority_class_name = class.metadata.name.clone();
                (class.value, class.preemption_policy.clone().unwrap_or_else(|| NO_DEFAULT.1.into()))
            }
            None => (NO_DEFAULT.0, NO_DEFAULT.1.into()),
        },
    };
    if let Some(given) = spec.priority.filter(|p| *p != value) {
        return Err(forbidden(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
        )));
    }
    if let Some(given) = spec.preemption_policy.as_deref().filter(|p| *p != policy) {
        return Err(forbidden(format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
        )));
    }
    spec.priority = Some(value);
    spec.preemption_policy = Some(policy);
    Ok(())
}

/// An update keeps the priority and preemption policy the pod was created with.
pub(super) fn keep(old: &Pod, new: &mut Pod) {
    if let (Some(old), Some(new)) = (old.spec.as_ref(), new.spec.as_mut()) {
        new.priority = new.priority.or(old.priority);
        new.preemption_policy = new.preemption_policy.take().or_else(|| old.preemption_policy.clone());
    }
}

/// A class may become the global default only while no other class is.
pub(super) fn admit_class(store: &Store, class: &PriorityClass) -> Result<(), ApiError> {
    let name = class.metadata.name.as_deref().unwrap_or_default();
    match global_default(store).filter(|_| class.global_default == Some(true)) {
        Some(default) if default.metadata.name.as_deref() != Some(name) => {
            let default = default.metadata.name.unwrap_or_default();
            Err(ApiError::Forbidden(format!(
                "priorityclasses.scheduling.k8s.io \"{name}\" is forbidden: PriorityClass {default} is already marked as default. Only one default can exist"
            )))
        }
        _ => Ok(()),
    }
}

fn global_default(store: &Store) -> Option<PriorityClass> {
    // With several (made before this rule), the one of lowest value, as kube-apiserver picks.
    store
        .list_typed::<PriorityClass>(None)
        .into_iter()
        .filter(|c| c.global_default == Some(true))
        .min_by_key(|c| c.value)
}
