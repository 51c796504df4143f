//! `kubectl apply`'s three-way strategic merge patch: from the configuration last applied, the
//! one applied now and the live object, the patch that makes the live object what is applied now
//! while keeping what others set (a pod's service account volume the API server added, a
//! replica count nobody applied): changes and additions against the live object, deletions of
//! what the last configuration had and this one drops. Lists the schema merges by key are
//! patched item by item (`$patch: delete` for a dropped item), sets of scalars with
//! `$deleteFromPrimitiveList`; other lists are replaced whole.

use super::strategic::list_strategy;
use crate::openapi::Schemas;
use serde_json::{Map, Value};

/// The patch for an object whose schema is `schema`.
pub fn three_way(
    schemas: &Schemas,
    schema: Option<&Value>,
    last: Option<&Map<String, Value>>,
    new: &Map<String, Value>,
    live: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, value) in new {
        let (old, current) = (last.and_then(|l| l.get(key)), live.and_then(|l| l.get(key)));
        if current == Some(value) {
            continue;
        }
        let property = schema.and_then(|s| schemas.property(s, key));
        match value {
            Value::Object(sub) => {
                // A map of values (labels) has no properties: its keys compare as fields do.
                let sub_schema = property.map(|p| schemas.resolve(p)).filter(|s| s.get("properties").is_some());
                let changes = three_way(
                    schemas,
                    sub_schema,
                    old.and_then(Value::as_object),
                    sub,
                    current.and_then(Value::as_object),
                );
                if !changes.is_empty() || current.is_none() {
                    patch.insert(key.clone(), Value::Object(changes));
                }
            }
            Value::Array(items) if list_strategy(property).merge => {
                let strategy = list_strategy(property);
                let item_schema = property.and_then(|p| schemas.items(p)).map(|s| schemas.resolve(s));
                let (old, current) = (old.and_then(Value::as_array), current.and_then(Value::as_array));
                match strategy.merge_key {
                    Some(merge_key) => {
                        let list = merged_list(schemas, item_schema, merge_key, old, items, current);
                        if !list.is_empty() {
                            patch.insert(key.clone(), Value::Array(list));
                        }
                    }
                    None => {
                        let added: Vec<Value> =
                            items.iter().filter(|i| !current.is_some_and(|c| c.contains(i))).cloned().collect();
                        let dropped: Vec<Value> =
                            old.into_iter().flatten().filter(|i| !items.contains(i)).cloned().collect();
                        if !added.is_empty() {
                            patch.insert(key.clone(), Value::Array(added));
                        }
                        if !dropped.is_empty() {
                            patch.insert(format!("$deleteFromPrimitiveList/{key}"), Value::Array(dropped));
                        }
                    }
                }
            }
            other => {
                patch.insert(key.clone(), other.clone());
            }
        }
    }
    for key in last.into_iter().flat_map(|l| l.keys()) {
        if !new.contains_key(key) && live.is_some_and(|l| l.contains_key(key)) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    patch
}

/// The patch of a list merged by `merge_key`: each applied item's changes against the live item
/// of the same key (the whole item when there is none), and a `$patch: delete` for each item
/// the last configuration had and this one drops.
fn merged_list(
    schemas: &Schemas,
    item_schema: Option<&Value>,
    merge_key: &str,
    old: Option<&Vec<Value>>,
    items: &[Value],
    current: Option<&Vec<Value>>,
) -> Vec<Value> {
    let find = |list: Option<&Vec<Value>>, id: &Value| {
        list.into_iter().flatten().find(|i| i.get(merge_key) == Some(id)).cloned()
    };
    let mut list = Vec::new();
    for item in items {
        let (Some(id), Value::Object(fields)) = (item.get(merge_key), item) else {
            list.push(item.clone());
            continue;
        };
        match find(current, id) {
            Some(Value::Object(live_item)) => {
                let last_item = find(old, id);
                let mut changes = three_way(
                    schemas,
                    item_schema,
                    last_item.as_ref().and_then(Value::as_object),
                    fields,
                    Some(&live_item),
                );
                if !changes.is_empty() {
                    changes.insert(merge_key.to_string(), id.clone());
                    list.push(Value::Object(changes));
                }
            }
            _ => list.push(item.clone()),
        }
    }
    for dropped in old.into_iter().flatten() {
        let Some(id) = dropped.get(merge_key) else { continue };
        if !items.iter().any(|i| i.get(merge_key) == Some(id)) && find(current, id).is_some() {
            let mut delete = Map::new();
            delete.insert(merge_key.to_string(), id.clone());
            delete.insert("$patch".into(), "delete".into());
            list.push(Value::Object(delete));
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use svclab_shared::Kind;

    fn apply(kind: Kind, last: Option<Value>, new: Value, live: Value) -> Value {
        let schemas = crate::openapi::schemas();
        let schema = schemas.root(kind);
        let patch = three_way(
            schemas,
            Some(schema),
            last.as_ref().and_then(Value::as_object),
            new.as_object().unwrap(),
            live.as_object(),
        );
        let mut merged = live;
        super::super::strategic::apply(schemas, schema, &mut merged, &Value::Object(patch)).unwrap();
        merged
    }

    #[test]
    fn what_others_added_stays_and_what_was_dropped_goes() {
        let manifest = json!({"spec": {"containers": [{"name": "a", "image": "v1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}});
        // The API server added a volume and its mount; the manifest is applied again, unchanged.
        let live = json!({"spec": {
            "containers": [{"name": "a", "image": "v1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                "volumeMounts": [{"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
            "volumes": [{"name": "kube-api-access-x", "projected": {}}]}});
        assert_eq!(apply(Kind::Pod, Some(manifest.clone()), manifest.clone(), live.clone()), live);
        // A new image and one variable fewer: the mount and the volume stay.
        let next =
            json!({"spec": {"containers": [{"name": "a", "image": "v2", "env": [{"name": "X", "value": "1"}]}]}});
        let merged = apply(Kind::Pod, Some(manifest), next, live);
        assert_eq!(merged["spec"]["containers"][0]["image"], "v2");
        assert_eq!(merged["spec"]["containers"][0]["env"], json!([{"name": "X", "value": "1"}]));
        assert_eq!(merged["spec"]["containers"][0]["volumeMounts"][0]["name"], "kube-api-access-x");
        assert_eq!(merged["spec"]["volumes"][0]["name"], "kube-api-access-x");
    }

    #[test]
    fn fields_the_live_object_changed_are_set_back_and_dropped_ones_removed() {
        let last = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"sessionAffinity": "None", "ports": [{"port": 80}, {"port": 81}]}});
        let new = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"sessionAffinity": "None", "ports": [{"port": 80}]}});
        let live = json!({"metadata": {"labels": {"app": "web", "tier": "x", "added": "y"}}, "spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}]}});
        let merged = apply(Kind::Service, Some(last), new, live);
        assert_eq!(merged["metadata"]["labels"], json!({"app": "web", "added": "y"}));
        assert_eq!(merged["spec"]["sessionAffinity"], "None");
        assert_eq!(merged["spec"]["ports"], json!([{"port": 80, "protocol": "TCP"}]));
    }
}
