//! The NetworkPolicies that select a service's pods: what their ingress rules let in, said in
//! words, since a policy is the usual reason one client reaches a service and another does not.

use super::{Finding, ObjectLink, Severity, finding, labels_text, link};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Whether `policy` restricts what reaches `pod` (it selects it, for ingress).
fn isolates(policy: &NetworkPolicy, pod: &Pod) -> bool {
    policy.metadata.namespace == pod.metadata.namespace
        && crate::netpol::ingress_selector(policy).is_some_and(|s| s.matches_opt(pod.metadata.labels.as_ref()))
}

fn selector_text(selector: &LabelSelector) -> String {
    let labels = selector.match_labels.clone().unwrap_or_default();
    match (labels.is_empty(), selector.match_expressions.as_ref().is_some_and(|e| !e.is_empty())) {
        (true, false) => "any".into(),
        (_, true) => "matching expressions".into(),
        (false, false) => labels_text(&labels),
    }
}

fn peer_text(peer: &NetworkPolicyPeer) -> String {
    if let Some(block) = &peer.ip_block {
        let except = block.except.as_ref().filter(|e| !e.is_empty()).map(|e| format!(" except {}", e.join(", ")));
        return format!("addresses in {}{}", block.cidr, except.unwrap_or_default());
    }
    match (&peer.pod_selector, &peer.namespace_selector) {
        (Some(pods), None) => format!("pods {} of its namespace", selector_text(pods)),
        (None, Some(namespaces)) => format!("every pod of namespaces {}", selector_text(namespaces)),
        (Some(pods), Some(namespaces)) => {
            format!("pods {} of namespaces {}", selector_text(pods), selector_text(namespaces))
        }
        (None, None) => "nothing".into(),
    }
}

fn rule_text(rule: &NetworkPolicyIngressRule) -> String {
    let from = match rule.from.as_ref().filter(|f| !f.is_empty()) {
        None => "anyone".to_string(),
        Some(peers) => peers.iter().map(peer_text).collect::<Vec<_>>().join(" or "),
    };
    let ports = match rule.ports.as_ref().filter(|p| !p.is_empty()) {
        None => "any port".to_string(),
        Some(ports) => {
            let each = ports.iter().map(|p| {
                let protocol = p.protocol.as_deref().unwrap_or("TCP");
                match (&p.port, p.end_port) {
                    (None, _) => format!("any {protocol} port"),
                    (Some(IntOrString::Int(n)), Some(end)) => format!("{protocol} {n}-{end}"),
                    (Some(IntOrString::Int(n)), None) => format!("{protocol} {n}"),
                    (Some(IntOrString::String(name)), _) => format!("{protocol} port {name:?}"),
                }
            });
            each.collect::<Vec<_>>().join(", ")
        }
    };
    format!("{from}, on {ports}")
}

/// A warning naming the policies that select any of `pods`, and what each lets in.
pub(super) fn policies(policies: &[NetworkPolicy], pods: &[&Pod]) -> Option<Finding> {
    let selecting: Vec<&NetworkPolicy> = policies.iter().filter(|p| pods.iter().any(|pod| isolates(p, pod))).collect();
    if selecting.is_empty() {
        return None;
    }
    let each: Vec<String> = selecting
        .iter()
        .map(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            let rules = p.spec.as_ref().and_then(|s| s.ingress.as_ref()).filter(|r| !r.is_empty());
            match rules {
                None => format!("{name} lets nothing in"),
                Some(rules) => {
                    format!("{name} lets in {}", rules.iter().map(rule_text).collect::<Vec<_>>().join("; and "))
                }
            }
        })
        .collect();
    let n = selecting.len();
    let objects: Vec<ObjectLink> = selecting
        .iter()
        .map(|p| {
            link(
                "NetworkPolicy",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    Some(finding(
        Severity::Warning,
        "network-policy",
        match n {
            1 => "A NetworkPolicy selects these pods: only what it allows reaches them".to_string(),
            n => format!("{n} NetworkPolicies select these pods: only what they allow reaches them"),
        },
        format!(
            "{}. Anything else is dropped: the client waits until it gives up. Through a node port under \
             externalTrafficPolicy: Cluster the pods see the node's address, which only an ipBlock lets in.",
            each.join(". ")
        ),
        objects,
    ))
}
