//! The LimitRanger admission plugin: a new pod's containers get the requests and limits their
//! namespace's LimitRanges default (and the `kubernetes.io/limit-ranger` annotation saying so),
//! then each container, each pod and each claim must keep within the ranges' `min`, `max` and
//! `maxLimitRequestRatio`, in kube-apiserver's words (`maximum cpu usage per Container is 1, but
//! limit is 2`).

use super::admission::display_name;
use crate::error::ApiError;
use crate::store::Store;
use k8s_openapi::api::core::v1::{Container, LimitRange, LimitRangeItem, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;
use svclab_shared::Object;
use svclab_shared::quantity::value;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

type Resources = BTreeMap<String, Quantity>;

/// Defaults a new pod's resources from the namespace's ranges, then refuses any object that
/// leaves them.
pub(super) fn admit(store: &Store, object: &mut Object) -> Result<(), ApiError> {
    if !matches!(object, Object::Pod(_) | Object::PersistentVolumeClaim(_)) {
        return Ok(());
    }
    let ranges = store.list_typed::<LimitRange>(Some(object.namespace()));
    let items: Vec<&LimitRangeItem> = ranges.iter().flat_map(|r| r.spec.iter().flat_map(|s| s.limits.iter())).collect();
    if items.is_empty() {
        return Ok(());
    }
    let errors = match object {
        Object::Pod(pod) => {
            default_pod(pod, &items);
            check_pod(pod, &items)
        }
        Object::PersistentVolumeClaim(claim) => {
            let resources = claim.spec.as_ref().and_then(|s| s.resources.as_ref());
            // A claim's limits are not the user's to bound: only its requests count.
            let (requests, limits) = requests_and_limits(resources.and_then(|r| r.requests.as_ref()), None);
            items
                .iter()
                .filter(|i| i.type_ == "PersistentVolumeClaim")
                .flat_map(|i| check("PersistentVolumeClaim", i, &requests, &limits))
                .collect()
        }
        _ => Vec::new(),
    };
    match errors.as_slice() {
        [] => Ok(()),
        [one] => Err(forbidden(object, one)),
        many => Err(forbidden(object, &format!("[{}]", many.join(", ")))),
    }
}

fn forbidden(object: &Object, why: &str) -> ApiError {
    let resource = crate::error::resource_name(object.kind());
    ApiError::Forbidden(format!("{resource} \"{}\" is forbidden: {why}", display_name(object)))
}

fn requests_and_limits(requests: Option<&Resources>, limits: Option<&Resources>) -> (Resources, Resources) {
    (requests.cloned().unwrap_or_default(), limits.cloned().unwrap_or_default())
}

/// Each container's missing requests and limits from the `Container` ranges' defaults.
fn default_pod(pod: &mut Pod, items: &[&LimitRangeItem]) {
    let Some(spec) = pod.spec.as_mut() else { return };
    let containers = items.iter().filter(|i| i.type_ == "Container");
    let (mut requests, mut limits) = (Resources::new(), Resources::new());
    for item in containers {
        requests.extend(item.default_request.clone().unwrap_or_default());
        limits.extend(item.default.clone().unwrap_or_default());
    }
    if requests.is_empty() && limits.is_empty() {
        return;
    }
    let mut said = Vec::new();
    let init = spec.init_containers.iter_mut().flatten().map(|c| ("init container", c));
    for (what, container) in spec.containers.iter_mut().map(|c| ("container", c)).chain(init) {
        let resources = container.resources.get_or_insert_with(Default::default);
        for (field, defaults, map) in
            [("request", &requests, &mut resources.requests), ("limit", &limits, &mut resources.limits)]
        {
            let map = map.get_or_insert_with(Default::default);
            let set: Vec<&str> =
                defaults.iter().filter(|(k, _)| !map.contains_key(*k)).map(|(k, _)| k.as_str()).collect();
            if !set.is_empty() {
                said.push(format!("{} {field} for {what} {}", set.join(", "), container.name));
                map.extend(set.iter().map(|k| (k.to_string(), defaults[*k].clone())));
            }
        }
    }
    if !said.is_empty() {
        let annotations = pod.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(ANNOTATION.into(), format!("LimitRanger plugin set: {}", said.join("; ")));
    }
}

/// What in the pod leaves a `Container` or `Pod` range.
fn check_pod(pod: &Pod, items: &[&LimitRangeItem]) -> Vec<String> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    let containers: Vec<&Container> = spec.containers.iter().chain(spec.init_containers.iter().flatten()).collect();
    let of = |c: &Container| {
        let r = c.resources.as_ref();
        requests_and_limits(r.and_then(|r| r.requests.as_ref()), r.and_then(|r| r.limits.as_ref()))
    };
    let mut errors = Vec::new();
    for item in items {
        match item.type_.as_str() {
            "Container" => {
                for container in &containers {
                    let (requests, limits) = of(container);
                    errors.extend(check("Container", item, &requests, &limits));
                }
            }
            "Pod" => {
                let (requests, limits) = pod_totals(spec, &of);
                errors.extend(check("Pod", item, &requests, &limits));
            }
            _ => {}
        }
    }
    errors
}

/// A pod's requests and limits as the scheduler weighs them ([`svclab_shared::pod::effective`]:
/// init containers and sidecars included), resource by resource.
fn pod_totals(spec: &PodSpec, of: &dyn Fn(&Container) -> (Resources, Resources)) -> (Resources, Resources) {
    let each: Vec<(&Container, (Resources, Resources))> =
        spec.containers.iter().chain(spec.init_containers.iter().flatten()).map(|c| (c, of(c))).collect();
    let total = |pick: fn(&(Resources, Resources)) -> &Resources| -> Resources {
        let names: std::collections::BTreeSet<&String> = each.iter().flat_map(|(_, rl)| pick(rl).keys()).collect();
        let amount = |c: &Container, name: &str| {
            let (_, rl) = each.iter().find(|(e, _)| std::ptr::eq(*e, c))?;
            pick(rl).get(name).and_then(value)
        };
        let sum = |name: &str| svclab_shared::pod::effective(spec, |c| amount(c, name).unwrap_or_default());
        names.into_iter().map(|name| (name.clone(), Quantity(svclab_shared::quota::format(name, sum(name))))).collect()
    };
    (total(|rl| &rl.0), total(|rl| &rl.1))
}

/// A range's `min`, `max` and `maxLimitRequestRatio` against one set of requests and limits.
fn check(kind: &str, item: &LimitRangeItem, requests: &Resources, limits: &Resources) -> Vec<String> {
    let mut errors = Vec::new();
    let amount = |map: &Resources, name: &str| map.get(name).and_then(|q| Some((value(q)?, q.0.clone())));
    for (name, min) in item.min.iter().flatten() {
        let floor = value(min).unwrap_or_default();
        let m = &min.0;
        match (amount(requests, name), amount(limits, name)) {
            (None, _) => errors.push(format!("minimum {name} usage per {kind} is {m}.  No request is specified")),
            (Some((r, text)), _) if r < floor => {
                errors.push(format!("minimum {name} usage per {kind} is {m}, but request is {text}"))
            }
            (_, Some((l, text))) if l < floor => {
                errors.push(format!("minimum {name} usage per {kind} is {m}, but limit is {text}"))
            }
            _ => {}
        }
    }
    for (name, max) in item.max.iter().flatten() {
        let ceiling = value(max).unwrap_or_default();
        let m = &max.0;
        // A claim's request is what the user asks for; a container's limit bounds it first.
        let (first, word, then) = match kind {
            "PersistentVolumeClaim" => (amount(requests, name), "request", None),
            _ => (amount(limits, name), "limit", amount(requests, name)),
        };
        match (first, then) {
            (None, _) => errors.push(format!("maximum {name} usage per {kind} is {m}.  No {word} is specified")),
            (Some((v, text)), _) if v > ceiling => {
                errors.push(format!("maximum {name} usage per {kind} is {m}, but {word} is {text}"))
            }
            (_, Some((r, text))) if r > ceiling => {
                errors.push(format!("maximum {name} usage per {kind} is {m}, but request is {text}"))
            }
            _ => {}
        }
    }
    for (name, ratio) in item.max_limit_request_ratio.iter().flatten() {
        let most = value(ratio).unwrap_or_default();
        let head = format!("{name} max limit to request ratio per {kind} is {}", ratio.0);
        match (amount(requests, name), amount(limits, name)) {
            (None, _) | (Some((0.0, _)), _) => {
                errors.push(format!("{head}, but no request is specified or request is 0"))
            }
            (_, None) | (_, Some((0.0, _))) => errors.push(format!("{head}, but no limit is specified or limit is 0")),
            (Some((r, _)), Some((l, _))) if l / r > most => {
                errors.push(format!("{head}, but provided ratio is {:.6}", l / r))
            }
            _ => {}
        }
    }
    errors
}
