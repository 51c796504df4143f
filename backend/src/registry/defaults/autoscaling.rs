//! A HorizontalPodAutoscaler's defaults (`autoscaling/v2`): one replica at least, CPU at 80% of
//! its request when no metric is named, and a `behavior`, once given, filled in with the
//! controller's default rules wherever it leaves a field out.

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget, ResourceMetricSource,
};

/// The utilization a HorizontalPodAutoscaler without metrics aims at (kube's `DefaultCPUUtilization`).
const DEFAULT_CPU_UTILIZATION: i32 = 80;
/// The period of the default policies, in seconds.
const DEFAULT_PERIOD: i32 = 15;

pub(super) fn horizontal_pod_autoscaler(hpa: &mut HorizontalPodAutoscaler) {
    let spec = hpa.spec.get_or_insert_with(Default::default);
    spec.min_replicas.get_or_insert(1);
    let metrics = spec.metrics.get_or_insert_with(Vec::new);
    if metrics.is_empty() {
        metrics.push(MetricSpec {
            type_: "Resource".into(),
            resource: Some(ResourceMetricSource {
                name: "cpu".into(),
                target: MetricTarget {
                    type_: "Utilization".into(),
                    average_utilization: Some(DEFAULT_CPU_UTILIZATION),
                    ..Default::default()
                },
            }),
            ..Default::default()
        });
    }
    if let Some(behavior) = &mut spec.behavior {
        behavior.scale_up = Some(filled(behavior.scale_up.take(), scale_up()));
        behavior.scale_down = Some(filled(behavior.scale_down.take(), scale_down()));
    }
}

fn policy(type_: &str, value: i32) -> HPAScalingPolicy {
    HPAScalingPolicy { type_: type_.into(), value, period_seconds: DEFAULT_PERIOD }
}

/// Scaling up: at once (no window), by the larger of 4 pods or 100% each 15 seconds.
fn scale_up() -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: Some(0),
        select_policy: Some("Max".into()),
        policies: Some(vec![policy("Pods", 4), policy("Percent", 100)]),
        ..Default::default()
    }
}

/// Scaling down: by up to 100% each 15 seconds; the window is left to the controller (300 s).
fn scale_down() -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: None,
        select_policy: Some("Max".into()),
        policies: Some(vec![policy("Percent", 100)]),
        ..Default::default()
    }
}

/// `given`, with what it leaves out taken from `default` (a list of policies given empty stays
/// empty, for validation to refuse).
fn filled(given: Option<HPAScalingRules>, default: HPAScalingRules) -> HPAScalingRules {
    let Some(given) = given else { return default };
    HPAScalingRules {
        stabilization_window_seconds: given.stabilization_window_seconds.or(default.stabilization_window_seconds),
        select_policy: given.select_policy.or(default.select_policy),
        policies: given.policies.or(default.policies),
        ..given
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted(spec: serde_json::Value) -> serde_json::Value {
        let mut hpa: HorizontalPodAutoscaler = serde_json::from_value(serde_json::json!({"spec": spec})).unwrap();
        horizontal_pod_autoscaler(&mut hpa);
        serde_json::to_value(hpa.spec).unwrap()
    }

    #[test]
    fn an_autoscaler_without_metrics_aims_at_80_percent_cpu() {
        let spec =
            defaulted(serde_json::json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3}));
        assert_eq!(spec["minReplicas"], 1);
        assert_eq!(
            spec["metrics"],
            serde_json::json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}])
        );
        assert!(spec.get("behavior").is_none(), "no behavior is made up");
    }

    #[test]
    fn a_behavior_given_is_filled_in_where_it_is_silent() {
        let spec = defaulted(serde_json::json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 3, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}));
        assert_eq!(
            spec["behavior"],
            serde_json::json!({
                "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                         {"type": "Percent", "value": 100, "periodSeconds": 15}]}})
        );
        let empty = defaulted(serde_json::json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 3, "behavior": {"scaleUp": {"policies": []}}}));
        assert_eq!(empty["behavior"]["scaleUp"]["policies"], serde_json::json!([]), "left for validation");
    }
}
