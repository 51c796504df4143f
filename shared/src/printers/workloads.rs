//! Columns of the workloads beyond replica sets and deployments: stateful sets, daemon sets,
//! controller revisions, jobs and cron jobs, and what scales or guards them (horizontal pod
//! autoscalers, pod disruption budgets).

use super::apps::label_selector_or_none;
use super::core::containers_and_images;
use super::{AGE, Column, NAME, Row, age, column, format_labels, human_duration, integer, wide};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, MetricTarget};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

const CONTAINERS: Column = wide("Containers", "Names of each container in the template.");
const IMAGES: Column = wide("Images", "Images referenced by each container in the template.");

pub const STATEFULSET_COLUMNS: &[Column] =
    &[NAME, column("Ready", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES];

pub fn stateful_set(s: &StatefulSet, now: Timestamp) -> Row {
    let spec = s.spec.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = s.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
    let (containers, images) = containers_and_images(spec.map(|s| &s.template));
    Row::new(vec![
        s.metadata.name.clone().unwrap_or_default().into(),
        format!("{ready}/{desired}").into(),
        age(s.metadata.creation_timestamp.as_ref(), now).into(),
        containers.into(),
        images.into(),
    ])
}

pub const DAEMONSET_COLUMNS: &[Column] = &[
    NAME,
    integer("Desired", "The total number of nodes that should be running the daemon pod."),
    integer(
        "Current",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    integer(
        "Ready",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    integer("Up-to-date", "The total number of nodes that are running updated daemon pod"),
    integer(
        "Available",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
    ),
    column("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "A label query over pods that are managed by the daemon set."),
];

pub fn daemon_set(d: &DaemonSet, now: Timestamp) -> Row {
    let spec = d.spec.as_ref();
    let status = d.status.clone().unwrap_or_default();
    let template = spec.map(|s| &s.template);
    let (containers, images) = containers_and_images(template);
    let node_selector = template.and_then(|t| t.spec.as_ref()).and_then(|s| s.node_selector.as_ref());
    Row::new(vec![
        d.metadata.name.clone().unwrap_or_default().into(),
        Value::from(i64::from(status.desired_number_scheduled)),
        Value::from(i64::from(status.current_number_scheduled)),
        Value::from(i64::from(status.number_ready)),
        Value::from(i64::from(status.updated_number_scheduled.unwrap_or(0))),
        Value::from(i64::from(status.number_available.unwrap_or(0))),
        format_labels(node_selector).into(),
        age(d.metadata.creation_timestamp.as_ref(), now).into(),
        containers.into(),
        images.into(),
        label_selector_or_none(spec.map(|s| &s.selector)).into(),
    ])
}

pub const CONTROLLERREVISION_COLUMNS: &[Column] = &[
    NAME,
    column("Controller", "Controller of the object"),
    integer("Revision", "Revision indicates the revision of the state represented by Data."),
    AGE,
];

pub fn controller_revision(r: &ControllerRevision, now: Timestamp) -> Row {
    let owner = r.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true));
    let controller = owner.map_or_else(
        || "<none>".to_string(),
        |o| match o.api_version.split_once('/') {
            Some((group, _)) => format!("{}.{group}/{}", o.kind.to_ascii_lowercase(), o.name),
            None => format!("{}/{}", o.kind.to_ascii_lowercase(), o.name),
        },
    );
    Row::new(vec![
        r.metadata.name.clone().unwrap_or_default().into(),
        controller.into(),
        Value::from(r.revision),
        age(r.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const JOB_COLUMNS: &[Column] = &[
    NAME,
    column("Status", "Status of the job."),
    column("Completions", "The completion status of the job. Only set when the job has completed or failed."),
    column("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "A label query over pods that should match the pod count."),
];

/// A job's STATUS from its conditions' `(type, status)` and whether it is being deleted:
/// `Complete`, `Failed`, `Terminating`, `Suspended`, … (the dashboard passes them from JSON).
pub fn job_status_of<'a>(conditions: impl IntoIterator<Item = (&'a str, &'a str)>, deleting: bool) -> &'static str {
    let true_: Vec<&str> = conditions.into_iter().filter(|(_, s)| *s == "True").map(|(t, _)| t).collect();
    let has = |t: &str| true_.contains(&t);
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// A job's STATUS as kubectl prints it.
pub fn job_status(job: &Job) -> &'static str {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref()).into_iter().flatten();
    job_status_of(conditions.map(|c| (c.type_.as_str(), c.status.as_str())), job.metadata.deletion_timestamp.is_some())
}

pub fn job(job: &Job, now: Timestamp) -> Row {
    let spec = job.spec.as_ref();
    let status = job.status.clone().unwrap_or_default();
    let succeeded = status.succeeded.unwrap_or(0);
    let completions = match (spec.and_then(|s| s.completions), spec.and_then(|s| s.parallelism).unwrap_or(0)) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, p) if p > 1 => format!("{succeeded}/1 of {p}"),
        (None, _) => format!("{succeeded}/1"),
    };
    let duration = match (&status.start_time, &status.completion_time) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.as_second() - start.0.as_second()),
        (Some(start), Some(end)) => human_duration(end.0.as_second() - start.0.as_second()),
    };
    let (containers, images) = containers_and_images(spec.map(|s| &s.template));
    Row::new(vec![
        job.metadata.name.clone().unwrap_or_default().into(),
        job_status(job).into(),
        completions.into(),
        duration.into(),
        age(job.metadata.creation_timestamp.as_ref(), now).into(),
        containers.into(),
        images.into(),
        label_selector_or_none(spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}

pub const CRONJOB_COLUMNS: &[Column] = &[
    NAME,
    column("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    column(
        "Timezone",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
    ),
    column("Suspend", "This flag tells the controller to suspend subsequent executions."),
    integer("Active", "A list of pointers to currently running jobs."),
    column("Last Schedule", "Information when was the last time the job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "A label query over pods that should match the pod count."),
];

pub fn cron_job(c: &CronJob, now: Timestamp) -> Row {
    let spec = c.spec.clone().unwrap_or_default();
    let status = c.status.as_ref();
    let last = status.and_then(|s| s.last_schedule_time.as_ref());
    let job_spec = spec.job_template.spec.as_ref();
    let (containers, images) = containers_and_images(job_spec.map(|s| &s.template));
    let suspend = match spec.suspend {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    Row::new(vec![
        c.metadata.name.clone().unwrap_or_default().into(),
        spec.schedule.clone().into(),
        spec.time_zone.clone().unwrap_or_else(|| "<none>".into()).into(),
        suspend.into(),
        Value::from(status.and_then(|s| s.active.as_ref()).map_or(0, Vec::len) as i64),
        last.map_or_else(|| "<none>".into(), |t| age(Some(t), now)).into(),
        age(c.metadata.creation_timestamp.as_ref(), now).into(),
        containers.into(),
        images.into(),
        label_selector_or_none(job_spec.and_then(|s| s.selector.as_ref())).into(),
    ])
}

pub const PDB_COLUMNS: &[Column] = &[
    NAME,
    column("Min Available", "The minimum number of pods that must be available simultaneously"),
    column("Max Unavailable", "The maximum number of pods that may be unavailable simultaneously"),
    integer("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time"),
    AGE,
];

fn int_or_string(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "N/A".into(),
    }
}

pub fn pod_disruption_budget(p: &PodDisruptionBudget, now: Timestamp) -> Row {
    let spec = p.spec.as_ref();
    Row::new(vec![
        p.metadata.name.clone().unwrap_or_default().into(),
        int_or_string(spec.and_then(|s| s.min_available.as_ref())).into(),
        int_or_string(spec.and_then(|s| s.max_unavailable.as_ref())).into(),
        Value::from(i64::from(p.status.as_ref().map_or(0, |s| s.disruptions_allowed))),
        age(p.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}

pub const HPA_COLUMNS: &[Column] = &[
    NAME,
    column("Reference", "The identifier for the referent."),
    column("Targets", "The target value of the metric (as a quantity)."),
    column("MinPods", "The lower limit for the number of replicas to which the autoscaler can scale down."),
    integer("MaxPods", "The upper limit for the number of pods that can be set by the autoscaler."),
    integer("Replicas", "Current number of replicas of pods managed by this autoscaler."),
    AGE,
];

/// A metric's target as kubectl prints it, the current value unknown (svclab has no metrics).
fn target(target: &MetricTarget) -> String {
    match (target.average_utilization, &target.average_value, &target.value) {
        (Some(u), _, _) => format!("<unknown>/{u}%"),
        (None, Some(v), _) | (None, None, Some(v)) => format!("<unknown>/{}", v.0),
        _ => "<unknown>".into(),
    }
}

/// TARGETS: each metric's `current/target`, at most two, then ` + N more...`.
fn hpa_targets(h: &HorizontalPodAutoscaler) -> String {
    let metrics = h.spec.as_ref().and_then(|s| s.metrics.as_ref());
    let list: Vec<String> = metrics
        .into_iter()
        .flatten()
        .map(|m| match m.type_.as_str() {
            "Resource" => m.resource.as_ref().map(|r| format!("{}: {}", r.name, target(&r.target))),
            "ContainerResource" => m.container_resource.as_ref().map(|r| format!("{}: {}", r.name, target(&r.target))),
            "Pods" => m.pods.as_ref().map(|p| target(&p.target)),
            "Object" => m.object.as_ref().map(|o| target(&o.target)),
            "External" => m.external.as_ref().map(|e| target(&e.target)),
            _ => None,
        })
        .map(|t| t.unwrap_or_else(|| "<unknown type>".into()))
        .collect();
    match list.len() {
        0 => "<none>".into(),
        1 | 2 => list.join(", "),
        n => format!("{} + {} more...", list[..2].join(", "), n - 2),
    }
}

pub fn horizontal_pod_autoscaler(h: &HorizontalPodAutoscaler, now: Timestamp) -> Row {
    let spec = h.spec.as_ref();
    let reference = spec.map(|s| format!("{}/{}", s.scale_target_ref.kind, s.scale_target_ref.name));
    let min = spec.and_then(|s| s.min_replicas).map_or_else(|| "<unset>".to_string(), |n| n.to_string());
    Row::new(vec![
        h.metadata.name.clone().unwrap_or_default().into(),
        reference.unwrap_or_default().into(),
        hpa_targets(h).into(),
        min.into(),
        Value::from(i64::from(spec.map_or(0, |s| s.max_replicas))),
        Value::from(i64::from(h.status.as_ref().and_then(|s| s.current_replicas).unwrap_or(0))),
        age(h.metadata.creation_timestamp.as_ref(), now).into(),
    ])
}
