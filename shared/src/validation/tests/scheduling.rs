//! PriorityClasses, checked as kube-apiserver checks them.

use super::*;

fn class(name: &str, value: i64, extra: serde_json::Value) -> Object {
    let mut v = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value});
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    Object::from_value(v).unwrap()
}

fn messages(errs: Vec<FieldError>) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[test]
fn system_names_are_reserved_and_user_values_bounded() {
    assert!(validate(&class("high", 1_000_000, json!({"preemptionPolicy": "Never"}))).is_empty());
    assert!(validate(&class("system-cluster-critical", 2_000_000_000, json!({}))).is_empty());
    assert_eq!(
        messages(validate(&class("system-important", 5, json!({})))),
        [
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-important is not a known system priority class"
        ]
    );
    assert_eq!(
        messages(validate(&class("system-node-critical", 5, json!({})))),
        [
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of system-node-critical PriorityClass must be 2000001000"
        ]
    );
    assert_eq!(
        messages(validate(&class("huge", 1_000_000_001, json!({"preemptionPolicy": "Sometimes"})))),
        [
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000",
            "preemptionPolicy: Unsupported value: \"Sometimes\": supported values: \"Never\", \"PreemptLowerPriority\"",
        ]
    );
}

#[test]
fn value_and_policy_never_change() {
    let old = class("high", 10, json!({"preemptionPolicy": "PreemptLowerPriority"}));
    let new = class("high", 20, json!({"preemptionPolicy": "Never"}));
    assert_eq!(
        messages(validate_update(&old, &new)),
        [
            "value: Forbidden: may not be changed in an update.",
            "preemptionPolicy: Invalid value: \"Never\": field is immutable",
        ]
    );
}
