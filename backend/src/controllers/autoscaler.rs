//! The horizontal pod autoscaler, as it behaves on a cluster without a metrics server: it keeps
//! its target's replicas within `minReplicas`..`maxReplicas` (scaling it when they are outside),
//! reports the current replicas, and says in its conditions that it cannot get metrics, so it
//! scales no further (`ScalingActive: False, FailedGetResourceMetric`).

use super::runtime::{Action, Reconciler, sync_live};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use svclab_shared::scale::{replicas_and_selector, status_replicas, with_replicas};
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "horizontal-pod-autoscaler";

/// The kinds an autoscaler may target (those with a `scale` subresource).
fn target_kind(kind: &str) -> Option<Kind> {
    match kind {
        "Deployment" => Some(Kind::Deployment),
        "ReplicaSet" => Some(Kind::ReplicaSet),
        "StatefulSet" => Some(Kind::StatefulSet),
        "ReplicationController" => Some(Kind::ReplicationController),
        _ => None,
    }
}

/// A scalable object's desired and current replicas.
fn replicas(object: &Object) -> Option<(i32, i32)> {
    let (desired, _) = replicas_and_selector(object)?;
    Some((desired, status_replicas(object)))
}

/// Why no metric can be had: the first metric's words (cpu by default), as the controller puts them.
fn no_metrics(hpa: &HorizontalPodAutoscaler) -> String {
    let metric = hpa.spec.as_ref().and_then(|s| s.metrics.as_ref()).and_then(|m| m.first());
    match metric.map(|m| (m.type_.as_str(), m.resource.as_ref().map(|r| r.name.clone()))) {
        Some(("Resource", Some(name))) | Some(("ContainerResource", Some(name))) => format!(
            "the HPA was unable to compute the replica count: failed to get {name} utilization: unable to get metrics for resource {name}: no metrics returned from resource metrics API"
        ),
        Some((type_, _)) if type_ != "Resource" => format!(
            "the HPA was unable to compute the replica count: unable to get {} metric: no custom metrics API is served",
            type_.to_lowercase()
        ),
        _ => "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API".into(),
    }
}

pub struct AutoscalerController {
    registry: Registry,
}

impl AutoscalerController {
    pub fn new(registry: Registry) -> Self {
        AutoscalerController { registry }
    }

    fn sync(&self, hpa: &HorizontalPodAutoscaler) -> Result<(), ApiError> {
        let spec = hpa.spec.clone().unwrap_or_default();
        let ns = hpa.metadata.namespace.clone().unwrap_or_default();
        let reference = &spec.scale_target_ref;
        let target = target_kind(&reference.kind)
            .and_then(|kind| self.registry.store().get(&ObjectKey::new(kind, &ns, &reference.name)));
        let now = Time(Timestamp::now());
        let old = hpa.status.clone().unwrap_or_default();
        let condition = |type_: &str, ok: bool, reason: &str, message: String| {
            let status = if ok { "True" } else { "False" };
            let kept = old.conditions.iter().flatten().find(|c| c.type_ == type_ && c.status == status);
            HorizontalPodAutoscalerCondition {
                type_: type_.into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some(message),
                last_transition_time: kept.and_then(|c| c.last_transition_time.clone()).or(Some(now.clone())),
            }
        };
        let (min, max) = (spec.min_replicas.unwrap_or(1), spec.max_replicas);
        let mut status = HorizontalPodAutoscalerStatus { observed_generation: hpa.metadata.generation, ..old.clone() };
        match target.as_deref().and_then(|t| replicas(t).map(|r| (t, r))) {
            None => {
                let resource = target_kind(&reference.kind).map_or_else(String::new, |k| match k.group() {
                    "" => format!("{}/scale", k.plural()),
                    group => format!("{}/scale.{group}", k.plural()),
                });
                let msg = format!(
                    "the HPA controller was unable to get the target's current scale: {resource} \"{}\" not found",
                    reference.name
                );
                status.conditions = Some(vec![condition("AbleToScale", false, "FailedGetScale", msg)]);
            }
            Some((target, (desired, current))) => {
                let bounded = desired.clamp(min, max.max(min));
                if bounded != desired && desired != 0 {
                    self.registry.update(with_replicas(target, bounded))?;
                    let why = if desired < min {
                        "Current number of replicas below Spec.MinReplicas"
                    } else {
                        "Current number of replicas above Spec.MaxReplicas"
                    };
                    let msg = format!("New size: {bounded}; reason: {why}");
                    self.registry.record_event(
                        &Object::HorizontalPodAutoscaler(hpa.clone()),
                        "Normal",
                        "SuccessfulRescale",
                        &msg,
                        COMPONENT,
                    );
                    status.last_scale_time = Some(now.clone());
                }
                status.current_replicas = Some(current);
                status.desired_replicas = bounded;
                status.conditions = Some(vec![
                    condition(
                        "AbleToScale",
                        true,
                        "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale".into(),
                    ),
                    condition("ScalingActive", false, "FailedGetResourceMetric", no_metrics(hpa)),
                ]);
            }
        }
        if status == old {
            return Ok(());
        }
        let mut written = hpa.clone();
        written.status = Some(status);
        self.registry.update_status(&Object::HorizontalPodAutoscaler(written)).map(|_| ())
    }
}

impl Reconciler for AutoscalerController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::HorizontalPodAutoscaler(_) => vec![ObjectKey::of(object)],
            Object::Deployment(_)
            | Object::ReplicaSet(_)
            | Object::StatefulSet(_)
            | Object::ReplicationController(_) => self
                .registry
                .store()
                .list_typed::<HorizontalPodAutoscaler>(Some(object.namespace()))
                .into_iter()
                .filter(|h| {
                    h.spec.as_ref().is_some_and(|s| {
                        s.scale_target_ref.kind == object.kind().name() && s.scale_target_ref.name == object.name()
                    })
                })
                .map(|h| {
                    ObjectKey::new(
                        Kind::HorizontalPodAutoscaler,
                        object.namespace(),
                        h.metadata.name.as_deref().unwrap_or_default(),
                    )
                })
                .collect(),
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        sync_live(self.registry.store(), key, COMPONENT, |hpa: &HorizontalPodAutoscaler| self.sync(hpa).map(|()| None))
    }
}
