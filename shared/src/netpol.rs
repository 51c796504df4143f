//! Which pods a NetworkPolicy isolates for ingress, asked by the enforcement (backend) and the
//! service doctor alike.

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
    match &spec.pod_selector {
        Some(selector) => Selector::from_label_selector(selector).ok(),
        None => Some(Selector::default()),
    }
}
