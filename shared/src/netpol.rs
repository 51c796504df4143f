//! Which pods a NetworkPolicy isolates, for ingress and for egress, asked by the enforcement
//! (backend) and the service doctor alike.

use crate::selector::Selector;
use k8s_openapi::api::networking::v1::NetworkPolicy;

/// The selector of the pods (in the policy's namespace) whose ingress `policy` restricts:
/// `None` when its `policyTypes` leave out `Ingress` or its selector does not parse. No
/// `podSelector` selects every pod.
pub fn ingress_selector(policy: &NetworkPolicy) -> Option<Selector> {
    let spec = policy.spec.as_ref()?;
    if spec.policy_types.as_ref().is_some_and(|t| !t.iter().any(|t| t == "Ingress")) {
        return None;
    }
    selector(policy)
}

/// The selector of the pods whose egress `policy` restricts: those of a policy whose
/// `policyTypes` name `Egress` (or, without `policyTypes`, that has egress rules).
pub fn egress_selector(policy: &NetworkPolicy) -> Option<Selector> {
    let spec = policy.spec.as_ref()?;
    let egress = match &spec.policy_types {
        Some(types) if !types.is_empty() => types.iter().any(|t| t == "Egress"),
        _ => spec.egress.as_ref().is_some_and(|e| !e.is_empty()),
    };
    if egress { selector(policy) } else { None }
}

fn selector(policy: &NetworkPolicy) -> Option<Selector> {
    match &policy.spec.as_ref()?.pod_selector {
        Some(selector) => Selector::from_label_selector(selector).ok(),
        None => Some(Selector::default()),
    }
}
