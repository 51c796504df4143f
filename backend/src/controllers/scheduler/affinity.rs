//! kube-scheduler's filters that look at the other pods: inter-pod affinity and anti-affinity
//! (`InterPodAffinity`: the pod's required terms, and the required anti-affinity of the pods
//! already placed) and topology spread (`PodTopologySpread`, the `DoNotSchedule` constraints).
//! Pure: the pod, a candidate node, and what runs where.

use super::Unfit;
use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, TopologySpreadConstraint};
use std::collections::BTreeMap;
use svclab_shared::selector::Selector;

/// Labels by name (a namespace's, for a term's `namespaceSelector`).
pub type Labels = BTreeMap<String, String>;

/// The cluster as these filters see it: the nodes, the pods placed on them (running or about
/// to), and the namespaces' labels.
pub struct Placed<'a> {
    pub nodes: &'a [Node],
    /// Each pod placed, with its node.
    pub pods: Vec<(&'a Pod, &'a Node)>,
    pub namespaces: &'a BTreeMap<String, Labels>,
}

impl<'a> Placed<'a> {
    /// The pods of `pods` bound to one of `nodes`, not finished.
    pub fn new(nodes: &'a [Node], pods: &[&'a Pod], namespaces: &'a BTreeMap<String, Labels>) -> Self {
        let by_name: BTreeMap<&str, &Node> =
            nodes.iter().map(|n| (n.metadata.name.as_deref().unwrap_or_default(), n)).collect();
        let pods = pods
            .iter()
            .filter(|p| !svclab_shared::pod::is_finished(p))
            .filter_map(|p| Some((*p, *by_name.get(super::node_name(p)?)?)))
            .collect();
        Placed { nodes, pods, namespaces }
    }

    /// The same, with only `staying` left of the pods on `node` (the others evicted).
    pub fn keeping(&self, node: &Node, staying: &[&Pod]) -> Placed<'a> {
        let pods = self
            .pods
            .iter()
            .filter(|(p, at)| at.metadata.name != node.metadata.name || staying.iter().any(|s| std::ptr::eq(*s, *p)))
            .copied()
            .collect();
        Placed { nodes: self.nodes, pods, namespaces: self.namespaces }
    }

    /// Whether any pod here declares required anti-affinity, or `pod` any affinity or spread:
    /// when none does, these filters pass every node.
    pub fn concerns(&self, pod: &Pod) -> bool {
        let spec = pod.spec.as_ref();
        let own = spec
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
            || spec.is_some_and(|s| s.topology_spread_constraints.as_ref().is_some_and(|c| !c.is_empty()));
        own || self.pods.iter().any(|(p, _)| !required_anti(p).is_empty())
    }
}

fn label<'n>(node: &'n Node, key: &str) -> Option<&'n String> {
    node.metadata.labels.as_ref()?.get(key)
}

fn labels(pod: &Pod) -> &Labels {
    static NONE: Labels = BTreeMap::new();
    pod.metadata.labels.as_ref().unwrap_or(&NONE)
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or_default()
}

fn required_affinity(pod: &Pod) -> &[PodAffinityTerm] {
    let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()).and_then(|a| a.pod_affinity.as_ref());
    affinity.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_deref()).unwrap_or_default()
}

fn required_anti(pod: &Pod) -> &[PodAffinityTerm] {
    let anti = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()).and_then(|a| a.pod_anti_affinity.as_ref());
    anti.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_deref()).unwrap_or_default()
}

/// Whether `term`, declared by `owner`, selects `other`: its namespaces (the owner's by default,
/// those listed and those its `namespaceSelector` picks) and its label selector (none selects
/// nothing), with `matchLabelKeys` and `mismatchLabelKeys` taken from the owner's labels.
fn term_selects(term: &PodAffinityTerm, owner: &Pod, other: &Pod, namespaces: &BTreeMap<String, Labels>) -> bool {
    let ns = namespace(other);
    let listed = term.namespaces.iter().flatten().any(|n| n == ns);
    let in_namespace = match &term.namespace_selector {
        None if term.namespaces.as_ref().is_none_or(|n| n.is_empty()) => ns == namespace(owner),
        None => listed,
        Some(selector) => {
            let picked = Selector::from_label_selector(selector).is_ok_and(|s| s.matches_opt(namespaces.get(ns)));
            listed || picked
        }
    };
    let Some(selector) = term.label_selector.as_ref().and_then(|s| Selector::from_label_selector(s).ok()) else {
        return false;
    };
    let (mine, theirs) = (labels(owner), labels(other));
    let keys_match =
        term.match_label_keys.iter().flatten().all(|k| mine.get(k).is_none_or(|v| theirs.get(k) == Some(v)));
    let keys_differ =
        term.mismatch_label_keys.iter().flatten().all(|k| mine.get(k).is_none_or(|v| theirs.get(k) != Some(v)));
    in_namespace && selector.matches(theirs) && keys_match && keys_differ
}

/// Why `pod` may not go to `node` for the pods already placed, in kube-scheduler's words and
/// order: its spread (`PodTopologySpread`), then `InterPodAffinity`: its affinity, its own
/// anti-affinity, the anti-affinity of the pods placed.
pub fn unfit(pod: &Pod, node: &Node, placed: &Placed) -> Option<Unfit> {
    let constraints = pod.spec.as_ref().and_then(|s| s.topology_spread_constraints.as_deref()).unwrap_or_default();
    let spread = constraints.iter().filter(|c| c.when_unsatisfiable == "DoNotSchedule");
    if let Some(reason) = spread.into_iter().find_map(|c| spread_unfit(pod, node, c, placed)) {
        return Some(reason);
    }
    let same_domain = |key: &str, other: &Node| label(node, key).is_some_and(|v| label(other, key) == Some(v));
    let selects =
        |term: &PodAffinityTerm, owner: &Pod, other: &Pod| term_selects(term, owner, other, placed.namespaces);
    let terms = required_affinity(pod);
    if !terms.is_empty() {
        // A pod placed where every term is met: one in the same domain that all the terms select.
        let met = terms.iter().all(|t| label(node, &t.topology_key).is_some())
            && placed
                .pods
                .iter()
                .any(|(other, at)| terms.iter().all(|t| same_domain(&t.topology_key, at) && selects(t, pod, other)));
        // The first of a group that attracts itself may go anywhere with the topology labels.
        let none_anywhere = !placed.pods.iter().any(|(other, _)| terms.iter().all(|t| selects(t, pod, other)));
        let first =
            none_anywhere && terms.iter().all(|t| label(node, &t.topology_key).is_some() && selects(t, pod, pod));
        if !met && !first {
            return Some(Unfit::PodAffinity);
        }
    }
    let repels = |t: &PodAffinityTerm| {
        placed.pods.iter().any(|(other, at)| same_domain(&t.topology_key, at) && selects(t, pod, other))
    };
    if required_anti(pod).iter().any(repels) {
        return Some(Unfit::PodAntiAffinity);
    }
    // Pods placed whose required anti-affinity selects this pod keep it out of their domain.
    let repelled = placed.pods.iter().any(|(other, at)| {
        required_anti(other).iter().any(|t| same_domain(&t.topology_key, at) && selects(t, other, pod))
    });
    repelled.then_some(Unfit::ExistingAntiAffinity)
}

/// One `DoNotSchedule` spread constraint: placing the pod on `node` must keep the matching pods
/// of its namespace within `maxSkew` of the least loaded domain among the nodes the pod may use.
fn spread_unfit(pod: &Pod, node: &Node, c: &TopologySpreadConstraint, placed: &Placed) -> Option<Unfit> {
    let key = c.topology_key.as_str();
    let Some(domain) = label(node, key) else { return Some(Unfit::SpreadMissingLabel) };
    let selector = c.label_selector.as_ref().and_then(|s| Selector::from_label_selector(s).ok())?;
    let own = labels(pod);
    // `matchLabelKeys`: the pod's own values of those keys join the selector.
    let keys: Vec<(&String, &String)> =
        c.match_label_keys.iter().flatten().filter_map(|k| own.get_key_value(k)).collect();
    let selects = |l: &Labels| selector.matches(l) && keys.iter().all(|(k, v)| l.get(*k) == Some(*v));
    // Domains of the nodes the pod's node selector and affinity allow (kube's default
    // `nodeAffinityPolicy: Honor`; taints are ignored by default).
    let eligible = placed.nodes.iter().filter(|n| super::affinity_matches(pod, n));
    let mut counts: BTreeMap<&str, i32> = eligible.filter_map(|n| Some((label(n, key)?.as_str(), 0))).collect();
    for (other, at) in &placed.pods {
        let counted =
            namespace(other) == namespace(pod) && other.metadata.deletion_timestamp.is_none() && selects(labels(other));
        if let Some(n) = label(at, key).and_then(|v| counts.get_mut(v.as_str())).filter(|_| counted) {
            *n += 1;
        }
    }
    let min_domains = c.min_domains.unwrap_or(1) as usize;
    let least = if counts.len() < min_domains { 0 } else { counts.values().copied().min().unwrap_or(0) };
    let here = counts.get(domain.as_str()).copied().unwrap_or(0);
    let skew = here + i32::from(selects(own)) - least;
    (skew > c.max_skew).then_some(Unfit::Spread)
}

#[cfg(test)]
mod tests;
