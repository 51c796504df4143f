//! Field ownership as kube-apiserver records it, and server-side apply's merges, removals and
//! conflicts.

use super::*;
use crate::openapi::schemas;
use svclab_shared::Kind;

fn writer(manager: &'static str) -> Writer<'static> {
    Writer { schemas: schemas(), schema: schemas().root(Kind::Service), manager, api_version: "v1" }
}

fn service(target_port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubia", "namespace": "default", "labels": {"app": "kubia"}},
        "spec": {"selector": {"app": "kubia"}, "ports": [{"port": 80, "targetPort": target_port}]}})
}

fn managers(object: &Value) -> Vec<(String, String)> {
    entries(Some(object)).into_iter().map(|e| (e.manager, e.operation)).collect()
}

#[test]
fn applied_fields_read_as_kube_apiserver_writes_them() {
    let applied = writer("kubectl").apply(None, &service(8080), false).unwrap();
    let entry = &applied["metadata"]["managedFields"][0];
    assert_eq!((entry["manager"].as_str(), entry["operation"].as_str()), (Some("kubectl"), Some("Apply")));
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
               "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
                          "f:selector": {}}})
    );
    let paths: Vec<String> =
        FieldSet::from_fields_v1(&entry["fieldsV1"]).paths().iter().map(|p| fieldset::display(p)).collect();
    assert!(paths.contains(&".spec.ports[port=80,protocol=\"TCP\"].targetPort".to_string()), "{paths:?}");
}

#[test]
fn an_update_takes_the_fields_it_changes() {
    let mut created = service(8080);
    writer("kubectl-create").update(None, &mut created);
    assert_eq!(managers(&created), [("kubectl-create".into(), "Update".into())]);
    let mut edited = created.clone();
    edited["spec"]["ports"][0]["protocol"] = json!("TCP");
    edited["spec"]["ports"][0]["targetPort"] = json!(9090);
    writer("kubectl-edit").update(Some(&created), &mut edited);
    let list = entries(Some(&edited));
    let edit = list.iter().find(|e| e.manager == "kubectl-edit").unwrap();
    let paths: Vec<String> = edit.fields.paths().iter().map(|p| fieldset::display(p)).collect();
    assert!(paths.iter().any(|p| p.ends_with(".targetPort")), "{paths:?}");
    let create = list.iter().find(|e| e.manager == "kubectl-create").unwrap();
    assert!(!create.fields.paths().iter().any(|p| fieldset::display(p).ends_with(".targetPort")));
}

#[test]
fn applying_a_field_someone_else_set_differently_conflicts_unless_forced() {
    let mut live = service(8080);
    live["spec"]["ports"][0]["protocol"] = json!("TCP");
    writer("kubectl-client-side-apply").update(None, &mut live);
    let conflicts = writer("kubectl").apply(Some(&live), &service(9090), false).unwrap_err();
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .spec.ports[port=80,protocol=\"TCP\"].targetPort"
    );
    // The same value is no conflict: both own it.
    assert!(writer("kubectl").apply(Some(&live), &service(8080), false).is_ok());
    let forced = writer("kubectl").apply(Some(&live), &service(9090), true).unwrap();
    assert_eq!(forced["spec"]["ports"][0]["targetPort"], 9090);
    let list = entries(Some(&forced));
    let csa = list.iter().find(|e| e.manager == "kubectl-client-side-apply").unwrap();
    assert!(!csa.fields.paths().iter().any(|p| fieldset::display(p).ends_with(".targetPort")), "ownership moved");
}

#[test]
fn fields_an_applier_stops_applying_go_unless_another_owns_them() {
    let mut first = service(8080);
    first["metadata"]["labels"]["tier"] = json!("web");
    let applied = writer("kubectl").apply(None, &first, false).unwrap();
    let again = writer("kubectl").apply(Some(&applied), &service(8080), false).unwrap();
    assert_eq!(again["metadata"]["labels"], json!({"app": "kubia"}), "tier was dropped from the config");

    // Someone else's label stays, and so does a field both applied.
    let mut labelled = applied.clone();
    labelled["metadata"]["labels"]["owner"] = json!("ops");
    writer("kubectl-label").update(Some(&applied), &mut labelled);
    let again = writer("kubectl").apply(Some(&labelled), &service(8080), false).unwrap();
    assert_eq!(again["metadata"]["labels"], json!({"app": "kubia", "owner": "ops"}));
}

#[test]
fn keyed_lists_merge_item_by_item() {
    let mut live = service(8080);
    live["spec"]["ports"][0]["nodePort"] = json!(30123);
    live["spec"]["ports"][0]["protocol"] = json!("TCP");
    let mut applied = service(9090);
    applied["spec"]["ports"].as_array_mut().unwrap().push(json!({"port": 443, "targetPort": 8443}));
    let merged = writer("kubectl").apply(Some(&live), &applied, true).unwrap();
    assert_eq!(
        merged["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090, "nodePort": 30123, "protocol": "TCP"},
               {"port": 443, "targetPort": 8443, "protocol": "TCP"}])
    );
}
