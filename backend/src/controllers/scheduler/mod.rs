//! The scheduler: binds each unscheduled pod to the ready, schedulable node running the fewest
//! pods (ties broken at random), spreading a controller's pods over the nodes, among the nodes
//! the pod fits: its `nodeSelector` and required node affinity match the node, and it tolerates
//! the node's `NoSchedule` and `NoExecute` taints ([`fits`], which the DaemonSet controller
//! uses too), the host ports it asks for are free there, and its CPU and memory requests fit
//! in what the node has left. A pod that fits nowhere may preempt pods of lower priority
//! ([`preemption`]).

mod affinity;
mod preemption;

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Taint, Toleration};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
pub use preemption::preemption;
use rand::seq::IndexedRandom;
use std::collections::BTreeMap;
use std::time::Duration;
use svclab_shared::pod::HostPort;
use svclab_shared::{Kind, Object};

pub struct Scheduler {
    registry: Registry,
}

impl Scheduler {
    pub fn new(registry: Registry) -> Self {
        Scheduler { registry }
    }
}

fn node_ready(node: &Node) -> bool {
    let unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    ready && !unschedulable
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())
}

/// Whether the pod is this scheduler's to place (`spec.schedulerName`); a pod that names
/// another scheduler waits for it to bind it.
fn mine(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).is_none_or(|s| s == SCHEDULER)
}

const SCHEDULER: &str = "default-scheduler";

/// How many pods a node takes (`status.allocatable.pods`, 110 by default as in Kubernetes).
fn pod_capacity(node: &Node) -> usize {
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    allocatable.and_then(|a| a.get("pods")).and_then(|q| q.0.parse().ok()).unwrap_or(110)
}

/// The compute the scheduler fits pods by, in its words' order.
const FIT_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// What a pod asks of its node's CPU and memory, as kube-scheduler counts its containers'
/// requests (init containers and sidecars included, [`svclab_shared::pod::effective`]).
fn requested(pod: &Pod) -> [f64; 2] {
    let Some(spec) = pod.spec.as_ref() else { return [0.0; 2] };
    let of = |c: &k8s_openapi::api::core::v1::Container, name: &str| {
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        requests.and_then(|r| r.get(name)).and_then(svclab_shared::quantity::value).unwrap_or(0.0)
    };
    FIT_RESOURCES.map(|name| svclab_shared::pod::effective(spec, |c| of(c, name)))
}

/// What the node lacks for `wanted` on top of `used` (`Insufficient cpu`), of its allocatable.
fn insufficient(node: &Node, used: [f64; 2], wanted: [f64; 2]) -> Vec<Unfit> {
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let room = |name: &str| allocatable.and_then(|a| a.get(name)).and_then(svclab_shared::quantity::value);
    FIT_RESOURCES
        .iter()
        .enumerate()
        .filter(|(i, name)| wanted[*i] > 0.0 && room(name).is_some_and(|r| used[*i] + wanted[*i] > r + 1e-9))
        .map(|(_, name)| Unfit::Insufficient(name))
        .collect()
}

/// Why a node cannot take a pod, in the words of the scheduler plugin that filtered it out
/// (and of preemption, for a node where evicting would not help).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum Unfit {
    #[error("node(s) were not ready")]
    NotReady,
    #[error("node(s) didn't match Pod's node affinity/selector")]
    Affinity,
    #[error("node(s) had untolerated taint {{{key}: {value}}}")]
    Taint { key: String, value: String },
    #[error("Too many pods")]
    TooManyPods,
    #[error("node(s) didn't have free ports for the requested pod ports")]
    HostPorts,
    #[error("Insufficient {0}")]
    Insufficient(&'static str),
    #[error("Preemption is not helpful for scheduling")]
    PreemptionNotHelpful,
    #[error("No preemption victims found for incoming pod")]
    NoVictims,
    #[error("node(s) didn't satisfy existing pods anti-affinity rules")]
    ExistingAntiAffinity,
    #[error("node(s) didn't match pod anti-affinity rules")]
    PodAntiAffinity,
    #[error("node(s) didn't match pod affinity rules")]
    PodAffinity,
    #[error("node(s) didn't match pod topology spread constraints")]
    Spread,
    #[error("node(s) didn't match pod topology spread constraints (missing required label)")]
    SpreadMissingLabel,
}

/// Why no node can take a pod, counted by reason as the scheduler's `FailedScheduling` event
/// says it (`0/3 nodes are available: 3 Too many pods.`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unschedulable {
    pub nodes: usize,
    pub reasons: BTreeMap<Unfit, usize>,
}

impl std::fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sorted as written, counts and all, as Kubernetes' FitError sorts them.
        let mut reasons: Vec<String> = self.reasons.iter().map(|(why, n)| format!("{n} {why}")).collect();
        reasons.sort();
        write!(f, "0/{} nodes are available: {}.", self.nodes, reasons.join(", "))
    }
}

/// Whether `labels` satisfy one node-selector requirement (`In`, `NotIn`, `Exists`,
/// `DoesNotExist`, `Gt`, `Lt`).
fn requirement_met(value: Option<&String>, operator: &str, values: &[String]) -> bool {
    let number = |s: &String| s.parse::<i64>().ok();
    match operator {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => value.and_then(number).zip(values.first().and_then(number)).is_some_and(|(v, n)| v > n),
        "Lt" => value.and_then(number).zip(values.first().and_then(number)).is_some_and(|(v, n)| v < n),
        _ => false,
    }
}

/// The pod's `nodeSelector` and required node affinity (terms ORed, their requirements ANDed).
fn affinity_matches(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return true };
    let label = |key: &str| node.metadata.labels.as_ref().and_then(|l| l.get(key));
    if !spec.node_selector.iter().flatten().all(|(k, v)| label(k) == Some(v)) {
        return false;
    }
    let node_affinity = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref());
    let Some(required) = node_affinity.and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref())
    else {
        return true;
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    required.node_selector_terms.iter().any(|term| {
        let expressions = term
            .match_expressions
            .iter()
            .flatten()
            .all(|r| requirement_met(label(&r.key), &r.operator, r.values.as_deref().unwrap_or_default()));
        let fields = term.match_fields.iter().flatten().all(|r| {
            let value = (r.key == "metadata.name").then_some(&name);
            requirement_met(value, &r.operator, r.values.as_deref().unwrap_or_default())
        });
        expressions && fields
    })
}

/// Whether a toleration tolerates a taint.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = toleration.key.as_deref().unwrap_or_default();
    let matches = match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        _ => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
    };
    effect && matches
}

/// Whether the pod may go to the node by its affinity and the node's taints, and if not why.
pub fn fits(pod: &Pod, node: &Node) -> Result<(), Unfit> {
    if !affinity_matches(pod, node) {
        return Err(Unfit::Affinity);
    }
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let untolerated = taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)));
    match untolerated {
        Some(t) => Err(Unfit::Taint { key: t.key.clone(), value: t.value.clone().unwrap_or_default() }),
        None => Ok(()),
    }
}

impl std::error::Error for Unschedulable {}

/// Whether two host ports clash, as the scheduler's NodePorts filter sees it: the same port and
/// protocol on the same address, or on all addresses.
fn clash(a: &HostPort, b: &HostPort) -> bool {
    a.host_port == b.host_port
        && a.protocol == b.protocol
        && (a.host_ip == b.host_ip || a.host_ip == "0.0.0.0" || b.host_ip == "0.0.0.0")
}

/// Whether none of the host ports `wanted` clashes with one `taken`.
fn ports_free<'h>(wanted: &[HostPort], taken: impl IntoIterator<Item = &'h HostPort>) -> bool {
    taken.into_iter().all(|t| !wanted.iter().any(|w| clash(w, t)))
}

/// Adds `pod`'s CPU and memory requests to `sum`.
fn add_requests(sum: &mut [f64; 2], pod: &Pod) {
    for (total, more) in sum.iter_mut().zip(requested(pod)) {
        *total += more;
    }
}

/// The host ports `pod` asks for.
fn host_ports(pod: &Pod) -> Vec<HostPort> {
    pod.spec.as_ref().map(svclab_shared::pod::host_ports).unwrap_or_default()
}

/// The nodes with the fewest pods among those that can take `pod`, or the scheduler's
/// explanation of why none can (`0/3 nodes are available: 3 Too many pods.`). `placed` is
/// `pods` as the affinity and spread filters read them.
pub fn least_loaded<'a>(
    pod: &Pod,
    nodes: &'a [Node],
    pods: &[&Pod],
    placed: &affinity::Placed,
) -> Result<Vec<&'a str>, Unschedulable> {
    let placement_matters = placed.concerns(pod);
    let mut load: BTreeMap<&str, usize> =
        nodes.iter().map(|n| (n.metadata.name.as_deref().unwrap_or_default(), 0)).collect();
    let wanted = host_ports(pod);
    let asks = requested(pod);
    let mut taken: BTreeMap<&str, Vec<HostPort>> = BTreeMap::new();
    let mut used: BTreeMap<&str, [f64; 2]> = BTreeMap::new();
    for &other in pods {
        let Some(node) = node_name(other) else { continue };
        if let Some(n) = load.get_mut(node) {
            *n += 1;
        }
        if svclab_shared::pod::is_finished(other) {
            continue;
        }
        if !wanted.is_empty() {
            taken.entry(node).or_default().extend(host_ports(other));
        }
        add_requests(used.entry(node).or_default(), other);
    }
    let ports_free = |node: &str| ports_free(&wanted, taken.get(node).into_iter().flatten());
    let mut why = Unschedulable { nodes: nodes.len(), ..Default::default() };
    let mut candidates = Vec::new();
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let short = insufficient(node, used.get(name).copied().unwrap_or_default(), asks);
        let reasons = if !node_ready(node) {
            vec![Unfit::NotReady]
        } else if let Err(reason) = fits(pod, node) {
            vec![reason]
        } else if load[name] >= pod_capacity(node) {
            vec![Unfit::TooManyPods]
        } else if !ports_free(name) {
            vec![Unfit::HostPorts]
        } else if !short.is_empty() {
            // Resource fit reports every resource the node lacks.
            short
        } else if let Some(reason) = placement_matters.then(|| affinity::unfit(pod, node, placed)).flatten() {
            vec![reason]
        } else {
            vec![]
        };
        if reasons.is_empty() {
            candidates.push((name, load[name]));
        }
        for reason in reasons {
            *why.reasons.entry(reason).or_default() += 1;
        }
    }
    let Some(min) = candidates.iter().map(|(_, l)| *l).min() else { return Err(why) };
    Ok(candidates.into_iter().filter(|(_, l)| *l == min).map(|(n, _)| n).collect())
}

impl Scheduler {
    /// Evicts `victims` for `pod` and nominates `node` for it (`status.nominatedNodeName`), as
    /// kube-scheduler does before the pod is scheduled there once they are gone.
    fn preempt(&self, pod: &Pod, node: &str, victims: &[&Pod]) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        for victim in victims {
            let ns = victim.metadata.namespace.as_deref().unwrap_or_default();
            let key = ObjectKey::new(Kind::Pod, ns, victim.metadata.name.as_deref().unwrap_or_default());
            let msg = format!("Preempted by pod {uid} on node {node}");
            self.registry.record_event(
                &Object::Pod((*victim).clone()),
                "Normal",
                "Preempted",
                &msg,
                "default-scheduler",
            );
            let _ = self.registry.delete(&key, None);
        }
        let mut nominated = pod.clone();
        nominated.status.get_or_insert_with(Default::default).nominated_node_name = Some(node.to_string());
        let _ = self.registry.update_status(&Object::Pod(nominated));
    }
}

impl Reconciler for Scheduler {
    fn name(&self) -> &'static str {
        "default-scheduler"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object.downcast::<Pod>() {
            Some(pod) if node_name(pod).is_none() && mine(pod) => vec![ObjectKey::of(object)],
            // A node becoming ready may make room for pods that are still pending.
            None if object.kind() == Kind::Node => self
                .registry
                .store()
                .list_views::<Pod>(None)
                .iter()
                .filter(|p| node_name(p).is_none() && mine(p))
                .map(|p| {
                    ObjectKey::new(
                        Kind::Pod,
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default(),
                    )
                })
                .collect(),
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store();
        let Some(pod) = store.get_typed::<Pod>(&key.namespace, &key.name) else { return Action::AwaitChange };
        if node_name(&pod).is_some() || pod.metadata.deletion_timestamp.is_some() || !mine(&pod) {
            return Action::AwaitChange;
        }
        let nodes = store.list_typed::<Node>(None);
        let views = store.list_views::<Pod>(None);
        let pods: Vec<&Pod> = views.iter().map(|p| &**p).collect();
        let namespaces: BTreeMap<String, affinity::Labels> = store
            .list_views::<Namespace>(None)
            .iter()
            .map(|n| (n.metadata.name.clone().unwrap_or_default(), n.metadata.labels.clone().unwrap_or_default()))
            .collect();
        let placed = affinity::Placed::new(&nodes, &pods, &namespaces);
        let candidates = least_loaded(&pod, &nodes, &pods, &placed);
        let object = Object::Pod(pod.clone());
        let node = match candidates {
            Ok(names) => names.choose(&mut rand::rng()).map(|n| n.to_string()).expect("at least one fits"),
            Err(why) => {
                let budgets = store.list_typed::<PodDisruptionBudget>(None);
                let preempted = preemption(&pod, &nodes, &pods, &budgets.iter().collect::<Vec<_>>(), &placed);
                let msg = match &preempted {
                    Ok(_) => why.to_string(),
                    Err(no) => format!("{why} preemption: {no}"),
                };
                self.registry.record_event(&object, "Warning", "FailedScheduling", &msg, "default-scheduler");
                if let Ok((node, victims)) = preempted {
                    self.preempt(&pod, node, &victims);
                }
                return Action::RequeueAfter(Duration::from_secs(1));
            }
        };
        match self.registry.bind(&key.namespace, &key.name, &node) {
            Ok(_) => {
                let msg = format!("Successfully assigned {}/{} to {node}", key.namespace, key.name);
                self.registry.record_event(&object, "Normal", "Scheduled", &msg, "default-scheduler");
                Action::AwaitChange
            }
            Err(_) => Action::RequeueAfter(Duration::from_millis(100)),
        }
    }
}

#[cfg(test)]
mod tests;
