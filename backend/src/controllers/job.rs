//! The Job controller: runs a Job's pods to completion — up to `parallelism` at a time until
//! `completions` have succeeded (each index once, for `Indexed` jobs) — replacing failed pods
//! with an exponential back-off until `backoffLimit` failures, or `activeDeadlineSeconds`,
//! fail the Job; `suspend` stops its pods; `ttlSecondsAfterFinished` deletes it once finished.
//! The counting is [`count`] and [`decide`], pure.

use super::owners::{controller_keys, owned_pods, reference_to};
use super::runtime::{Action, Reconciler, sync_live};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{EnvVar, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeSet;
use std::time::Duration;
use svclab_shared::pod::is_ready;
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "job-controller";
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// A Job's pods, counted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub active: Vec<Pod>,
    pub ready: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// Indexes that have succeeded (`Indexed` jobs).
    pub done_indexes: BTreeSet<i32>,
    /// When the newest failure happened, for the back-off.
    pub last_failure: Option<Timestamp>,
}

fn index_of(pod: &Pod) -> Option<i32> {
    pod.metadata.annotations.as_ref()?.get(INDEX_ANNOTATION)?.parse().ok()
}

/// Counts the pods: failures include container restarts under `restartPolicy: OnFailure`, as
/// the backoff limit counts them.
pub fn count(pods: &[Pod]) -> Counts {
    let mut c = Counts::default();
    for pod in pods {
        let status = pod.status.clone().unwrap_or_default();
        let restarts: i32 = status.container_statuses.iter().flatten().map(|s| s.restart_count).sum();
        match status.phase.as_deref() {
            Some("Succeeded") => {
                c.succeeded += 1;
                c.done_indexes.extend(index_of(pod));
            }
            Some("Failed") => {
                c.failed += 1;
                let finished = status
                    .container_statuses
                    .iter()
                    .flatten()
                    .filter_map(|s| s.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0));
                c.last_failure = c.last_failure.max(finished.max());
            }
            _ if pod.metadata.deletion_timestamp.is_none() => {
                c.failed += restarts;
                c.ready += is_ready(pod) as i32;
                c.active.push(pod.clone());
            }
            _ => {}
        }
    }
    c
}

/// What the Job should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It finished: `Complete`, or `Failed` with a reason and message.
    Complete,
    Failed(&'static str, &'static str),
    /// Its pods stop while it is suspended.
    Suspend,
    /// Make this many more pods (after `wait`, the back-off), or delete this many.
    Run {
        create: Vec<Option<i32>>,
        delete: usize,
        wait: Duration,
    },
}

/// The back-off before replacing a failed pod: 10 s doubling per failure, at most 6 minutes.
fn backoff(failed: i32) -> Duration {
    let exp = failed.clamp(1, 10) - 1;
    Duration::from_secs(10u64 << exp).min(Duration::from_secs(360))
}

/// Decides from the spec and the counts at `now`.
pub fn decide(job: &Job, c: &Counts, now: Timestamp) -> Decision {
    let spec = job.spec.clone().unwrap_or_default();
    if spec.suspend == Some(true) {
        return Decision::Suspend;
    }
    if c.failed > spec.backoff_limit.unwrap_or(6) {
        return Decision::Failed("BackoffLimitExceeded", "Job has reached the specified backoff limit");
    }
    let started = job.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    if let (Some(deadline), Some(started)) = (spec.active_deadline_seconds, started)
        && now.as_second() - started.as_second() >= deadline
    {
        return Decision::Failed("DeadlineExceeded", "Job was active longer than specified deadline");
    }
    let parallelism = spec.parallelism.unwrap_or(1).max(0) as usize;
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let (create, delete) = match spec.completions {
        Some(total) if indexed => {
            if c.done_indexes.len() as i32 >= total {
                return Decision::Complete;
            }
            let running: BTreeSet<i32> = c.active.iter().filter_map(index_of).collect();
            let missing = (0..total).filter(|i| !c.done_indexes.contains(i) && !running.contains(i));
            let room = parallelism.saturating_sub(c.active.len());
            (missing.take(room).map(Some).collect(), c.active.len().saturating_sub(parallelism))
        }
        Some(total) => {
            if c.succeeded >= total {
                return Decision::Complete;
            }
            let wanted = parallelism.min((total - c.succeeded).max(0) as usize);
            (vec![None; wanted.saturating_sub(c.active.len())], c.active.len().saturating_sub(wanted))
        }
        // A work queue: done once one pod succeeded and none is left running.
        None if c.succeeded > 0 => {
            if c.active.is_empty() {
                return Decision::Complete;
            }
            (vec![], 0)
        }
        None => (vec![None; parallelism.saturating_sub(c.active.len())], c.active.len().saturating_sub(parallelism)),
    };
    let wait = match c.last_failure {
        Some(at) if !create.is_empty() => {
            let since = Duration::from_secs((now.as_second() - at.as_second()).max(0) as u64);
            backoff(c.failed).saturating_sub(since)
        }
        _ => Duration::ZERO,
    };
    Decision::Run { create, delete, wait }
}

pub struct JobController {
    registry: Registry,
}

impl JobController {
    pub fn new(registry: Registry) -> Self {
        JobController { registry }
    }

    fn event(&self, job: &Job, type_: &str, reason: &str, message: &str) {
        self.registry.record_event(&Object::Job(job.clone()), type_, reason, message, COMPONENT);
    }

    fn new_pod(&self, job: &Job, index: Option<i32>) -> Pod {
        let spec = job.spec.clone().unwrap_or_default();
        let name = job.metadata.name.clone().unwrap_or_default();
        let template_meta = spec.template.metadata.clone().unwrap_or_default();
        let mut labels = template_meta.labels.unwrap_or_default();
        let mut annotations = template_meta.annotations.unwrap_or_default();
        let mut pod_spec = spec.template.spec.clone().unwrap_or_default();
        if let Some(i) = index {
            labels.insert(INDEX_ANNOTATION.into(), i.to_string());
            annotations.insert(INDEX_ANNOTATION.into(), i.to_string());
            pod_spec.hostname.get_or_insert_with(|| format!("{name}-{i}"));
            for c in pod_spec.containers.iter_mut().chain(pod_spec.init_containers.iter_mut().flatten()) {
                let env = c.env.get_or_insert_with(Vec::new);
                env.push(EnvVar { name: "JOB_COMPLETION_INDEX".into(), value: Some(i.to_string()), value_from: None });
            }
        }
        let prefix = match index {
            Some(i) => format!("{name}-{i}-"),
            None => format!("{name}-"),
        };
        Pod {
            metadata: ObjectMeta {
                generate_name: Some(prefix),
                namespace: job.metadata.namespace.clone(),
                labels: Some(labels),
                annotations: (!annotations.is_empty()).then_some(annotations),
                owner_references: Some(vec![reference_to(Kind::Job, &job.metadata)]),
                ..Default::default()
            },
            spec: Some(pod_spec),
            status: None,
        }
    }

    fn delete_pods(&self, job: &Job, pods: &[Pod]) {
        for pod in pods {
            let (ns, name) =
                (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
            if self.registry.delete(&ObjectKey::new(Kind::Pod, &ns, &name), None).is_ok() {
                self.event(job, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}"));
            }
        }
    }

    /// Brings the Job's pods in line; when to look again.
    fn sync(&self, job: &Job) -> Result<Option<Duration>, ApiError> {
        let now = Timestamp::now();
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let pods = owned_pods(self.registry.store(), &ns, job.metadata.uid.as_deref().unwrap_or_default());
        let counts = count(&pods);
        if finished(job).is_some() {
            self.delete_pods(job, &counts.active);
            return Ok(self.expire(job, now));
        }
        let decision = decide(job, &counts, now);
        let mut again = None;
        match &decision {
            Decision::Complete => self.event(job, "Normal", "Completed", "Job completed"),
            Decision::Failed(reason, message) => {
                self.delete_pods(job, &counts.active);
                self.event(job, "Warning", reason, message);
            }
            Decision::Suspend => self.delete_pods(job, &counts.active),
            Decision::Run { wait, .. } if !wait.is_zero() => again = Some(*wait),
            Decision::Run { create, delete, .. } => {
                let mut doomed = counts.active.clone();
                doomed.sort_by_key(is_ready);
                self.delete_pods(job, &doomed[..(*delete).min(doomed.len())]);
                for index in create {
                    match self.registry.create(Object::Pod(self.new_pod(job, *index))) {
                        Ok(pod) => {
                            self.event(job, "Normal", "SuccessfulCreate", &format!("Created pod: {}", pod.name()))
                        }
                        Err(e) => {
                            self.event(job, "Warning", "FailedCreate", &format!("Error creating: {e}"));
                            return Err(e);
                        }
                    }
                }
            }
        }
        let deadline = job.spec.as_ref().and_then(|s| s.active_deadline_seconds);
        self.write_status(job, &counts, &decision, now)?;
        if again.is_none() && matches!(decision, Decision::Run { .. }) {
            again = deadline.map(|d| Duration::from_secs(d.max(0) as u64));
        }
        Ok(again)
    }

    /// A finished Job with `ttlSecondsAfterFinished` is deleted once that has passed.
    fn expire(&self, job: &Job, now: Timestamp) -> Option<Duration> {
        let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
        let done =
            job.status.as_ref()?.completion_time.clone().or_else(|| finished(job)?.last_transition_time.clone())?;
        let left = done.0.as_second() + i64::from(ttl) - now.as_second();
        if left > 0 {
            return Some(Duration::from_secs(left as u64));
        }
        let key = ObjectKey::new(
            Kind::Job,
            job.metadata.namespace.as_deref().unwrap_or_default(),
            job.metadata.name.as_deref().unwrap_or_default(),
        );
        let _ = self.registry.delete(&key, None);
        None
    }

    fn write_status(&self, job: &Job, c: &Counts, decision: &Decision, now: Timestamp) -> Result<(), ApiError> {
        let old = job.status.clone().unwrap_or_default();
        let time = Time(now);
        let condition = |type_: &str, reason: &str, message: &str| JobCondition {
            type_: type_.into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_probe_time: Some(time.clone()),
            last_transition_time: Some(time.clone()),
        };
        let mut conditions: Vec<JobCondition> = old.conditions.clone().unwrap_or_default();
        let mut completion_time = old.completion_time.clone();
        let mut active = c.active.len() as i32;
        match decision {
            Decision::Complete => {
                conditions.push(condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ));
                conditions.push(condition(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ));
                completion_time = Some(time.clone());
            }
            Decision::Failed(reason, message) => {
                conditions.push(condition("FailureTarget", reason, message));
                conditions.push(condition("Failed", reason, message));
                active = 0;
            }
            Decision::Suspend => {
                if !conditions.iter().any(|c| c.type_ == "Suspended" && c.status == "True") {
                    conditions.retain(|c| c.type_ != "Suspended");
                    conditions.push(condition("Suspended", "JobSuspended", "Job suspended"));
                }
                active = 0;
            }
            Decision::Run { .. } => conditions.retain(|c| c.type_ != "Suspended"),
        }
        let indexed = job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed");
        let status = JobStatus {
            active: Some(active).filter(|n| *n > 0),
            ready: Some(c.ready),
            succeeded: Some(c.succeeded).filter(|n| *n > 0),
            failed: Some(c.failed).filter(|n| *n > 0),
            terminating: Some(0),
            start_time: old.start_time.clone().or_else(|| (*decision != Decision::Suspend).then(|| time.clone())),
            completion_time,
            conditions: (!conditions.is_empty()).then_some(conditions),
            completed_indexes: indexed.then(|| compress(&c.done_indexes)).filter(|s| !s.is_empty()),
            uncounted_terminated_pods: Some(Default::default()),
            ..old.clone()
        };
        if status == old {
            return Ok(());
        }
        let mut written = job.clone();
        written.status = Some(status);
        self.registry.update_status(&Object::Job(written)).map(|_| ())
    }
}

/// Indexes as the status lists them: `1,3-5,7`.
fn compress(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
    }
    parts.join(",")
}

/// The Job's `Complete` or `Failed` condition, once it has one.
pub fn finished(job: &Job) -> Option<&JobCondition> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

impl Reconciler for JobController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::Job(_) => vec![ObjectKey::of(object)],
            Object::Pod(_) => controller_keys(Kind::Job, object, old),
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        sync_live(self.registry.store(), key, COMPONENT, |job: &Job| self.sync(job))
    }
}

#[cfg(test)]
mod tests;
