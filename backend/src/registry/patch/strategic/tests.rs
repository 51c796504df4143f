//! Strategic merge patches as kubectl sends them (apply, edit, set image, cordon), against
//! apimachinery's results.

use super::*;
use crate::openapi::schemas;
use serde_json::json;
use svclab_shared::Kind;

fn patched(kind: Kind, mut original: Value, patch: Value) -> Value {
    apply(schemas(), schemas().root(kind), &mut original, &patch).unwrap();
    original
}

#[test]
fn service_ports_merge_by_port() {
    let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
        "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30123, "protocol": "TCP"}]}});
    // kubectl apply after changing targetPort and adding a label.
    let patch = json!({"metadata": {"labels": {"tier": "web", "b": null}},
        "spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": 9090}]}});
    assert_eq!(
        patched(Kind::Service, live, patch),
        json!({"metadata": {"labels": {"a": "1", "tier": "web"}},
               "spec": {"clusterIP": "10.96.0.9",
                        "ports": [{"port": 80, "targetPort": 9090, "nodePort": 30123, "protocol": "TCP"}]}}),
        "the allocated nodePort survives; a null label goes"
    );
}

#[test]
fn delete_directives_remove_items_and_element_order_sorts() {
    let live = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}, {"port": 8443, "name": "alt"}]}});
    let patch = json!({"spec": {"$setElementOrder/ports": [{"port": 8443}, {"port": 443}],
                                "ports": [{"$patch": "delete", "port": 80}]}});
    assert_eq!(
        patched(Kind::Service, live, patch),
        json!({"spec": {"ports": [{"port": 8443, "name": "alt"}, {"port": 443, "name": "https"}]}})
    );
}

#[test]
fn containers_and_env_merge_by_name_inside_a_template() {
    let live = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.26", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "busybox"}]}}}});
    let patch = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}], "env": [{"$patch": "delete", "name": "B"}],
                        "image": "nginx:1.27", "name": "web"}]}}}});
    assert_eq!(
        patched(Kind::Deployment, live, patch),
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"}]}}}})
    );
}

#[test]
fn new_items_are_appended_and_other_lists_replaced() {
    let live = json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8080}], "args": ["x", "y"]}]}});
    let patch = json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 9090}], "args": ["z"]},
                                               {"name": "b", "image": "busybox"}]}});
    assert_eq!(
        patched(Kind::Pod, live, patch),
        json!({"spec": {"containers": [
            {"name": "a", "ports": [{"containerPort": 8080}, {"containerPort": 9090}], "args": ["z"]},
            {"name": "b", "image": "busybox"}]}}),
        "ports merge by containerPort; args (no strategy) are replaced"
    );
}

#[test]
fn replace_directives_replace() {
    let live = json!({"spec": {"selector": {"app": "kubia", "tier": "web"}, "ports": [{"port": 80}, {"port": 81}]}});
    let patch = json!({"spec": {"selector": {"$patch": "replace", "app": "other"}, "ports": [{"$patch": "replace"}, {"port": 90}]}});
    assert_eq!(
        patched(Kind::Service, live, patch),
        json!({"spec": {"selector": {"app": "other"}, "ports": [{"port": 90}]}})
    );
}

#[test]
fn retain_keys_drop_the_other_strategy_fields() {
    let live = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
    assert_eq!(patched(Kind::Deployment, live, patch), json!({"spec": {"strategy": {"type": "Recreate"}}}));
}

#[test]
fn primitive_lists_merge_as_sets_and_lose_what_is_deleted() {
    let live = json!({"metadata": {"finalizers": ["a", "b"]}});
    let patch = json!({"metadata": {"finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]}});
    assert_eq!(patched(Kind::Pod, live, patch), json!({"metadata": {"finalizers": ["a", "c"]}}));
}

#[test]
fn cordon_and_label_patches_touch_only_their_fields() {
    let live = json!({"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.244.1.0/24"}});
    let patch = json!({"spec": {"unschedulable": true}});
    assert_eq!(
        patched(Kind::Node, live, patch),
        json!({"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.244.1.0/24", "unschedulable": true}})
    );
}

#[test]
fn bad_patches_say_why() {
    let mut live = json!({"spec": {"ports": [{"port": 80}]}});
    let root = schemas().root(Kind::Service);
    let err = apply(schemas(), root, &mut live, &json!({"spec": {"ports": [{"name": "x"}]}})).unwrap_err();
    assert!(matches!(err, StrategicError::MissingMergeKey { .. }), "{err}");
    let err = apply(schemas(), root, &mut live, &json!({"spec": {"$patch": "explode"}})).unwrap_err();
    assert!(matches!(err, StrategicError::UnknownDirective(_)), "{err}");
    assert!(apply(schemas(), root, &mut live, &json!([1])).is_err());
}
