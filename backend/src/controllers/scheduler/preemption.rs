//! kube-scheduler's default preemption: a pod that fits nowhere may evict pods of lower priority
//! from a node where their going makes room, sparing those PodDisruptionBudgets guard where it
//! can, and is nominated to that node.

use super::affinity::{Placed, unfit};
use super::{
    Unfit, Unschedulable, add_requests, fits, host_ports, insufficient, node_name, node_ready, pod_capacity,
    ports_free, requested,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use svclab_shared::selector::Selector;

/// Which of `pods` (in the order given) a disruption budget forbids evicting: a budget of the
/// pod's namespace whose selector matches it and which allows no more disruptions, counting the
/// pods before it as evicted (kube-scheduler's `filterPodsWithPDBViolation`).
fn budget_violations(pods: &[&Pod], budgets: &[&PodDisruptionBudget]) -> Vec<bool> {
    let mut allowed: Vec<i32> =
        budgets.iter().map(|b| b.status.as_ref().map_or(0, |s| s.disruptions_allowed)).collect();
    let selectors: Vec<Option<Selector>> = budgets
        .iter()
        .map(|b| b.spec.as_ref()?.selector.as_ref().and_then(|s| Selector::from_label_selector(s).ok()))
        .collect();
    pods.iter()
        .map(|pod| {
            let mut violates = false;
            for (i, budget) in budgets.iter().enumerate() {
                let same_namespace = budget.metadata.namespace == pod.metadata.namespace;
                // A budget with no selector, or an empty one, guards nothing here (as kube-scheduler reads it).
                let matches =
                    selectors[i].as_ref().is_some_and(|s| !s.is_empty() && s.matches_opt(pod.metadata.labels.as_ref()));
                if same_namespace && matches {
                    allowed[i] -= 1;
                    violates |= allowed[i] < 0;
                }
            }
            violates
        })
        .collect()
}

/// A pod's priority, as the Priority admission plugin set it.
fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Why preemption does not help a pod, as kube-scheduler words it after `preemption: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoPreemption {
    #[error("not eligible due to preemptionPolicy=Never.")]
    Never,
    #[error("not eligible due to a terminating pod on the nominated node.")]
    VictimsLeaving,
    #[error("{0}.")]
    Nodes(Unschedulable),
}

/// kube-scheduler's default preemption for a pod that fits nowhere: on a node it fits but for
/// room (requests, pod count, host ports), the fewest pods of lower priority whose going makes
/// room (all of them, then as many given back as can stay: those a disruption budget guards
/// first, then the most important); among such nodes the one with the fewest budget violations,
/// then whose most important victim matters least, then the least priority evicted in all,
/// then the fewest victims; else why no node will do.
pub fn preemption<'a, 'p>(
    pod: &Pod,
    nodes: &'a [Node],
    pods: &[&'p Pod],
    budgets: &[&PodDisruptionBudget],
    placed: &Placed,
) -> Result<(&'a str, Vec<&'p Pod>), NoPreemption> {
    if pod.spec.as_ref().and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Err(NoPreemption::Never);
    }
    let mine = priority(pod);
    // Victims of an earlier round still going: wait for them rather than evict more.
    let nominated = pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref());
    let leaving =
        |p: &&&Pod| node_name(p) == nominated && priority(p) < mine && p.metadata.deletion_timestamp.is_some();
    if nominated.is_some() && pods.iter().any(|p| leaving(&p)) {
        return Err(NoPreemption::VictimsLeaving);
    }
    let (asks, wanted) = (requested(pod), host_ports(pod));
    // Only where the pod or a pod placed has affinity or spread rules do they need reading.
    let placement_matters = placed.concerns(pod);
    let mut why = Unschedulable { nodes: nodes.len(), ..Default::default() };
    let mut best: Option<(&str, Vec<&Pod>, usize)> = None;
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        // No eviction brings what the pod's affinity asks for, or a topology label the node lacks.
        let unresolvable = placement_matters
            && matches!(unfit(pod, node, placed), Some(Unfit::PodAffinity | Unfit::SpreadMissingLabel));
        if !node_ready(node) || fits(pod, node).is_err() || unresolvable {
            *why.reasons.entry(Unfit::PreemptionNotHelpful).or_default() += 1;
            continue;
        }
        let running: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|p| node_name(p) == Some(name) && !svclab_shared::pod::is_terminal_or_deleting(p))
            .collect();
        // Room for the pod among the pods that stay: their number, requests, host ports, and the
        // anti-affinity and spread they make.
        let room = |staying: &[&Pod]| {
            let mut used = [0.0; 2];
            staying.iter().for_each(|p| add_requests(&mut used, p));
            staying.len() < pod_capacity(node)
                && insufficient(node, used, asks).is_empty()
                && ports_free(&wanted, &staying.iter().flat_map(|p| host_ports(p)).collect::<Vec<_>>())
                && !(placement_matters && unfit(pod, node, &placed.keeping(node, staying)).is_some())
        };
        let (mut lower, mut staying): (Vec<&Pod>, Vec<&Pod>) = running.into_iter().partition(|p| priority(p) < mine);
        if lower.is_empty() || !room(&staying) {
            *why.reasons.entry(Unfit::NoVictims).or_default() += 1;
            continue;
        }
        // Give back the most important of the lower pods while the pod still fits, those whose
        // eviction a disruption budget forbids first.
        lower.sort_by_key(|p| std::cmp::Reverse(priority(p)));
        let violating = budget_violations(&lower, budgets);
        let mut candidates: Vec<(&Pod, bool)> = lower.into_iter().zip(violating).collect();
        candidates.sort_by_key(|(_, guarded)| !guarded); // stable: by priority within each
        let (mut victims, mut violations) = (Vec::new(), 0);
        for (candidate, guarded) in candidates {
            staying.push(candidate);
            if !room(&staying) {
                staying.pop();
                victims.push(candidate);
                violations += usize::from(guarded);
            }
        }
        let rank = |v: &[&Pod], violations: usize| {
            let priorities = v.iter().map(|p| i64::from(priority(p)));
            (violations, priorities.clone().max().unwrap_or(i64::MIN), priorities.sum::<i64>(), v.len())
        };
        if best.as_ref().is_none_or(|(_, b, bv)| rank(&victims, violations) < rank(b, *bv)) {
            best = Some((name, victims, violations));
        }
    }
    best.map(|(node, victims, _)| (node, victims)).ok_or(NoPreemption::Nodes(why))
}
