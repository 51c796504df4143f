//! The disruption controller: each PodDisruptionBudget's status — the pods it covers, how many
//! are healthy (ready), how many must stay so (`minAvailable`, or the total less
//! `maxUnavailable`, percentages rounded up) and so how many may be disrupted now. svclab has
//! no eviction API to hold to it; `kubectl get pdb` and `kubectl drain`'s reading of it are
//! what the numbers are for.

use super::runtime::{Action, Reconciler, sync_live};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use svclab_shared::pod::is_ready;
use svclab_shared::selector::Selector;
use svclab_shared::{Kind, Object};

const COMPONENT: &str = "disruption-controller";

/// `n` or `p%` of `total`, a percentage rounded up.
fn scaled(value: &IntOrString, total: i32) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let percent: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            ((percent * i64::from(total) + 99) / 100) as i32
        }
    }
}

/// (expected pods, healthy pods, pods that must stay healthy, disruptions allowed).
pub fn budget(pdb: &PodDisruptionBudget, pods: &[Pod]) -> (i32, i32, i32, i32) {
    let expected = pods.len() as i32;
    let healthy = pods.iter().filter(|p| is_ready(p)).count() as i32;
    let spec = pdb.spec.clone().unwrap_or_default();
    let desired = match (&spec.min_available, &spec.max_unavailable) {
        (Some(min), _) => scaled(min, expected),
        (None, Some(max)) => (expected - scaled(max, expected)).max(0),
        (None, None) => 0,
    };
    (expected, healthy, desired, (healthy - desired).max(0))
}

pub struct DisruptionController {
    registry: Registry,
}

impl DisruptionController {
    pub fn new(registry: Registry) -> Self {
        DisruptionController { registry }
    }

    fn selector(pdb: &PodDisruptionBudget) -> Option<Selector> {
        Selector::from_label_selector(pdb.spec.as_ref()?.selector.as_ref()?).ok()
    }

    fn sync(&self, pdb: &PodDisruptionBudget) -> Result<(), ApiError> {
        let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
        let pods: Vec<Pod> = match Self::selector(pdb) {
            Some(selector) => self
                .registry
                .store()
                .list_typed::<Pod>(Some(ns))
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && selector.matches_opt(p.metadata.labels.as_ref()))
                .collect(),
            None => vec![],
        };
        let (expected, healthy, desired, allowed) = budget(pdb, &pods);
        let old = pdb.status.clone().unwrap_or_default();
        let (status_word, reason, message) =
            if allowed > 0 { ("True", "SufficientPods", "") } else { ("False", "InsufficientPods", "") };
        let previous =
            old.conditions.iter().flatten().find(|c| c.type_ == "DisruptionAllowed" && c.status == status_word);
        let condition = Condition {
            type_: "DisruptionAllowed".into(),
            status: status_word.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: pdb.metadata.generation,
            last_transition_time: previous.map_or_else(|| Time(Timestamp::now()), |c| c.last_transition_time.clone()),
        };
        let status = PodDisruptionBudgetStatus {
            current_healthy: healthy,
            desired_healthy: desired,
            disruptions_allowed: allowed,
            expected_pods: expected,
            observed_generation: pdb.metadata.generation,
            conditions: Some(vec![condition]),
            disrupted_pods: None,
        };
        if pdb.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut written = pdb.clone();
        written.status = Some(status);
        self.registry.update_status(&Object::PodDisruptionBudget(written)).map(|_| ())
    }
}

impl Reconciler for DisruptionController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::PodDisruptionBudget(_) => vec![ObjectKey::of(object)],
            Object::Pod(_) => {
                let labels = |o: &Object| o.metadata().labels.clone();
                let budgets = self.registry.store().list_typed::<PodDisruptionBudget>(Some(object.namespace()));
                budgets
                    .iter()
                    .filter(|b| {
                        Self::selector(b).is_some_and(|s| {
                            std::iter::once(object).chain(old).any(|o| s.matches_opt(labels(o).as_ref()))
                        })
                    })
                    .map(|b| {
                        ObjectKey::new(
                            Kind::PodDisruptionBudget,
                            object.namespace(),
                            b.metadata.name.as_deref().unwrap_or_default(),
                        )
                    })
                    .collect()
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        sync_live(self.registry.store(), key, COMPONENT, |pdb: &PodDisruptionBudget| self.sync(pdb).map(|()| None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods(ready: usize, unready: usize) -> Vec<Pod> {
        let pod = |ok: bool| -> Pod {
            serde_json::from_value(json!({"status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": if ok { "True" } else { "False" }}]}}))
            .unwrap()
        };
        (0..ready).map(|_| pod(true)).chain((0..unready).map(|_| pod(false))).collect()
    }

    fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec})).unwrap()
    }

    #[test]
    fn the_budget_is_counted_as_kubernetes_counts_it() {
        assert_eq!(budget(&pdb(json!({"minAvailable": 2})), &pods(3, 0)), (3, 3, 2, 1));
        assert_eq!(budget(&pdb(json!({"minAvailable": 1})), &pods(1, 0)), (1, 1, 1, 0), "one replica: nothing may go");
        assert_eq!(budget(&pdb(json!({"minAvailable": "50%"})), &pods(2, 1)), (3, 2, 2, 0), "50% of 3 rounds up to 2");
        assert_eq!(budget(&pdb(json!({"maxUnavailable": 1})), &pods(4, 0)), (4, 4, 3, 1));
        assert_eq!(budget(&pdb(json!({"maxUnavailable": "25%"})), &pods(3, 1)), (4, 3, 3, 0));
    }
}
