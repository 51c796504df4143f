//! kube-scheduler's default preemption: a pod that fits nowhere may evict pods of lower priority
//! from a node where their going makes room, and is nominated to that node.

use super::{Unfit, Unschedulable, fits, insufficient, node_name, node_ready, pod_capacity, requested};
use k8s_openapi::api::core::v1::{Node, Pod};

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
/// room, the fewest pods of lower priority whose going makes room (the lowest first, then as
/// many as can stay given back, highest first); among such nodes the one whose most important
/// victim matters least, then with the fewest victims; else why no node will do.
pub fn preemption<'a, 'p>(
    pod: &Pod,
    nodes: &'a [Node],
    pods: &[&'p Pod],
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
    let asks = requested(pod);
    let mut why = Unschedulable { nodes: nodes.len(), ..Default::default() };
    let mut best: Option<(&str, Vec<&Pod>)> = None;
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if !node_ready(node) || fits(pod, node).is_err() {
            *why.reasons.entry(Unfit::PreemptionNotHelpful).or_default() += 1;
            continue;
        }
        let running: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|p| node_name(p) == Some(name) && !svclab_shared::pod::is_terminal_or_deleting(p))
            .collect();
        let room = |staying: &[&Pod]| {
            let mut used = [0.0; 2];
            for p in staying {
                for (total, more) in used.iter_mut().zip(requested(p)) {
                    *total += more;
                }
            }
            staying.len() < pod_capacity(node) && insufficient(node, used, asks).is_empty()
        };
        let (mut lower, mut staying): (Vec<&Pod>, Vec<&Pod>) = running.into_iter().partition(|p| priority(p) < mine);
        if lower.is_empty() || !room(&staying) {
            *why.reasons.entry(Unfit::NoVictims).or_default() += 1;
            continue;
        }
        // Give back the most important of the lower pods while the pod still fits.
        lower.sort_by_key(|p| std::cmp::Reverse(priority(p)));
        let mut victims = Vec::new();
        for candidate in lower {
            staying.push(candidate);
            if !room(&staying) {
                staying.pop();
                victims.push(candidate);
            }
        }
        let rank = |v: &[&Pod]| (v.iter().map(|p| priority(p)).max().unwrap_or(i32::MIN), v.len());
        if best.as_ref().is_none_or(|(_, b)| rank(&victims) < rank(b)) {
            best = Some((name, victims));
        }
    }
    best.ok_or(NoPreemption::Nodes(why))
}
