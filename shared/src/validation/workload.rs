//! ReplicationControllers, ReplicaSets, Deployments, StatefulSets, DaemonSets and Jobs.

use super::FieldError;
use super::meta::validate_labels;
use super::pod::validate_pod_spec;
use crate::Object;
use crate::selector::Selector;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, JobSpec};
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

fn go_map(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

/// Go's `%#v` of a `metav1.LabelSelector`, as kube-apiserver prints one in an error.
fn go_selector(s: &LabelSelector) -> String {
    let labels = s.match_labels.as_ref().map_or("map[string]string(nil)".to_string(), go_map);
    let expressions = match &s.match_expressions {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|r| {
                    let values = r.values.as_ref().map_or("[]string(nil)".to_string(), |v| {
                        format!("[]string{{{}}}", v.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", "))
                    });
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:{values}}}",
                        r.key, r.operator
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

/// The selector of a Deployment, ReplicaSet or DaemonSet (apps/v1), which cannot change once
/// created; a StatefulSet's is covered by its whole-spec rule.
fn immutable_selector(object: &Object) -> Option<&LabelSelector> {
    match object {
        Object::Deployment(d) => d.spec.as_ref().map(|s| &s.selector),
        Object::ReplicaSet(r) => r.spec.as_ref().map(|s| &s.selector),
        Object::DaemonSet(d) => d.spec.as_ref().map(|s| &s.selector),
        _ => None,
    }
}

/// An apps/v1 workload's selector changed since it was created.
pub(super) fn validate_selector_update(old: &Object, new: &Object) -> Option<FieldError> {
    let (old, new) = (immutable_selector(old)?, immutable_selector(new)?);
    (old != new).then(|| FieldError::invalid("spec.selector", go_selector(new), "field is immutable"))
}

fn validate_replicas(replicas: Option<i32>) -> Option<FieldError> {
    let r = replicas?;
    (r < 0).then(|| FieldError::invalid("spec.replicas", r.to_string(), "must be greater than or equal to 0"))
}

fn validate_template(template: Option<&PodTemplateSpec>, selector: &Selector, at: &str) -> Vec<FieldError> {
    let Some(template) = template else {
        return vec![FieldError::required(format!("{at}.template"), "")];
    };
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    let mut errs = validate_labels(&labels, &format!("{at}.template.metadata.labels"));
    if !selector.matches(&labels) {
        let msg = "`selector` does not match template `labels`";
        errs.push(FieldError::invalid(format!("{at}.template.metadata.labels"), go_map(&labels), msg));
    }
    match &template.spec {
        Some(spec) => errs.extend(validate_pod_spec(spec, &format!("{at}.template.spec"))),
        None => errs.push(FieldError::required(format!("{at}.template.spec"), "")),
    }
    errs
}

pub(super) fn validate_replication_controller(rc: &ReplicationController) -> Vec<FieldError> {
    let Some(spec) = &rc.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs: Vec<FieldError> = validate_replicas(spec.replicas).into_iter().collect();
    let selector = spec.selector.clone().unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    errs.extend(validate_labels(&selector, "spec.selector"));
    errs.extend(validate_template(spec.template.as_ref(), &Selector::from_map(&selector), "spec"));
    errs
}

/// A required, non-empty label selector that the template's labels match.
fn validate_selector_and_template(
    selector: &LabelSelector,
    template: Option<&PodTemplateSpec>,
    resource: &str,
) -> Vec<FieldError> {
    let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector.match_expressions.as_ref().is_none_or(|e| e.is_empty());
    if empty {
        let msg = format!("empty selector is invalid for {resource}");
        return vec![FieldError::invalid("spec.selector", go_selector(selector), msg)];
    }
    match Selector::from_label_selector(selector) {
        Ok(selector) => validate_template(template, &selector, "spec"),
        Err(e) => vec![FieldError::invalid("spec.selector", "", e.to_string())],
    }
}

pub(super) fn validate_replica_set(rs: &ReplicaSet) -> Vec<FieldError> {
    let Some(spec) = &rs.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs: Vec<FieldError> = validate_replicas(spec.replicas).into_iter().collect();
    errs.extend(validate_selector_and_template(&spec.selector, spec.template.as_ref(), "replicaset"));
    errs
}

/// `maxSurge`/`maxUnavailable`: a non-negative integer or a percentage.
pub(super) fn validate_int_or_percent(value: Option<&IntOrString>, path: &str) -> (Vec<FieldError>, bool) {
    match value {
        None => (vec![], false),
        Some(IntOrString::Int(n)) if *n < 0 => {
            (vec![FieldError::invalid(path, n.to_string(), "must be greater than or equal to 0")], false)
        }
        Some(IntOrString::Int(n)) => (vec![], *n == 0),
        Some(IntOrString::String(s)) => match s.strip_suffix('%').and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if n > 100 => (vec![FieldError::invalid(path, s.clone(), "must not be greater than 100%")], false),
            Some(n) => (vec![], n == 0),
            None => (
                vec![FieldError::invalid(
                    path,
                    s.clone(),
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )],
                false,
            ),
        },
    }
}

pub(super) fn validate_deployment(d: &Deployment) -> Vec<FieldError> {
    let Some(spec) = &d.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs: Vec<FieldError> = validate_replicas(spec.replicas).into_iter().collect();
    errs.extend(validate_selector_and_template(&spec.selector, Some(&spec.template), "deployment"));
    if let Some(strategy) = &spec.strategy {
        match strategy.type_.as_deref() {
            None | Some("RollingUpdate") => {
                let rolling = strategy.rolling_update.clone().unwrap_or_default();
                let (e1, surge_zero) =
                    validate_int_or_percent(rolling.max_surge.as_ref(), "spec.strategy.rollingUpdate.maxSurge");
                let (e2, unavailable_zero) = validate_int_or_percent(
                    rolling.max_unavailable.as_ref(),
                    "spec.strategy.rollingUpdate.maxUnavailable",
                );
                errs.extend(e1);
                errs.extend(e2);
                if surge_zero && unavailable_zero {
                    errs.push(FieldError::invalid(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        "0",
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
            Some("Recreate") if strategy.rolling_update.is_some() => errs.push(FieldError::forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            )),
            Some("Recreate") => {}
            Some(other) => {
                errs.push(FieldError::not_supported("spec.strategy.type", other, &["Recreate", "RollingUpdate"]))
            }
        }
    }
    errs
}

/// The restart policies a template may have: `Always` for long-running workloads, `OnFailure`
/// or `Never` for jobs.
fn validate_restart_policy(template: &PodTemplateSpec, at: &str, allowed: &[&str]) -> Option<FieldError> {
    let policy = template.spec.as_ref()?.restart_policy.as_deref().unwrap_or("Always");
    (!allowed.contains(&policy)).then(|| FieldError::not_supported(format!("{at}.restartPolicy"), policy, allowed))
}

pub(super) fn validate_stateful_set(s: &StatefulSet) -> Vec<FieldError> {
    let Some(spec) = &s.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs: Vec<FieldError> = validate_replicas(spec.replicas).into_iter().collect();
    // The pods mount the claims' volumes too.
    let mut template = spec.template.clone();
    if let Some(pod) = template.spec.as_mut() {
        let claims = spec.volume_claim_templates.iter().flatten().filter_map(|c| c.metadata.name.clone());
        pod.volumes.get_or_insert_default().extend(claims.map(|name| Volume { name, ..Default::default() }));
    }
    errs.extend(validate_selector_and_template(&spec.selector, Some(&template), "statefulset"));
    errs.extend(validate_restart_policy(&spec.template, "spec.template.spec", &["Always"]));
    match spec.pod_management_policy.as_deref() {
        None | Some("OrderedReady" | "Parallel") => {}
        Some(other) => {
            errs.push(FieldError::not_supported("spec.podManagementPolicy", other, &["OrderedReady", "Parallel"]))
        }
    }
    for (i, claim) in spec.volume_claim_templates.iter().flatten().enumerate() {
        if claim.metadata.name.as_deref().unwrap_or_default().is_empty() {
            errs.push(FieldError::required(
                format!("spec.volumeClaimTemplates[{i}].metadata.name"),
                "name or generateName is required",
            ));
        }
        if let Some(claim) = &claim.spec {
            errs.extend(super::storage::validate_claim_spec(claim, &format!("spec.volumeClaimTemplates[{i}].spec")));
        }
    }
    errs
}

/// A StatefulSet's spec may change only in its replicas, ordinals, template, update strategy,
/// claim retention and `minReadySeconds`; its selector never.
pub(super) fn validate_stateful_set_update(old: &StatefulSet, new: &StatefulSet) -> Vec<FieldError> {
    let strip = |s: &StatefulSet| {
        let mut spec = s.spec.clone().unwrap_or_default();
        (spec.replicas, spec.ordinals, spec.update_strategy, spec.persistent_volume_claim_retention_policy) =
            (None, None, None, None);
        (spec.template, spec.min_ready_seconds) = (Default::default(), None);
        spec
    };
    if strip(old) == strip(new) {
        return vec![];
    }
    let msg = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";
    vec![FieldError::forbidden("spec", msg)]
}

/// What of a Job may not change once it exists, as kube-apiserver's `ValidateJobSpecUpdate`
/// says: its selector, pod template, completion mode, and completions (except an Indexed Job's
/// scaled with its parallelism).
pub(super) fn validate_job_update(old: &JobSpec, new: &JobSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.selector != new.selector {
        let selector = new.selector.as_ref().map(go_selector).unwrap_or_else(|| "nil".into());
        errs.push(FieldError::invalid("spec.selector", selector, "field is immutable"));
    }
    if old.template != new.template {
        errs.push(FieldError::invalid("spec.template", "core.PodTemplateSpec{…}", "field is immutable"));
    }
    if old.completion_mode != new.completion_mode {
        let mode = new.completion_mode.as_deref().unwrap_or("NonIndexed");
        errs.push(FieldError::invalid("spec.completionMode", super::quote(mode), "field is immutable"));
    }
    let indexed = new.completion_mode.as_deref() == Some("Indexed");
    if old.completions != new.completions && !(indexed && new.completions == new.parallelism) {
        let value = new.completions.map_or("nil".to_string(), |c| c.to_string());
        errs.push(FieldError::invalid("spec.completions", value, "field is immutable"));
    }
    errs
}

pub(super) fn validate_daemon_set(d: &DaemonSet) -> Vec<FieldError> {
    let Some(spec) = &d.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs = validate_selector_and_template(&spec.selector, Some(&spec.template), "daemonset");
    errs.extend(validate_restart_policy(&spec.template, "spec.template.spec", &["Always"]));
    errs
}

/// A Job's spec at `at` (`spec`, or `spec.jobTemplate.spec` in a CronJob).
pub(super) fn validate_job_spec(spec: &JobSpec, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, value) in
        [("parallelism", spec.parallelism), ("completions", spec.completions), ("backoffLimit", spec.backoff_limit)]
    {
        if let Some(n) = value.filter(|n| *n < 0) {
            errs.push(FieldError::invalid(
                format!("{at}.{field}"),
                n.to_string(),
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(selector) = &spec.selector {
        match Selector::from_label_selector(selector) {
            Ok(selector) => errs.extend(validate_template(Some(&spec.template), &selector, at)),
            Err(e) => errs.push(FieldError::invalid(format!("{at}.selector"), "", e.to_string())),
        }
    } else if let Some(pod) = &spec.template.spec {
        errs.extend(super::pod::validate_pod_spec(pod, &format!("{at}.template.spec")));
    }
    errs.extend(validate_restart_policy(&spec.template, &format!("{at}.template.spec"), &["OnFailure", "Never"]));
    errs
}

pub(super) fn validate_cron_job(c: &CronJob) -> Vec<FieldError> {
    let Some(spec) = &c.spec else {
        return vec![FieldError::required("spec", "")];
    };
    let mut errs = Vec::new();
    if spec.schedule.trim().is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    }
    if let Some(job) = &spec.job_template.spec {
        errs.extend(validate_job_spec(job, "spec.jobTemplate.spec"));
    }
    match spec.concurrency_policy.as_deref() {
        None | Some("Allow" | "Forbid" | "Replace") => {}
        Some(other) => {
            errs.push(FieldError::not_supported("spec.concurrencyPolicy", other, &["Allow", "Forbid", "Replace"]))
        }
    }
    errs
}
