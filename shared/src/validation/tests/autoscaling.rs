//! PodDisruptionBudgets and HorizontalPodAutoscalers, checked as kube-apiserver checks them.

use super::*;

#[test]
fn a_disruption_budget_sets_one_bound_in_range() {
    let pdb = |spec: serde_json::Value| {
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "kubia", "namespace": "default"}, "spec": spec})
    };
    assert_eq!(
        errors(pdb(json!({"minAvailable": "50%", "selector": {"matchLabels": {"app": "kubia"}}}))),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(pdb(json!({"minAvailable": 1, "maxUnavailable": "120%", "unhealthyPodEvictionPolicy": "Never",
                          "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}))),
        [
            "spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:1, MaxUnavailable:120%}: minAvailable and maxUnavailable cannot be both set",
            "spec.maxUnavailable: Invalid value: 120%: must not be greater than 100%",
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.unhealthyPodEvictionPolicy: Unsupported value: \"Never\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\"",
        ]
    );
    assert_eq!(
        errors(pdb(json!({"maxUnavailable": -1}))),
        ["spec.maxUnavailable: Invalid value: -1: must be greater than or equal to 0"]
    );
}

fn hpa(spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "kubia", "namespace": "default"}, "spec": spec})
}

#[test]
fn an_autoscaler_needs_sane_bounds_and_a_target() {
    let valid = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "kubia"},
        "minReplicas": 1, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 30}}}]});
    assert_eq!(errors(hpa(valid)), Vec::<String>::new());
    assert_eq!(
        errors(hpa(json!({"scaleTargetRef": {"kind": "", "name": "a/b"}, "minReplicas": 3, "maxReplicas": 2}))),
        [
            "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
            "spec.scaleTargetRef.kind: Required value",
            "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
        ]
    );
    assert_eq!(
        errors(hpa(
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "kubia"}, "minReplicas": 0, "maxReplicas": 0})
        )),
        [
            "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
            "spec.maxReplicas: Invalid value: 0: must be greater than 0",
        ]
    );
}

#[test]
fn each_metric_fills_its_own_source_and_a_valid_target() {
    let spec = json!({"scaleTargetRef": {"kind": "Deployment", "name": "kubia"}, "maxReplicas": 3, "metrics": [
        {"type": "Resource"},
        {"type": "Pods", "pods": {"metric": {"name": ""}, "target": {"type": "AverageValue", "averageValue": "0"}},
         "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "", "target": {"type": "Percent", "averageUtilization": 0, "averageValue": "1"}}},
        {"type": "Magic"}]});
    assert_eq!(
        errors(hpa(spec)),
        [
            "spec.metrics[0].resource: Required value: must populate information for the given metric source",
            "spec.metrics[1].resource: Forbidden: must populate the given metric source only",
            "spec.metrics[1].pods.metric.name: Required value: must specify a metric name",
            "spec.metrics[1].pods.target.averageValue: Invalid value: 0: must be positive",
            "spec.metrics[2].resource.name: Required value: must specify a resource name",
            "spec.metrics[2].resource.target.type: Invalid value: \"Percent\": must be either Utilization, Value, or AverageValue",
            "spec.metrics[2].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
            "spec.metrics[2].resource.target.averageValue: Forbidden: may not set both a target raw value and a target utilization",
            "spec.metrics[3].type: Unsupported value: \"Magic\": supported values: \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
        ]
    );
}

#[test]
fn scaling_behavior_keeps_windows_and_periods_in_range() {
    let spec = json!({"scaleTargetRef": {"kind": "Deployment", "name": "kubia"}, "maxReplicas": 3, "behavior": {
        "scaleUp": {"stabilizationWindowSeconds": 4000, "selectPolicy": "Fastest",
                    "policies": [{"type": "Pods", "value": 0, "periodSeconds": 15},
                                 {"type": "Nodes", "value": 2, "periodSeconds": 3600}]},
        "scaleDown": {"stabilizationWindowSeconds": -1, "policies": []}}});
    assert_eq!(
        errors(hpa(spec)),
        [
            "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
            "spec.behavior.scaleUp.selectPolicy: Unsupported value: \"Fastest\": supported values: \"Disabled\", \"Max\", \"Min\"",
            "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
            "spec.behavior.scaleUp.policies[1].type: Unsupported value: \"Nodes\": supported values: \"Percent\", \"Pods\"",
            "spec.behavior.scaleUp.policies[1].periodSeconds: Invalid value: 3600: must be less than or equal to 1800",
            "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: -1: must be greater than or equal to zero",
            "spec.behavior.scaleDown.policies: Required value: must specify at least one Policy",
        ]
    );
    let fine = json!({"scaleTargetRef": {"kind": "Deployment", "name": "kubia"}, "maxReplicas": 3, "behavior": {
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min",
                      "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}});
    assert_eq!(errors(hpa(fine)), Vec::<String>::new());
}
