//! The CronJob controller: creates a Job from a CronJob's template each time its schedule
//! fires (in its `timeZone`, UTC by default), as its `concurrencyPolicy` allows (`Forbid` skips
//! a run while one is active, `Replace` replaces it) and within `startingDeadlineSeconds`; keeps
//! the newest `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` finished Jobs; and sleeps
//! until the next time the schedule fires.

use super::job::finished;
use super::owners::{controller_keys, controller_of, reference_to};
use super::runtime::{Action, Reconciler, sync_live};
use crate::cron::{due, parse_schedule};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::time::Duration;
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "cronjob-controller";
const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

pub struct CronJobController {
    registry: Registry,
}

impl CronJobController {
    pub fn new(registry: Registry) -> Self {
        CronJobController { registry }
    }

    fn event(&self, cron: &CronJob, type_: &str, reason: &str, message: &str) {
        self.registry.record_event(&Object::CronJob(cron.clone()), type_, reason, message, COMPONENT);
    }

    /// The Jobs this CronJob made, oldest first.
    fn jobs(&self, cron: &CronJob) -> Vec<Job> {
        let ns = cron.metadata.namespace.as_deref();
        let uid = cron.metadata.uid.clone().unwrap_or_default();
        let mut jobs: Vec<Job> = self
            .registry
            .store()
            .list_typed::<Job>(ns)
            .into_iter()
            .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
            .collect();
        jobs.sort_by_key(|j| j.metadata.creation_timestamp.as_ref().map(|t| t.0));
        jobs
    }

    fn delete_job(&self, job: &Job) {
        let key = ObjectKey::new(
            Kind::Job,
            job.metadata.namespace.as_deref().unwrap_or_default(),
            job.metadata.name.as_deref().unwrap_or_default(),
        );
        let _ = self.registry.delete(&key, None);
    }

    /// The Job for the run scheduled at `at`, named after the minute (as Kubernetes names them).
    fn job_for(&self, cron: &CronJob, at: Timestamp) -> Job {
        let spec = cron.spec.clone().unwrap_or_default();
        let template = spec.job_template;
        let meta = template.metadata.unwrap_or_default();
        let mut annotations = meta.annotations.unwrap_or_default();
        annotations.insert(SCHEDULED_ANNOTATION.into(), at.to_string());
        Job {
            metadata: ObjectMeta {
                name: Some(format!("{}-{}", cron.metadata.name.as_deref().unwrap_or_default(), at.as_second() / 60)),
                namespace: cron.metadata.namespace.clone(),
                labels: meta.labels,
                annotations: Some(annotations),
                owner_references: Some(vec![reference_to(Kind::CronJob, &cron.metadata)]),
                ..Default::default()
            },
            spec: template.spec,
            status: None,
        }
    }

    /// Runs what is due; how long until the schedule fires next.
    fn sync(&self, cron: &CronJob) -> Result<Option<Duration>, ApiError> {
        let spec = cron.spec.clone().unwrap_or_default();
        let schedule = match parse_schedule(&spec.schedule) {
            Ok(s) => s,
            Err(e) => {
                self.event(
                    cron,
                    "Warning",
                    "UnparseableSchedule",
                    &format!("unparseable schedule: {:?} : {e}", spec.schedule),
                );
                return Ok(None);
            }
        };
        let tz = match spec.time_zone.as_deref() {
            None | Some("") | Some("UTC") | Some("Etc/UTC") => jiff::tz::TimeZone::UTC,
            Some(name) => match jiff::tz::TimeZone::get(name) {
                Ok(tz) => tz,
                Err(_) => {
                    self.event(
                        cron,
                        "Warning",
                        "UnknownTimeZone",
                        &format!("invalid timeZone: {name:?}: unknown time zone {name}"),
                    );
                    return Ok(None);
                }
            },
        };
        let now = Timestamp::now();
        let jobs = self.jobs(cron);
        let (mut active, finished_jobs): (Vec<&Job>, Vec<&Job>) = jobs.iter().partition(|j| finished(j).is_none());
        let status = cron.status.clone().unwrap_or_default();
        let mut last_schedule = status.last_schedule_time.clone();
        let created = cron.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
        let since = last_schedule.as_ref().map_or(created, |t| t.0);
        let (due_at, next) = due(&schedule, &tz, since, now);
        if let Some(at) = due_at.filter(|_| spec.suspend != Some(true)) {
            let late = spec.starting_deadline_seconds.is_some_and(|d| now.as_second() - at.as_second() > d);
            let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
            if late {
                self.event(cron, "Warning", "MissSchedule", &format!("Missed scheduled time to start a job: {at}"));
                last_schedule = Some(Time(at));
            } else if policy == "Forbid" && !active.is_empty() {
                // Skipped while a run is active; it runs at the next time it fires.
                let names: Vec<&str> = active.iter().filter_map(|j| j.metadata.name.as_deref()).collect();
                self.event(
                    cron,
                    "Normal",
                    "JobAlreadyActive",
                    &format!(
                        "Not starting job because prior execution is running and concurrency policy is Forbid: {}",
                        names.join(", ")
                    ),
                );
                last_schedule = Some(Time(at));
            } else {
                if policy == "Replace" {
                    for job in &active {
                        self.delete_job(job);
                        self.event(
                            cron,
                            "Normal",
                            "SuccessfulDelete",
                            &format!("Deleted job {}", job.metadata.name.as_deref().unwrap_or_default()),
                        );
                    }
                    active.clear();
                }
                match self.registry.create(Object::Job(self.job_for(cron, at))) {
                    Ok(job) => self.event(cron, "Normal", "SuccessfulCreate", &format!("Created job {}", job.name())),
                    Err(ApiError::AlreadyExists { .. }) => {}
                    Err(e) => {
                        self.event(cron, "Warning", "FailedCreate", &format!("Error creating job: {e}"));
                        return Err(e);
                    }
                }
                last_schedule = Some(Time(at));
            }
        }
        self.prune(&spec, &finished_jobs);
        self.write_status(cron, last_schedule, &finished_jobs)?;
        Ok(next.map(|n| Duration::from_millis((n.as_millisecond() - now.as_millisecond()).max(0) as u64)))
    }

    /// Keeps the newest finished Jobs the history limits allow.
    fn prune(&self, spec: &k8s_openapi::api::batch::v1::CronJobSpec, finished_jobs: &[&Job]) {
        let (succeeded, failed): (Vec<&&Job>, Vec<&&Job>) =
            finished_jobs.iter().partition(|j| finished(j).is_some_and(|c| c.type_ == "Complete"));
        for (jobs, limit) in [
            (succeeded, spec.successful_jobs_history_limit.unwrap_or(3)),
            (failed, spec.failed_jobs_history_limit.unwrap_or(1)),
        ] {
            let excess = jobs.len().saturating_sub(limit.max(0) as usize);
            jobs.iter().take(excess).for_each(|j| self.delete_job(j));
        }
    }

    fn write_status(
        &self,
        cron: &CronJob,
        last_schedule: Option<Time>,
        finished_jobs: &[&Job],
    ) -> Result<(), ApiError> {
        let old = cron.status.clone().unwrap_or_default();
        let active: Vec<ObjectReference> = self
            .jobs(cron)
            .iter()
            .filter(|j| finished(j).is_none())
            .map(|j| ObjectReference {
                api_version: Some("batch/v1".into()),
                kind: Some("Job".into()),
                name: j.metadata.name.clone(),
                namespace: j.metadata.namespace.clone(),
                uid: j.metadata.uid.clone(),
                resource_version: j.metadata.resource_version.clone(),
                field_path: None,
            })
            .collect();
        let last_successful = finished_jobs
            .iter()
            .filter(|j| finished(j).is_some_and(|c| c.type_ == "Complete"))
            .filter_map(|j| j.status.as_ref()?.completion_time.clone())
            .max_by_key(|t| t.0)
            .or(old.last_successful_time.clone());
        for job in finished_jobs {
            let name = job.metadata.name.clone().unwrap_or_default();
            let was_active = old.active.iter().flatten().any(|r| r.name.as_deref() == Some(name.as_str()));
            if was_active && let Some(c) = finished(job) {
                self.event(
                    cron,
                    "Normal",
                    "SawCompletedJob",
                    &format!("Saw completed job: {name}, condition: {}", c.type_),
                );
            }
        }
        let status = CronJobStatus {
            active: (!active.is_empty()).then_some(active),
            last_schedule_time: last_schedule,
            last_successful_time: last_successful,
        };
        if status == old {
            return Ok(());
        }
        let mut written = cron.clone();
        written.status = Some(status);
        self.registry.update_status(&Object::CronJob(written)).map(|_| ())
    }
}

impl Reconciler for CronJobController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::CronJob(_) => vec![ObjectKey::of(object)],
            Object::Job(_) => controller_keys(Kind::CronJob, object, None),
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        // A little after the time, so that the schedule has fired when it looks again.
        let sync = |cron: &CronJob| self.sync(cron).map(|next| next.map(|n| n + Duration::from_millis(5)));
        sync_live(self.registry.store(), key, COMPONENT, sync)
    }
}
