//! The ResourceQuota admission plugin: a new object that would take its namespace past a
//! quota's hard limit is refused (`exceeded quota: …, requested: …, used: …, limited: …`), and
//! under a quota of compute a pod must state that compute for each container (`failed quota: …:
//! must specify …`). Usage is counted from the store at the time of the create, under one lock,
//! so two writes cannot both take the last of a quota. Of updates, a service's is checked (its
//! type counts); a pod's resources do not change after it is made.

use super::admission::display_name;
use crate::error::ApiError;
use crate::store::{Store, View};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, Service};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use svclab_shared::pod::is_terminal_or_deleting;
use svclab_shared::quota::{Counted, format, in_scope, missing, used};
use svclab_shared::{Kind, Object};

/// Refuses `object` (new, or replacing `old`) if a quota of its namespace forbids it; otherwise
/// holds `lock` (when the namespace has quotas) until the caller has stored it. Of updates only
/// a service's can change what is counted (turned `NodePort` or `LoadBalancer`).
pub(super) fn admit<'a>(
    store: &Store,
    lock: &'a Mutex<()>,
    object: &Object,
    old: Option<&Object>,
) -> Result<Option<MutexGuard<'a, ()>>, ApiError> {
    let ns = object.namespace();
    let counted_update = matches!(old, None | Some(Object::Service(_)));
    if !object.kind().namespaced() || !counted_update || store.list(Kind::ResourceQuota, Some(ns)).1.is_empty() {
        return Ok(None);
    }
    let held = lock.lock().unwrap_or_else(|e| e.into_inner());
    let quotas = store.list_typed::<ResourceQuota>(Some(ns));
    let name = display_name(object);
    let forbidden = |why: String| {
        ApiError::Forbidden(format!("{} \"{name}\" is forbidden: {why}", crate::error::resource_name(object.kind())))
    };
    if let (Object::Pod(pod), None) = (object, old) {
        for quota in quotas.iter().filter(|q| in_scope(q, pod)) {
            let hard = quota.spec.as_ref().and_then(|s| s.hard.clone()).unwrap_or_default();
            if let Some(what) = missing(pod, &hard) {
                let quota = quota.metadata.name.as_deref().unwrap_or_default();
                return Err(forbidden(format!("failed quota: {quota}: must specify {what}")));
            }
        }
    }
    // The namespace's pods and services, shared views (not copies), read only where a quota
    // counts them.
    let hard = || quotas.iter().flat_map(|q| q.spec.iter().flat_map(|s| s.hard.iter().flatten()));
    let counts = |pick: fn(&str) -> bool| hard().any(|(resource, _)| pick(resource));
    let live: Vec<View<Pod>> = match counts(counts_pods) {
        true => store.list_views::<Pod>(Some(ns)).into_iter().filter(|p| !is_terminal_or_deleting(p)).collect(),
        false => Vec::new(),
    };
    let services: Vec<View<Service>> =
        if counts(counts_services) { store.list_views::<Service>(Some(ns)) } else { Vec::new() };
    let replaced = |s: &&Service| old.is_none_or(|o| s.metadata.name.as_deref() != Some(o.name()));
    let services: Vec<&Service> = services.iter().map(|s| &**s).collect();
    let more_services: Vec<&Service> =
        services.iter().copied().filter(replaced).chain(object.downcast::<Service>()).collect();
    let count = |kind: Kind| store.list(kind, Some(ns)).1.len();
    let count_after = |kind: Kind| count(kind) + usize::from(kind == object.kind() && old.is_none());
    for quota in &quotas {
        // A scoped quota counts only the pods in its scopes.
        let pods: Vec<&Pod> = live.iter().map(|p| &**p).filter(|p| in_scope(quota, p)).collect();
        let before = usage(quota, &Counted { pods: &pods, services: &services, count: &count });
        let new_pod = object.downcast::<Pod>().filter(|p| in_scope(quota, p));
        let more_pods: Vec<&Pod> = pods.iter().copied().chain(new_pod).collect();
        let after = usage(quota, &Counted { pods: &more_pods, services: &more_services, count: &count_after });
        let exceeded = exceeded(quota, &before, &after);
        if !exceeded.is_empty() {
            return Err(forbidden(refusal(quota.metadata.name.as_deref().unwrap_or_default(), &exceeded)));
        }
    }
    Ok(Some(held))
}

/// Whether a quota of `resource` counts pods: their number, or their compute.
fn counts_pods(resource: &str) -> bool {
    matches!(resource, "pods" | "count/pods") || svclab_shared::quota::is_compute(resource)
}

/// Whether a quota of `resource` counts services: their number, node ports or load balancers.
fn counts_services(resource: &str) -> bool {
    resource.starts_with("services") || resource == "count/services"
}

/// A quota's counted resources and their usage.
fn usage(quota: &ResourceQuota, counted: &Counted) -> BTreeMap<String, f64> {
    let hard = quota.spec.as_ref().and_then(|s| s.hard.as_ref());
    hard.into_iter().flat_map(|h| h.keys()).filter_map(|r| Some((r.clone(), used(r, counted)?))).collect()
}

/// A resource a new object would take past a quota's hard limit.
struct Exceeded {
    resource: String,
    requested: f64,
    used: f64,
    hard: String,
}

/// The resources whose usage the object raises (`before` to `after`) past the quota's limit.
fn exceeded(quota: &ResourceQuota, before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Vec<Exceeded> {
    let hard = quota.spec.as_ref().and_then(|s| s.hard.clone()).unwrap_or_default();
    let mut exceeded = Vec::new();
    for (resource, used_after) in after {
        let Some(limit) = hard.get(resource) else { continue };
        let used = before.get(resource).copied().unwrap_or_default();
        let over = svclab_shared::quantity::value(limit).is_some_and(|l| *used_after > l + f64::EPSILON);
        if *used_after > used && over {
            let (resource, hard) = (resource.clone(), limit.0.clone());
            exceeded.push(Exceeded { resource, requested: used_after - used, used, hard });
        }
    }
    exceeded
}

/// kube-apiserver's words: `exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`.
fn refusal(quota: &str, exceeded: &[Exceeded]) -> String {
    let list = |value: &dyn Fn(&Exceeded) -> String| {
        exceeded.iter().map(|e| format!("{}={}", e.resource, value(e))).collect::<Vec<_>>().join(",")
    };
    format!(
        "exceeded quota: {quota}, requested: {}, used: {}, limited: {}",
        list(&|e| format(&e.resource, e.requested)),
        list(&|e| format(&e.resource, e.used)),
        list(&|e| e.hard.clone()),
    )
}
